//! The real libc functions: for each, the next definition after the front's own
//! export, as `dlsym(RTLD_NEXT, …)` from the front would find it, found on
//! first use.
//!
//! Inside `libwsd.so` and its engine, `setsockopt` is the library's *own*
//! export, so every call that must reach the kernel goes through here. A symbol
//! this libc lacks answers `ENOSYS` (`closefrom` makes the system call itself).
//!
//! No call ever takes the dynamic loader's lock to find its function, whenever it
//! comes: before the constructor has run (from another library's constructor),
//! from a signal handler that interrupted the loader or `malloc`, or in a fork
//! child whose parent had another thread inside the loader. Each function is
//! looked up on its first use by [`next::lookup`]: the objects after the front,
//! as its constructor noted them, searched through their own hash tables with
//! plain loads, no lock and no system call. (`dlsym` itself takes the loader's
//! lock; resolving all 32 names with it in the constructor cost every process
//! 11 µs, 27,000 instructions and four page faults in libc: issue 17's study.)
//!
//! `dlsym` remains only for the cases the lookup cannot serve (`next::snapshot`
//! is None): a program `dlopen`ed the library instead of preloading it, so that
//! libc does not follow it. Then the front's constructor resolves every function
//! with `dlsym` ([`resolve_all`]), so that no later first call needs the lock.
//!
//! The list of functions ([`libc_functions!`]) and the code made for each
//! ([`real_functions!`]) are macros because two objects expand them: the front,
//! with the C types of [`crate::c`], and the engine, with the `libc` crate's.
//! Each object has its own slots; the engine's find their functions through
//! the front ([`set_lookup`], from the table the front hands it), so both
//! resolve the same definitions: the ones after the front.
//!
//! Resolution is lock-free: racing threads resolve the same pointer. A slot holds
//! 0 until resolved, [`ABSENT`] once known to be missing, else the address.

use crate::c::{c_char, c_int, c_uint};
use crate::{errno, next, sys};
use core::ffi::CStr;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// A slot's value for a function no object after the front defines (no
/// function lives at address 1).
pub const ABSENT: usize = 1;

/// How names are looked up, if not by this object's own [`next::lookup`]: the
/// engine sets the front's here.
static LOOKUP: AtomicUsize = AtomicUsize::new(0);

/// Looks names up with `f` from now on (the engine, given the front's lookup).
pub fn set_lookup(f: unsafe extern "C" fn(*const c_char) -> usize) {
    LOOKUP.store(f as usize, Relaxed);
}

/// The next definition of `name` after the front: its address, 0 if none.
/// `dlsym(RTLD_NEXT, …)` from this object if the lock-free lookup cannot serve.
pub fn lookup(name: &CStr) -> usize {
    let f = LOOKUP.load(Relaxed);
    if f != 0 {
        // SAFETY: set by `set_lookup` from a function of that type.
        let f: unsafe extern "C" fn(*const c_char) -> usize = unsafe { core::mem::transmute(f) };
        // SAFETY: `name` is NUL-terminated.
        return unsafe { f(name.as_ptr()) };
    }
    match next::lookup(name) {
        Some(p) => p,
        // SAFETY: `name` is NUL-terminated; RTLD_NEXT is a valid pseudo-handle.
        None => unsafe { dlsym(crate::c::RTLD_NEXT, name.as_ptr()) as usize },
    }
}

/// [`lookup`] as a C function, for the table the front hands the engine.
///
/// # Safety
/// `name` is a NUL-terminated string.
pub unsafe extern "C" fn lookup_c(name: *const c_char) -> usize {
    // SAFETY: as the caller promises.
    lookup(unsafe { CStr::from_ptr(name) })
}

#[link(name = "c")]
unsafe extern "C" {
    fn dlsym(handle: *mut crate::c::c_void, name: *const c_char) -> *mut crate::c::c_void;
}

/// The address of the next definition of `name` ([`ABSENT`] if there is none),
/// from `slot` or found now.
pub fn resolve(slot: &AtomicUsize, name: &CStr) -> usize {
    let p = slot.load(Relaxed);
    if p != 0 {
        return p;
    }
    let p = match lookup(name) {
        0 => ABSENT,
        p => p,
    };
    slot.store(p, Relaxed);
    p
}

/// A missing function's answer: `ENOSYS`, and -1.
pub fn enosys<T: From<i8>>() -> T {
    errno::set(crate::c::ENOSYS);
    T::from(-1)
}

