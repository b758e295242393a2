//! Shared by the integration tests: the preloadable library (built on demand)
//! and fresh SAN segment names that are removed when the test ends.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::process::ExitStatus;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

/// `libwsd.so`, built once per test binary with `cargo build -p wsd-preload`
/// (usually a no-op: `cargo test` builds the workspace's default members).
pub fn library() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
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

/// Runs `cmd` to its end (it should be a process-group leader: `process_group(0)`),
/// killing its process group if it outlives `guard`. Returns the status, whether
/// the guard fired, and the output.
pub fn run_guarded(mut cmd: Command, guard: Duration) -> (ExitStatus, bool, String, String) {
    let mut child = cmd.spawn().expect("spawn a C test program");
    let pid = child.id() as libc::pid_t;
    let drain = |r: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(child.stdout.take().map(|r| Box::new(r) as _));
    let err = drain(child.stderr.take().map(|r| Box::new(r) as _));
    let (done, timer) = mpsc::channel::<()>();
    let dog = thread::spawn(move || match timer.recv_timeout(guard) {
        Err(RecvTimeoutError::Timeout) => {
            // SAFETY: the child is not reaped yet, so `pid` (its group) is still ours.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            true
        }
        _ => false,
    });
    // Wait for the exit without reaping, so the watchdog can never hit a reused pid.
    loop {
        // SAFETY: an all-zero siginfo_t is a valid out-parameter.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid out-pointer.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    let _ = done.send(());
    let hung = dog.join().unwrap();
    // Grandchildren left behind would keep the pipes open: end the group. The child
    // is a zombie until reaped below, so `pid` still names its group.
    // SAFETY: signalling our own child's process group.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let status = child.wait().expect("wait for a C test program");
    (status, hung, out.join().unwrap(), err.join().unwrap())
}

/// `c-tests/NAME.c` compiled into `<target>/c-tests/NAME`, linked with `libwsd.so`
/// (`-lwsd`, with an rpath) and pthreads. Built under a private name and renamed
/// into place, so a concurrent test binary never runs half a file.
pub fn compile_c(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib_dir = library().parent().expect("libwsd.so has a directory");
    let out_dir = lib_dir
        .parent()
        .expect("the profile directory has a parent")
        .join("c-tests");
    std::fs::create_dir_all(&out_dir).expect("create <target>/c-tests");
    let exe = out_dir.join(name);
    let tmp = out_dir.join(format!(".{name}.{}", std::process::id()));
    let out = Command::new("cc")
        .current_dir(root)
        .args([
            "-std=gnu11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-g",
            "-O1",
            "-Iinclude",
            "-Ic-tests",
        ])
        .arg(format!("c-tests/{name}.c"))
        .arg("-o")
        .arg(&tmp)
        .arg(format!("-L{}", lib_dir.display()))
        .arg("-lwsd")
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .arg("-lpthread")
        .output()
        .expect("run cc");
    assert!(
        out.status.success(),
        "cc failed for c-tests/{name}.c:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&tmp, &exe).expect("rename the program into place");
    exe
}

/// `program` under the library for segment `san`, logging to /dev/null, with none
/// of the caller's `WSD_*` settings and no standard input.
pub fn preloaded(program: impl AsRef<std::ffi::OsStr>, san: &San) -> Command {
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("WSD_") || k == "LD_PRELOAD" {
            cmd.env_remove(k);
        }
    }
    cmd.env("LD_PRELOAD", library())
        .env("WSD_SAN", &san.name)
        .env("WSD_LOG_FILE", "/dev/null")
        .stdin(std::process::Stdio::null());
    cmd
}

/// An `SO_DEBUG` line (SPEC §6.4):
/// `^wsd \d\d:\d\d:\d\d\.\d{6} pid=\d+ fd=\d+ ep=\d+ \S+( .*)? -> -?\d+`
pub fn is_debug_line(line: &str) -> bool {
    fn digits(s: &str, n: Option<usize>) -> Option<&str> {
        let k = s.bytes().take_while(u8::is_ascii_digit).count();
        (k > 0 && n.is_none_or(|n| n == k)).then(|| &s[k..])
    }
    fn field<'a>(s: &'a str, key: &str) -> Option<&'a str> {
        digits(s.strip_prefix(key)?, None)?.strip_prefix(' ')
    }
    let parse = || -> Option<()> {
        let s = line.strip_prefix("wsd ")?;
        let s = digits(s, Some(2))?.strip_prefix(':')?;
        let s = digits(s, Some(2))?.strip_prefix(':')?;
        let s = digits(s, Some(2))?.strip_prefix('.')?;
        let s = digits(s, Some(6))?.strip_prefix(' ')?;
        let s = field(s, "pid=")?;
        let s = field(s, "fd=")?;
        let s = field(s, "ep=")?;
        let (call, rest) = s.split_once(' ')?;
        if call.is_empty() {
            return None;
        }
        let rest = format!(" {rest}");
        rest.match_indices(" -> ")
            .any(|(i, _)| {
                let r = &rest[i + 4..];
                digits(r.strip_prefix('-').unwrap_or(r), None).is_some()
            })
            .then_some(())
    };
    parse().is_some()
}

