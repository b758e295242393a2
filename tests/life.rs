//! Hardening: SAN sockets through a process's life, the segment's security, and
//! leaks (valgrind).
//!
//! - Process life (`c-tests/life.c`, `life_signal.c`, `life_plugin.c`,
//!   `life_early.c`, `life_next.c`): fork while other threads are inside the
//!   hooks; vfork + exec and posix_spawn; children that close every descriptor,
//!   with and without an exec after; signal handlers that call setsockopt while
//!   the interrupted thread is inside a hook; a dlopen()ed library; threads
//!   started from constructors, before and after the library's own; a library
//!   preloaded after libwsd.so that defines a function it passes calls on to,
//!   two dozen preloaded after it before libc, and libwsd.so dlopen()ed by a
//!   program rather than preloaded.
//! - Security: a root-made segment is out of reach of `nobody`; pre-created
//!   segments with loose permissions, another owner, or another kind of file are
//!   refused with one warning; hostile header fields are refused or survived
//!   without a read outside the mapping (under valgrind when it is installed).
//! - Leaks: every C test program under valgrind, with nothing invalid and no
//!   definite leak attributed to libwsd.so.
//! - The fork hand-over of an endpoint (`hold_pending`, `settle_pending`) racing
//!   the parent's `release`, on two threads through the library's own API: the race
//!   that the fork program shows under valgrind, made quick to reproduce.
//!
//! Every run has a fresh SAN segment (removed afterwards), its own log file, a
//! watchdog inside the program and a hang guard here. Skips are printed.

mod support;

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};
use support::{San, library};
use wsd::san::Segment;
use wsd::san::layout::{HEADER_SIZE, Header, MAX_CAPACITY, REPORT_ROWS, segment_size};

/// A native run that has not finished by then is hung: its group is killed.
const HANG_GUARD: Duration = Duration::from_secs(120);
/// The same under valgrind (about 30 times slower).
const VALGRIND_GUARD: Duration = Duration::from_secs(300);
/// The leak test stops starting optional programs once this much time is spent.
const LEAK_BUDGET: Duration = Duration::from_secs(600);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn lib_dir() -> &'static Path {
    library().parent().expect("libwsd.so's directory")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

// ---- building the C programs ----------------------------------------------------

/// What to build from `c-tests/NAME.c`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// A program linked with libwsd (except `untouched`), as tests/c_tests.rs builds it.
    Program,
    /// A shared object, not linked with libwsd.
    Shared,
}

