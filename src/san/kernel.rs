//! What the kernel says about a socket (SPEC §5, "the SAN never contradicts the
//! kernel"): whether the socket an endpoint record names still exists and is
//! still open in some process. Asked through the socket-diagnostics netlink
//! interface (`NETLINK_SOCK_DIAG`, what `ss` uses; no privilege needed): one
//! request naming the socket exactly — its address pair, and its cookie when the
//! record knows it — and one answer. A socket that the kernel still keeps but no
//! process holds any more (an orphan in `FIN_WAIT`, `TIME_WAIT`) has no inode:
//! it is gone as far as the SAN is concerned.
//!
//! A socket in another network namespace cannot be asked about from this one:
//! the answer is then "cannot tell", as it is for a socket with no address yet.
//! Nothing here allocates: the request and the answer are stack buffers.
//!
//! Whether one given process holds the socket is asked of `/proc/PID/fd` instead
//! ([`holds`], by the socket's inode). The unit test, on real sockets, is in
//! `tests.rs`.

#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};

/// `SOCK_DIAG_BY_FAMILY` (linux/sock_diag.h).
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `INET_DIAG_NOCOOKIE`: do not check the cookie.
const NO_COOKIE: u32 = !0;
/// `SO_NETNS_COOKIE` (asm-generic/socket.h; Linux 5.14).
const SO_NETNS_COOKIE: libc::c_int = 71;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct NlMsgHdr {
    len: u32,
    ty: u16,
    flags: u16,
    seq: u32,
    pid: u32,
}

/// `struct inet_diag_sockid`: ports and addresses in network byte order.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct SockId {
    sport: u16,
    dport: u16,
    src: [u32; 4],
    dst: [u32; 4],
    interface: u32,
    cookie: [u32; 2],
}

/// `struct inet_diag_req_v2`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Request {
    family: u8,
    protocol: u8,
    ext: u8,
    pad: u8,
    states: u32,
    id: SockId,
}

/// `struct inet_diag_msg`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct DiagMsg {
    family: u8,
    state: u8,
    timer: u8,
    retrans: u8,
    id: SockId,
    expires: u32,
    rqueue: u32,
    wqueue: u32,
    uid: u32,
    inode: u32,
}

/// What the kernel said about one socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It exists and some process holds it (it has an inode); its TCP state
    /// (`TCP_ESTABLISHED` 1 … `TCP_CLOSE` 7: a connection the kernel reset, or one
    /// that never connected).
    Open(u8),
    /// No such socket, or only an orphan no process holds.
    Gone,
    /// The kernel could not be asked (another namespace, no address, an error).
    Unknown,
}

/// A netlink socket for asking, in this process's network namespace.
pub struct Kernel {
    fd: libc::c_int,
    netns: u64,
    seq: std::cell::Cell<u32>,
}

impl Drop for Kernel {
    fn drop(&mut self) {
        // SAFETY: our own descriptor; the raw system call, so that the library's
        // `close` export (and its bookkeeping) is not involved.
        unsafe { libc::syscall(libc::SYS_close, libc::c_long::from(self.fd)) };
    }
}

fn words(ip: IpAddr) -> [u32; 4] {
    let v6 = match ip {
        IpAddr::V4(v4) => {
            let mut w = [0u32; 4];
            w[0] = u32::from_ne_bytes(v4.octets());
            return w;
        }
        IpAddr::V6(v6) => v6.octets(),
    };
    std::array::from_fn(|i| u32::from_ne_bytes([v6[i * 4], v6[i * 4 + 1], v6[i * 4 + 2], v6[i * 4 + 3]]))
}

/// TCP states as the kernel numbers them (include/net/tcp_states.h).
pub const TCP_ESTABLISHED: u8 = 1;
pub const TCP_CLOSE: u8 = 7;
pub const TCP_LISTEN: u8 = 10;

