//! The `wsd` tool as a Unix filter (SPEC §6.3): output to a closed pipe ends a verb
//! quietly, with the status it would have had, and `wsd run` leaves the program's
//! SIGPIPE disposition as the tool was given it.

mod support;

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use support::{San, library, tool};
use wsd::san::Segment;

/// The write end of a pipe whose read end is already closed: every write to it
/// fails with EPIPE (or raises SIGPIPE where that is not ignored).
fn closed_pipe() -> OwnedFd {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two descriptors for pipe2 to fill.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours alone.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    write
}

/// `wsd ARGS` with standard output a closed pipe; standard error captured.
fn into_closed_pipe(cmd: &mut Command) -> Output {
    cmd.env_remove("WSD_SAN")
        .stdin(Stdio::null())
        .stdout(Stdio::from(closed_pipe()))
        .stderr(Stdio::piped())
        .output()
        .expect("run wsd")
}

/// A fresh segment, created by the tool.
fn created(tag: &str) -> San {
    let san = San::new(tag);
    let out = tool()
        .args(["san", "create", "--san", &san.name])
        .env_remove("WSD_SAN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "wsd san create: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    san
}

/// `wsd ARGS` into a closed pipe must exit with `want` and say nothing about it.
fn ends_quietly(args: &[&str], want: i32) {
    let out = into_closed_pipe(tool().args(args));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(want),
        "wsd {args:?}: {:?}, stderr: {err}",
        out.status
    );
    assert!(!err.contains("Broken pipe"), "wsd {args:?}: {err}");
    assert!(!err.contains("panicked"), "wsd {args:?}: {err}");
}

#[test]
fn tables_end_quietly_on_a_closed_pipe() {
    for args in [
        &["options"][..],
        &["options", "--json"],
        &["errors"],
        &["errors", "--json"],
        &["--help"],
        &["--version"],
        &["san", "--help"],
    ] {
        ends_quietly(args, 0);
    }
}

#[test]
fn san_status_ends_quietly_on_a_closed_pipe() {
    let san = created("pipe-status");
    ends_quietly(&["san", "status", "--san", &san.name], 0);
    ends_quietly(&["san", "status", "--json", "--san", &san.name], 0);
}

#[test]
fn san_check_ends_quietly_on_a_closed_pipe() {
    let san = created("pipe-check");
    ends_quietly(&["san", "check", "--san", &san.name], 0);
    ends_quietly(&["san", "check", "--json", "--san", &san.name], 0);
    // A violation keeps its status 1 when nobody reads the sentence.
    let seg = Segment::open(&san.name).unwrap();
    seg.header().network.store(7, Relaxed);
    ends_quietly(&["san", "check", "--san", &san.name], 1);
}

#[test]
fn san_faults_end_quietly_on_a_closed_pipe() {
    let san = created("pipe-down");
    ends_quietly(&["san", "down", "--san", &san.name], 0);
    ends_quietly(&["san", "up", "--json", "--san", &san.name], 0);
    let doomed = San::new("pipe-create");
    ends_quietly(&["san", "create", "--san", &doomed.name], 0);
    ends_quietly(&["san", "destroy", "--san", &doomed.name], 0);
}

#[test]
fn report_ends_quietly_on_a_closed_pipe() {
    let san = created("pipe-report");
    ends_quietly(&["report", "--san", &san.name], 0);
    ends_quietly(&["report", "--json", "--san", &san.name], 0);
}

/// `wsd run` writes its report to standard error: a closed one must not change the
/// program's status.
#[test]
fn run_keeps_the_programs_status_when_stderr_is_a_closed_pipe() {
    let san = San::new("pipe-run");
    let out = tool()
        .arg("run")
        .arg("--lib")
        .arg(library())
        .args(["--san", &san.name, "--", "sh", "-c", "exit 3"])
        .env("WSD_LOG_FILE", "/dev/null")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(closed_pipe()))
        .status()
        .unwrap();
    assert_eq!(out.code(), Some(3), "{out:?}");
}

/// Whether SIGPIPE is ignored in a program that `wsd run` started, when the tool
/// itself was started with SIGPIPE ignored (`ignored`) or default.
fn program_ignores_sigpipe(san: &San, ignored: bool) -> bool {
    let mut cmd = tool();
    cmd.arg("run")
        .arg("--lib")
        .arg(library())
        .args(["--san", &san.name, "--", "grep", "^SigIgn:", "/proc/self/status"])
        .env("WSD_LOG_FILE", "/dev/null")
        .stdin(Stdio::null());
    let disposition = if ignored { libc::SIG_IGN } else { libc::SIG_DFL };
    // SAFETY: between fork and exec the closure only calls signal(2), which is
    // async-signal-safe, and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGPIPE, disposition);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mask = text
        .trim()
        .strip_prefix("SigIgn:")
        .map(str::trim)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .unwrap_or_else(|| panic!("no SigIgn line in {text:?}"));
    mask & (1 << (libc::SIGPIPE - 1)) != 0
}

#[test]
fn run_gives_the_program_sigpipe_as_the_tool_got_it() {
    let san = San::new("pipe-inherit");
    assert!(!program_ignores_sigpipe(&san, false), "default stays default");
    assert!(program_ignores_sigpipe(&san, true), "ignored stays ignored");
}
