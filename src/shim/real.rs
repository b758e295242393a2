//! The real libc functions: for each, the next definition after this library's
//! own export, as `dlsym(RTLD_NEXT, …)` would find it, found on first use.
//!
//! Inside `libwsd.so`, `libc::setsockopt` is the library's *own* export, so every
//! call that must reach the kernel goes through here. A symbol this libc lacks
//! answers `ENOSYS` (`closefrom` makes the system call itself).
//!
//! No call ever takes the dynamic loader's lock to find its function, whenever it
//! comes: before the constructor has run (from another library's constructor),
//! from a signal handler that interrupted the loader or `malloc`, or in a fork
//! child whose parent had another thread inside the loader. Each function is
//! looked up on its first use by [`next::lookup`]: the objects after this one,
//! as the constructor noted them (or as the first lookup notes them, if it comes
//! first), searched through their own hash tables with plain loads, no lock and
//! no system call. (`dlsym` itself takes the loader's lock; resolving all 32
//! names with it in the constructor, so that no later first call would need it,
//! cost every process 11 µs, 27,000 instructions and four page faults in libc:
//! issue 17's study, study/startup/REPORT.md on its branch.) A lookup touches
//! the defining object's symbol tables only when a function is first used.
//!
//! `dlsym` remains only for the cases the lookup cannot serve (`next::snapshot`
//! is None): the loader cannot place this library (never seen: glibc sets its
//! object lookup up before it runs any constructor), an object after it has no
//! GNU hash table, or libc does not follow it — a program `dlopen`ed the library
//! instead of preloading it. Then the constructor resolves every function with
//! `dlsym` ([`resolve_all`]), as before the lookup existed, so that even then no
//! later first call needs the lock; it runs in an ordinary context (at start, or
//! inside `dlopen`, whose recursive lock this thread holds). A first use before
//! the constructor in those cases also asks `dlsym`, as it always did.
//!
//! Resolution is lock-free: racing threads resolve the same pointer. A slot holds
//! 0 until resolved, [`ABSENT`] once known to be missing, else the address.

use crate::shim::next;
use libc::{c_int, c_uint, c_void, iovec, size_t, sockaddr, socklen_t, ssize_t};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// A slot's value for a function no object after this library defines (no
/// function lives at address 1).
const ABSENT: usize = 1;

/// The address of the next definition of `name` ([`ABSENT`] if there is none),
/// from `slot` or found now.
fn resolve(slot: &AtomicUsize, name: &std::ffi::CStr) -> usize {
    let p = slot.load(Relaxed);
    if p != 0 {
        return p;
    }
    let p = match next::lookup(name) {
        Some(p) => p,
        // SAFETY: `name` is NUL-terminated; RTLD_NEXT is a valid pseudo-handle.
        None => unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) as usize },
    };
    let p = if p == 0 { ABSENT } else { p };
    slot.store(p, Relaxed);
    p
}

fn enosys<T: From<i8>>() -> T {
    super::errno::set(libc::ENOSYS);
    T::from(-1)
}

/// Each function's slot and name, in a module of the function's name, and a
/// function that resolves the whole group (code, not a table of pointers: no
/// relocation for the loader to make).
macro_rules! slots {
    ($group:ident: $($name:ident),*) => {
        $(
            mod $name {
                pub(super) static SLOT: super::AtomicUsize = super::AtomicUsize::new(0);
                pub(super) const NAME: &std::ffi::CStr = super::cstr(concat!(stringify!($name), "\0"));
            }
        )*
        /// Resolves every function of this group now.
        #[cold]
        fn $group() {
            $( resolve(&$name::SLOT, $name::NAME); )*
        }
    };
}

/// Resolves every real function now, with `dlsym` if need be: the constructor's
/// fallback when the lock-free lookup cannot serve (see the module's docs).
#[cold]
pub fn resolve_all() {
    resolve_fixed();
    resolve_variadic();
    resolve_void();
}