impl Kernel {
    /// A socket to ask through; None if the kernel refuses one.
    pub fn open() -> Option<Kernel> {
        // Raw system calls throughout: in the preloaded library, libc's socket
        // calls are the library's own exports.
        // SAFETY: integer arguments, each a full machine word as `syscall` needs;
        // the descriptor is ours.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_socket,
                libc::c_long::from(libc::AF_NETLINK),
                libc::c_long::from(libc::SOCK_DGRAM | libc::SOCK_CLOEXEC),
                libc::c_long::from(libc::NETLINK_SOCK_DIAG),
            )
        } as libc::c_int;
        if fd < 0 {
            return None;
        }
        let mut netns = 0u64;
        let mut len = size_of::<u64>() as libc::socklen_t;
        // SAFETY: `netns` and `len` are valid out-pointers of the sizes given. The
        // netlink socket lives in this process's namespace, so its namespace is ours.
        let r = unsafe {
            libc::syscall(
                libc::SYS_getsockopt,
                libc::c_long::from(fd),
                libc::c_long::from(libc::SOL_SOCKET),
                libc::c_long::from(SO_NETNS_COOKIE),
                &mut netns as *mut u64,
                &mut len as *mut libc::socklen_t,
            )
        };
        let k = Kernel {
            fd,
            netns: if r == 0 { netns } else { 0 },
            seq: std::cell::Cell::new(0),
        };
        // A reply that never comes must not block the asker for long.
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 200_000,
        };
        // SAFETY: `tv` is a valid timeval of the size given.
        unsafe {
            libc::syscall(
                libc::SYS_setsockopt,
                libc::c_long::from(fd),
                libc::c_long::from(libc::SOL_SOCKET),
                libc::c_long::from(libc::SO_RCVTIMEO),
                &tv as *const libc::timeval,
                size_of::<libc::timeval>() as libc::c_long,
            )
        };
        Some(k)
    }

    /// This process's network namespace cookie (0 if unknown).
    pub fn netns(&self) -> u64 {
        self.netns
    }

    /// The fate of the TCP socket at `local` (connected to `peer`, or listening
    /// when None) in namespace `netns`, with cookie `cookie` when not 0.
    pub fn fate(&self, netns: u64, cookie: u64, local: Option<SocketAddr>, peer: Option<SocketAddr>) -> Fate {
        let Some(local) = local.filter(|l| l.port() != 0) else {
            return Fate::Unknown;
        };
        if netns == 0 || self.netns == 0 || netns != self.netns {
            return Fate::Unknown;
        }
        // The kernel's lookup can miss a socket for an instant while the hash
        // chain it is in changes (seen under load): "gone" is believed only when
        // three questions in a row say so.
        let mut fate = Fate::Gone;
        for _ in 0..3 {
            fate = self.ask_once(cookie, local, peer);
            if fate != Fate::Gone {
                break;
            }
        }
        fate
    }

    fn ask_once(&self, cookie: u64, local: SocketAddr, peer: Option<SocketAddr>) -> Fate {
        // An IPv4 record may name an IPv6 socket with mapped addresses: both asked.
        let v4 = local.is_ipv4() && peer.is_none_or(|p| p.is_ipv4());
        let first = self.ask(libc::AF_INET, cookie, local, peer);
        if first != Fate::Gone || !v4 {
            return first;
        }
        self.ask(libc::AF_INET6, cookie, local, peer)
    }

    fn ask(&self, family: libc::c_int, cookie: u64, local: SocketAddr, peer: Option<SocketAddr>) -> Fate {
        let as_family = |a: SocketAddr| match (family, a.ip()) {
            (libc::AF_INET6, IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
            (_, ip) => ip,
        };
        if family == libc::AF_INET && (local.is_ipv6() || peer.is_some_and(|p| p.is_ipv6())) {
            return Fate::Gone;
        }
        let seq = self.seq.get().wrapping_add(1);
        self.seq.set(seq);
        #[repr(C)]
        struct Msg {
            hdr: NlMsgHdr,
            req: Request,
        }
        let msg = Msg {
            hdr: NlMsgHdr {
                len: size_of::<Msg>() as u32,
                ty: SOCK_DIAG_BY_FAMILY,
                flags: libc::NLM_F_REQUEST as u16,
                seq,
                pid: 0,
            },
            req: Request {
                family: family as u8,
                protocol: libc::IPPROTO_TCP as u8,
                ext: 0,
                pad: 0,
                states: !0,
                id: SockId {
                    sport: local.port().to_be(),
                    dport: peer.map_or(0, |p| p.port()).to_be(),
                    src: words(as_family(local)),
                    dst: peer.map_or([0; 4], |p| words(as_family(p))),
                    interface: 0,
                    cookie: if cookie == 0 {
                        [NO_COOKIE, NO_COOKIE]
                    } else {
                        [cookie as u32, (cookie >> 32) as u32]
                    },
                },
            },
        };
        // SAFETY: sockaddr_nl is a plain C struct for which all zeroes is valid.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: `msg` and `sa` are valid for the sizes given.
        let sent = unsafe {
            libc::syscall(
                libc::SYS_sendto,
                libc::c_long::from(self.fd),
                &msg as *const Msg,
                size_of::<Msg>() as libc::c_long,
                0 as libc::c_long,
                &sa as *const libc::sockaddr_nl,
                size_of::<libc::sockaddr_nl>() as libc::c_long,
            )
        };
        if sent < 0 {
            return Fate::Unknown;
        }
        let mut buf = [0u64; 128];
        loop {
            // SAFETY: `buf` is valid for its size in bytes.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_recvfrom,
                    libc::c_long::from(self.fd),
                    buf.as_mut_ptr(),
                    size_of_val(&buf) as libc::c_long,
                    0 as libc::c_long,
                    std::ptr::null_mut::<libc::sockaddr>(),
                    std::ptr::null_mut::<libc::socklen_t>(),
                )
            } as isize;
            if n < size_of::<NlMsgHdr>() as isize {
                return Fate::Unknown;
            }
            // SAFETY: at least a header was received into 8-aligned memory; any bit
            // pattern is a valid NlMsgHdr.
            let hdr: NlMsgHdr = unsafe { std::ptr::read(buf.as_ptr().cast()) };
            if hdr.seq != seq {
                // A late answer to an earlier question (one that timed out).
                continue;
            }
            let body = size_of::<NlMsgHdr>();
            return match hdr.ty as libc::c_int {
                libc::NLMSG_ERROR if n as usize >= body + 4 => {
                    // SAFETY: the error code follows the header, inside what was received.
                    let err: i32 = unsafe { std::ptr::read(buf.as_ptr().cast::<u8>().add(body).cast()) };
                    match -err {
                        libc::ENOENT | libc::ESTALE => Fate::Gone,
                        _ => Fate::Unknown,
                    }
                }
                t if t == i32::from(SOCK_DIAG_BY_FAMILY) && n as usize >= body + size_of::<DiagMsg>() => {
                    // SAFETY: a whole inet_diag_msg follows the header, inside what
                    // was received; any bit pattern is valid for it.
                    let m: DiagMsg =
                        unsafe { std::ptr::read_unaligned(buf.as_ptr().cast::<u8>().add(body).cast()) };
                    if m.inode != 0 {
                        Fate::Open(m.state)
                    } else {
                        Fate::Gone
                    }
                }
                _ => Fate::Unknown,
            };
        }
    }
}

