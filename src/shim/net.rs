//! Socket facts the switch needs from the kernel: a descriptor's type, its cookie
//! and network namespace, its local and peer addresses, and the address a program
//! passed to `connect`.

use crate::shim::{errno, real};
use libc::{c_int, sockaddr, sockaddr_storage, socklen_t};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Would this `socket()` call make a TCP stream socket?
pub fn is_tcp_triple(domain: c_int, ty: c_int, protocol: c_int) -> bool {
    matches!(domain, libc::AF_INET | libc::AF_INET6)
        && ty & 0xf == libc::SOCK_STREAM
        && matches!(protocol, 0 | libc::IPPROTO_TCP)
}

fn int_opt(fd: c_int, name: c_int) -> Option<c_int> {
    let mut v: c_int = 0;
    let mut len = size_of::<c_int>() as socklen_t;
    // SAFETY: `v` and `len` are valid out-pointers of the sizes given.
    let r = unsafe {
        real::getsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            (&mut v as *mut c_int).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(v)
}

fn u64_opt(fd: c_int, name: c_int) -> u64 {
    let mut v: u64 = 0;
    let mut len = size_of::<u64>() as socklen_t;
    // SAFETY: `v` and `len` are valid out-pointers of the sizes given.
    let r = unsafe { real::getsockopt(fd, libc::SOL_SOCKET, name, (&mut v as *mut u64).cast(), &mut len) };
    if r == 0 { v } else { 0 }
}

/// `SO_COOKIE`: what the kernel says identifies a socket, the same through every
/// descriptor in every process (SPEC §5); 0 if it would not say. `errno` may change.
pub fn cookie(fd: c_int) -> u64 {
    u64_opt(fd, SO_COOKIE)
}

/// `SO_NETNS_COOKIE`: the network namespace of a socket; 0 if the kernel would
/// not say. `errno` may change.
pub fn netns_cookie(fd: c_int) -> u64 {
    u64_opt(fd, SO_NETNS_COOKIE)
}

/// The inode of the socket `fd` refers to (0 if `fstat` fails).
pub fn inode(fd: c_int) -> u64 {
    // SAFETY: an all-zero stat is valid; fstat only writes into it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    if unsafe { libc::fstat(fd, &mut st) } == 0 {
        st.st_ino
    } else {
        0
    }
}

/// The TCP state of `fd` as the kernel numbers them (`TCP_INFO`'s first byte),
/// None if it is not a TCP socket. `errno` may change.
pub fn tcp_state(fd: c_int) -> Option<u8> {
    let mut info = [0u8; 8];
    let mut len = info.len() as socklen_t;
    // SAFETY: `info` and `len` are valid out-pointers of the sizes given; the
    // kernel copies at most `len` bytes of its `tcp_info`.
    let r = unsafe {
        real::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    (r == 0 && len >= 1).then_some(info[0])
}

/// Breaks the TCP connection of `fd` as a reset breaks it (SPEC §7), with what an
/// ordinary user may do: `connect(AF_UNSPEC)` aborts it (the peer gets a reset,
/// this end `ECONNRESET`, its waiters wake), then `shutdown` leaves both
/// directions shut, so that later reads return 0 and writes `EPIPE`, as on a
/// socket that received a reset. The kernel refuses the abort (`EBUSY`) while a
/// thread waits in the socket (a blocked `recv` or `send`): `shutdown` first
/// wakes them, and the abort is tried again once they are out, for at most
/// about 50 ms. A socket already closed (the peer's reset came first) is only
/// shut. `errno` may change.
pub fn reset_socket(fd: c_int) {
    const TCP_CLOSE: u8 = 7;
    let unspec = libc::sockaddr {
        sa_family: libc::AF_UNSPEC as libc::sa_family_t,
        sa_data: [0; 14],
    };
    let abort = || {
        // SAFETY: a valid sockaddr of the size given; the real connect, not our export.
        unsafe { real::connect(fd, &unspec, size_of::<libc::sockaddr>() as socklen_t) }
    };
    let shut = || {
        // SAFETY: integer arguments.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) }
    };
    if tcp_state(fd) != Some(TCP_CLOSE) {
        let mut shut_already = false;
        for _ in 0..500 {
            if abort() == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EBUSY) {
                break;
            }
            if !shut_already {
                shut();
                shut_already = true;
            }
            // The woken waiters leave meanwhile.
            pause_100us();
        }
    }
    shut();
}

/// Sleeps 100 µs (a bounded wait's step, on the fault path only).
pub fn pause_100us() {
    // SAFETY: a valid timespec; no remainder is asked for.
    unsafe {
        libc::nanosleep(
            &libc::timespec {
                tv_sec: 0,
                tv_nsec: 100_000,
            },
            std::ptr::null_mut(),
        )
    };
}

