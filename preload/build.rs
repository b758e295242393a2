//! Build script of the engine, `libwsd_engine.so`. It does two things.
//!
//! It builds the front, `libwsd.so`: the `wsd-front` crate as a `no_std`
//! cdylib with `--cfg wsd_front` and `panic=abort`, by calling `rustc` itself
//! (cargo cannot build a `no_std` cdylib in a workspace whose profile unwinds:
//! the engine must unwind, to catch a panic before it reaches C). The front
//! depends on nothing but `core`, so one `rustc` call builds it; it is written
//! beside the engine, in the profile's output directory, where the `wsd` tool
//! and the tests find both.
//!
//! And it links the unwinder into the engine statically. Rust's standard
//! library asks for `libgcc_s.so.1` (the unwinder behind `catch_unwind`).
//! Loaded into a process, its constructor probes the CPU with `cpuid`, which
//! traps to the hypervisor on a virtual machine. So for the engine, `-lgcc_s`
//! is answered by a linker script naming the static unwinder, `libgcc_eh.a`,
//! which brings no constructor. The `wsd` tool and the test binaries link as
//! usual.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dir = out.join("static-unwinder");
    std::fs::create_dir_all(&dir).expect("create OUT_DIR/static-unwinder");
    std::fs::write(dir.join("libgcc_s.so"), "INPUT(-lgcc_eh)\n").expect("write the linker script");
    println!("cargo:rustc-cdylib-link-arg=-L{}", dir.display());
    println!("cargo:rerun-if-changed=build.rs");

    build_front(&out);
}

/// `rustc` on the front's crate root, as a cdylib, into the profile's
/// directory (OUT_DIR is `target/PROFILE/build/wsd-preload-HASH/out`).
fn build_front(out: &Path) {
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let src = manifest.join("../front/src");
    println!("cargo:rerun-if-changed={}", src.display());
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let built = out.join("libwsd.so");
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "--crate-type",
            "cdylib",
            "--crate-name",
            "wsd",
        ])
        .args([
            "--cfg",
            "wsd_front",
            "-C",
            "panic=abort",
            "-C",
            "opt-level=3",
            "-C",
            "codegen-units=1",
        ])
        .args([
            "-C",
            "lto=fat",
            "-C",
            "debuginfo=line-tables-only",
            "-C",
            "relocation-model=pic",
        ])
        .args(["--check-cfg", "cfg(wsd_front)"])
        .arg("-o")
        .arg(&built)
        .arg(src.join("lib.rs"))
        .env(
            "CARGO_PKG_VERSION",
            std::env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION"),
        )
        .status()
        .expect("run rustc for the front");
    assert!(status.success(), "rustc could not build the front (libwsd.so)");
    let profile_dir = out
        .ancestors()
        .nth(3)
        .expect("OUT_DIR lies three levels under the profile's directory");
    std::fs::copy(&built, profile_dir.join("libwsd.so")).expect("copy libwsd.so beside the engine");
}
