//! The data calls' exports (SPEC §7): `read`, `recv`, `write`, `send` and
//! their kin, and the message calls whose `SCM_RIGHTS` descriptors the switch
//! follows (SPEC §5). On a descriptor that is not a SAN socket: the real call and
//! nothing else — three loads, a test and a tail call.

use super::shield;
use crate::shim::fdtable::{self, Entry};
use crate::shim::hooks::{data, life};
use crate::shim::thread::Guard;
use crate::shim::{errno, net, real, startup, state};
use libc::{c_int, c_uint, c_void, sockaddr, socklen_t};

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
        #[doc = concat!("`", stringify!($name), "`: on a SAN socket, answers a fault on its connection (SPEC §7).")]
        ///
        /// # Safety
        /// Called from C as libc's function of the same name: the pointers are
        /// what it expects; they are passed on unchanged.
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

/// `sendmsg(2)`: a data call; `SCM_RIGHTS` descriptors it sends keep their
/// endpoint for the receiver.
///
/// # Safety
/// Called from C as libc's `sendmsg`: `msg` is a valid message.
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> libc::ssize_t {
    // SAFETY: the program's arguments, passed on unchanged.
    let rc = message_call(fd, data::Call::Sendmsg, || unsafe {
        real::sendmsg(fd, msg, flags)
    });
    // SAFETY: the kernel took the message if the call succeeded.
    unsafe { message_done(msg, rc >= 0, false) };
    rc
}

/// `recvmsg(2)`: a data call; `SCM_RIGHTS` descriptors it receives that are
/// SAN sockets elsewhere are SAN sockets here.
///
/// # Safety
/// Called from C as libc's `recvmsg`: `msg` is a valid, writable message.
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> libc::ssize_t {
    // SAFETY: the program's arguments, passed on unchanged.
    let rc = message_call(fd, data::Call::Recvmsg, || unsafe {
        real::recvmsg(fd, msg, flags)
    });
    // SAFETY: the kernel filled the message in if the call succeeded.
    unsafe { message_done(msg, rc >= 0, true) };
    rc
}

/// The descriptors a message received before the engine ran carried: the
/// front's `recvmsg` made the call, found control data, and loaded the engine.
///
/// # Safety
/// `msg` is a message a successful receive just filled in.
pub unsafe extern "C" fn received(msg: *const libc::msghdr) {
    // SAFETY: as the caller promises.
    unsafe { message_done(msg, true, true) };
}

/// `sendmmsg(2)`, as `sendmsg` for each message sent.
///
/// # Safety
/// Called from C as libc's `sendmmsg`: `v` holds `n` valid messages.
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

/// `recvmmsg(2)`, as `recvmsg` for each message received.
///
/// # Safety
/// Called from C as libc's `recvmmsg`: `v` holds `n` valid, writable messages
/// and `t` is null or a valid timeout.
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
    let shim = {
        let _errno = errno::keep();
        if received {
            startup::shim_or_start()
        } else {
            state::shim()
        }
    };
    let Some(shim) = shim else { return };
    // SAFETY: `msg` is the message the kernel just took or filled in.
    shield(|| unsafe { life::passed(shim, msg, received) }, || ());
}
