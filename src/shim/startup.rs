//! Start-up: what `libwsd.so`'s constructor does before the program runs, and
//! the process-wide state built on first need.
//!
//! Start-up runs from `libwsd.so`'s constructor, which only that library has
//! (`preload/lib.rs`): the `wsd` tool and the Rust test binaries carry the
//! library's exports too, but never start, so only a loaded `libwsd.so`
//! interposes. Until start-up has published the descriptor table, every hook
//! passes straight to libc.

use crate::config::{Config, LogLevel};
use crate::san::Segment;
use crate::san::layout;
use crate::shim::state::{self, Shim};
use crate::shim::{fdtable, log, memory, next, real, sys, thread};
use crate::wsd_log;
use std::sync::atomic::{AtomicU8, Ordering::*};

/// [`START`] values: how far start-up has gone.
const START_NOT_RUN: u8 = 0;
const START_ARMED: u8 = 1;
const START_FAILED: u8 = 2;
const START_RUNNING: u8 = 3;
/// Set by the constructor (running, then armed), or failed for good when the
/// environment or the descriptor table cannot be used (said once in the log).
static START: AtomicU8 = AtomicU8::new(START_NOT_RUN);

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

/// Start-up, from the constructor: only what must happen before the program runs,
/// and nothing that allocates or reads /proc, so that a program that never makes a
/// TCP socket pays next to nothing (scripts/bench, `/bin/true`). The environment is
/// read and the state built on first need ([`shim_or_start`]), or now when there
/// may be SAN sockets already: descriptors named in `WSD_FDS`, or ones this image
/// inherited across exec from a process that held them (the segment lists this
/// process as a holder): then the state is returned, for the switch to take
/// those back before the program runs (the caller, `hooks::life::start`, which
/// also passes the fork handlers to register).
///
/// Only then: a state built later, at a thread's first TCP socket, has nothing
/// to take back (start-up looked), and looking then would race with other
/// threads whose new SAN sockets' records list this process too (a record not
/// yet in the descriptor table would be let go).
pub fn start(before_fork: extern "C" fn(), after_fork_in_child: extern "C" fn()) -> Option<&'static Shim> {
    // Claimed with a write, not looked at first: the page this lives on is
    // untouched until now, and a read would map the zero page only for the
    // first write to fault again.
    if START
        .compare_exchange(START_NOT_RUN, START_RUNNING, AcqRel, Acquire)
        .is_err()
    {
        return None;
    }
    // The objects after this library, noted for the real functions' lock-free
    // lookup on first use (loads only: no lock, no system call; see `real`).
    // Should they not serve (libc not among them: the library dlopen'ed, say),
    // every real function is resolved now with `dlsym`, so that no first call
    // later — from a signal handler or a fork child — has to take the loader's
    // lock.
    if next::snapshot().is_none() {
        real::resolve_all();
    }
    state::own_memory();
    log::remember_stderr();
    if let Some(bounds) = memory::main_stack() {
        thread::set_stack(bounds);
    }
    let (soft, hard) = sys::getrlimit(libc::RLIMIT_NOFILE).unwrap_or((0, 0));
    let table = fdtable::publish(hard.max(soft).min(usize::MAX as u64) as usize);
    // SAFETY: the handlers only touch this library's state and the segment; the
    // child's also reads /proc/self/stat (glibc's fork leaves malloc usable in
    // the child).
    unsafe { libc::pthread_atfork(Some(before_fork), None, Some(after_fork_in_child)) };
    START.store(START_ARMED, Release);
    if !table || env(b"WSD_FDS=").is_some() || inherited_san_sockets() {
        shim_or_start()
    } else {
        None
    }
}

/// The value of an environment variable, `key` being its name and `=`, read
/// from `environ` itself: no allocation, and no call into libc, whose `getenv`
/// and the `strlen` it calls are text pages most programs never touch. A value
/// is at most [`ENV_MAX`] bytes (a longer one is cut there).
fn env(key: &[u8]) -> Option<&'static [u8]> {
    unsafe extern "C" {
        /// glibc's environment: a null-terminated array of NUL-terminated strings.
        static environ: *const *const u8;
    }
    // SAFETY: glibc sets `environ` before any constructor runs, and the program
    // does not change its environment while its constructors run. Each string is
    // read byte by byte up to its NUL at the latest, and the array up to its null.
    unsafe {
        let mut e = environ;
        if e.is_null() {
            return None;
        }
        while !(*e).is_null() {
            let s = *e;
            if key.iter().enumerate().all(|(i, &c)| *s.add(i) == c) {
                let value = s.add(key.len());
                let len = (0..ENV_MAX).find(|&i| *value.add(i) == 0).unwrap_or(ENV_MAX);
                return Some(std::slice::from_raw_parts(value, len));
            }
            e = e.add(1);
        }
    }
    None
}

/// The longest environment value [`env`] reads.
const ENV_MAX: usize = 4096;

/// Could this process hold SAN sockets already, inherited across exec? Only if
/// the segment `WSD_SAN` names lists its pid among an endpoint's holders (a fork
/// child becomes a holder before it execs). Looked at without allocating; a name
/// that is not valid, or a segment that cannot be used, answers yes: the full
/// start-up reports it.
fn inherited_san_sockets() -> bool {
    let name = env(b"WSD_SAN=").unwrap_or(b"default");
    let mut path = [0u8; 128];
    let prefix = b"/dev/shm/wsd.";
    if prefix.len() + name.len() >= path.len() || !crate::config::valid_san_name_bytes(name) {
        return true;
    }
    path[..prefix.len()].copy_from_slice(prefix);
    path[prefix.len()..prefix.len() + name.len()].copy_from_slice(name);
    // Zero-filled beyond the name, so NUL-terminated.
    let Ok(path) = std::ffi::CStr::from_bytes_until_nul(&path) else {
        return true;
    };
    // Opened with the system call itself: start-up need not touch libc's open.
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
            let pid = state::own_pid();
            seg.live()
                .any(|(_, rec)| rec.holder_identities().any(|h| layout::identity_pid(h) == pid))
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