/// `target/c-tests/life/NAME` (or `NAME.so`), compiled once per test binary. Its own
/// directory, so that a concurrent tests/c_tests.rs never rewrites a running file.
fn build(name: &'static str, kind: Kind) -> PathBuf {
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
    let lib = lib_dir();
    let out_dir = root().join("target").join("c-tests").join("life");
    std::fs::create_dir_all(&out_dir).expect("create target/c-tests/life");
    let out = match kind {
        Kind::Program => out_dir.join(name),
        Kind::Shared => out_dir.join(format!("{name}.so")),
    };
    let mut cc = Command::new("cc");
    cc.current_dir(root())
        .args(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-g", "-O1"])
        .args(["-Iinclude", "-Ic-tests"]);
    if kind == Kind::Shared {
        cc.args(["-shared", "-fPIC"]);
    }
    cc.arg(format!("c-tests/{name}.c")).arg("-o").arg(&out);
    if kind == Kind::Program && name != "untouched" {
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
    out
}

fn life() -> PathBuf {
    build("life", Kind::Program)
}

// ---- running them --------------------------------------------------------------

/// Removes a file however the test ends.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A temporary directory, removed with its contents.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_name(what: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "wsd-life-{}-{what}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn valgrind_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(|| {
        Command::new("valgrind")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// One run of a C program under the library.
struct Run {
    exe: PathBuf,
    args: Vec<OsString>,
    env: Vec<(String, OsString)>,
    /// LD_PRELOAD; libwsd.so alone unless set.
    preload: Option<OsString>,
    valgrind: bool,
}

struct Outcome {
    what: String,
    status: ExitStatus,
    hung: bool,
    stdout: String,
    stderr: String,
    log: String,
    /// One valgrind log per process (`--log-file=…%p`).
    valgrind_logs: Vec<String>,
    elapsed: Duration,
}

impl Run {
    fn new(exe: PathBuf, args: &[&str]) -> Run {
        Run {
            exe,
            args: args.iter().map(OsString::from).collect(),
            env: Vec::new(),
            preload: None,
            valgrind: false,
        }
    }

    fn arg(mut self, a: impl Into<OsString>) -> Run {
        self.args.push(a.into());
        self
    }

    fn env(mut self, k: &str, v: impl Into<OsString>) -> Run {
        self.env.push((k.to_string(), v.into()));
        self
    }

    fn preload(mut self, p: OsString) -> Run {
        self.preload = Some(p);
        self
    }

    fn valgrind(mut self, on: bool) -> Run {
        self.valgrind = on;
        self
    }

    /// Runs with segment `san` (which the caller may have prepared) and a fresh log.
    fn run(self, san: &San) -> Outcome {
        let log = TempFile(temp_name("log"));
        let vg_dir = TempDir(temp_name("vg"));
        let what = format!(
            "{} {:?}{}",
            self.exe.file_name().unwrap_or_default().to_string_lossy(),
            self.args,
            if self.valgrind { " under valgrind" } else { "" }
        );
        let mut cmd = if self.valgrind {
            std::fs::create_dir_all(&vg_dir.0).expect("valgrind log directory");
            let mut c = Command::new("valgrind");
            c.args([
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "--show-leak-kinds=definite",
                "--trace-children=no",
                "--num-callers=40",
                "--fullpath-after=",
            ])
            .arg(format!("--log-file={}/vg.%p", vg_dir.0.display()))
            .arg(&self.exe);
            c
        } else {
            Command::new(&self.exe)
        };
        cmd.args(&self.args)
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("WSD_")
                || k.to_string_lossy().starts_with("LIFE_")
                || k == "LD_PRELOAD"
            {
                cmd.env_remove(k);
            }
        }
        cmd.env("LD_PRELOAD", self.preload.unwrap_or_else(|| library().into()))
            .env("WSD_SAN", &san.name)
            .env("WSD_LOG_FILE", &log.0);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let guard = if self.valgrind { VALGRIND_GUARD } else { HANG_GUARD };
        let start = Instant::now();
        let (status, hung, stdout, stderr) = support::run_guarded(cmd, guard);
        let elapsed = start.elapsed();
        let log_text = String::from_utf8_lossy(&std::fs::read(&log.0).unwrap_or_default()).into_owned();
        let mut valgrind_logs = Vec::new();
        if let Ok(dir) = std::fs::read_dir(&vg_dir.0) {
            for e in dir.flatten() {
                valgrind_logs
                    .push(String::from_utf8_lossy(&std::fs::read(e.path()).unwrap_or_default()).into_owned());
            }
        }
        Outcome {
            what,
            status,
            hung,
            stdout,
            stderr,
            log: log_text,
            valgrind_logs,
            elapsed,
        }
    }
}

impl Outcome {
    fn report(&self) -> String {
        let lines: Vec<&str> = self.log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!(
            "{}: {} after {:.1?}{}\n--- stdout\n{}--- stderr\n{}--- WSD_LOG_FILE (tail)\n{tail}",
            self.what,
            self.status,
            self.elapsed,
            if self.hung {
                " (HUNG: killed by the hang guard)"
            } else {
                ""
            },
            self.stdout,
            self.stderr
        )
    }

    fn warnings(&self) -> Vec<&str> {
        self.log
            .lines()
            .filter(|l| l.starts_with("wsd: warning:") || l.starts_with("wsd: error:"))
            .collect()
    }

    /// Exited 0, not hung, and the library complained about nothing (a panic it
    /// caught still prints to the program's standard error, and is a bug).
    fn assert_clean(&self) {
        assert!(!self.hung, "hung\n{}", self.report());
        assert!(self.status.success(), "failed\n{}", self.report());
        assert!(
            self.warnings().is_empty(),
            "the library complained\n{}",
            self.report()
        );
        assert!(
            !self.stderr.contains("panicked at"),
            "the library panicked\n{}",
            self.report()
        );
    }

    /// Exited 0 with exactly one warning, which says the segment cannot be used and
    /// mentions `reason`. `case` names what was planted.
    fn assert_refused_once(&self, case: &str, reason: &str) {
        assert!(!self.hung, "{case}: hung\n{}", self.report());
        assert!(self.status.success(), "{case}: failed\n{}", self.report());
        assert!(
            !self.stderr.contains("panicked at"),
            "{case}: the library panicked\n{}",
            self.report()
        );
        let w = self.warnings();
        assert_eq!(
            w.len(),
            1,
            "{case}: one warning, not {}\n{}",
            w.len(),
            self.report()
        );
        assert!(
            w[0].contains("cannot be used") && w[0].contains(reason),
            "{case}: the warning names the reason {reason:?}\n{}",
            self.report()
        );
    }
}

// ---- valgrind's findings ---------------------------------------------------------

/// One error or leak record of a valgrind log: its headline and stack lines.
#[derive(Debug)]
struct Finding {
    text: String,
    ours: bool,
}

/// The stack frames' function names (`at 0x…: NAME (…)` / `by 0x…: NAME (…)`).
fn frames(lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| {
            let l = l.trim_start();
            let rest = l.strip_prefix("at ").or_else(|| l.strip_prefix("by "))?;
            let (_, f) = rest.split_once(": ")?;
            Some(f.to_string())
        })
        .collect()
}

/// Does this frame belong to libwsd.so: its code, or Rust's standard library (the
/// C programs contain no other Rust)?
fn frame_is_ours(frame: &str) -> bool {
    let src = format!("{}/src/", root().display());
    frame.contains("libwsd")
        || frame.starts_with("wsd::")
        || frame.contains(&src)
        || frame.contains("/rustc/")
        || ["(library/std/", "(library/core/", "(library/alloc/"]
            .iter()
            .any(|p| frame.contains(p))
}

