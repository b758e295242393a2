//! The program's life as a process under `wsd run`: it is given SIGPIPE as the
//! tool was given it, SIGTERM and SIGHUP sent to the tool are passed on to it, and
//! the tool waits for it and for every process it leaves behind (the tool is their
//! subreaper), so that the report covers them all.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};

/// Whether SIGPIPE was ignored when the tool was started. The Rust runtime ignores
/// SIGPIPE in the tool before `main` (so that output to a closed pipe is an EPIPE
/// error, which the tool ends on quietly), and `Command` resets it to the default
/// in the program it starts; the program is given back the disposition the tool
/// was given, as if the shell had started it directly.
static SIGPIPE_IGNORED_AT_START: AtomicBool = AtomicBool::new(false);

extern "C" fn note_sigpipe_at_start() {
    // SAFETY: an all-zero sigaction is a valid out-parameter.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`, a valid pointer.
    let r = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) };
    if r == 0 && old.sa_sigaction == libc::SIG_IGN {
        SIGPIPE_IGNORED_AT_START.store(true, Relaxed);
    }
}

/// Called by the C runtime before `main`, and so before the Rust runtime's set-up.
#[used]
#[unsafe(link_section = ".init_array")]
static NOTE_SIGPIPE_AT_START: extern "C" fn() = note_sigpipe_at_start;

/// Gives the program SIGPIPE as the tool was given it: ignored again in the
/// program if it was ignored when the tool started (see
/// [`SIGPIPE_IGNORED_AT_START`]).
pub(super) fn give_sigpipe_back(cmd: &mut Command) {
    if SIGPIPE_IGNORED_AT_START.load(Relaxed) {
        // SAFETY: the closure runs in the child between fork and exec; it only calls
        // signal(2), which is async-signal-safe, and touches no shared memory.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                Ok(())
            });
        }
    }
}

/// The program's pid, for the signal handler to pass SIGTERM and SIGHUP on.
static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn pass_on(signal: libc::c_int) {
    let pid = CHILD.load(Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, signal) };
    }
}

extern "C" fn let_the_program_decide(_: libc::c_int) {}

/// Runs `cmd` and waits for it and for every process it leaves behind (the tool is
/// their subreaper), so that the report covers them all. `started` runs once the
/// program has been started. SIGTERM and SIGHUP sent
/// to the tool go to the program, which then ends as it would and the report is
/// still written; SIGINT from a terminal reaches the program directly.
pub(super) fn run_to_the_end(
    cmd: &mut Command,
    started: impl FnOnce(),
) -> std::io::Result<std::process::ExitStatus> {
    // SAFETY: prctl with an integer argument has no memory effects; the handlers
    // only read an atomic and call kill, both async-signal-safe.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        libc::signal(libc::SIGTERM, pass_on as *const () as libc::sighandler_t);
        libc::signal(libc::SIGHUP, pass_on as *const () as libc::sighandler_t);
        // A handler, not SIG_IGN: an ignored signal would stay ignored in the program.
        libc::signal(
            libc::SIGINT,
            let_the_program_decide as *const () as libc::sighandler_t,
        );
    }
    let status = cmd.spawn().and_then(|mut child| {
        CHILD.store(child.id() as i32, Relaxed);
        started();
        child.wait()
    });
    loop {
        // SAFETY: waiting for any child; a NULL status pointer is allowed.
        let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) };
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    status
}
