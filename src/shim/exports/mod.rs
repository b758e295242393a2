//! The engine's entry points, the library's top layer: the table the front
//! calls (`wsd_front::api::Engine`, from `wsd_engine_init`), one C function
//! for each libc call the front interposes, each making the real call itself.
//! Each looks the descriptor up (one atomic load); a descriptor that is not ours
//! goes straight to libc, with no guard, lock or allocation. For ours it takes
//! the re-entrancy guard and runs the hook under `catch_unwind`, so that no
//! panic ever crosses into C (a panic falls back to the real call).
//!
//! This file holds the table, the start-up and the socket-life calls (`socket`,
//! `connect`, `listen`, `accept`, `close`, `dup`, `fcntl`…, for `hooks::life`);
//! [`options`] holds `setsockopt`/`getsockopt` (answered by the thread's memo
//! when it can, else by `hooks::options`), [`data`] the data calls (SPEC §7),
//! and [`capi`] the provider's C API and the library's own C functions
//! (`include/wsd.h`).

mod capi;
mod data;
mod options;

use crate::shim::fdtable::{self, Entry};
use crate::shim::hooks::life;
use crate::shim::state::{self, Shim};
use crate::shim::thread::{self, Guard};
use crate::shim::{net, real, startup};
use libc::{
    c_char, c_int, c_uint, c_void, iovec, mmsghdr, msghdr, off_t, off64_t, size_t, sockaddr, socklen_t,
    ssize_t, timespec,
};
use std::panic::{AssertUnwindSafe, catch_unwind};
use wsd_front::api::{Engine, Front};

/// Runs `hook`, or `fallback` if it panics.
pub(super) fn shield<R>(hook: impl FnOnce() -> R, fallback: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(hook)).unwrap_or_else(|_| fallback())
}

/// The guard and the state, when `entry` is ours and we are not inside the shim.
#[inline(always)]
fn ours(entry: Entry) -> Option<(Guard, &'static Shim)> {
    if entry.is_empty() {
        return None;
    }
    Some((Guard::enter()?, state::shim()?))
}

/// A descriptor number the kernel just handed out: clear what was known of an
/// earlier descriptor with that number, then make it refer to what `source` does.
fn handed_out(newfd: c_int, old: c_int, source: Entry) {
    if newfd < 0 {
        return;
    }
    if (!source.is_empty() || !fdtable::get(newfd).is_empty())
        && let Some(_g) = Guard::enter()
        && let Some(shim) = state::shim()
    {
        shield(|| life::duplicated_entry(shim, old, source, newfd), || ());
    }
}

/// `socket(2)`: a TCP socket of a program that could reach the SAN is a
/// candidate (SPEC §4.1).
///
/// # Safety
/// Integer arguments only; unsafe as every C entry point is.
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    // SAFETY: integer arguments.
    let fd = unsafe { real::socket(domain, ty, protocol) };
    if fd >= 0 {
        let candidate =
            net::is_tcp_triple(domain, ty, protocol) && startup::shim_or_start().is_some_and(|s| s.routable);
        let entry = if candidate {
            Entry::candidate(Default::default())
        } else {
            Entry::EMPTY
        };
        handed_out(fd, -1, entry);
    }
    fd
}

/// `connect(2)`: a candidate connecting to a SAN address becomes a SAN socket.
///
/// # Safety
/// Called from C as libc's `connect`: `addr` points to `len` readable bytes.
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let entry = fdtable::get(fd);
    // SAFETY: the program's arguments, passed on unchanged.
    let rc = unsafe { real::connect(fd, addr, len) };
    // The call is made once, here; only the switch's bookkeeping is shielded.
    if let Some((_g, shim)) = ours(entry) {
        shield(|| life::connected(shim, fd, entry, addr, len, rc), || ());
    }
    rc
}

/// `listen(2)`: a candidate listening on a SAN address becomes a SAN listener.
///
/// # Safety
/// Integer arguments only; unsafe as every C entry point is.
pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    let entry = fdtable::get(fd);
    // SAFETY: integer arguments.
    let rc = unsafe { real::listen(fd, backlog) };
    if let Some((_g, shim)) = ours(entry) {
        shield(|| life::listening(shim, fd, entry, rc), || ());
    }
    rc
}

