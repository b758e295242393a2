//! The C types and constants the front needs, spelled out here so that the
//! preloaded object links no crate but `core` (their values are Linux's and
//! glibc's on x86-64; the tests hold them to the `libc` crate's).
//!
//! Structures the front never looks into are opaque: it only passes their
//! pointers on. The engine, which has the `libc` crate, names the same
//! functions with libc's types (see [`crate::api`] and [`crate::real`]).
#![allow(non_camel_case_types)]

pub use core::ffi::{c_char, c_int, c_long, c_uint, c_void};

pub type socklen_t = u32;
pub type size_t = usize;
pub type ssize_t = isize;
pub type off_t = i64;
pub type off64_t = i64;
pub type pid_t = i32;

/// A socket address, only ever passed on.
pub enum sockaddr {}
/// An I/O vector, only ever passed on.
pub enum iovec {}
/// A time, only ever passed on.
pub enum timespec {}

/// `struct msghdr`: the front reads whether a message has room for control data.
#[repr(C)]
pub struct msghdr {
    pub msg_name: *mut c_void,
    pub msg_namelen: socklen_t,
    pub msg_iov: *mut iovec,
    pub msg_iovlen: size_t,
    pub msg_control: *mut c_void,
    pub msg_controllen: size_t,
    pub msg_flags: c_int,
}

/// `struct mmsghdr`.
#[repr(C)]
pub struct mmsghdr {
    pub msg_hdr: msghdr,
    pub msg_len: c_uint,
}

pub const AF_INET: c_int = 2;
pub const AF_INET6: c_int = 10;
pub const SOCK_STREAM: c_int = 1;
pub const IPPROTO_TCP: c_int = 6;

pub const ENOENT: c_int = 2;
pub const EINVAL: c_int = 22;
pub const ENOSYS: c_int = 38;

pub const O_RDONLY: c_int = 0;
pub const O_NONBLOCK: c_int = 0o4000;
pub const O_NOFOLLOW: c_int = 0o400000;
pub const O_CLOEXEC: c_int = 0o2000000;

pub const RLIMIT_NOFILE: c_uint = 7;
pub const RLIMIT_STACK: c_uint = 3;

pub const RTLD_NOW: c_int = 2;
pub const RTLD_LOCAL: c_int = 0;
/// `RTLD_NEXT`, the pseudo-handle.
pub const RTLD_NEXT: *mut c_void = -1isize as *mut c_void;

/// Is (`domain`, `ty`, `protocol`) a TCP socket's, as `socket(2)` takes them?
/// (The switch's first test, SPEC §4.1.)
pub fn is_tcp_triple(domain: c_int, ty: c_int, protocol: c_int) -> bool {
    matches!(domain, AF_INET | AF_INET6) && ty & 0xf == SOCK_STREAM && matches!(protocol, 0 | IPPROTO_TCP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_values_are_libcs() {
        assert_eq!(AF_INET, libc::AF_INET);
        assert_eq!(AF_INET6, libc::AF_INET6);
        assert_eq!(SOCK_STREAM, libc::SOCK_STREAM);
        assert_eq!(IPPROTO_TCP, libc::IPPROTO_TCP);
        assert_eq!(ENOENT, libc::ENOENT);
        assert_eq!(EINVAL, libc::EINVAL);
        assert_eq!(ENOSYS, libc::ENOSYS);
        assert_eq!(O_RDONLY, libc::O_RDONLY);
        assert_eq!(O_NONBLOCK, libc::O_NONBLOCK);
        assert_eq!(O_NOFOLLOW, libc::O_NOFOLLOW);
        assert_eq!(O_CLOEXEC, libc::O_CLOEXEC);
        assert_eq!(RLIMIT_NOFILE, libc::RLIMIT_NOFILE);
        assert_eq!(RLIMIT_STACK, libc::RLIMIT_STACK);
        assert_eq!(RTLD_NOW, libc::RTLD_NOW);
        assert_eq!(RTLD_LOCAL, libc::RTLD_LOCAL);
        assert_eq!(RTLD_NEXT, libc::RTLD_NEXT);
        assert_eq!(size_of::<msghdr>(), size_of::<libc::msghdr>());
        assert_eq!(size_of::<mmsghdr>(), size_of::<libc::mmsghdr>());
        assert_eq!(
            core::mem::offset_of!(msghdr, msg_controllen),
            core::mem::offset_of!(libc::msghdr, msg_controllen)
        );
        assert!(is_tcp_triple(
            libc::AF_INET6,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0
        ));
        assert!(!is_tcp_triple(libc::AF_INET, libc::SOCK_DGRAM, 0));
        assert!(!is_tcp_triple(libc::AF_UNIX, libc::SOCK_STREAM, 0));
        assert!(!is_tcp_triple(
            libc::AF_INET,
            libc::SOCK_STREAM,
            libc::IPPROTO_SCTP
        ));
    }
}
