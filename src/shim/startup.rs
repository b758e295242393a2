//! Start-up: what the engine does when the front loads it, what it takes back
//! of an earlier image, and the process-wide state built on first need.
//!
//! Start-up runs from `wsd_engine_init` (`preload/lib.rs`), which only the
//! engine has: the `wsd` tool and the Rust test binaries carry the engine's
//! code too, but never start, so their hooks pass everything straight to libc.

use crate::config::{Config, LogLevel};
use crate::san::Segment;
use crate::san::layout;
use crate::shim::state::{self, Shim};
use crate::shim::{fdtable, front, log, memory, real, thread};
use crate::wsd_log;
use std::sync::atomic::{AtomicU64, Ordering::*};
use wsd_front::api::Front;
use wsd_front::{segment, sys};

/// [`START`] values: how far start-up has gone.
const START_NOT_RUN: u64 = 0;
const START_ARMED: u64 = 1;
const START_FAILED: u64 = 2;
/// Running, in the process whose pid is in the bits above the low byte (a
/// fork child that finds its parent's start-up running knows it is not its
/// own, and does not wait for it).
const START_RUNNING: u64 = 3;
const fn running(pid: u32) -> u64 {
    (pid as u64) << 8 | START_RUNNING
}
/// Set by the engine's start-up (running, then armed), or failed for good when
/// the environment or the descriptor table cannot be used (said once in the log).
static START: AtomicU64 = AtomicU64::new(START_NOT_RUN);

/// The state, set up now if this is the first need of it: the first TCP socket,
/// or the first direct provider call. Never blocks: threads that race here each
/// build a state, one is published and the others are dropped.
pub fn shim_or_start() -> Option<&'static Shim> {
    if let Some(s) = state::shim() {
        return Some(s);
    }
    // Not before the constructor (or in the `wsd` tool), not after a failure, and
    // not in a vfork child, whose memory is its parent's.
    if START.load(Acquire) != START_ARMED || state::in_vm_sharing_child() {
        return None;
    }
    let (shim, ours) = state::publish(set_up()?);
    if ours && log::enabled(LogLevel::Debug) {
        wsd_log!(Debug, "started: mode {}", shim.config.mode.name());
    }
    Some(shim)
}

/// The basename of argv[0], which rules match against.
fn program_name() -> String {
    // SAFETY: glibc defines this variable (a `char *`) in every process.
    unsafe extern "C" {
        static program_invocation_short_name: *const libc::c_char;
    }
    // SAFETY: glibc sets this to a NUL-terminated string before any constructor runs.
    let p = unsafe { program_invocation_short_name };
    if p.is_null() {
        return String::new();
    }
    // SAFETY: non-null and NUL-terminated, as above.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .into_owned()
}

/// The engine's start-up, when the front loads it (`wsd_engine_init`): the
/// front's table taken, this process's pid and main stack noted, the fork
/// handlers registered. Nothing that allocates or reads /proc: the state is
/// built on first need ([`shim_or_start`]). Runs once; false if it ran
/// already.
pub fn start(
    front: &'static Front,
    before_fork: extern "C" fn(),
    after_fork_in_child: extern "C" fn(),
) -> bool {
    if START
        .compare_exchange(START_NOT_RUN, running(wsd_front::sys::getpid()), AcqRel, Acquire)
        .is_err()
    {
        return false;
    }
    front::adopt(front);
    // Every real function now, through the front's lookup: no later first call
    // looks one up — lock-free where the front could note the objects after it,
    // with `dlsym` (the loader's lock) where it could not (a `dlopen`ed front).
    real::resolve_listed();
    wsd_front::real::resolve_own();
    wsd_front::errno::resolve();
    fdtable::adopt(front);
    state::own_memory();
    log::remember_stderr(front::stderr_at_start());
    // The main thread's stack, if this is the main thread (the engine loads in
    // whichever thread first needs it; others learn their own bounds).
    // SAFETY: gettid has no preconditions.
    if unsafe { libc::gettid() } as u32 == wsd_front::sys::getpid()
        && let Some(bounds) = memory::main_stack()
    {
        thread::set_stack(bounds);
    }
    // SAFETY: the handlers only touch this library's state and the segment; the
    // child's also reads /proc/self/stat (glibc's fork leaves malloc usable in
    // the child).
    unsafe { libc::pthread_atfork(Some(before_fork), None, Some(after_fork_in_child)) };
    START.store(START_ARMED, Release);
    true
}

