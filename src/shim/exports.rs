//! The exported C symbols: thin trampolines. Each looks the descriptor up (one
//! atomic load); a descriptor that is not ours goes straight to libc. For ours it
//! takes the re-entrancy guard and runs the hook under `catch_unwind`, so that no
//! panic ever crosses into C (a panic falls back to the real call).

use crate::model::{CODES, SOCKET_ERROR, WsaError};
use crate::shim::fdtable::{self, Entry};
use crate::shim::memory::Memory;
use crate::shim::state::{self, Shim};
use crate::shim::thread::{self, Guard};
use crate::shim::{data, direct, hooks, net, real, recent};
use libc::{c_char, c_int, c_uint, c_void, sockaddr, socklen_t};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `hook`, or `fallback` if it panics.
fn shield<R>(hook: impl FnOnce() -> R, fallback: impl FnOnce() -> R) -> R {
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
        shield(|| hooks::duplicated_entry(shim, old, source, newfd), || ());
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    let entry = fdtable::get(fd);
    if entry.is_empty() {
        // Not ours: a tail call, with none of the hook's frame set up.
        // SAFETY: the program's arguments, passed on unchanged.
        return unsafe { real::setsockopt(fd, level, name, val, len) };
    }
    setsockopt_ours(fd, level, name, val, len, entry)
}

#[inline(never)]
fn setsockopt_ours(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
    entry: Entry,
) -> c_int {
    answer_ours(
        move |g| recent::set(g, entry, level, name, val, len),
        move |shim, g| hooks::setsockopt(shim, g, fd, entry, level, name, val, len),
        // SAFETY: the program's arguments, passed on unchanged.
        move || unsafe { real::setsockopt(fd, level, name, val, len) },
    )
}

