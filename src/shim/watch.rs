//! The watcher: one thread per process that holds SAN sockets, which makes an
//! injected fault act on the connection (SPEC §7) without privileges, a daemon
//! or signals.
//!
//! It waits on the segment's fault word (`Header::fault_gen`, a futex on the
//! shared mapping that the tool wakes when it injects a fault). Woken, it looks
//! through this process's descriptors for SAN sockets whose endpoint was hit by a
//! fault it has not acted on, and breaks each connection in the kernel
//! (`net::reset_socket`): the peer gets a reset, waiters in `recv`, `send`,
//! `poll`, `epoll_wait` or `select` wake, and later calls see a reset socket. It
//! works on a duplicate of the descriptor, numbered high, checked to be the
//! same socket (by inode) before anything is done: a descriptor the program
//! closes or reuses meanwhile is never touched. Then it marks the endpoint
//! acted on, which the tool waits for.
//!
//! Started with the first SAN socket of a process ([`ensure`]), never in a
//! process that has none. Its thread blocks every signal (glibc still delivers
//! its own, for `setuid`), so the program sees no signal and no `EINTR` from it.
//! A fork child has no watcher until its first SAN call starts one; an exec'd
//! program starts one when it takes back inherited SAN sockets.

use crate::san::layout::fault_parts;
use crate::shim::fdtable::{self, Entry};
use crate::shim::net;
use crate::shim::real;
use crate::shim::state::{self, Attached, Shim};
use crate::shim::thread::Guard;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicU32, AtomicU64};

/// The pid of the process whose watcher runs, 0 if none does. A fork child
/// inherits its parent's pid here, which is not its own, so it starts its own
/// at its first SAN call.
static RUNNING_IN: AtomicU32 = AtomicU32::new(0);
/// The pid of the process starting one (so that two threads start one watcher).
static STARTING_IN: AtomicU32 = AtomicU32::new(0);
/// The pid of a process whose watcher could not start (no thread to be had):
/// said once, not tried again on every call.
static FAILED_IN: AtomicU32 = AtomicU32::new(0);

/// Does this process's watcher run?
#[inline(always)]
pub fn running_here() -> bool {
    let pid = state::own_pid();
    pid != 0 && (RUNNING_IN.load(Acquire) == pid || FAILED_IN.load(Relaxed) == pid)
}

/// Starts this process's watcher if it has none. One load when it runs.
#[inline]
pub fn ensure(shim: &Shim) {
    if !running_here() {
        start(shim, state::own_pid());
    }
}

#[cold]
#[inline(never)]
fn start(shim: &Shim, pid: u32) {
    if pid == 0 || state::in_vm_sharing_child() || shim.san_if_attached().is_none() {
        return;
    }
    let seen = STARTING_IN.load(Acquire);
    if seen == pid || STARTING_IN.compare_exchange(seen, pid, AcqRel, Acquire).is_err() {
        return;
    }
    // SAFETY: all-zero attributes and signal sets are valid to initialise; each
    // call below gets valid pointers to them.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        libc::pthread_attr_setstacksize(&mut attr, 256 * 1024);
        // The new thread inherits this mask: every signal blocked (glibc keeps
        // its own internal ones deliverable).
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let mut thread: libc::pthread_t = 0;
        let r = libc::pthread_create(&mut thread, &attr, run, std::ptr::null_mut());
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        libc::pthread_attr_destroy(&mut attr);
        if r == 0 {
            // Named from here, so that it has its name before anyone looks.
            libc::pthread_setname_np(thread, c"wsd-watch".as_ptr());
            RUNNING_IN.store(pid, Release);
        } else {
            FAILED_IN.store(pid, Relaxed);
            crate::wsd_log!(
                Warn,
                "the fault watcher could not start ({}): faults reach this process's connections only at its next data call on them",
                std::io::Error::from_raw_os_error(r)
            );
        }
    }
}

