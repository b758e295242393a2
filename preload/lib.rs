//! `libwsd.so`: the `wsd` crate linked as the library to preload. Everything it
//! does is in that crate (`wsd::shim` holds the exported functions, the start-up
//! and the provider's C API); this package links it as a cdylib of its own, so
//! that link-time optimisation runs over it and the standard library (a crate
//! built as both rlib and cdylib gets none, and reaches its own statics through
//! the GOT), and gives it its constructor, which no other program linking the
//! `wsd` crate (the tool, the tests) has.

/// Start-up before `main`: see `wsd::shim::state::start`.
#[ctor::ctor(unsafe)]
fn wsd_start() {
    wsd::shim::constructor();
}