/// A system call that libwsd passed the program's own arguments to, unchanged: the
/// first of our frames is `wsd::shim::real::NAME`, called by the hook or export of
/// the same NAME, or the export NAME itself with the real call inlined into it
/// (`NAME (…/real.rs:…)`, the pass-through path). A bad pointer there is the
/// program's, as it is without the library (bad_memory.c hands the kernel such
/// pointers on purpose).
fn passed_on_unchanged(headline: &str, frames: &[String]) -> bool {
    if !headline.starts_with("Syscall param") {
        return false;
    }
    let Some(i) = frames.iter().position(|f| frame_is_ours(f)) else {
        return false;
    };
    if let Some((name, place)) = frames[i].split_once(" (")
        && !name.contains("::")
        && place.contains("src/shim/real.rs:")
    {
        return true;
    }
    let Some(name) = frames[i]
        .strip_prefix("wsd::shim::real::")
        .and_then(|r| r.split([' ', '(']).next())
    else {
        return false;
    };
    frames.get(i + 1).is_some_and(|caller| {
        caller.starts_with(&format!("wsd::shim::hooks::{name}::"))
            || caller.starts_with(&format!("wsd::shim::exports::{name} "))
            || caller.starts_with(&format!("wsd::shim::exports::{name}::"))
    })
}

const ERROR_HEADLINES: &[&str] = &[
    "Invalid ",
    "Syscall param",
    "Conditional jump",
    "Use of uninitialised",
    "Mismatched free",
    "Source and destination overlap",
    "Argument '",
    "Jump to the invalid address",
    "Process terminating with default action",
];

/// Every error and definite leak in one valgrind log.
fn findings(log: &str) -> Vec<Finding> {
    let mut blocks: Vec<Vec<&str>> = vec![Vec::new()];
    for line in log.lines() {
        // `==PID== text`
        let text = match line.strip_prefix("==").and_then(|l| l.split_once("== ")) {
            Some((_, t)) => t,
            None if line.starts_with("==") => "",
            None => continue,
        };
        if text.trim().is_empty() {
            blocks.push(Vec::new());
        } else {
            blocks.last_mut().unwrap().push(text);
        }
    }
    let mut out = Vec::new();
    for b in blocks {
        let lines: Vec<&str> = b.into_iter().skip_while(|l| l.starts_with("Thread ")).collect();
        let Some(&headline) = lines.first() else { continue };
        let is_error = ERROR_HEADLINES.iter().any(|h| headline.starts_with(h))
            || headline.contains("definitely lost in loss record");
        if !is_error {
            continue;
        }
        let fr = frames(&lines);
        let ours = fr.iter().any(|f| frame_is_ours(f)) && !passed_on_unchanged(headline, &fr);
        out.push(Finding {
            text: lines.join("\n"),
            ours,
        });
    }
    out
}

/// The valgrind verdict of a run: it ran under valgrind, and nothing invalid and no
/// definite leak is attributed to libwsd.so. Returns a note on the other findings.
fn assert_valgrind_clean(o: &Outcome) -> String {
    assert!(!o.hung, "hung\n{}", o.report());
    assert!(
        !o.stderr.contains("panicked at"),
        "the library panicked\n{}",
        o.report()
    );
    assert!(
        o.valgrind_logs.iter().any(|l| l.contains("Memcheck")),
        "valgrind wrote no log\n{}",
        o.report()
    );
    let all: Vec<Finding> = o.valgrind_logs.iter().flat_map(|l| findings(l)).collect();
    let ours: Vec<&Finding> = all.iter().filter(|f| f.ours).collect();
    assert!(
        ours.is_empty(),
        "valgrind: {} finding(s) in libwsd.so\n\n{}\n\n{}",
        ours.len(),
        ours.iter()
            .map(|f| f.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n"),
        o.report()
    );
    // 99 is valgrind's verdict; any other failure is the program's own checks.
    let code = o.status.code();
    assert!(
        code == Some(0) || (code == Some(99) && !all.is_empty()),
        "failed under valgrind\n{}",
        o.report()
    );
    if all.is_empty() {
        String::new()
    } else {
        format!(
            "{} finding(s) not libwsd's (the program's own, passed on unchanged): {}",
            all.len(),
            all.iter()
                .map(|f| f.text.lines().next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("; ")
        )
    }
}

// ---- 1. process life ---------------------------------------------------------------

#[test]
fn fork_while_four_threads_are_inside_set_and_get() {
    for round in 0..3 {
        let san = San::new("fork-threads");
        let o = Run::new(life(), &["fork-threads"]).run(&san);
        o.assert_clean();
        if round == 0 {
            print!(
                "{}",
                o.stdout
                    .lines()
                    .last()
                    .map(|l| format!("{l}\n"))
                    .unwrap_or_default()
            );
        }
    }
}

#[test]
fn vfork_and_exec_leave_the_parents_san_sockets_working() {
    let san = San::new("vfork");
    Run::new(life(), &["vfork"]).run(&san).assert_clean();
}

#[test]
fn posix_spawn_leaves_the_parents_san_sockets_working() {
    let san = San::new("spawn");
    Run::new(life(), &["spawn"]).run(&san).assert_clean();
}

#[test]
fn a_child_that_closes_every_descriptor_starts_afresh_and_leaves_the_parent_alone() {
    for args in [
        &["loop"][..],
        &["range"],
        &["closefrom"],
        &["raw"],
        &["loop", "exec"],
        &["range", "exec"],
        &["range-cloexec", "exec"],
        &["raw", "exec"],
    ] {
        let san = San::new("close-all");
        let mut run = Run::new(life(), &["close-all"]);
        for a in args {
            run = run.arg(a);
        }
        run.run(&san).assert_clean();
    }
}

#[test]
fn signal_handlers_calling_setsockopt_while_the_main_thread_loops() {
    let san = San::new("signals");
    let o = Run::new(life(), &["signals"]).run(&san);
    print!("{}", o.stdout);
    o.assert_clean();
}

#[test]
fn a_signal_handled_inside_a_hook_gets_the_same_answers() {
    let san = San::new("signal-in-hook");
    Run::new(build("life_signal", Kind::Program), &[])
        .run(&san)
        .assert_clean();
}

#[test]
fn a_dlopened_library_is_interposed_too() {
    let san = San::new("dlopen");
    Run::new(life(), &["dlopen"])
        .arg(build("life_plugin", Kind::Shared))
        .run(&san)
        .assert_clean();
}

#[test]
fn a_library_preloaded_after_libwsd_gets_the_calls_it_passes_on() {
    // libwsd.so's real getsockopt is the next definition after its own: here the
    // helper's, which answers its made-up level itself (libc would refuse it).
    let next = build("life_next", Kind::Shared);
    let mut preload = library().as_os_str().to_owned();
    preload.push(":");
    preload.push(&next);
    let san = San::new("next");
    let out = Command::new("python3")
        .args([
            "-c",
            "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
             print(s.getsockopt(0x7777, 1), s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE))",
        ])
        .env("LD_PRELOAD", preload)
        .env("WSD_SAN", &san.name)
        .output()
        .expect("run python3");
    assert!(out.status.success(), "{out:?}");
    let want = format!("4242 {}", libc::SOCK_DGRAM);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want);
}

