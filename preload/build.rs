//! Build script of `libwsd.so`: links the unwinder into it statically.
//!
//! Rust's standard library asks for `libgcc_s.so.1` (the unwinder behind
//! `catch_unwind`). Loaded into every process the library is preloaded into, its
//! constructor probes the CPU with `cpuid`, which traps to the hypervisor on a
//! virtual machine: measured, that was most of the start-up cost the library added
//! to `/bin/true` (scripts/bench). So for the library, `-lgcc_s` is answered
//! by a linker script naming the static unwinder, `libgcc_eh.a`, which brings no
//! constructor. The `wsd` tool and the test binaries link as usual.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("static-unwinder");
    std::fs::create_dir_all(&dir).expect("create OUT_DIR/static-unwinder");
    std::fs::write(dir.join("libgcc_s.so"), "INPUT(-lgcc_eh)\n").expect("write the linker script");
    println!("cargo:rustc-cdylib-link-arg=-L{}", dir.display());
    println!("cargo:rerun-if-changed=build.rs");
}