/// `accept` (`flags` None) or `accept4`. On a SAN listener the new socket's
/// peer address is taken from what the kernel writes back (into a buffer of ours
/// when the program passes none, or from the program's own when it lies on this
/// thread's live stack), so the hook need not ask for it again.
///
/// # Safety
/// The program's arguments.
unsafe fn accept_any(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: Option<c_int>) -> c_int {
    let entry = fdtable::get(fd);
    let call = |addr: *mut sockaddr, len: *mut socklen_t| match flags {
        // SAFETY: the program's arguments, or a buffer of ours in their place.
        None => unsafe { real::accept(fd, addr, len) },
        // SAFETY: as above.
        Some(flags) => unsafe { real::accept4(fd, addr, len, flags) },
    };
    if entry.is_empty() {
        let newfd = call(addr, len);
        handed_out(newfd, -1, Entry::EMPTY);
        return newfd;
    }
    let mut own = net::AddressBuffer::new();
    let (newfd, peer) = if addr.is_null() {
        let newfd = call(own.addr(), own.len_ptr());
        (newfd, own.decode())
    } else {
        // The program's buffer, read only where no read can fault: its size
        // before the call and the address after, both on the live stack.
        let mem = thread::known_memory();
        let room = mem.read_on_stack::<4>(len.cast()).map(socklen_t::from_ne_bytes);
        let newfd = call(addr, len);
        let written = mem.read_on_stack::<4>(len.cast()).map(socklen_t::from_ne_bytes);
        let peer = match (room, written) {
            (Some(room), Some(n)) if newfd >= 0 && n <= room && mem.on_stack(addr.cast(), n as usize) => {
                // SAFETY: the kernel wrote `n` bytes of address there, on the live stack.
                unsafe { net::decode(addr, n) }
            }
            _ => None,
        };
        (newfd, peer)
    };
    if newfd < 0 {
        return newfd;
    }
    match ours(entry) {
        Some((g, shim)) => {
            // The stack's bounds, learned now if not yet, serve the next accept.
            let _ = g.memory();
            shield(|| life::accepted(shim, fd, entry, newfd, peer), || ())
        }
        None => handed_out(newfd, -1, Entry::EMPTY),
    }
    newfd
}

/// `accept(2)`: a SAN listener's new connection is a SAN socket.
///
/// # Safety
/// Called from C as libc's `accept`: `addr` is null, or points to `*len`
/// writable bytes with `len` writable.
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the program's arguments, passed on.
    unsafe { accept_any(fd, addr, len, None) }
}

/// `accept4(2)`, as `accept`.
///
/// # Safety
/// As for `accept`.
pub unsafe extern "C" fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    // SAFETY: the program's arguments, passed on.
    unsafe { accept_any(fd, addr, len, Some(flags)) }
}

/// `close(2)`: the descriptor's entry goes, and its hold on an endpoint.
///
/// # Safety
/// Integer arguments only; unsafe as every C entry point is.
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    let entry = fdtable::get(fd);
    if let Some((_g, shim)) = ours(entry) {
        shield(|| life::forget(shim, fd), || ());
    }
    // SAFETY: an integer argument.
    unsafe { real::close(fd) }
}

/// `dup(2)`: the new descriptor refers to what the old one did.
///
/// # Safety
/// Integer arguments only; unsafe as every C entry point is.
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    // SAFETY: an integer argument.
    let new = unsafe { real::dup(fd) };
    handed_out(new, fd, fdtable::get(fd));
    new
}

/// `dup2(2)`, as `dup`; what the target descriptor referred to is let go.
///
/// # Safety
/// Integer arguments only; unsafe as every C entry point is.
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    // SAFETY: integer arguments.
    let r = unsafe { real::dup2(old, new) };
    if old != new {
        handed_out(r, old, fdtable::get(old));
    }
    r
}

/// `dup3(2)`, as `dup2`.
///
/// # Safety
/// Integer arguments only; unsafe as every C entry point is.
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    // SAFETY: integer arguments.
    let r = unsafe { real::dup3(old, new, flags) };
    handed_out(r, old, fdtable::get(old));
    r
}

