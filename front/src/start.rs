//! The front's constructor: only what must happen before the program runs, so
//! that a program that never makes a TCP socket pays next to nothing
//! (scripts/bench, `/bin/true` against an empty preloaded library).
//!
//! - The objects after the front are noted for the real functions' lock-free
//!   lookup (loads only); should they not serve (the library `dlopen`ed, so
//!   libc does not follow it), every real function is resolved now with
//!   `dlsym`, so that no first call later — from a signal handler or a fork
//!   child — has to take the loader's lock.
//! - Which file descriptor 2 is, for the log (one system call).
//! - The descriptor table, mapped (two system calls).
//! - The engine, loaded and told to take back what this image inherited — only
//!   if there may be something: descriptors named in `WSD_FDS`, or a segment
//!   (`WSD_SAN`'s, or the default one) whose holder map has this pid's bit set
//!   (a process of this pid held an endpoint: it inherited it across exec, or
//!   it is a stale bit, which the engine's look clears). A segment that is not
//!   there costs one `openat` answered `ENOENT`; one that is, two `pread`s more.
//!   One that cannot be read or used holds nothing to take back.
//!
//! All of it by system calls made here and plain loads: no libc function whose
//! page the program would not touch anyway, no allocation, no lock.

use crate::c::{self, c_char, c_int};
use crate::{engine, next, own_real, real, segment, sys, table};
use core::sync::atomic::{AtomicU64, Ordering::*};

/// Which file descriptor 2 was at start ([`sys::file_identity`]).
pub static STDERR_ID: AtomicU64 = AtomicU64::new(0);

/// The constructor, as the loader calls `.init_array` entries: with the
/// program's arguments and environment.
#[used]
#[unsafe(link_section = ".init_array")]
static CONSTRUCTOR: unsafe extern "C" fn(c_int, *const *const c_char, *const *const u8) = start;

/// # Safety
/// Called once by the loader, with `envp` the program's environment (a
/// null-terminated array of NUL-terminated strings, or null).
unsafe extern "C" fn start(_argc: c_int, _argv: *const *const c_char, envp: *const *const u8) {
    if next::snapshot().is_none() {
        own_real::resolve_listed();
        real::resolve_own();
        engine::resolve_own();
        crate::errno::resolve();
    }
    STDERR_ID.store(sys::file_identity(2), Relaxed);
    let mapped = table::publish();
    engine::note_own_path();
    engine::ready();
    // SAFETY: the loader's environment, as the caller promises.
    let [fds, san] = unsafe { env(envp, [b"WSD_FDS=", b"WSD_SAN="]) };
    let inherited = !mapped || fds.is_some() || may_hold_san_sockets(san.unwrap_or(b"default"));
    if inherited && let Some(e) = engine::load() {
        // SAFETY: the engine's entry point, with no arguments.
        unsafe { (e.inherit)() };
    }
}

/// The values of environment variables, each key being a name and `=`, in one
/// pass over the environment: no allocation and no call into libc. A value is
/// at most [`ENV_MAX`] bytes (a longer one is cut there).
///
/// # Safety
/// `envp` is null or a null-terminated array of NUL-terminated strings that
/// nothing changes meanwhile.
unsafe fn env<const N: usize>(envp: *const *const u8, keys: [&[u8]; N]) -> [Option<&'static [u8]>; N] {
    let mut found = [None; N];
    if envp.is_null() {
        return found;
    }
    // SAFETY: each string is read byte by byte up to its NUL at the latest, and
    // the array up to its null, as the caller promises.
    unsafe {
        let mut e = envp;
        while !(*e).is_null() {
            let s = *e;
            for (key, value) in keys.iter().zip(&mut found) {
                if value.is_none() && key.iter().enumerate().all(|(i, &c)| *s.add(i) == c) {
                    let v = s.add(key.len());
                    let len = (0..ENV_MAX).find(|&i| *v.add(i) == 0).unwrap_or(ENV_MAX);
                    *value = Some(core::slice::from_raw_parts(v, len));
                }
            }
            e = e.add(1);
        }
    }
    found
}

/// The longest environment value [`env`] reads.
const ENV_MAX: usize = 4096;

/// Could this process hold SAN sockets already, inherited across exec? Only if
/// segment `name` exists, can be read, and its holder map has this pid's bit
/// set ([`segment::may_hold`]). A segment that cannot be used holds nothing to
/// take back: the engine reports it when the program first needs the SAN. A
/// name that is not valid answers yes: the engine's start-up says so before
/// the program runs (a setting to fix, not a state to live with).
fn may_hold_san_sockets(name: &[u8]) -> bool {
    let mut buf = [0u8; segment::PATH_PREFIX.len() + segment::NAME_MAX + 1];
    let Some(path) = segment::path(name, &mut buf) else {
        return true;
    };
    // Without blocking: a FIFO planted there must not hold the program up.
    match sys::open(path, c::O_RDONLY | c::O_NONBLOCK | c::O_NOFOLLOW | c::O_CLOEXEC) {
        Err(_) => false,
        Ok(fd) => {
            let may = segment::may_hold(fd, sys::getpid());
            sys::close(fd);
            may
        }
    }
}
