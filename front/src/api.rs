//! The two tables the front and the engine hand each other when the engine is
//! loaded: [`Front`] (what the preloaded object owns and the engine uses) and
//! [`Engine`] (the engine's half of every export). The list of the engine's
//! entry points is [`engine_calls!`], declared once: the front's table type
//! and the engine's table value both follow from it.

use crate::c::*;
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize};

/// Bumped whenever either table changes shape or meaning: a front and an engine
/// of different versions refuse each other.
pub const VERSION: u32 = 1;

/// The symbol by which the front finds the engine's one export,
/// `fn(&'static Front) -> Option<&'static Engine>`.
pub const ENGINE_INIT: &core::ffi::CStr = c"wsd_engine_init";

/// `WSAENETDOWN`, the provider calls' code when there is no engine (the
/// engine asserts it is the model's).
pub const WSAENETDOWN: i32 = 10050;

/// The engine's file, beside the front's.
pub const ENGINE_FILE: &str = "libwsd_engine.so";

/// What the front owns, for the engine: its statics, which live as long as
/// the process.
#[repr(C)]
pub struct Front {
    pub version: u32,
    /// The descriptor table: its address and length in words, mapped before
    /// `main` and never unmapped (length 0 if it could not be mapped).
    pub table: *const AtomicPtr<AtomicU64>,
    pub table_len: *const AtomicUsize,
    /// `vfork` children running in this memory, counted by the front's `vfork`.
    pub vforks: *const AtomicU64,
    /// Which file descriptor 2 was at start ([`crate::sys::file_identity`]).
    pub stderr_id: *const AtomicU64,
    /// The next definition of a name after the front (0 if none), without a lock.
    pub lookup: unsafe extern "C" fn(*const c_char) -> usize,
}

// SAFETY: the pointers are to statics and a mapping that live as long as the
// process, reached only atomically.
unsafe impl Sync for Front {}

/// The engine's entry points, handed to `$then!`: each interposed libc
/// function (whose real call the engine makes), the option calls with their
/// call site, the provider's C API and the library's own C functions, and
/// `inherit` (the constructor's: take back SAN sockets inherited across exec).
/// Each comes with what the front's export does (`exports`):
/// - `[keyed]`: the engine's for a descriptor with an entry, else the real call;
/// - `[data]`: the engine's for a SAN socket's entry, else the real call;
/// - `[running]`: the engine's once it is loaded, else the real call;
/// - `[capi(ANSWER)]`: the engine's, loaded now if need be, else ANSWER;
/// - `[own]`: written out in `exports` (`socket`, the option trampolines,
///   `recvmsg`, `recvmmsg`);
/// - `[engine]`: not an export (`received`: the descriptors a message carried,
///   which the front's `recvmsg` received before the engine ran).
#[macro_export]
macro_rules! engine_calls {
    ($then:path) => {
        $then! {
            [own] socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
            [keyed] connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
            [keyed] listen(fd: c_int, backlog: c_int) -> c_int;
            [running] accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
            [running] accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int;
            [keyed] close(fd: c_int) -> c_int;
            [running] dup(fd: c_int) -> c_int;
            [running] dup2(old: c_int, new: c_int) -> c_int;
            [running] dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
            [running] fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int;
            [running] fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int;
            [running] close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int;
            [running] closefrom(low: c_int) -> ();
            [own] setsockopt_at(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t, site: usize) -> c_int;
            [own] getsockopt_at(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t, site: usize) -> c_int;
            [data] read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t;
            [data] __read_chk(fd: c_int, buf: *mut c_void, n: size_t, room: size_t) -> ssize_t;
            [data] readv(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t;
            [data] recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t;
            [data] __recv_chk(fd: c_int, buf: *mut c_void, n: size_t, room: size_t, flags: c_int) -> ssize_t;
            [data] recvfrom(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;
            [data] __recvfrom_chk(fd: c_int, buf: *mut c_void, n: size_t, room: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;
            [data] write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t;
            [data] writev(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t;
            [data] send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t;
            [data] sendto(fd: c_int, buf: *const c_void, n: size_t, flags: c_int, addr: *const sockaddr, len: socklen_t) -> ssize_t;
            [data] sendfile(fd: c_int, from: c_int, offset: *mut off_t, n: size_t) -> ssize_t;
            [data] sendfile64(fd: c_int, from: c_int, offset: *mut off64_t, n: size_t) -> ssize_t;
            [running] sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t;
            [own] recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t;
            [running] sendmmsg(fd: c_int, v: *mut mmsghdr, n: c_uint, flags: c_int) -> c_int;
            [own] recvmmsg(fd: c_int, v: *mut mmsghdr, n: c_uint, flags: c_int, t: *mut timespec) -> c_int;
            [capi(no_provider(lp_errno))] WSPSetSockOpt(s: c_int, level: c_int, name: c_int, val: *const c_char, len: c_int, lp_errno: *mut c_int) -> c_int;
            [capi(no_provider(lp_errno))] WSPGetSockOpt(s: c_int, level: c_int, name: c_int, val: *mut c_char, len: *mut c_int, lp_errno: *mut c_int) -> c_int;
            [capi(0)] wsd_errno_from_wsa(wsa: c_int) -> c_int;
            [capi(0)] wsd_wsa_from_errno(errno: c_int) -> c_int;
            [capi(c"Unknown error code.".as_ptr())] wsd_strerror(wsa: c_int) -> *const c_char;
            [capi(1)] wsd_self_test() -> c_int;
            [capi(0)] wsd_memo_hits() -> u64;
            [engine] inherit() -> ();
            [engine] received(msg: *const msghdr) -> ();
        }
    };
}

macro_rules! engine_table {
    ($( [$($kind:tt)*] $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )*) => {
        /// The engine's half of each call, which makes the real call itself.
        #[repr(C)]
        #[allow(non_snake_case)]
        pub struct Engine {
            pub version: u32,
            $( pub $name: unsafe extern "C" fn($($ty),*) -> $ret, )*
        }
    };
}

crate::engine_calls!(engine_table);