/// Takes the socket's pending error (`SO_ERROR`), so that the call after the one
/// that answered a fault sees the socket as it is, not the error again.
pub fn take_error(fd: c_int) {
    let mut e: c_int = 0;
    let mut len = size_of::<c_int>() as socklen_t;
    // SAFETY: valid out-pointers of the sizes given.
    unsafe {
        real::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut e as *mut c_int).cast(),
            &mut len,
        )
    };
}

/// `SO_COOKIE` (asm-generic/socket.h; Linux 4.13) and `SO_NETNS_COOKIE` (5.14),
/// which the libc crate does not define for this target.
const SO_COOKIE: c_int = 57;
const SO_NETNS_COOKIE: c_int = 71;

/// Calls `f` with every descriptor an `SCM_RIGHTS` control message in `msg`
/// carries.
///
/// # Safety
/// `msg` must point to a `msghdr` whose control buffer the kernel has just
/// accepted (`sendmsg`) or filled in (`recvmsg`): readable, well formed.
pub unsafe fn scm_rights(msg: *const libc::msghdr, f: impl FnMut(c_int)) {
    // SAFETY: as the caller promises: the control buffer is the kernel's
    // just-accepted or just-filled one.
    unsafe { wsd_front::cmsg::scm_rights((*msg).msg_control as usize, (*msg).msg_controllen, f) }
}

/// Is `fd` an open TCP stream socket? (SPEC §2.2 row 1.) Preserves `errno`.
pub fn is_tcp_stream(fd: c_int) -> bool {
    let _errno = errno::keep();
    int_opt(fd, libc::SO_TYPE) == Some(libc::SOCK_STREAM)
        && matches!(int_opt(fd, libc::SO_DOMAIN), Some(libc::AF_INET | libc::AF_INET6))
        && int_opt(fd, libc::SO_PROTOCOL) == Some(libc::IPPROTO_TCP)
}

/// Decodes a socket address of length `len` at `addr`, which the kernel has just
/// accepted (so it is readable).
///
/// # Safety
/// `addr` must point to `len` readable bytes, or be NULL.
pub unsafe fn decode(addr: *const sockaddr, len: socklen_t) -> Option<SocketAddr> {
    if addr.is_null() || (len as usize) < size_of::<libc::sa_family_t>() {
        return None;
    }
    // SAFETY: at least the family is readable (checked above).
    let family = c_int::from(unsafe { (*addr).sa_family });
    match family {
        libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the length covers a sockaddr_in; read unaligned to be safe.
            let a: libc::sockaddr_in = unsafe { std::ptr::read_unaligned(addr.cast()) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the length covers a sockaddr_in6.
            let a: libc::sockaddr_in6 = unsafe { std::ptr::read_unaligned(addr.cast()) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Room for any socket address the kernel writes back, and its length.
pub struct AddressBuffer {
    ss: sockaddr_storage,
    len: socklen_t,
}

impl AddressBuffer {
    pub fn new() -> AddressBuffer {
        AddressBuffer {
            // SAFETY: an all-zero sockaddr_storage is valid (family 0: no address).
            ss: unsafe { std::mem::zeroed() },
            len: size_of::<sockaddr_storage>() as socklen_t,
        }
    }

    pub fn addr(&mut self) -> *mut sockaddr {
        (&mut self.ss as *mut sockaddr_storage).cast()
    }

    pub fn len_ptr(&mut self) -> *mut socklen_t {
        &mut self.len
    }

    /// The address the kernel wrote (none while the family is still 0).
    pub fn decode(&self) -> Option<SocketAddr> {
        let len = self.len.min(size_of::<sockaddr_storage>() as socklen_t);
        // SAFETY: `len` bytes of `ss` are initialised (all of it is).
        unsafe { decode((&self.ss as *const sockaddr_storage).cast(), len) }
    }
}

fn name_of(fd: c_int, peer: bool) -> Option<SocketAddr> {
    let mut buf = AddressBuffer::new();
    // SAFETY: the buffer's pointers are valid out-pointers; neither call is interposed.
    let r = unsafe {
        if peer {
            libc::getpeername(fd, buf.addr(), buf.len_ptr())
        } else {
            libc::getsockname(fd, buf.addr(), buf.len_ptr())
        }
    };
    if r == 0 { buf.decode() } else { None }
}

/// The socket's local address.
pub fn local_addr(fd: c_int) -> Option<SocketAddr> {
    name_of(fd, false)
}

/// The socket's peer address, if connected.
pub fn peer_addr(fd: c_int) -> Option<SocketAddr> {
    name_of(fd, true)
}

/// Is `addr` a wildcard (any) address?
pub fn is_wildcard(addr: SocketAddr) -> bool {
    addr.ip().is_unspecified()
}

/// The kernel's identity of the socket behind `fd` (device and inode of sockfs),
/// the same for every descriptor that is a dup of it.
pub fn socket_id(fd: c_int) -> Option<(u64, u64)> {
    // SAFETY: an all-zero stat is valid; fstat only writes into it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}