/// `wsd san ARGS --san NAME`.
pub fn wsd_san(san: &San, args: &[&str]) -> std::process::Output {
    tool()
        .arg("san")
        .args(args)
        .args(["--san", &san.name])
        .env_remove("WSD_SAN")
        .output()
        .expect("run wsd")
}

/// `wsd san ARGS`, which must succeed; its standard output.
pub fn wsd_san_ok(san: &San, args: &[&str]) -> String {
    let out = wsd_san(san, args);
    assert!(
        out.status.success(),
        "wsd san {args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A child's standard output, line by line, read by a thread of its own.
pub fn lines_of(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// What a child writes to standard error, gathered by a thread of its own (which
/// ends when the child's end closes).
pub fn gather(
    mut err: std::process::ChildStderr,
) -> (std::sync::Arc<std::sync::Mutex<Vec<u8>>>, thread::JoinHandle<()>) {
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&stderr);
    let reader = thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    (stderr, reader)
}

/// The endpoints of a `wsd san status --json` document.
pub fn endpoints(v: &serde_json::Value) -> &Vec<serde_json::Value> {
    v["endpoints"].as_array().expect("endpoints array")
}

/// The one endpoint of a status document whose fields have the given values.
pub fn endpoint<'a>(v: &'a serde_json::Value, tests: &[(&str, serde_json::Value)]) -> &'a serde_json::Value {
    let found: Vec<&serde_json::Value> = endpoints(v)
        .iter()
        .filter(|e| tests.iter().all(|(k, want)| &e[*k] == want))
        .collect();
    assert_eq!(found.len(), 1, "one endpoint with {tests:?} in {v:#}");
    found[0]
}

/// `script` run by python3 under the library on `san`, with the tool's path and
/// the segment's name as its arguments; it must succeed within a minute. Its
/// standard output.
pub fn python(san: &San, script: &str) -> String {
    use std::os::unix::process::CommandExt;
    let mut cmd = preloaded("python3", san);
    cmd.args(["-c", script, env!("CARGO_BIN_EXE_wsd"), &san.name])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0);
    let (status, hung, out, err) = run_guarded(cmd, Duration::from_secs(60));
    assert!(!hung && status.success(), "{status:?}\n{out}\n{err}");
    out
}

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

/// A python3 program that makes one loopback connection (a listener, a client,
/// the accepted end) and ends: one SAN connection under the library.
pub const ONE_CONNECTION: &str = "import socket; l = socket.create_server(('127.0.0.1', 0)); c = socket.create_connection(l.getsockname()); l.accept()";
