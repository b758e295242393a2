//! The shared harness of the integration tests: each test file includes it with
//! `mod support;` and takes what it needs.
//!
//! - here: the library under test (built on demand), the `wsd` tool, fresh SAN
//!   segment names removed when the test ends, a program under the library
//!   (python3 programs among them), temporary files and directories, and who
//!   runs the tests;
//! - [`process`]: children under a hang guard, their output read by threads of
//!   their own, a child killed (and reaped) when dropped;
//! - [`cc`]: the C programs of `c-tests/`, compiled once per test binary;
//! - [`c_run`]: one run of a C program under the library, and its verdicts;
//! - [`valgrind`]: what in a valgrind log is libwsd.so's;
//! - [`san_tool`]: `wsd san` and its status document;
//! - [`agent`]: python3 agents, each one end of a loopback connection, driven
//!   line by line.
#![allow(dead_code)]

pub mod agent;
pub mod c_run;
pub mod cc;
pub mod process;
pub mod san_tool;
pub mod valgrind;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The repository's root (the tests run their programs from there).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `libwsd.so`, built once per test binary with `cargo build -p wsd-preload`
/// (usually a no-op: `cargo test` builds the workspace's default members).
pub fn library() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let root = root();
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "wsd-preload", "--quiet", "--manifest-path"])
            .arg(root.join("Cargo.toml"))
            .status()
            .expect("run cargo build -p wsd-preload");
        assert!(status.success(), "cargo build -p wsd-preload failed");
        let dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let lib = dir.join("debug").join("libwsd.so");
        assert!(lib.is_file(), "{} missing after build", lib.display());
        lib
    })
}

/// The directory holding the freshly built `libwsd.so`.
pub fn lib_dir() -> &'static Path {
    library().parent().expect("libwsd.so has a directory")
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

/// A path in the temporary directory unique to this test process and call:
/// `wsd-PID-WHAT-N`.
pub fn temp_name(what: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "wsd-{}-{what}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A file removed however the test ends.
pub struct TempFile(pub PathBuf);

impl TempFile {
    /// A path in the temporary directory, no file there yet.
    pub fn new(tag: &str) -> TempFile {
        let path = temp_name(tag);
        let _ = std::fs::remove_file(&path);
        TempFile(path)
    }

    /// What the file holds (nothing, if there is no file).
    pub fn read(&self) -> String {
        std::fs::read_to_string(&self.0).unwrap_or_default()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A fresh directory, removed with its contents however the test ends.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty directory in the temporary directory.
    pub fn new(tag: &str) -> TempDir {
        TempDir::at(temp_name(tag))
    }

    /// A new empty directory at `path`.
    pub fn at(path: PathBuf) -> TempDir {
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir(path)
    }

    /// `NAME` in this directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Do the tests run as root?
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The uid of `user`, if there is one.
pub fn uid_of(user: &str) -> Option<u32> {
    let name = std::ffi::CString::new(user).unwrap();
    // SAFETY: a valid name; the result is read at once, before any other call.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    // SAFETY: a non-null result points to a valid passwd entry.
    (!pw.is_null()).then(|| unsafe { (*pw).pw_uid })
}

/// `nobody`'s uid and gid (65534 when there is no such user).
pub fn nobody() -> (u32, u32) {
    let name = std::ffi::CString::new("nobody").unwrap();
    // SAFETY: a valid name; the entry is read at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        (65534, 65534)
    } else {
        // SAFETY: non-null, as getpwnam returned it.
        unsafe { ((*pw).pw_uid, (*pw).pw_gid) }
    }
}

/// Leaves none of the caller's `WSD_*` settings, nor its `LD_PRELOAD`, in
/// `cmd`'s environment.
pub fn clear_wsd_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("WSD_") || k == "LD_PRELOAD" {
            cmd.env_remove(k);
        }
    }
}

/// `program` under the library for segment `san`, logging to /dev/null, with none
/// of the caller's `WSD_*` settings and no standard input.
pub fn preloaded(program: impl AsRef<std::ffi::OsStr>, san: &San) -> Command {
    let mut cmd = Command::new(program);
    clear_wsd_env(&mut cmd);
    cmd.env("LD_PRELOAD", library())
        .env("WSD_SAN", &san.name)
        .env("WSD_LOG_FILE", "/dev/null")
        .stdin(std::process::Stdio::null());
    cmd
}