/// A `setsockopt`/`getsockopt` on a descriptor of ours: from the thread's memos
/// when one answers it (`recent`), else the whole path. At any depth: a nested
/// call comes from a signal handler (see `thread`), and takes the whole path.
#[inline(always)]
fn answer_ours(
    memo: impl FnOnce(&Guard) -> Option<c_int>,
    whole: impl FnOnce(&'static Shim, &Guard) -> c_int,
    real: impl FnOnce() -> c_int,
) -> c_int {
    let g = Guard::enter_nested();
    if !g.nested()
        && let Some(rc) = shield(|| memo(&g), || None)
    {
        return rc;
    }
    answer_whole(g, whole, real)
}

/// [`answer_ours`]' whole path, out of line: the memo's path sets up no frame for it.
#[inline(never)]
fn answer_whole(
    g: Guard,
    whole: impl FnOnce(&'static Shim, &Guard) -> c_int,
    real: impl FnOnce() -> c_int,
) -> c_int {
    match state::shim() {
        Some(shim) => shield(|| whole(shim, &g), real),
        None => real(),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    let entry = fdtable::get(fd);
    if entry.is_empty() {
        // As in `setsockopt`.
        // SAFETY: the program's arguments, passed on unchanged.
        return unsafe { real::getsockopt(fd, level, name, val, len) };
    }
    getsockopt_ours(fd, level, name, val, len, entry)
}

#[inline(never)]
fn getsockopt_ours(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
    entry: Entry,
) -> c_int {
    answer_ours(
        move |g| recent::get(g, entry, level, name, val, len),
        move |shim, g| hooks::getsockopt(shim, g, fd, entry, level, name, val, len),
        // SAFETY: the program's arguments, passed on unchanged.
        move || unsafe { real::getsockopt(fd, level, name, val, len) },
    )
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    // SAFETY: integer arguments.
    let fd = unsafe { real::socket(domain, ty, protocol) };
    if fd >= 0 {
        let candidate =
            net::is_tcp_triple(domain, ty, protocol) && state::shim_or_start().is_some_and(|s| s.routable);
        let entry = if candidate {
            Entry::candidate(Default::default())
        } else {
            Entry::EMPTY
        };
        handed_out(fd, -1, entry);
    }
    fd
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let entry = fdtable::get(fd);
    // SAFETY: the program's arguments, passed on unchanged.
    let rc = unsafe { real::connect(fd, addr, len) };
    // The call is made once, here; only the switch's bookkeeping is shielded.
    if let Some((_g, shim)) = ours(entry) {
        shield(|| hooks::connected(shim, fd, entry, addr, len, rc), || ());
    }
    rc
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    let entry = fdtable::get(fd);
    // SAFETY: integer arguments.
    let rc = unsafe { real::listen(fd, backlog) };
    if let Some((_g, shim)) = ours(entry) {
        shield(|| hooks::listening(shim, fd, entry, rc), || ());
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
            shield(|| hooks::accepted(shim, fd, entry, newfd, peer), || ())
        }
        None => handed_out(newfd, -1, Entry::EMPTY),
    }
    newfd
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the program's arguments, passed on.
    unsafe { accept_any(fd, addr, len, None) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    // SAFETY: the program's arguments, passed on.
    unsafe { accept_any(fd, addr, len, Some(flags)) }
}

/// `vfork`, as glibc makes it, counting the children that run in this memory
/// ([`state::VFORKS`]) so that the hooks know one is running without asking
/// for their pid. The return address is kept in a register across the system
/// call, because the child, running on this stack, overwrites it (glibc does the
/// same); the parent lowers the count when the call returns to it, once the child
/// has exec'd or exited.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn vfork() -> libc::pid_t {
    std::arch::naked_asm!(
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
        vforks = sym state::VFORKS,
        nr = const libc::SYS_vfork,
        failed = sym vfork_failed,
        options(att_syntax),
    )
}

/// `vfork`'s failure: errno is `e`, the answer -1.
#[cfg(target_arch = "x86_64")]
extern "C" fn vfork_failed(e: c_int) -> libc::pid_t {
    // SAFETY: __errno_location returns this thread's errno.
    unsafe { *libc::__errno_location() = e };
    -1
}

/// A data call on SAN descriptor `fd` (SPEC §7): the call answers a fault on
/// its connection if it is the first since the fault, before or after the real
/// call (`data`). Each export calls it from a function of its own, out of line,
/// so that its path for other descriptors is three loads, a test and a tail
/// call, with nothing kept on the stack.
#[inline(always)]
fn data_call(fd: c_int, entry: Entry, call: data::Call, real_call: impl FnOnce() -> isize) -> isize {
    // No fault on the connection: the real call, and a look afterwards only if
    // it found the connection broken (a fault may have come while it waited).
    if !data::quiet(entry)
        && let Some(r) = shield(|| data::before(fd, entry, call), || None)
    {
        return r;
    }
    let r = real_call();
    if r > 0 {
        return r;
    }
    shield(|| data::after(fd, entry, call, r), || r)
}

/// The data calls (SPEC §7): on a descriptor that is not a SAN socket, the real
/// call and nothing else.
macro_rules! data_exports {
    ($( $name:ident => $call:ident ( $fd:ident : c_int $(, $arg:ident : $ty:ty)* ) -> $ret:ty; )*) => {$(
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($fd: c_int $(, $arg: $ty)*) -> $ret {
            /// The call on a SAN socket (the entry last: the program's
            /// arguments stay in the registers they came in).
            #[inline(never)]
            #[allow(clippy::too_many_arguments)] // `__recvfrom_chk`'s seven, and the entry
            fn san($fd: c_int $(, $arg: $ty)*, entry: Entry) -> $ret {
                // SAFETY: the program's arguments, passed on unchanged.
                data_call($fd, entry, data::Call::$call, move || unsafe { real::$name($fd $(, $arg)*) } as isize) as $ret
            }
            let entry = fdtable::get($fd);
            if entry.is_san() {
                return san($fd $(, $arg)*, entry);
            }
            // SAFETY: as above.
            unsafe { real::$name($fd $(, $arg)*) }
        }
    )*};
}

data_exports! {
    read => Read(fd: c_int, buf: *mut c_void, n: libc::size_t) -> libc::ssize_t;
    __read_chk => Read(fd: c_int, buf: *mut c_void, n: libc::size_t, room: libc::size_t) -> libc::ssize_t;
    readv => Readv(fd: c_int, iov: *const libc::iovec, n: c_int) -> libc::ssize_t;
    recv => Recv(fd: c_int, buf: *mut c_void, n: libc::size_t, flags: c_int) -> libc::ssize_t;
    __recv_chk => Recv(fd: c_int, buf: *mut c_void, n: libc::size_t, room: libc::size_t, flags: c_int) -> libc::ssize_t;
    recvfrom => Recvfrom(fd: c_int, buf: *mut c_void, n: libc::size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> libc::ssize_t;
    __recvfrom_chk => Recvfrom(fd: c_int, buf: *mut c_void, n: libc::size_t, room: libc::size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> libc::ssize_t;
    write => Write(fd: c_int, buf: *const c_void, n: libc::size_t) -> libc::ssize_t;
    writev => Writev(fd: c_int, iov: *const libc::iovec, n: c_int) -> libc::ssize_t;
    send => Send(fd: c_int, buf: *const c_void, n: libc::size_t, flags: c_int) -> libc::ssize_t;
    sendto => Sendto(fd: c_int, buf: *const c_void, n: libc::size_t, flags: c_int, addr: *const sockaddr, len: socklen_t) -> libc::ssize_t;
    sendfile => Sendfile(fd: c_int, from: c_int, offset: *mut libc::off_t, n: libc::size_t) -> libc::ssize_t;
    sendfile64 => Sendfile(fd: c_int, from: c_int, offset: *mut libc::off64_t, n: libc::size_t) -> libc::ssize_t;
}

/// A data call on `fd` whose message may carry descriptors: [`data_call`] on a
/// SAN socket, else the real call alone.
#[inline(always)]
fn message_call(fd: c_int, call: data::Call, real_call: impl FnOnce() -> isize) -> isize {
    let entry = fdtable::get(fd);
    if entry.is_san() {
        data_call(fd, entry, call, real_call)
    } else {
        real_call()
    }
}

/// The descriptors `msg` carried, if the call took or filled it in (`done`) and it
/// carried control data at all.
///
/// # Safety
/// `msg` is null, or a message the kernel has just taken or filled in.
unsafe fn message_done(msg: *const libc::msghdr, done: bool, received: bool) {
    // SAFETY: as the caller promises, a non-null `msg` is readable.
    if done && !msg.is_null() && unsafe { (*msg).msg_controllen } != 0 {
        passed_descriptors(msg, received);
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> libc::ssize_t {
    // SAFETY: the program's arguments, passed on unchanged.
    let rc = message_call(fd, data::Call::Sendmsg, || unsafe {
        real::sendmsg(fd, msg, flags)
    });
    // SAFETY: the kernel took the message if the call succeeded.
    unsafe { message_done(msg, rc >= 0, false) };
    rc
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> libc::ssize_t {
    // SAFETY: the program's arguments, passed on unchanged.
    let rc = message_call(fd, data::Call::Recvmsg, || unsafe {
        real::recvmsg(fd, msg, flags)
    });
    // SAFETY: the kernel filled the message in if the call succeeded.
    unsafe { message_done(msg, rc >= 0, true) };
    rc
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmmsg(fd: c_int, v: *mut libc::mmsghdr, n: c_uint, flags: c_int) -> c_int {
    // SAFETY: the program's arguments, passed on unchanged.
    let sent = message_call(
        fd,
        data::Call::Sendmmsg,
        || unsafe { real::sendmmsg(fd, v, n, flags) } as isize,
    );
    // SAFETY: the kernel took the first `sent` messages.
    unsafe { each_message(v, sent, false) };
    sent as c_int
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    v: *mut libc::mmsghdr,
    n: c_uint,
    flags: c_int,
    t: *mut libc::timespec,
) -> c_int {
    // SAFETY: the program's arguments, passed on unchanged.
    let got = message_call(
        fd,
        data::Call::Recvmmsg,
        || unsafe { real::recvmmsg(fd, v, n, flags, t) } as isize,
    );
    // SAFETY: the kernel filled the first `got` messages in.
    unsafe { each_message(v, got, true) };
    got as c_int
}

/// The descriptors the first `count` messages of `v` carried (`sendmmsg`,
/// `recvmmsg`), as for `sendmsg`/`recvmsg`.
///
/// # Safety
/// The kernel has just taken or filled in those messages: they are readable.
unsafe fn each_message(v: *const libc::mmsghdr, count: isize, received: bool) {
    if v.is_null() {
        return;
    }
    for i in 0..count.max(0) as usize {
        // SAFETY: as the caller promises, `i < count` messages are readable.
        unsafe { message_done(&(*v.add(i)).msg_hdr, true, received) };
    }
}

/// `SCM_RIGHTS` descriptors that a `sendmsg` sent or a `recvmsg` received (SPEC
/// §5: a socket reached through `SCM_RIGHTS` is the same endpoint). Out of line:
/// the calls' paths set up nothing for it. `errno` is kept.
#[cold]
#[inline(never)]
fn passed_descriptors(msg: *const libc::msghdr, received: bool) {
    let Some(_g) = Guard::enter() else { return };
    // Control data without descriptors (timestamps, IP_PKTINFO) is not ours.
    let mut carried = false;
    // SAFETY: `msg` is the message the kernel just took or filled in.
    unsafe { net::scm_rights(msg, |_| carried = true) };
    if !carried {
        return;
    }
    let mut shim = None;
    hooks::keeping_errno(|| {
        shim = if received {
            state::shim_or_start()
        } else {
            state::shim()
        }
    });
    let Some(shim) = shim else { return };
    // SAFETY: `msg` is the message the kernel just took or filled in.
    shield(|| unsafe { hooks::passed(shim, msg, received) }, || ());
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    let entry = fdtable::get(fd);
    if let Some((_g, shim)) = ours(entry) {
        shield(|| hooks::forget(shim, fd), || ());
    }
    // SAFETY: an integer argument.
    unsafe { real::close(fd) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    // SAFETY: an integer argument.
    let new = unsafe { real::dup(fd) };
    handed_out(new, fd, fdtable::get(fd));
    new
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    // SAFETY: integer arguments.
    let r = unsafe { real::dup2(old, new) };
    if old != new {
        handed_out(r, old, fdtable::get(old));
    }
    r
}

#[unsafe(no_mangle)]
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

/// `fcntl` is variadic in C; on x86-64 a fixed third word argument is ABI-compatible.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: the program's arguments, passed on unchanged.
    after_fcntl(fd, cmd, unsafe { real::fcntl(fd, cmd, arg) })
}

#[unsafe(no_mangle)]
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
        shield(|| hooks::forget_range(shim, first, last), || ());
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    if flags & !(libc::CLOSE_RANGE_CLOEXEC as c_int | libc::CLOSE_RANGE_UNSHARE as c_int) == 0
        && flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0
    {
        forget_range(first, last);
    }
    // SAFETY: integer arguments.
    unsafe { real::close_range(first, last, flags) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn closefrom(low: c_int) {
    forget_range(low.max(0) as c_uint, c_uint::MAX);
    // SAFETY: an integer argument.
    unsafe { real::closefrom(low) }
}

/// Runs a direct provider call: the caller's `errno` is left as it was, and the
/// code goes to `*lp_errno` (if that is writable) on failure.
fn provider_call(lp_errno: *mut c_int, call: impl FnOnce(Memory) -> Result<(), WsaError>) -> c_int {
    // SAFETY: __errno_location returns this thread's errno.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: a valid thread-local int.
    let saved = unsafe { *errno };
    let guard = Guard::enter_nested();
    let mem = guard.memory();
    let r = shield(|| call(mem), || Err(WsaError::ENETDOWN));
    // SAFETY: as above.
    unsafe { *errno = saved };
    match r {
        Ok(()) => 0,
        Err(e) => {
            mem.write(lp_errno.cast(), &e.code().to_ne_bytes());
            SOCKET_ERROR
        }
    }
}

/// `WSPSetSockOpt` (SPEC §2).
#[unsafe(no_mangle)]
pub extern "C" fn WSPSetSockOpt(
    s: c_int,
    level: c_int,
    name: c_int,
    val: *const c_char,
    len: c_int,
    lp_errno: *mut c_int,
) -> c_int {
    provider_call(lp_errno, |mem| direct::set(mem, s, level, name, val.cast(), len))
}

/// `WSPGetSockOpt` (SPEC §3).
#[unsafe(no_mangle)]
pub extern "C" fn WSPGetSockOpt(
    s: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_char,
    len: *mut c_int,
    lp_errno: *mut c_int,
) -> c_int {
    provider_call(lp_errno, |mem| {
        direct::get(mem, s, level, name, val.cast(), len.cast())
    })
}

/// The Linux errno for a `WSAE*` code, 0 if it is not one of the provider's.
#[unsafe(no_mangle)]
pub extern "C" fn wsd_errno_from_wsa(wsa: c_int) -> c_int {
    WsaError::from_code(wsa).map_or(0, WsaError::errno)
}

/// The `WSAE*` code for a Linux errno, 0 if none of the provider's maps to it.
#[unsafe(no_mangle)]
pub extern "C" fn wsd_wsa_from_errno(errno: c_int) -> c_int {
    WsaError::from_errno(errno).map_or(0, WsaError::code)
}

/// The seed page's description of a `WSAE*` code (a static string).
#[unsafe(no_mangle)]
pub extern "C" fn wsd_strerror(wsa: c_int) -> *const c_char {
    static TEXTS: once_cell::sync::Lazy<Vec<std::ffi::CString>> = once_cell::sync::Lazy::new(|| {
        CODES
            .iter()
            .map(|c| std::ffi::CString::new(c.text).unwrap_or_default())
            .collect()
    });
    match CODES.iter().position(|c| c.code.code() == wsa) {
        Some(i) => TEXTS[i].as_ptr(),
        None => c"Unknown error code.".as_ptr(),
    }
}

/// The library's own check of what no socket shows: a failure inside a hook is
/// recovered from (the unwinder that `shield` relies on is linked in and finds the
/// library's frames). 0 when it holds.
#[unsafe(no_mangle)]
pub extern "C" fn wsd_self_test() -> c_int {
    // `resume_unwind` unwinds like a panic but without the panic message.
    shield(|| std::panic::resume_unwind(Box::new(1)), || 0)
}

/// How many of this thread's calls a memo answered (`shim::recent`).
#[unsafe(no_mangle)]
pub extern "C" fn wsd_memo_hits() -> u64 {
    crate::shim::thread::memo_hits()
}

/// Start-up, for `libwsd.so`'s constructor (`preload/lib.rs`): never unwinds into
/// the loader.
pub fn constructor() {
    shield(state::start, || ());
}
