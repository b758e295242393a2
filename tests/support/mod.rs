//! Shared by the integration tests: the preloadable library (built on demand, as
//! `cargo test` builds the crate only as an rlib) and fresh SAN segment names that
//! are removed when the test ends.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// `libwsd.so`, built once per test binary with `cargo build --lib`.
pub fn library() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let status = Command::new(env!("CARGO"))
            .args(["build", "--lib", "--quiet", "--manifest-path"])
            .arg(root.join("Cargo.toml"))
            .status()
            .expect("run cargo build --lib");
        assert!(status.success(), "cargo build --lib failed");
        let dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let lib = dir.join("debug").join("libwsd.so");
        assert!(lib.is_file(), "{} missing after build", lib.display());
        lib
    })
}

/// The `wsd` tool built for this test run.
pub fn tool() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wsd"))
}

/// A SAN segment name unique to this test, removed on drop.
pub struct San {
    pub name: String,
}

impl San {
    pub fn new(tag: &str) -> San {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = format!("t-{}-{tag}-{n}", std::process::id());
        let _ = std::fs::remove_file(San::path_of(&name));
        San { name }
    }

    pub fn path_of(name: &str) -> PathBuf {
        PathBuf::from(format!("/dev/shm/wsd.{name}"))
    }

    pub fn path(&self) -> PathBuf {
        San::path_of(&self.name)
    }
}

impl Drop for San {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path());
    }
}