/// Waits while another thread of this process runs [`start`] (a few system
/// calls, nothing that blocks), yielding the processor meanwhile. Not in a fork
/// child whose parent was inside `start` when it forked: that thread is not
/// here to finish, so the child runs without the SAN.
pub fn wait_started() {
    while START.load(Acquire) == running(wsd_front::sys::getpid()) {
        std::thread::yield_now();
    }
}

/// Start-up panicked: the engine's hooks pass every call straight to libc.
pub fn start_failed() {
    START.store(START_FAILED, Release);
}

/// The front's constructor found that there may be SAN sockets already:
/// descriptors named in `WSD_FDS`, or a segment that may list this process as
/// a holder of sockets it inherited across exec (or the table could not be
/// mapped, which the state's set-up reports). The state, then, for the switch
/// to take those back before the program runs (the caller, `hooks::life`).
///
/// Only then: a state built later, at a thread's first TCP socket, has nothing
/// to take back (start-up looked), and looking then would race with other
/// threads whose new SAN sockets' records list this process too (a record not
/// yet in the descriptor table would be let go).
pub fn inherited() -> Option<&'static Shim> {
    if !fdtable::published() || std::env::var_os("WSD_FDS").is_some() || inherited_san_sockets() {
        shim_or_start()
    } else {
        None
    }
}

/// Could this process hold SAN sockets already, inherited across exec? Only if
/// the segment `WSD_SAN` names lists its pid among an endpoint's holders (a fork
/// child becomes a holder before it execs), which its holder map says first. A name that is not valid, or a
/// segment that cannot be used, answers yes: the full start-up reports it.
fn inherited_san_sockets() -> bool {
    let name = std::env::var_os("WSD_SAN");
    let name = name
        .as_ref()
        .map_or(b"default".as_slice(), |n| n.as_encoded_bytes());
    let mut buf = [0u8; segment::PATH_PREFIX.len() + segment::NAME_MAX + 1];
    let Some(path) = segment::path(name, &mut buf) else {
        return true;
    };
    let fd = match sys::open(path, libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC) {
        Err(libc::ENOENT) => return false,
        Err(_) => return true,
        Ok(fd) => fd,
    };
    let seg = Segment::open_fd_unnamed(fd);
    sys::close(fd);
    match seg {
        Err(_) => true,
        Ok(seg) => {
            // The holder map says whether to look (the front read it too).
            // The bit is cleared first, then set again if a record lists this
            // pid: a record this process makes meanwhile (a thread of an
            // earlier constructor) sets it once live, after the clear.
            let pid = state::own_pid();
            if !seg.may_hold(pid) {
                return false;
            }
            seg.forget_holder(pid);
            let holds = seg
                .live()
                .any(|(_, rec)| rec.holder_identities().any(|h| layout::identity_pid(h) == pid));
            if holds {
                seg.note_holder(pid);
            }
            holds
        }
    }
}

/// The state from the environment: None (said once in the log) if it is not usable.
fn set_up() -> Option<Shim> {
    let env = |k: &str| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned());
    let failed = || {
        START
            .compare_exchange(START_ARMED, START_FAILED, AcqRel, Acquire)
            .is_ok()
    };
    let config = match Config::from_env(env, |path| std::fs::read_to_string(path)) {
        Ok(c) => c,
        Err(e) => {
            if failed() {
                // Said where the user asked for log lines, if that part was usable.
                let file = env("WSD_LOG_FILE").filter(|f| !f.is_empty() && e.var() != "WSD_LOG_FILE");
                log::configure(LogLevel::Warn, file.as_deref());
                wsd_log!(Error, "{e}; the program runs without the SAN");
            }
            return None;
        }
    };
    log::configure(config.log, config.log_file.as_deref());
    if !fdtable::published() {
        if failed() {
            wsd_log!(
                Error,
                "cannot map the descriptor table; the program runs without the SAN"
            );
        }
        return None;
    }
    Some(Shim::new(config, program_name()))
}
