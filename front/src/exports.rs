//! The C symbols `libwsd.so` exports: the libc functions it interposes, its
//! own `vfork`, the provider's C API and the library's mark.
//!
//! Each interposed call on a descriptor that is not ours is a table load and
//! the real call (a tail jump). Where the engine must see the call — a
//! descriptor of ours, a TCP socket being made, a descriptor being duplicated
//! or received once the engine runs — the engine's half of the call makes it
//! (`api::Engine`), so that the real call is made once, by one of the two.
//!
//! Until the engine is loaded no descriptor is ours (the engine makes every
//! entry), so the front loads it only at the calls that can make one: a TCP
//! `socket`, a `recvmsg` with room for descriptors, a direct provider call.

use crate::c::*;
use crate::engine::{self, VFORK_PARENT, VFORKS};
use crate::own_real as real;
use crate::{errno, table};

/// Calls keyed by a descriptor whose engine half does nothing for a
/// descriptor that is not ours: the real call unless the table has an entry.
macro_rules! keyed {
    ($( $name:ident ( $fd:ident : c_int $(, $arg:ident : $ty:ty)* ) -> $ret:ty; )*) => {$(
        #[doc = concat!("`", stringify!($name), "`: the engine's for a descriptor of ours, else libc's.")]
        ///
        /// # Safety
        /// As for libc's function of the same name.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($fd: c_int $(, $arg: $ty)*) -> $ret {
            if table::get($fd) != 0 && let Some(e) = engine::loaded() {
                // SAFETY: the program's arguments, passed on unchanged.
                return unsafe { (e.$name)($fd $(, $arg)*) };
            }
            // SAFETY: as above.
            unsafe { real::$name($fd $(, $arg)*) }
        }
    )*};
}

keyed! {
    connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    listen(fd: c_int, backlog: c_int) -> c_int;
    close(fd: c_int) -> c_int;
}

/// The data calls (SPEC §7): the engine's on a SAN socket, else the real call
/// and nothing else.
macro_rules! data {
    ($( $name:ident ( $fd:ident : c_int $(, $arg:ident : $ty:ty)* ) -> $ret:ty; )*) => {$(
        #[doc = concat!("`", stringify!($name), "`: on a SAN socket, the engine answers a fault on its connection (SPEC §7).")]
        ///
        /// # Safety
        /// As for libc's function of the same name.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($fd: c_int $(, $arg: $ty)*) -> $ret {
            if table::is_san(table::get($fd)) && let Some(e) = engine::loaded() {
                // SAFETY: the program's arguments, passed on unchanged.
                return unsafe { (e.$name)($fd $(, $arg)*) };
            }
            // SAFETY: as above.
            unsafe { real::$name($fd $(, $arg)*) }
        }
    )*};
}