/// Does process `pid` hold the socket with inode `inode` — at descriptor `fd`,
/// or (dup'd, renumbered) at another? `None` when that cannot be told (another
/// user's process, more descriptors than one look reads, a process with no
/// descriptor left: one that is exiting). Raw system calls and stack buffers: no
/// allocation.
pub fn holds(pid: u32, fd: i32, inode: u64) -> Option<bool> {
    let mut want = [0u8; 32];
    let want = {
        let mut w = &mut want[..];
        let _ = std::io::Write::write_fmt(&mut w, format_args!("socket:[{inode}]"));
        let left = w.len();
        let n = 32 - left;
        &want[..n]
    };
    let mut path = [0u8; 48];
    {
        let mut w = &mut path[..];
        let _ = std::io::Write::write_fmt(&mut w, format_args!("/proc/{pid}/fd\0"));
    }
    // SAFETY: `path` is NUL-terminated (at most 30 bytes are written); raw
    // system calls on our own descriptor.
    let dir = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::c_long::from(libc::AT_FDCWD),
            path.as_ptr(),
            libc::c_long::from(libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC),
        )
    } as libc::c_int;
    if dir < 0 {
        return None;
    }
    let is_it = |name: &[u8]| -> bool {
        let mut cname = [0u8; 24];
        if name.len() >= cname.len() {
            return false;
        }
        cname[..name.len()].copy_from_slice(name);
        let mut link = [0u8; 64];
        // SAFETY: `cname` is NUL-terminated, `link` valid for its size.
        let n = unsafe {
            libc::syscall(
                libc::SYS_readlinkat,
                libc::c_long::from(dir),
                cname.as_ptr(),
                link.as_mut_ptr(),
                link.len() as libc::c_long,
            )
        };
        n > 0 && &link[..n as usize] == want
    };
    let mut first = [0u8; 12];
    let mut w = &mut first[..];
    let _ = std::io::Write::write_fmt(&mut w, format_args!("{fd}"));
    let n = 12 - w.len();
    let mut answer = if fd >= 0 && is_it(&first[..n]) {
        Some(true)
    } else {
        None
    };
    // Not at its descriptor: look through the others, a bounded number.
    let mut looked = 0usize;
    let mut buf = [0u64; 512];
    while answer.is_none() {
        // SAFETY: `buf` is valid for its size in bytes.
        let got = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                libc::c_long::from(dir),
                buf.as_mut_ptr(),
                size_of_val(&buf) as libc::c_long,
            )
        };
        if got < 0 {
            break;
        }
        if got == 0 {
            // Read to the end without finding it. A process with no descriptor
            // at all is one that is exiting (its files are closed before it is a
            // zombie): it may have died holding the socket, which cannot be told
            // from here yet.
            answer = (looked > 0).then_some(false);
            break;
        }
        // SAFETY: the kernel wrote `got` bytes of dirent64 records into `buf`.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), got as usize) };
        let mut at = 0usize;
        while at + 19 < bytes.len() {
            let reclen = u16::from_ne_bytes([bytes[at + 16], bytes[at + 17]]) as usize;
            if reclen == 0 || at + reclen > bytes.len() {
                break;
            }
            let name = &bytes[at + 19..at + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if name.first().is_some_and(u8::is_ascii_digit) {
                looked += 1;
                if is_it(name) {
                    answer = Some(true);
                    break;
                }
            }
            at += reclen;
        }
        if looked > 65_536 {
            break;
        }
    }
    // SAFETY: our own descriptor, closed with the raw system call.
    unsafe { libc::syscall(libc::SYS_close, libc::c_long::from(dir)) };
    answer
}
