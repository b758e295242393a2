//! The C programs of `c-tests/`, compiled with the system `cc` against
//! `include/wsd.h` and `c-tests/*.h`, once per test binary, into
//! `<target>/c-tests/`. Each is built under a private name and renamed into
//! place, so a concurrent test binary never runs half a file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

/// `untouched.c` is also the kernel baseline: it must run without the library, so
/// it is the one program not linked with it (it calls none of its functions).
const NOT_LINKED: &[&str] = &["untouched", "front_recv", "front_vfork"];

/// What to build from `c-tests/NAME.c`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// A program, linked with libwsd (`-lwsd`, with an rpath) unless
    /// [`NOT_LINKED`].
    Program,
    /// A shared object (`NAME.so`), not linked with libwsd.
    Shared,
}

/// `<target>/c-tests/NAME`, compiled from `c-tests/NAME.c` (once per test
/// binary), linked with libwsd (but see [`NOT_LINKED`]), libdl and pthreads.
pub fn program(name: &'static str) -> PathBuf {
    built(name, Kind::Program)
}

/// `<target>/c-tests/NAME.so`, a shared object compiled from `c-tests/NAME.c`
/// (once per test binary) with `-shared -fPIC`, not linked with libwsd.
pub fn shared(name: &'static str) -> PathBuf {
    built(name, Kind::Shared)
}

fn built(name: &'static str, kind: Kind) -> PathBuf {
    type Slot = Arc<OnceLock<PathBuf>>;
    static BUILT: OnceLock<Mutex<HashMap<(&'static str, Kind), Slot>>> = OnceLock::new();
    let slot = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry((name, kind))
        .or_default()
        .clone();
    slot.get_or_init(|| compile(name, kind)).clone()
}

fn compile(name: &str, kind: Kind) -> PathBuf {
    let lib: &Path = super::lib_dir();
    let out_dir = lib
        .parent()
        .expect("the profile directory has a parent")
        .join("c-tests");
    std::fs::create_dir_all(&out_dir).expect("create <target>/c-tests");
    let file = match kind {
        Kind::Program => name.to_string(),
        Kind::Shared => format!("{name}.so"),
    };
    let out = out_dir.join(&file);
    let tmp = out_dir.join(format!(".{file}.{}", std::process::id()));
    let mut cc = Command::new("cc");
    cc.current_dir(super::root())
        .args(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-g", "-O1"])
        .args(["-Iinclude", "-Ic-tests"]);
    if kind == Kind::Shared {
        cc.args(["-shared", "-fPIC"]);
    }
    cc.arg(format!("c-tests/{name}.c")).arg("-o").arg(&tmp);
    if kind == Kind::Program && !NOT_LINKED.contains(&name) {
        cc.arg(format!("-L{}", lib.display()))
            .arg("-lwsd")
            .arg(format!("-Wl,-rpath,{}", lib.display()));
    }
    cc.args(["-ldl", "-lpthread"]);
    let o = cc.output().expect("run cc");
    assert!(
        o.status.success(),
        "cc failed for c-tests/{name}.c:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::rename(&tmp, &out).expect("rename the program into place");
    out
}