extern "C" fn run(_: *mut libc::c_void) -> *mut libc::c_void {
    // Everything this thread calls goes straight to libc.
    let _guard = Guard::enter();
    let _ = std::panic::catch_unwind(|| {
        let Some(att) = state::shim().and_then(Shim::san_if_attached) else {
            return;
        };
        let word = att.seg.fault_futex();
        loop {
            let seen = word.load(Acquire);
            act_on_faults(att);
            wait_for_change(word, seen);
            if RUNNING_IN.load(Acquire) != state::own_pid() {
                return;
            }
        }
    });
    std::ptr::null_mut()
}

/// Sleeps until the word is no longer `seen` (or a spurious wake-up).
fn wait_for_change(word: &AtomicU32, seen: u32) {
    // SAFETY: FUTEX_WAIT on a word of the shared mapping (not private: the
    // waker is another process); the kernel only reads it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            seen,
            std::ptr::null::<libc::timespec>(),
            0usize,
            0u32,
        )
    };
}

/// Every SAN socket of this process hit by a fault not yet acted on: broken in
/// the kernel, once per fault, and marked acted on.
pub fn act_on_faults(att: &Attached) {
    for (fd, entry) in fdtable::entries() {
        let Some(ep) = entry_endpoint(entry) else { continue };
        let Some(rec) = att.seg.endpoint(ep) else { continue };
        let word = rec.fault_word();
        if word == 0 {
            continue;
        }
        let (seq, _, _) = fault_parts(word);
        if att.acted(ep.index, seq) {
            // Through another descriptor, or by a data call (which marked it).
            continue;
        }
        // Claimed only once the descriptor is known to be that socket: a claim
        // given up for a descriptor that could not be checked would leave the
        // socket unbroken, and every data call on it waiting for it.
        let broke = on_duplicate(fd, rec.inode(), |dup| {
            att.claim_action(ep.index, seq) && {
                net::reset_socket(dup);
                true
            }
        });
        if broke == Some(true) {
            rec.mark_fault_acted(word);
        }
    }
}

fn entry_endpoint(entry: Entry) -> Option<crate::san::EndpointRef> {
    (entry.role() == Some(crate::model::routing::Role::San))
        .then(|| entry.endpoint())
        .flatten()
}

/// Runs `f` on a duplicate of `fd` numbered high (out of the program's way, but
/// no higher than 1024, so that the kernel's descriptor table does not grow to
/// the limit), if it is the socket of inode `inode` (0: not known, then the
/// descriptor itself is checked to be a TCP socket); closes the duplicate — if
/// it is still ours (a program's `dup2` onto that number meanwhile made it the
/// program's). `f`'s answer, or None if it did not run.
fn on_duplicate<R>(fd: i32, inode: u64, f: impl FnOnce(i32) -> R) -> Option<R> {
    static HIGH: AtomicU64 = AtomicU64::new(0);
    let mut low = HIGH.load(Relaxed) as i32;
    if low == 0 {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid out-pointer.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        low = (lim.rlim_cur.min(1024 + 64) as i32 - 64).max(3);
        HIGH.store(low as u64, Relaxed);
    }
    // SAFETY: F_DUPFD_CLOEXEC takes an int; the real fcntl, not our export (whose
    // hook would record the duplicate).
    let mut dup = unsafe { real::fcntl(fd, libc::F_DUPFD_CLOEXEC, low as usize) };
    if dup < 0 {
        // No room up high: from wherever there is.
        // SAFETY: as above.
        dup = unsafe { real::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    }
    if dup < 0 {
        // No descriptor to be had (the process is at its limit): the descriptor
        // itself, checked just before (a close and reuse in between is the one
        // window left).
        let same = net::socket_id(fd).is_some_and(|(_, ino)| inode != 0 && ino == inode);
        return same.then(|| f(fd));
    }
    let id = net::socket_id(dup);
    let same = match id {
        Some((_, ino)) if inode != 0 => ino == inode,
        Some(_) => net::is_tcp_stream(dup),
        None => false,
    };
    let answer = same.then(|| f(dup));
    if net::socket_id(dup) == id {
        // SAFETY: our own duplicate (still the same file), closed with the system
        // call (our `close` export would look it up).
        unsafe { libc::syscall(libc::SYS_close, libc::c_long::from(dup)) };
    }
    answer
}
