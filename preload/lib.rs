//! `libwsd.so`: the `wsd` crate linked as the library to preload. Everything it
//! does is in that crate (`wsd::shim` holds the exported functions, the start-up
//! and the provider's C API); this package links it as a cdylib of its own, so
//! that link-time optimisation runs over it and the standard library (a crate
//! built as both rlib and cdylib gets none, and reaches its own statics through
//! the GOT), and gives it its constructor, which no other program linking the
//! `wsd` crate (the tool, the tests) has.

/// Start-up before `main`: see `wsd::shim::startup::start`.
#[ctor::ctor(unsafe)]
fn wsd_start() {
    wsd::shim::constructor();
}

/// The library's mark and version (see `wsd::LIBRARY_MARK`), exported so that
/// the linker keeps it; `wsd run` reads it from the file.
#[unsafe(no_mangle)]
#[used]
pub static wsd_library_version: [u8; 26] = *b"wsd-library-version=0.1.0\0";

const _: () = {
    let v = env!("CARGO_PKG_VERSION").as_bytes();
    let mark = wsd::LIBRARY_MARK.as_bytes();
    assert!(mark.len() + v.len() + 1 == wsd_library_version.len());
    let mut i = 0;
    while i < v.len() {
        assert!(
            wsd_library_version[mark.len() + i] == v[i],
            "the mark names this version"
        );
        i += 1;
    }
};
