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
//! `socket`, a `recvmsg` that received descriptors, a direct provider call.

use crate::c::*;
use crate::engine::{self, VFORK_PARENT, VFORKS};
use crate::own_real as real;
use crate::{errno, sys, table};

/// The exports [`engine_calls!`](crate::engine_calls) lists, each as its
/// kind says (the `[own]` ones are written out below).
macro_rules! front_exports {
    ($( [$($kind:tt)*] $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )*) => {
        $( front_export!([$($kind)*] $name($($arg: $ty),*) -> $ret); )*
    };
}

macro_rules! front_export {
    // A call keyed by a descriptor whose engine half does nothing for a
    // descriptor that is not ours: the real call unless the table has an entry.
    ([keyed] $name:ident ($fd:ident : $fty:ty $(, $arg:ident : $ty:ty)*) -> $ret:ty) => {
        #[doc = concat!("`", stringify!($name), "`: the engine's for a descriptor of ours, else libc's.")]
        ///
        /// # Safety
        /// As for libc's function of the same name.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($fd: $fty $(, $arg: $ty)*) -> $ret {
            if table::get($fd) != 0 && let Some(e) = engine::loaded() {
                // SAFETY: the program's arguments, passed on unchanged.
                return unsafe { (e.$name)($fd $(, $arg)*) };
            }
            // SAFETY: as above.
            unsafe { real::$name($fd $(, $arg)*) }
        }
    };
    // A data call (SPEC §7): the engine's on a SAN socket, else the real call
    // and nothing else.
    ([data] $name:ident ($fd:ident : $fty:ty $(, $arg:ident : $ty:ty)*) -> $ret:ty) => {
        #[doc = concat!("`", stringify!($name), "`: on a SAN socket, the engine answers a fault on its connection (SPEC §7).")]
        ///
        /// # Safety
        /// As for libc's function of the same name.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($fd: $fty $(, $arg: $ty)*) -> $ret {
            if table::is_san(table::get($fd)) && let Some(e) = engine::loaded() {
                // SAFETY: the program's arguments, passed on unchanged.
                return unsafe { (e.$name)($fd $(, $arg)*) };
            }
            // SAFETY: as above.
            unsafe { real::$name($fd $(, $arg)*) }
        }
    };
    // A call the engine follows whatever the descriptor once it runs (a new
    // descriptor may replace an old entry, a duplicate may copy one, a message
    // may carry SAN sockets): before it runs there is nothing to follow.
    ([running] $name:ident ($($arg:ident : $ty:ty),*) -> $ret:ty) => {
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
            unsafe { real::$name($($arg),*) }
        }
    };
    // The provider's C API and the library's own C functions
    // (`include/wsd.h`): the engine's, loaded now if need be; without it, the
    // answer given.
    ([capi($without:expr)] $name:ident ($($arg:ident : $ty:ty),*) -> $ret:ty) => {
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
    };
    ([own] $($rest:tt)*) => {};
    ([engine] $($rest:tt)*) => {};
}

/// A provider call without an engine: `SOCKET_ERROR`, and `WSAENETDOWN` at
/// `lp_errno` if that is writable (a bad pointer is not written, never faulted
/// on).
fn no_provider(lp_errno: *mut c_int) -> c_int {
    const SOCKET_ERROR: c_int = -1;
    sys::write_memory(lp_errno as usize, &crate::api::WSAENETDOWN.to_ne_bytes());
    SOCKET_ERROR
}

crate::engine_calls!(front_exports);

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

/// Did the message the kernel just filled in carry descriptors (an
/// `SCM_RIGHTS` control message: SPEC §5)? Other control data — timestamps,
/// `IP_PKTINFO`, errors queued — loads no engine.
///
/// # Safety
/// `msg` is null or a message a successful receive just filled in: the kernel
/// wrote `msg_controllen` bytes of control messages at `msg_control`.
unsafe fn carried_descriptors(msg: *const msghdr) -> bool {
    if msg.is_null() {
        return false;
    }
    let mut carried = false;
    // SAFETY: as the caller promises.
    unsafe {
        crate::cmsg::scm_rights((*msg).msg_control as usize, (*msg).msg_controllen, |_| {
            carried = true
        })
    };
    carried
}

/// `recvmsg(2)`: descriptors received that are SAN sockets elsewhere are SAN
/// sockets here (SPEC §5). Before the engine runs, the real call, then — only
/// if the message carried descriptors — the engine, loaded now, looks at them. (Nothing of the program's message is read before the call:
/// a bad pointer is the kernel's to answer, `EFAULT`.)
///
/// # Safety
/// As for libc's `recvmsg`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    if let Some(e) = engine::loaded() {
        // SAFETY: the program's arguments, passed on unchanged.
        return unsafe { (e.recvmsg)(fd, msg, flags) };
    }
    // SAFETY: as above.
    let got = unsafe { real::recvmsg(fd, msg, flags) };
    // SAFETY: the call succeeded: the kernel filled `msg` in.
    if got >= 0
        && unsafe { carried_descriptors(msg) }
        && let Some(e) = engine::load()
    {
        // SAFETY: as above.
        unsafe { (e.received)(msg) };
    }
    got
}

/// `recvmmsg(2)`, as `recvmsg` for each message received.
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
    if let Some(e) = engine::loaded() {
        // SAFETY: the program's arguments, passed on unchanged.
        return unsafe { (e.recvmmsg)(fd, v, n, flags, t) };
    }
    // SAFETY: as above.
    let got = unsafe { real::recvmmsg(fd, v, n, flags, t) };
    // SAFETY: the kernel filled the first `got` messages in.
    let msg = |i: usize| unsafe { &raw const (*v.add(i)).msg_hdr };
    // SAFETY: as above.
    if (0..got.max(0) as usize).any(|i| unsafe { carried_descriptors(msg(i)) })
        && let Some(e) = engine::load()
    {
        for i in 0..got as usize {
            // SAFETY: as above.
            unsafe { (e.received)(msg(i)) };
        }
    }
    got
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