macro_rules! real {
    ($( $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )*) => {
        slots!(resolve_fixed: $($name),*);
        $(
        /// The real libc function of the same name.
        ///
        /// # Safety
        /// As for the libc function: the pointer arguments must be what it expects.
        #[inline(always)]
        pub unsafe fn $name($($arg: $ty),*) -> $ret {
            /// The first call: resolve the slot, then call. Out of line and cold,
            /// so that the pass-through path is a load and a tail jump with no
            /// frame set up.
            ///
            /// # Safety
            /// As for the libc function.
            #[cold]
            #[inline(never)]
            unsafe fn resolve_then_call($($arg: $ty),*) -> $ret {
                let p = resolve(&$name::SLOT, $name::NAME);
                if p == ABSENT {
                    return enosys();
                }
                // SAFETY: as below.
                let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { std::mem::transmute(p) };
                // SAFETY: the caller upholds the function's contract.
                unsafe { f($($arg),*) }
            }
            let p = $name::SLOT.load(Relaxed);
            if p <= ABSENT {
                // SAFETY: the caller upholds the function's contract.
                return unsafe { resolve_then_call($($arg),*) };
            }
            // SAFETY: `p` is libc's definition of this function, whose C prototype is
            // the signature spelled here.
            let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { std::mem::transmute(p) };
            // SAFETY: the caller upholds the function's contract.
            unsafe { f($($arg),*) }
        }
    )*};
}

const fn cstr(s: &'static str) -> &'static std::ffi::CStr {
    match std::ffi::CStr::from_bytes_with_nul(s.as_bytes()) {
        Ok(c) => c,
        Err(_) => panic!("symbol name"),
    }
}

real! {
    setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int;
    getsockopt(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t) -> c_int;
    socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
    connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    listen(fd: c_int, backlog: c_int) -> c_int;
    accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int;
    close(fd: c_int) -> c_int;
    dup(fd: c_int) -> c_int;
    dup2(old: c_int, new: c_int) -> c_int;
    dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
    close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int;
    sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> libc::ssize_t;
    recvmsg(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> libc::ssize_t;
    read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t;
    readv(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t;
    recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t;
    recvfrom(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;
    recvmmsg(fd: c_int, v: *mut libc::mmsghdr, n: c_uint, flags: c_int, t: *mut libc::timespec) -> c_int;
    write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t;
    writev(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t;
    send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t;
    sendto(fd: c_int, buf: *const c_void, n: size_t, flags: c_int, addr: *const sockaddr, len: socklen_t) -> ssize_t;
    sendmmsg(fd: c_int, v: *mut libc::mmsghdr, n: c_uint, flags: c_int) -> c_int;
    sendfile(out: c_int, from: c_int, offset: *mut libc::off_t, n: size_t) -> ssize_t;
    sendfile64(out: c_int, from: c_int, offset: *mut libc::off64_t, n: size_t) -> ssize_t;
    __read_chk(fd: c_int, buf: *mut c_void, n: size_t, room: size_t) -> ssize_t;
    __recv_chk(fd: c_int, buf: *mut c_void, n: size_t, room: size_t, flags: c_int) -> ssize_t;
    __recvfrom_chk(fd: c_int, buf: *mut c_void, n: size_t, room: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;
}

/// `fcntl` and `fcntl64` are variadic; the third argument is passed on as a
/// machine word, which is how x86-64 passes an `int`, `long` or pointer alike.
macro_rules! real_variadic {
    ($($name:ident),*) => {
        slots!(resolve_variadic: $($name),*);
        $(
        /// The real libc function of the same name.
        ///
        /// # Safety
        /// As for `fcntl`: `arg` must be what `cmd` expects.
        pub unsafe fn $name(fd: c_int, cmd: c_int, arg: usize) -> c_int {
            let p = resolve(&$name::SLOT, $name::NAME);
            if p == ABSENT {
                return enosys::<c_int>();
            }
            // SAFETY: `p` is libc's variadic `fcntl`.
            let f: unsafe extern "C" fn(c_int, c_int, ...) -> c_int = unsafe { std::mem::transmute(p) };
            // SAFETY: the caller upholds fcntl's contract for `cmd`.
            unsafe { f(fd, cmd, arg) }
        }
    )*};
}

real_variadic!(fcntl, fcntl64);

slots!(resolve_void: closefrom);

/// The real `closefrom` (returns nothing).
///
/// # Safety
/// None beyond libc's: closing descriptors is always memory-safe.
pub unsafe fn closefrom(low: c_int) {
    let p = resolve(&closefrom::SLOT, closefrom::NAME);
    if p == ABSENT {
        // An older libc: the system call does the same.
        // SAFETY: close_range takes integers; every argument is a full word.
        unsafe {
            libc::syscall(
                libc::SYS_close_range,
                libc::c_long::from(low),
                libc::c_long::from(u32::MAX),
                0 as libc::c_long,
            )
        };
    } else {
        // SAFETY: `p` is libc's `void closefrom(int)`.
        let f: unsafe extern "C" fn(c_int) = unsafe { std::mem::transmute(p) };
        // SAFETY: as documented above.
        unsafe { f(low) }
    }
}