/// The functions the library interposes and passes on, with their C
/// signatures, handed to `$then!` (the front expands it with [`crate::c`]'s
/// types in scope, the engine with libc's). `fcntl`, `fcntl64` (variadic) and
/// `closefrom` (no answer) are this module's own.
#[macro_export]
macro_rules! libc_functions {
    ($then:path) => {
        $then! {
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
            sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t;
            recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t;
            read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t;
            readv(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t;
            recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t;
            recvfrom(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;
            recvmmsg(fd: c_int, v: *mut mmsghdr, n: c_uint, flags: c_int, t: *mut timespec) -> c_int;
            write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t;
            writev(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t;
            send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t;
            sendto(fd: c_int, buf: *const c_void, n: size_t, flags: c_int, addr: *const sockaddr, len: socklen_t) -> ssize_t;
            sendmmsg(fd: c_int, v: *mut mmsghdr, n: c_uint, flags: c_int) -> c_int;
            sendfile(out: c_int, from: c_int, offset: *mut off_t, n: size_t) -> ssize_t;
            sendfile64(out: c_int, from: c_int, offset: *mut off64_t, n: size_t) -> ssize_t;
            __read_chk(fd: c_int, buf: *mut c_void, n: size_t, room: size_t) -> ssize_t;
            __recv_chk(fd: c_int, buf: *mut c_void, n: size_t, room: size_t, flags: c_int) -> ssize_t;
            __recvfrom_chk(fd: c_int, buf: *mut c_void, n: size_t, room: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;
        }
    };
}

/// For each function of [`libc_functions!`]: its slot and name (in a module of
/// the function's name), the function that calls the real one, and
/// `resolve_listed`, which resolves them all. Expanded where the C types it
/// names are in scope.
#[macro_export]
macro_rules! real_functions {
    ($( $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )*) => {
        $(
            mod $name {
                pub(super) static SLOT: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
                pub(super) const NAME: &core::ffi::CStr = match core::ffi::CStr::from_bytes_with_nul(concat!(stringify!($name), "\0").as_bytes()) {
                    Ok(c) => c,
                    Err(_) => panic!("symbol name"),
                };
            }

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
                    let p = $crate::real::resolve(&$name::SLOT, $name::NAME);
                    if p == $crate::real::ABSENT {
                        return $crate::real::enosys();
                    }
                    // SAFETY: as below.
                    let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { core::mem::transmute(p) };
                    // SAFETY: the caller upholds the function's contract.
                    unsafe { f($($arg),*) }
                }
                let p = $name::SLOT.load(core::sync::atomic::Ordering::Relaxed);
                if p <= $crate::real::ABSENT {
                    // SAFETY: the caller upholds the function's contract.
                    return unsafe { resolve_then_call($($arg),*) };
                }
                // SAFETY: `p` is libc's definition of this function, whose C prototype is
                // the signature spelled here.
                let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { core::mem::transmute(p) };
                // SAFETY: the caller upholds the function's contract.
                unsafe { f($($arg),*) }
            }
        )*

        /// Resolves every function of the list now.
        #[cold]
        pub fn resolve_listed() {
            $( $crate::real::resolve(&$name::SLOT, $name::NAME); )*
        }
    };
}

static FCNTL: AtomicUsize = AtomicUsize::new(0);
static FCNTL64: AtomicUsize = AtomicUsize::new(0);
static CLOSEFROM: AtomicUsize = AtomicUsize::new(0);

/// `fcntl` and `fcntl64` are variadic; the third argument is passed on as a
/// machine word, which is how x86-64 passes an `int`, `long` or pointer alike.
///
/// # Safety
/// As for `fcntl`: `arg` must be what `cmd` expects.
unsafe fn variadic(slot: &AtomicUsize, name: &CStr, fd: c_int, cmd: c_int, arg: usize) -> c_int {
    let p = resolve(slot, name);
    if p == ABSENT {
        return enosys::<c_int>();
    }
    // SAFETY: `p` is libc's variadic `fcntl`.
    let f: unsafe extern "C" fn(c_int, c_int, ...) -> c_int = unsafe { core::mem::transmute(p) };
    // SAFETY: the caller upholds fcntl's contract for `cmd`.
    unsafe { f(fd, cmd, arg) }
}

/// The real `fcntl`.
///
/// # Safety
/// As for `fcntl`: `arg` must be what `cmd` expects.
pub unsafe fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: as the caller promises.
    unsafe { variadic(&FCNTL, c"fcntl", fd, cmd, arg) }
}

/// The real `fcntl64`.
///
/// # Safety
/// As for `fcntl`.
pub unsafe fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: as the caller promises.
    unsafe { variadic(&FCNTL64, c"fcntl64", fd, cmd, arg) }
}

/// The real `closefrom` (returns nothing); on an older libc, the system call.
pub fn closefrom(low: c_int) {
    let p = resolve(&CLOSEFROM, c"closefrom");
    if p == ABSENT {
        let _ = sys::close_range(low.max(0) as c_uint, c_uint::MAX, 0);
    } else {
        // SAFETY: `p` is libc's `void closefrom(int)`.
        let f: unsafe extern "C" fn(c_int) = unsafe { core::mem::transmute(p) };
        // SAFETY: closing descriptors is always memory-safe.
        unsafe { f(low) }
    }
}

/// Resolves this module's own functions now (see [`resolve_all`] in the front).
#[cold]
pub fn resolve_own() {
    resolve(&FCNTL, c"fcntl");
    resolve(&FCNTL64, c"fcntl64");
    resolve(&CLOSEFROM, c"closefrom");
}