/// `script` run by python3 under the library on `san`, with the tool's path and
/// the segment's name as its arguments; it must succeed within a minute. Its
/// standard output.
pub fn python(san: &San, script: &str) -> String {
    let mut cmd = preloaded("python3", san);
    cmd.args(["-c", script, env!("CARGO_BIN_EXE_wsd"), &san.name]);
    let (status, hung, out, err) = process::run_guarded(cmd, Duration::from_secs(60));
    assert!(!hung && status.success(), "{status:?}\n{out}\n{err}");
    out
}

/// `script` run as by [`python`]; the last line it prints is a JSON document,
/// returned parsed. `wsd san check` must find the segment sound afterwards.
pub fn python_json(san: &San, script: &str) -> serde_json::Value {
    let out = python(san, script);
    let last = out.lines().last().unwrap_or_default();
    let v = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {out}"));
    san_tool::assert_sound(san, &format!("after the program, which printed {v}"));
    v
}

/// A python function the programs of several tests share: `outcome(f)`, what
/// the call `f()` returned (bytes decoded), or the name of its error.
pub const PY_OUTCOME: &str = r#"
import errno
def outcome(f):
    try:
        v = f()
        return v.decode() if isinstance(v, bytes) else v
    except OSError as e:
        return errno.errorcode[e.errno]
"#;

/// A loopback port free now: bound to port 0, then let go, for a program that
/// must be told its port before it starts (a server's command line, a
/// `--fault` that names it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// redis-server's arguments for a throwaway server on 127.0.0.1:`port`: no
/// snapshots, no append-only file.
pub fn redis_server_args(port: &str) -> [&str; 8] {
    [
        "--port",
        port,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
}

/// `wsd run` of `cmd` on segment `san` with the library under test, `extra`
/// flags before `--`, and log lines sent to /dev/null.
pub fn wsd_run(san: &San, extra: &[&str], cmd: &[&str]) -> Command {
    let mut c = tool();
    c.arg("run")
        .arg("--lib")
        .arg(library())
        .args(["--san", &san.name])
        .args(extra)
        .arg("--")
        .args(cmd);
    c.env("WSD_LOG_FILE", "/dev/null");
    c
}

/// `wsd run` of `cmd` on `san` ([`wsd_run`]) with `flags`, which send its JSON
/// report to `report`; the run must succeed. Its output, and the report.
pub fn run_reporting(
    san: &San,
    flags: &[&str],
    cmd: &[&str],
    report: &Path,
) -> (std::process::Output, serde_json::Value) {
    let out = wsd_run(san, flags, cmd).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
    (out, doc)
}

/// A python3 program that makes one loopback connection (a listener, a client,
/// the accepted end) and ends: one SAN connection under the library.
pub const ONE_CONNECTION: &str = "import socket; l = socket.create_server(('127.0.0.1', 0)); c = socket.create_connection(l.getsockname()); l.accept()";

/// This process: its pid, and its identity as a holder (pid and start time).
pub fn me() -> (u32, u64) {
    let pid = std::process::id();
    let (start, _) = wsd::san::reap::process_stat(pid)
        .unwrap()
        .expect("our own /proc/PID/stat");
    (pid, wsd::san::layout::identity(pid, start))
}

/// A connector endpoint held by `holder` for process `pid` (descriptor 3,
/// 127.0.0.1:40000 to 127.0.0.1:40001), for tests that drive the segment's API
/// directly.
pub fn new_endpoint(holder: u64, pid: u32) -> wsd::san::NewEndpoint {
    wsd::san::NewEndpoint {
        holder,
        pid,
        fd: 3,
        role: wsd::san::EndpointRole::Connector,
        local: Some("127.0.0.1:40000".parse().unwrap()),
        peer: Some("127.0.0.1:40001".parse().unwrap()),
        comm: *b"wsd-test\0\0\0\0\0\0\0\0",
        cookie: 0,
        netns: 0,
        inode: 0,
    }
}