#[test]
fn the_real_functions_are_found_however_many_objects_come_before_libc() {
    // libwsd.so, then 24 more libraries, then python's own and libc: the lookup
    // of the real functions walks past all of them.
    let plugin = build("life_plugin", Kind::Shared);
    let dir = root().join("target").join("c-tests").join("life").join("many");
    std::fs::create_dir_all(&dir).expect("create target/c-tests/life/many");
    let mut preload = library().as_os_str().to_owned();
    for i in 0..24 {
        let copy = dir.join(format!("libmany{i}.so"));
        std::fs::copy(&plugin, &copy).expect("copy life_plugin.so");
        preload.push(":");
        preload.push(&copy);
    }
    let san = San::new("many");
    let out = Command::new("python3")
        .args([
            "-c",
            "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
             print(s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)); s.close()",
        ])
        .env("LD_PRELOAD", preload)
        .env("WSD_SAN", &san.name)
        .output()
        .expect("run python3");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        libc::SOCK_DGRAM.to_string()
    );
}

#[test]
fn libwsd_dlopened_by_a_program_passes_its_calls_on() {
    // Not preloaded: a program dlopens the library (for its C API, say). libc
    // comes before it in the loader's chain then, and its real functions are
    // what dlsym(RTLD_NEXT, ...) finds from it: libc's.
    let san = San::new("dlopened");
    let out = Command::new("python3")
        .args([
            "-c",
            "import ctypes, socket, sys; lib = ctypes.CDLL(sys.argv[1]); \
             s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
             v = ctypes.c_int(0); n = ctypes.c_uint(4); \
             r = lib.getsockopt(s.fileno(), socket.SOL_SOCKET, socket.SO_TYPE, ctypes.byref(v), ctypes.byref(n)); \
             print(r, v.value)",
        ])
        .arg(library())
        .env_remove("LD_PRELOAD")
        .env("WSD_SAN", &san.name)
        .output()
        .expect("run python3");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("0 {}", libc::SOCK_DGRAM)
    );
}

#[test]
fn threads_started_from_constructors_get_correct_answers() {
    let early = build("life_early", Kind::Shared);
    let wsd = library().as_os_str().to_owned();
    let join = |a: &OsString, b: &OsString| {
        let mut p = a.clone();
        p.push(":");
        p.push(b);
        p
    };
    let variants: [(&str, Option<OsString>); 3] = [
        ("constructors in the program", None),
        (
            "helper preloaded before libwsd",
            Some(join(&early.clone().into(), &wsd)),
        ),
        (
            "helper preloaded after libwsd",
            Some(join(&wsd, &early.clone().into())),
        ),
    ];
    for (what, preload) in variants {
        let san = San::new("ctor");
        let mut run = Run::new(life(), &["constructors"]).env("LIFE_CTOR_THREADS", "1");
        if let Some(p) = preload {
            run = run.preload(p).env("LIFE_EARLY_THREAD", "1");
        }
        let o = run.run(&san);
        println!("{what}:\n{}", o.stdout);
        o.assert_clean();
    }
}

// ---- 2. security of the segment ------------------------------------------------------