fn after_fcntl(fd: c_int, cmd: c_int, r: c_int) -> c_int {
    if matches!(cmd, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC) {
        handed_out(r, fd, fdtable::get(fd));
    }
    r
}

/// `fcntl(2)`: a duplicate made with `F_DUPFD`/`F_DUPFD_CLOEXEC` is followed as
/// `dup`'s. Variadic in C; on x86-64 a fixed third word argument is
/// ABI-compatible.
///
/// # Safety
/// Called from C as libc's `fcntl`: `arg` is what `cmd` expects.
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: the program's arguments, passed on unchanged.
    after_fcntl(fd, cmd, unsafe { real::fcntl(fd, cmd, arg) })
}

/// `fcntl64`, as `fcntl`.
///
/// # Safety
/// As for `fcntl`.
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: the program's arguments, passed on unchanged.
    after_fcntl(fd, cmd, unsafe { real::fcntl64(fd, cmd, arg) })
}

fn forget_range(first: c_uint, last: c_uint) {
    if first <= last
        && fdtable::span(first, last).next().is_some()
        && let Some(_g) = Guard::enter()
        && let Some(shim) = state::shim()
    {
        shield(|| life::forget_range(shim, first, last), || ());
    }
}

/// `close_range(2)`: the closed descriptors' entries go, as with `close`.
///
/// # Safety
/// Integer arguments only; unsafe as every C entry point is.
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    if flags & !(libc::CLOSE_RANGE_CLOEXEC as c_int | libc::CLOSE_RANGE_UNSHARE as c_int) == 0
        && flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0
    {
        forget_range(first, last);
    }
    // SAFETY: integer arguments.
    unsafe { real::close_range(first, last, flags) }
}

/// `closefrom(3)`, as `close_range`.
///
/// # Safety
/// Integer arguments only; unsafe as every C entry point is.
pub unsafe extern "C" fn closefrom(low: c_int) {
    forget_range(low.max(0) as c_uint, c_uint::MAX);
    real::closefrom(low)
}

/// The engine's start-up, when the front loads it (`wsd_engine_init`): the
/// table of entry points, or None if the front is of another version. Threads
/// that load the engine at once each come here; start-up runs in the first,
/// and the others wait for it to end (a few system calls, no lock, nothing
/// that blocks), so that none makes a socket the engine would not follow.
pub fn engine(front: &'static Front) -> Option<&'static Engine> {
    if front.version != wsd_front::api::VERSION {
        return None;
    }
    let started = shield(
        || life::start(front),
        || {
            startup::start_failed();
            false
        },
    );
    if !started {
        startup::wait_started();
    }
    Some(&ENGINE)
}

const _: () = assert!(
    wsd_front::api::WSAENETDOWN == crate::model::WsaError::ENETDOWN.code(),
    "the front answers provider calls without an engine with the model's WSAENETDOWN"
);

/// The front's constructor asks: take back what this image inherited.
extern "C" fn inherit() {
    shield(life::inherit, || ());
}

/// The entry points by the names `wsd_front::engine_calls!` lists.
mod calls {
    pub(super) use super::capi::*;
    pub(super) use super::data::*;
    pub(super) use super::options::{getsockopt_at, setsockopt_at};
    pub(super) use super::{
        accept, accept4, close, close_range, closefrom, connect, dup, dup2, dup3, fcntl, fcntl64, inherit,
        listen, socket,
    };
}

macro_rules! engine_table {
    ($( [$($kind:tt)*] $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )*) => {
        /// The engine's half of each call, for the front. Each function goes in
        /// with a transmute from its own type to the field's, which differ only
        /// where a pointer's pointee is libc's type here and the front's own
        /// there (for calls with integer arguments only they are the same type).
        #[allow(clippy::useless_transmute, clippy::missing_transmute_annotations)]
        static ENGINE: Engine = Engine {
            version: wsd_front::api::VERSION,
            $(
                // SAFETY: the engine's function of that name, whose C signature
                // is the one listed, spelled with libc's types where the front
                // spells its own: the same ABI.
                $name: unsafe { std::mem::transmute::<unsafe extern "C" fn($($ty),*) -> $ret, _>(calls::$name) },
            )*
        };
    };
}

wsd_front::engine_calls!(engine_table);