data! {
    read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t;
    __read_chk(fd: c_int, buf: *mut c_void, n: size_t, room: size_t) -> ssize_t;
    readv(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t;
    recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t;
    __recv_chk(fd: c_int, buf: *mut c_void, n: size_t, room: size_t, flags: c_int) -> ssize_t;
    recvfrom(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;
    __recvfrom_chk(fd: c_int, buf: *mut c_void, n: size_t, room: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t;
    write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t;
    writev(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t;
    send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t;
    sendto(fd: c_int, buf: *const c_void, n: size_t, flags: c_int, addr: *const sockaddr, len: socklen_t) -> ssize_t;
    sendfile(fd: c_int, from: c_int, offset: *mut off_t, n: size_t) -> ssize_t;
    sendfile64(fd: c_int, from: c_int, offset: *mut off64_t, n: size_t) -> ssize_t;
}

/// Calls the engine follows whatever the descriptor once it runs (a new
/// descriptor may replace an old entry, a duplicate may copy one, a message
/// may carry SAN sockets): before it runs there is nothing to follow.
macro_rules! once_running {
    ($( $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty = $real:expr; )*) => {$(
        #[doc = concat!("`", stringify!($name), "`: the engine's once it runs, else libc's.")]
        ///
        /// # Safety
        /// As for libc's function of the same name.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> $ret {
            if let Some(e) = engine::loaded() {
                // SAFETY: the program's arguments, passed on unchanged.
                return unsafe { (e.$name)($($arg),*) };
            }
            // SAFETY: as above (`closefrom` is safe: the block is allowed).
            #[allow(unused_unsafe)]
            unsafe { $real($($arg),*) }
        }
    )*};
}

once_running! {
    accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int = real::accept;
    accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int = real::accept4;
    dup(fd: c_int) -> c_int = real::dup;
    dup2(old: c_int, new: c_int) -> c_int = real::dup2;
    dup3(old: c_int, new: c_int, flags: c_int) -> c_int = real::dup3;
    fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int = crate::real::fcntl;
    fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int = crate::real::fcntl64;
    close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int = real::close_range;
    closefrom(low: c_int) -> () = crate::real::closefrom;
    sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t = real::sendmsg;
    sendmmsg(fd: c_int, v: *mut mmsghdr, n: c_uint, flags: c_int) -> c_int = real::sendmmsg;
}

/// `socket(2)`: a TCP socket may be a SAN candidate (SPEC §4.1): the engine
/// makes it, loaded now if need be.
///
/// # Safety
/// Integer arguments only; unsafe as every C entry point is.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    let e = match engine::loaded() {
        Some(e) => Some(e),
        None if is_tcp_triple(domain, ty, protocol) => engine::load(),
        None => None,
    };
    match e {
        // SAFETY: integer arguments.
        Some(e) => unsafe { (e.socket)(domain, ty, protocol) },
        // SAFETY: integer arguments.
        None => unsafe { real::socket(domain, ty, protocol) },
    }
}

/// Does `msg` have room for control data (descriptors a peer may send)?
///
/// # Safety
/// `msg` is null or readable.
unsafe fn has_control_room(msg: *const msghdr) -> bool {
    // SAFETY: as the caller promises.
    !msg.is_null() && unsafe { (*msg).msg_controllen } != 0
}

/// `recvmsg(2)`: descriptors received that are SAN sockets elsewhere are SAN
/// sockets here (SPEC §5), so a message with room for them needs the engine.
///
/// # Safety
/// As for libc's `recvmsg`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    // SAFETY: the program's message, readable as recvmsg requires.
    let e = engine::loaded().or_else(|| unsafe { has_control_room(msg) }.then(engine::load).flatten());
    match e {
        // SAFETY: the program's arguments, passed on unchanged.
        Some(e) => unsafe { (e.recvmsg)(fd, msg, flags) },
        // SAFETY: as above.
        None => unsafe { real::recvmsg(fd, msg, flags) },
    }
}

/// `recvmmsg(2)`, as `recvmsg` for each message.
///
/// # Safety
/// As for libc's `recvmmsg`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    v: *mut mmsghdr,
    n: c_uint,
    flags: c_int,
    t: *mut timespec,
) -> c_int {
    let room = || {
        // SAFETY: `v` holds `n` readable messages, as recvmmsg requires.
        !v.is_null() && (0..n as usize).any(|i| unsafe { has_control_room(&raw const (*v.add(i)).msg_hdr) })
    };
    let e = engine::loaded().or_else(|| room().then(engine::load).flatten());
    match e {
        // SAFETY: the program's arguments, passed on unchanged.
        Some(e) => unsafe { (e.recvmmsg)(fd, v, n, flags, t) },
        // SAFETY: as above.
        None => unsafe { real::recvmmsg(fd, v, n, flags, t) },
    }
}