fn nobody() -> (u32, u32) {
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

/// Can any user (nobody) reach `path`: every directory above it searchable by
/// others, and the file itself readable (and executable, if `exec`) by them?
fn reachable_by_others(path: &Path, exec: bool) -> bool {
    let want = if exec { 0o005 } else { 0o004 };
    std::fs::metadata(path).is_ok_and(|m| m.mode() & want == want)
        && path
            .ancestors()
            .skip(1)
            .all(|d| std::fs::metadata(d).is_ok_and(|m| m.mode() & 0o001 != 0))
}

#[test]
fn a_segment_made_by_root_is_out_of_reach_of_nobody() {
    if !is_root() {
        println!("skipped: needs root (to drop to nobody)");
        return;
    }
    for (path, exec) in [(life(), true), (library().to_path_buf(), false)] {
        if !reachable_by_others(&path, exec) {
            println!("skipped: nobody cannot reach {}", path.display());
            return;
        }
    }
    let san = San::new("root-made");
    drop(Segment::create(&san.name, 16).expect("create the segment as root"));
    let meta = std::fs::metadata(san.path()).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o600));
    let before = std::fs::read(san.path()).unwrap();

    // Not created beforehand: nobody creates it, in a directory anyone may write to.
    let dir = TempDir(PathBuf::from("/tmp").join(temp_name("nobody").file_name().unwrap()));
    std::fs::create_dir(&dir.0).unwrap();
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o777)).unwrap();
    let nobody_log = TempFile(dir.0.join("log"));
    let o = Run::new(life(), &["drop-to-nobody"]).arg(&nobody_log.0).run(&san);
    o.assert_clean();
    let text = String::from_utf8_lossy(&std::fs::read(&nobody_log.0).unwrap_or_default()).into_owned();
    let warnings: Vec<&str> = text.lines().filter(|l| l.starts_with("wsd: ")).collect();
    assert_eq!(warnings.len(), 1, "nobody's log:\n{text}\n{}", o.report());
    assert!(
        warnings[0].starts_with("wsd: warning:")
            && warnings[0].contains("cannot be used")
            && warnings[0].contains("ermission denied"),
        "nobody's warning: {}",
        warnings[0]
    );
    let meta = std::fs::metadata(san.path()).unwrap();
    assert_eq!(
        (meta.uid(), meta.mode() & 0o7777),
        (0, 0o600),
        "still root's, 0600"
    );
    let after = std::fs::read(san.path()).unwrap();
    assert_eq!(before.len(), after.len());
    let (uid, _) = nobody();
    println!("nobody (uid {uid}) was refused: {}", warnings[0]);
}

/// A pre-created object at the segment's path.
enum Planted {
    /// A real segment with this mode and owner.
    Segment {
        mode: u32,
        owner: Option<(u32, u32)>,
    },
    /// A symbolic link to a valid segment.
    Symlink,
    Fifo,
    Directory,
}

#[test]
fn pre_created_segments_that_are_not_private_or_not_ours_are_refused() {
    let root_user = is_root();
    let (uid, gid) = nobody();
    let mut cases: Vec<(String, Planted, String)> = Vec::new();
    for mode in [
        // 0660 is a group's shared segment when the file's group is one of the
        // process's (tests/users.rs covers it); every other mode is refused.
        0o644, 0o640, 0o604, 0o606, 0o666, 0o700, 0o620, 0o4600, 0o1600,
    ] {
        cases.push((
            format!("mode {mode:04o}"),
            Planted::Segment { mode, owner: None },
            format!("permissions {mode:04o}"),
        ));
    }
    if root_user {
        cases.push((
            "mode 0400 (root opens it anyway)".into(),
            Planted::Segment {
                mode: 0o400,
                owner: None,
            },
            "permissions 0400".into(),
        ));
        cases.push((
            "owned by nobody".into(),
            Planted::Segment {
                mode: 0o600,
                owner: Some((uid, gid)),
            },
            format!("owned by uid {uid}"),
        ));
        cases.push((
            "owned by nobody, mode 0666".into(),
            Planted::Segment {
                mode: 0o666,
                owner: Some((uid, 0)),
            },
            format!("owned by uid {uid}"),
        ));
    } else {
        println!("skipped: segments owned by another user (needs root to chown)");
    }
    cases.push(("a symbolic link".into(), Planted::Symlink, "symbolic link".into()));
    cases.push(("a FIFO".into(), Planted::Fifo, "not a regular".into()));
    cases.push(("a directory".into(), Planted::Directory, "Is a directory".into()));

    for (what, planted, reason) in cases {
        let san = San::new("planted");
        let target = San::new("planted-target");
        let path = san.path();
        match &planted {
            Planted::Segment { mode, owner } => {
                drop(Segment::create(&san.name, 8).unwrap());
                if let Some((u, g)) = owner {
                    std::os::unix::fs::chown(&path, Some(*u), Some(*g)).unwrap();
                }
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).unwrap();
            }
            Planted::Symlink => {
                drop(Segment::create(&target.name, 8).unwrap());
                std::os::unix::fs::symlink(target.path(), &path).unwrap();
            }
            Planted::Fifo => {
                let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
                // SAFETY: a valid path.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            }
            Planted::Directory => {
                std::fs::create_dir(&path).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
            }
        }
        let before = std::fs::symlink_metadata(&path).unwrap();
        let bytes = before.is_file().then(|| std::fs::read(&path).unwrap());
        let target_bytes = std::fs::read(target.path()).ok();

        let o = Run::new(life(), &["refused"]).run(&san);
        // Whatever was planted is left exactly as it was.
        let after = std::fs::symlink_metadata(&path).unwrap();
        if matches!(planted, Planted::Directory) {
            let _ = std::fs::remove_dir(&path);
        }
        o.assert_refused_once(&what, &reason);
        assert_eq!(
            after.file_type().is_fifo(),
            before.file_type().is_fifo(),
            "{what}"
        );
        assert_eq!(
            after.file_type().is_symlink(),
            before.file_type().is_symlink(),
            "{what}"
        );
        assert_eq!(
            (after.ino(), after.mode(), after.uid()),
            (before.ino(), before.mode(), before.uid()),
            "{what}: replaced or changed"
        );
        if let Some(b) = bytes {
            assert!(
                std::fs::read(&path).unwrap() == b,
                "{what}: a refused segment was written to"
            );
        }
        if let Some(b) = target_bytes {
            assert!(
                std::fs::read(target.path()).unwrap() == b,
                "{what}: the link's target was written to"
            );
        }
    }
}

/// One hostile header: what is done to a freshly made segment of capacity 4, and
/// whether it must be refused (with a reason in the warning).
struct Hostile {
    what: &'static str,
    header: fn(&Header),
    /// The file's size afterwards, if changed.
    len: Option<u64>,
    /// Every byte after the header set to this.
    fill: Option<u8>,
    refused: Option<&'static str>,
}

impl Hostile {
    fn new(what: &'static str, refused: Option<&'static str>, header: fn(&Header)) -> Hostile {
        Hostile {
            what,
            header,
            len: None,
            fill: None,
            refused,
        }
    }

    fn len(self, len: usize) -> Hostile {
        Hostile {
            len: Some(len as u64),
            ..self
        }
    }

    fn fill(self, byte: u8) -> Hostile {
        Hostile {
            fill: Some(byte),
            ..self
        }
    }
}

fn hostile_cases() -> Vec<Hostile> {
    use Ordering::Relaxed;
    vec![
        // The first check that fails decides: the geometry, here.
        Hostile::new("every field at its worst", Some("geometry"), |h| {
            h.capacity.store(u32::MAX, Relaxed);
            h.total_size.store(u64::MAX, Relaxed);
            h.report_rows.store(REPORT_ROWS + 1, Relaxed);
            h.high_water.store(u32::MAX, Relaxed);
            h.next_id.store(0, Relaxed);
            h.network.store(7, Relaxed);
        }),
        Hostile::new("capacity 0xffffffff", Some("capacity 4294967295"), |h| {
            h.capacity.store(u32::MAX, Relaxed)
        }),
        Hostile::new("capacity 0", Some("capacity 0"), |h| h.capacity.store(0, Relaxed)),
        Hostile::new("capacity 5 in a file sized for 4", Some("size"), |h| {
            h.capacity.store(5, Relaxed)
        }),
        Hostile::new("the largest capacity in a file sized for 4", Some("size"), |h| {
            h.capacity.store(MAX_CAPACITY, Relaxed)
        }),
        Hostile::new("total_size 2^64-1", Some("size"), |h| {
            h.total_size.store(u64::MAX, Relaxed)
        }),
        Hostile::new("header and file sized for 8, capacity 4", Some("size"), |h| {
            h.total_size.store(segment_size(8) as u64, Relaxed)
        })
        .len(segment_size(8)),
        Hostile::new("a file larger than the largest segment", Some("size"), |_| {})
            .len(segment_size(MAX_CAPACITY) + 4096),
        Hostile::new("a file shorter than its header", Some("size"), |_| {}).len(HEADER_SIZE - 8),
        Hostile::new("report_rows wrong", Some("geometry"), |h| {
            h.report_rows.store(u32::MAX, Relaxed)
        }),
        Hostile::new("record_size wrong", Some("geometry"), |h| {
            h.record_size.store(1, Relaxed)
        }),
        Hostile::new("header_size wrong", Some("geometry"), |h| {
            h.header_size.store(u32::MAX, Relaxed)
        }),
        Hostile::new("index buckets wrong", Some("geometry"), |h| {
            h.key_buckets.store(3, Relaxed);
            h.addr_buckets.store(u32::MAX, Relaxed);
        }),
        Hostile::new("free list, index lock and reaping cursor hostile", None, |h| {
            h.free_head.store(u32::MAX, Relaxed);
            // A lock held by a thread that does not exist: taken over.
            h.index_lock.store(u64::MAX, Relaxed);
            h.reap_cursor.store(u32::MAX, Relaxed);
            h.reap_due_ms.store(0, Relaxed);
        }),
        // Held "by" init's thread, which lives for ever: every call does without
        // the lock (the program runs, its sockets stay plain TCP), and only the
        // first waits for it.
        Hostile::new("index lock held by a thread that never lets go", None, |h| {
            h.index_lock.store(wsd::san::layout::lane_owner(1, 1), Relaxed)
        }),
        Hostile::new("free list pointing at itself", None, |h| {
            h.free_head.store(1, Relaxed)
        })
        .fill(0x00),
        Hostile::new("high_water 0xffffffff", None, |h| {
            h.high_water.store(u32::MAX, Relaxed)
        }),
        Hostile::new("next_id 0", None, |h| h.next_id.store(0, Relaxed)),
        Hostile::new("next_id 2^64-1", None, |h| h.next_id.store(u64::MAX, Relaxed)),
        Hostile::new("network 7", None, |h| h.network.store(7, Relaxed)),
        Hostile::new(
            "every accepted field at its worst, every record and report byte 0xff",
            None,
            |h| {
                h.high_water.store(u32::MAX, Relaxed);
                h.next_id.store(0, Relaxed);
                h.network.store(7, Relaxed);
                for c in [
                    &h.stats.endpoints_created,
                    &h.stats.fallback_full,
                    &h.stats.connections,
                    &h.stats.report_dropped,
                ] {
                    c.store(u64::MAX, Relaxed);
                }
            },
        )
        .fill(0xff),
        Hostile::new(
            "high_water and next_id hostile, every record byte 0x02 (LIVE, held by dead pids)",
            None,
            |h| {
                h.high_water.store(u32::MAX, Relaxed);
                h.next_id.store(u64::MAX - 1, Relaxed);
            },
        )
        .fill(0x02),
    ]
}