/// One option call's export: a two-instruction trampoline that passes the
/// call's return address — the place in the program that made the call — as a
/// sixth argument, so that the report can say where options are set (issue
/// 16) at the cost of one load; then the call made from that place (`$at`):
/// for a descriptor that is not ours a tail call to the real function, else
/// the engine's.
macro_rules! option_export {
    ($(#[$doc:meta])* $name:ident, $at:ident, $val:ty, $len:ty) => {
        $(#[$doc])*
        #[unsafe(naked)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fd: c_int, level: c_int, name: c_int, val: $val, len: $len) -> c_int {
            // The return address, on top of the stack at entry, as the sixth argument.
            core::arch::naked_asm!("movq (%rsp), %r9", "jmp {at}", at = sym $at, options(att_syntax))
        }

        /// The call made from `site` (a return address into the program).
        ///
        /// # Safety
        /// As for the export.
        unsafe extern "C" fn $at(fd: c_int, level: c_int, name: c_int, val: $val, len: $len, site: usize) -> c_int {
            if table::get(fd) != 0 && let Some(e) = engine::loaded() {
                // SAFETY: the program's arguments, passed on unchanged.
                return unsafe { (e.$at)(fd, level, name, val, len, site) };
            }
            // Not ours: a tail call.
            // SAFETY: as above.
            unsafe { real::$name(fd, level, name, val, len) }
        }
    };
}

option_export! {
    /// `setsockopt(2)`. On a descriptor that is ours, the switch routes the call
    /// (SPEC §4.3); a bad `val` is answered `EFAULT`, never a fault.
    ///
    /// # Safety
    /// Called from C as libc's `setsockopt`: `val` should point to `len` readable
    /// bytes (the kernel, or the engine's probe, answers `EFAULT` when not).
    setsockopt, setsockopt_at, *const c_void, socklen_t
}

option_export! {
    /// `getsockopt(2)`, routed as `setsockopt`.
    ///
    /// # Safety
    /// Called from C as libc's `getsockopt`: `val` and `len` should point to
    /// writable memory (a bad pointer is answered `EFAULT`).
    getsockopt, getsockopt_at, *mut c_void, *mut socklen_t
}

/// The provider's C API and the library's own C functions (`include/wsd.h`):
/// the engine's, loaded now if need be; without it, the answer given.
macro_rules! c_api {
    ($( $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty = $without:expr; )*) => {$(
        #[doc = concat!("`", stringify!($name), "` (`include/wsd.h`): the engine's.")]
        ///
        /// # Safety
        /// As `include/wsd.h` says: pointers are what the function expects (a bad
        /// one is answered `WSAEFAULT`).
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> $ret {
            match engine::loaded().or_else(engine::load) {
                // SAFETY: the caller's arguments, passed on unchanged.
                Some(e) => unsafe { (e.$name)($($arg),*) },
                None => $without,
            }
        }
    )*};
}

/// `SOCKET_ERROR`.
const SOCKET_ERROR: c_int = -1;

c_api! {
    WSPSetSockOpt(s: c_int, level: c_int, name: c_int, val: *const c_char, len: c_int, lp_errno: *mut c_int) -> c_int = SOCKET_ERROR;
    WSPGetSockOpt(s: c_int, level: c_int, name: c_int, val: *mut c_char, len: *mut c_int, lp_errno: *mut c_int) -> c_int = SOCKET_ERROR;
    wsd_errno_from_wsa(wsa: c_int) -> c_int = 0;
    wsd_wsa_from_errno(errno: c_int) -> c_int = 0;
    wsd_strerror(wsa: c_int) -> *const c_char = c"Unknown error code.".as_ptr();
    wsd_self_test() -> c_int = 1;
    wsd_memo_hits() -> u64 = 0;
}

/// `vfork`, as glibc makes it, counting the children that run in this memory
/// ([`VFORKS`]) and noting this process's pid ([`VFORK_PARENT`]), so that a
/// hook knows a child is running, and which process it is, without asking for
/// the pid every time. The return address is kept in a register across the
/// system call, because the child, running on this stack, overwrites it (glibc
/// does the same); the parent lowers the count when the call returns to it,
/// once the child has exec'd or exited.
///
/// # Safety
/// As for libc's `vfork`: the child may only call `_exit` or an `exec` function.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vfork() -> pid_t {
    core::arch::naked_asm!(
        "movl ${getpid}, %eax",
        "syscall",
        "movl %eax, {parent}(%rip)",
        "lock incq {vforks}(%rip)",
        "popq %rdi",
        "movl ${nr}, %eax",
        "syscall",
        "pushq %rdi",
        // The child (0): the count stays raised while it runs.
        "testl %eax, %eax",
        "je 2f",
        "lock decq {vforks}(%rip)",
        "cmpl $-4095, %eax",
        "jae 3f",
        "2:",
        "ret",
        // A failure: errno, and -1.
        "3:",
        "negl %eax",
        "movl %eax, %edi",
        "jmp {failed}",
        getpid = const 39,
        parent = sym VFORK_PARENT,
        vforks = sym VFORKS,
        nr = const 58,
        failed = sym vfork_failed,
        options(att_syntax),
    )
}

/// `vfork`'s failure: errno is `e`, the answer -1.
extern "C" fn vfork_failed(e: c_int) -> pid_t {
    errno::set(e);
    -1
}

/// The library's mark and version (the engine's `wsd::LIBRARY_MARK`, checked
/// against this by the engine's build), exported so that the linker keeps it;
/// `wsd run` reads it from the file.
#[unsafe(no_mangle)]
#[used]
pub static wsd_library_version: [u8; 26] = *b"wsd-library-version=0.1.0\0";

const _: () = {
    let v = env!("CARGO_PKG_VERSION").as_bytes();
    let mark = crate::LIBRARY_MARK.as_bytes();
    assert!(mark.len() + v.len() + 1 == wsd_library_version.len());
    let mut i = 0;
    while i < mark.len() {
        assert!(wsd_library_version[i] == mark[i], "the mark is LIBRARY_MARK");
        i += 1;
    }
    while i < mark.len() + v.len() {
        assert!(
            wsd_library_version[i] == v[i - mark.len()],
            "the mark names this version"
        );
        i += 1;
    }
};