#[test]
fn hostile_header_fields_are_refused_or_survived_without_reading_outside_the_mapping() {
    let under_valgrind = valgrind_present();
    if !under_valgrind {
        println!("valgrind missing: the hostile segments run natively only");
    }
    for case in hostile_cases() {
        let san = San::new("hostile");
        {
            let seg = Segment::create(&san.name, 4).unwrap();
            (case.header)(seg.header());
        }
        if let Some(fill) = case.fill {
            let mut bytes = std::fs::read(san.path()).unwrap();
            bytes[HEADER_SIZE..].fill(fill);
            std::fs::write(san.path(), &bytes).unwrap();
        }
        if let Some(len) = case.len {
            std::fs::OpenOptions::new()
                .write(true)
                .open(san.path())
                .unwrap()
                .set_len(len)
                .unwrap();
        }
        let before = std::fs::read(san.path()).unwrap();
        let expect = if case.refused.is_some() { "refused" } else { "any" };
        for valgrind in [false, true] {
            if valgrind && !under_valgrind {
                continue;
            }
            let o = Run::new(life(), &["hostile", expect])
                .valgrind(valgrind)
                .run(&san);
            let what = format!("{} ({})", case.what, o.what);
            if valgrind {
                let note = assert_valgrind_clean(&o);
                assert!(note.is_empty(), "{what}: {note}\n{}", o.report());
            }
            match case.refused {
                Some(reason) => {
                    o.assert_refused_once(&what, reason);
                    assert!(
                        std::fs::read(san.path()).unwrap() == before,
                        "{what}: a refused segment was written to"
                    );
                }
                None => {
                    assert!(!o.hung, "{what}: hung\n{}", o.report());
                    assert!(o.status.success(), "{what}: failed\n{}", o.report());
                    assert!(
                        !o.stderr.contains("panicked at"),
                        "{what}: the library panicked\n{}",
                        o.report()
                    );
                }
            }
        }
    }
}

// ---- 3. leaks ------------------------------------------------------------------------

#[test]
fn every_c_test_program_is_clean_under_valgrind() {
    if !valgrind_present() {
        println!("skipped: valgrind is not installed (Debian: apt-get install valgrind)");
        return;
    }
    // (program, args, environment); the first five are required, the rest run while
    // the time budget lasts. Switch mode, except where the program tests another.
    type Case = (
        &'static str,
        &'static [&'static str],
        &'static [(&'static str, &'static str)],
    );
    let cases: &[Case] = &[
        ("direct_api", &[], &[]),
        ("switch_mode", &["switch"], &[]),
        ("bad_memory", &["switch"], &[]),
        ("dup_close", &[], &[]),
        ("fork", &[], &[]),
        ("threads", &[], &[]),
        ("candidates", &[], &[]),
        ("dup_close", &["candidates"], &[]),
        ("candidates", &["nonsan"], &[("WSD_SUBNETS", "127.0.0.2/32")]),
        ("untouched", &["with"], &[("WSD_SUBNETS", "")]),
        ("observe_mode", &[], &[("WSD_MODE", "observe")]),
        ("switch_mode", &["provider"], &[("WSD_MODE", "provider")]),
        ("bad_memory", &["provider"], &[("WSD_MODE", "provider")]),
    ];
    let start = Instant::now();
    for (i, (program, args, env)) in cases.iter().enumerate() {
        if i >= 5 && start.elapsed() > LEAK_BUDGET {
            println!("skipped {program} {args:?}: the time budget of {LEAK_BUDGET:?} is spent");
            continue;
        }
        let san = San::new("valgrind");
        let mut run = Run::new(build(program, Kind::Program), args).valgrind(true);
        for (k, v) in *env {
            run = run.env(k, *v);
        }
        let o = run.run(&san);
        let note = assert_valgrind_clean(&o);
        assert!(o.warnings().is_empty(), "the library complained\n{}", o.report());
        println!("{program} {args:?}: clean in {:.1?} {note}", o.elapsed);
    }
}

#[test]
fn the_valgrind_log_parser_blames_only_libwsd() {
    let root_src = format!("{}/src/shim/hooks.rs", root().display());
    let root = root().display();
    let log = format!(
        "==1== Memcheck, a memory error detector\n\
         ==1== \n\
         ==1== Invalid read of size 4\n\
         ==1==    at 0x1: wsd::shim::hooks::setsockopt ({root_src}:10)\n\
         ==1==    by 0x2: main (prog.c:3)\n\
         ==1==  Address 0x0 is not stack'd\n\
         ==1== \n\
         ==1== Syscall param socketcall.setsockopt(optval) points to unaddressable byte(s)\n\
         ==1==    at 0x3: setsockopt (setsockopt.c:95)\n\
         ==1==    by 0x4: wsd::shim::real::setsockopt (real.rs:68)\n\
         ==1==    by 0x5: wsd::shim::hooks::setsockopt::{{{{closure}}}} (hooks.rs:197)\n\
         ==1== \n\
         ==1== Syscall param socketcall.getsockopt(optval) points to unaddressable byte(s)\n\
         ==1==    at 0x3: getsockopt (getsockopt.c:95)\n\
         ==1==    by 0x9: getsockopt ({root}/src/shim/real.rs:85)\n\
         ==1==    by 0x2: main (prog.c:3)\n\
         ==1== \n\
         ==1== Thread 2:\n\
         ==1== 40 bytes in 1 blocks are definitely lost in loss record 1 of 1\n\
         ==1==    at 0x6: malloc (vg_replace_malloc.c:381)\n\
         ==1==    by 0x7: main (prog.c:9)\n\
         ==1== \n\
         ==1== 8 bytes in 1 blocks are definitely lost in loss record 2 of 2\n\
         ==1==    at 0x6: malloc (vg_replace_malloc.c:381)\n\
         ==1==    by 0x8: alloc::alloc::alloc (/rustc/abc/library/alloc/src/alloc.rs:94)\n\
         ==1== \n"
    );
    let f = findings(&log);
    let verdicts: Vec<bool> = f.iter().map(|f| f.ours).collect();
    assert_eq!(verdicts, [true, false, false, false, true], "{f:#?}");
}

// ---- the fork hand-over, without fork ------------------------------------------------

/// Spins until `done`, yielding every `patience` spins (the machine may have
/// fewer free cores than spinning threads).
fn spin_until(patience: u32, done: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !done() {
        spins += 1;
        if spins.is_multiple_of(patience) {
            thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// A fork child takes over the hold its parent counted as pending before the fork
/// (`hold_pending` in the parent, `settle_pending` in the child); the parent may
/// close its own copy at the same moment (`release`). Whatever the interleaving, the
/// record must stay live while the child holds it. The two sides run here on two
/// threads, many times, as the library runs them in two processes.
#[test]
fn a_release_racing_a_fork_childs_settle_never_frees_what_the_child_holds() {
    use std::sync::atomic::{AtomicU32, AtomicU64};
    use wsd::san::{EndpointRef, EndpointRole, NewEndpoint};
    const ROUNDS: u32 = 20_000;
    let san = San::new("settle-race");
    let seg = Segment::create(&san.name, 4).unwrap();
    let pid = std::process::id();
    let (start, _) = wsd::san::reap::process_stat(pid)
        .unwrap()
        .expect("our /proc/PID/stat");
    let parent = wsd::san::layout::identity(pid, start);
    // Another identity of a live process (this one), so no reaper ever frees it.
    let child = parent ^ 1;
    let new = NewEndpoint {
        holder: parent,
        pid,
        fd: 3,
        role: EndpointRole::Connector,
        local: None,
        peer: None,
        comm: *b"settle-race\0\0\0\0\0",
        cookie: 0,
        netns: 0,
        inode: 0,
    };
    // The endpoint of the current round (index << 32 | tag), and the round number
    // (STOP ends the other thread, however this one ends).
    const STOP: u32 = u32::MAX;
    let current = AtomicU64::new(0);
    let round = AtomicU32::new(0);
    let settled = AtomicU32::new(0);
    let mut lost = Vec::new();
    let mut rounds = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    thread::scope(|s| {
        s.spawn(|| {
            for r in 1..=ROUNDS {
                // Hot: the hand-over starts the moment the round does.
                spin_until(
                    1 << 16,
                    || matches!(round.load(Ordering::Acquire), x if x == r || x == STOP),
                );
                if round.load(Ordering::Acquire) == STOP {
                    return;
                }
                let v = current.load(Ordering::Acquire);
                let ep = EndpointRef {
                    index: (v >> 32) as u32,
                    tag: v as u32,
                };
                seg.settle_pending(ep, child);
                settled.store(r, Ordering::Release);
            }
        });
        for r in 1..=ROUNDS {
            if Instant::now() > deadline {
                break;
            }
            let Some(ep) = seg
                .allocate(&new)
                .map(|c| c.endpoint())
                .filter(|&ep| seg.hold_pending(ep))
            else {
                break;
            };
            current.store(u64::from(ep.index) << 32 | u64::from(ep.tag), Ordering::Release);
            round.store(r, Ordering::Release);
            // The parent closes its copy while the child settles.
            for _ in 0..(r % 64) {
                std::hint::spin_loop();
            }
            seg.release(ep, parent, pid);
            spin_until(64, || settled.load(Ordering::Acquire) == r);
            match seg.endpoint(ep) {
                Some(_) => seg.release(ep, child, pid),
                None => lost.push(r),
            }
            rounds = r;
        }
        round.store(STOP, Ordering::Release);
    });
    assert!(rounds >= ROUNDS / 10, "only {rounds} rounds ran");
    assert!(
        lost.is_empty(),
        "{} of {rounds} records were freed while the fork child held them (rounds {:?}…)",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
}
