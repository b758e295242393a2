//! Names of levels, options and errno values for reports and logs, in both
//! numberings. The provider's own options come from [`super::options::OPTIONS`];
//! this table only names what the provider does not know, so that a report can say
//! `SOL_SOCKET/SO_KEEPALIVE` rather than `1/9`. Unknown numbers stay numbers.

use super::codes::CODES;
use super::options::{self, LINUX_SOL_SOCKET, WINSOCK_SOL_SOCKET};
use std::fmt::Write;

/// Linux `SOL_SOCKET` options (asm-generic/socket.h).
const LINUX_SOCKET: &[(i32, &str)] = &[
    (2, "SO_REUSEADDR"),
    (3, "SO_TYPE"),
    (4, "SO_ERROR"),
    (5, "SO_DONTROUTE"),
    (6, "SO_BROADCAST"),
    (7, "SO_SNDBUF"),
    (8, "SO_RCVBUF"),
    (9, "SO_KEEPALIVE"),
    (10, "SO_OOBINLINE"),
    (12, "SO_PRIORITY"),
    (13, "SO_LINGER"),
    (15, "SO_REUSEPORT"),
    (16, "SO_PASSCRED"),
    (17, "SO_PEERCRED"),
    (18, "SO_RCVLOWAT"),
    (19, "SO_SNDLOWAT"),
    (20, "SO_RCVTIMEO"),
    (21, "SO_SNDTIMEO"),
    (25, "SO_BINDTODEVICE"),
    (29, "SO_TIMESTAMP"),
    (30, "SO_ACCEPTCONN"),
    (32, "SO_SNDBUFFORCE"),
    (33, "SO_RCVBUFFORCE"),
    (36, "SO_MARK"),
    (38, "SO_PROTOCOL"),
    (39, "SO_DOMAIN"),
    (46, "SO_BUSY_POLL"),
    (49, "SO_INCOMING_CPU"),
    (60, "SO_ZEROCOPY"),
];

/// Winsock `SOL_SOCKET` (0xffff) options (winsock2.h).
const WINSOCK_SOCKET: &[(i32, &str)] = &[
    (0x0002, "SO_ACCEPTCONN"),
    (0x0004, "SO_REUSEADDR"),
    (0x0008, "SO_KEEPALIVE"),
    (0x0010, "SO_DONTROUTE"),
    (0x0020, "SO_BROADCAST"),
    (0x0040, "SO_USELOOPBACK"),
    (0x0080, "SO_LINGER"),
    (0x0100, "SO_OOBINLINE"),
    (!0x0080, "SO_DONTLINGER"),
    (!0x0004, "SO_EXCLUSIVEADDRUSE"),
    (0x1001, "SO_SNDBUF"),
    (0x1002, "SO_RCVBUF"),
    (0x1003, "SO_SNDLOWAT"),
    (0x1004, "SO_RCVLOWAT"),
    (0x1005, "SO_SNDTIMEO"),
    (0x1006, "SO_RCVTIMEO"),
    (0x1007, "SO_ERROR"),
    (0x1008, "SO_TYPE"),
    (0x2003, "SO_MAX_MSG_SIZE"),
    (0x3002, "SO_CONDITIONAL_ACCEPT"),
];

/// `IPPROTO_TCP` options (netinet/tcp.h; Winsock's `TCP_NODELAY` is also 1).
const TCP: &[(i32, &str)] = &[
    (1, "TCP_NODELAY"),
    (2, "TCP_MAXSEG"),
    (3, "TCP_CORK"),
    (4, "TCP_KEEPIDLE"),
    (5, "TCP_KEEPINTVL"),
    (6, "TCP_KEEPCNT"),
    (7, "TCP_SYNCNT"),
    (8, "TCP_LINGER2"),
    (9, "TCP_DEFER_ACCEPT"),
    (10, "TCP_WINDOW_CLAMP"),
    (11, "TCP_INFO"),
    (12, "TCP_QUICKACK"),
    (13, "TCP_CONGESTION"),
    (18, "TCP_USER_TIMEOUT"),
    (23, "TCP_FASTOPEN"),
    (25, "TCP_NOTSENT_LOWAT"),
    (30, "TCP_FASTOPEN_CONNECT"),
];

const IP: &[(i32, &str)] = &[(1, "IP_TOS"), (2, "IP_TTL"), (10, "IP_MTU_DISCOVER")];
const IPV6: &[(i32, &str)] = &[(26, "IPV6_V6ONLY"), (67, "IPV6_TCLASS")];

/// errno names beyond the provider's own codes.
const ERRNOS: &[(i32, &str)] = &[
    (libc::EPERM, "EPERM"),
    (libc::EBADF, "EBADF"),
    (libc::EACCES, "EACCES"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::EOPNOTSUPP, "EOPNOTSUPP"),
    (libc::EISCONN, "EISCONN"),
    (libc::ENOBUFS, "ENOBUFS"),
    (libc::ENOENT, "ENOENT"),
    (libc::ENODEV, "ENODEV"),
    (libc::EAGAIN, "EAGAIN"),
    (libc::ECONNRESET, "ECONNRESET"),
    (libc::EPIPE, "EPIPE"),
    (libc::ECONNREFUSED, "ECONNREFUSED"),
    (libc::ETIMEDOUT, "ETIMEDOUT"),
];

fn find(table: &[(i32, &'static str)], n: i32) -> Option<&'static str> {
    table.iter().find(|(v, _)| *v == n).map(|(_, name)| *name)
}

/// The name of a level: `SOL_SOCKET` (Linux), `SOL_SOCKET(0xffff)` (Winsock), …
pub fn level_name(level: i32) -> Option<&'static str> {
    match level {
        LINUX_SOL_SOCKET => Some("SOL_SOCKET"),
        WINSOCK_SOL_SOCKET => Some("SOL_SOCKET(0xffff)"),
        libc::IPPROTO_TCP => Some("IPPROTO_TCP"),
        libc::IPPROTO_IP => Some("IPPROTO_IP"),
        libc::IPPROTO_IPV6 => Some("IPPROTO_IPV6"),
        _ => None,
    }
}

/// The name of an option at a level, in that level's numbering.
pub fn option_name(level: i32, optname: i32) -> Option<&'static str> {
    if let Some(spec) = options::lookup_raw(level, optname) {
        return Some(spec.name);
    }
    let table = match level {
        LINUX_SOL_SOCKET => LINUX_SOCKET,
        WINSOCK_SOL_SOCKET => WINSOCK_SOCKET,
        libc::IPPROTO_TCP => TCP,
        libc::IPPROTO_IP => IP,
        libc::IPPROTO_IPV6 => IPV6,
        _ => &[],
    };
    find(table, optname)
}

/// A level and option as every output names them — `SO_DEBUG` lines, log lines,
/// the report and the tool: `SOL_SOCKET/SO_KEEPALIVE`,
/// `SOL_SOCKET(0xffff)/SO_GROUP_PRIORITY`; numbers in hex where there is no name.
/// Formats without allocating (the library writes it from its hooks).
#[derive(Clone, Copy, Debug)]
pub struct OptionName {
    pub level: i32,
    pub optname: i32,
}

impl std::fmt::Display for OptionName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = Small::<64>::from_args(format_args!("{}/", LevelName(self.level)));
        let _ = match option_name(self.level, self.optname) {
            Some(n) => s.write_str(n),
            None => write!(s, "{:#x}", self.optname),
        };
        // Padding and width apply to the whole name, as for a string.
        f.pad(s.as_str())
    }
}

/// A level's name, or its number in hex.
#[derive(Clone, Copy, Debug)]
pub struct LevelName(pub i32);

impl std::fmt::Display for LevelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match level_name(self.0) {
            Some(n) => f.pad(n),
            None => f.pad(Small::<16>::from_args(format_args!("{:#x}", self.0)).as_str()),
        }
    }
}

/// A short string on the stack, cut at `N` bytes (on a character boundary).
struct Small<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Small<N> {
    fn from_args(args: std::fmt::Arguments<'_>) -> Small<N> {
        let mut s = Small { buf: [0; N], len: 0 };
        let _ = s.write_fmt(args);
        s
    }

    fn as_str(&self) -> &str {
        // Only whole characters are ever copied in.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> Write for Small<N> {
    fn write_str(&mut self, t: &str) -> std::fmt::Result {
        let mut n = t.len().min(N - self.len);
        while !t.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&t.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// The name of a level, as an owned string.
pub fn level(level: i32) -> String {
    LevelName(level).to_string()
}

/// The name of an option at a level, in that level's numbering, as an owned string.
pub fn option(level: i32, optname: i32) -> String {
    option_name(level, optname).map_or_else(|| format!("{optname:#x}"), String::from)
}

/// The name of an errno value.
pub fn errno(errno: i32) -> String {
    CODES
        .iter()
        .find(|c| c.errno == errno)
        .map(|c| c.errno_name)
        .or_else(|| find(ERRNOS, errno))
        .map_or_else(|| format!("errno {errno}"), String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_numberings_are_named() {
        assert_eq!(option(1, 9), "SO_KEEPALIVE");
        assert_eq!(option(0xffff, 8), "SO_KEEPALIVE");
        assert_eq!(option(0xffff, 0x2002), "SO_GROUP_PRIORITY");
        assert_eq!(option(1, 1), "SO_DEBUG");
        assert_eq!(option(6, 1), "TCP_NODELAY");
        assert_eq!(option(0x1234, 7), "0x7");
        assert_eq!(level(0xffff), "SOL_SOCKET(0xffff)");
        assert_eq!(level(0x1234), "0x1234");
        assert_eq!(errno(libc::EINVAL), "EINVAL");
        assert_eq!(errno(libc::EACCES), "EACCES");
        // The codes a fault's first data call answers (SPEC §7).
        assert_eq!(errno(libc::ECONNRESET), "ECONNRESET");
        assert_eq!(errno(libc::ENETRESET), "ENETRESET");
        assert_eq!(errno(libc::ENETDOWN), "ENETDOWN");
        assert_eq!(errno(9999), "errno 9999");
    }

    #[test]
    fn one_renderer_for_level_and_option() {
        let n = |level, optname| OptionName { level, optname }.to_string();
        assert_eq!(n(1, 9), "SOL_SOCKET/SO_KEEPALIVE");
        assert_eq!(n(0xffff, 0x2002), "SOL_SOCKET(0xffff)/SO_GROUP_PRIORITY");
        assert_eq!(n(6, 1), "IPPROTO_TCP/TCP_NODELAY");
        assert_eq!(n(0x1234, 7), "0x1234/0x7");
        assert_eq!(n(1, 0x7777), "SOL_SOCKET/0x7777");
        // Width applies to the whole name, so columns line up.
        assert_eq!(
            format!(
                "{:<40}|",
                OptionName {
                    level: 0xffff,
                    optname: 0x2002
                }
            )
            .len(),
            41
        );
        assert_eq!(format!("{:>12}", LevelName(6)), " IPPROTO_TCP");
    }

    #[test]
    fn the_provider_table_is_not_repeated_here() {
        for o in options::OPTIONS {
            assert!(find(LINUX_SOCKET, o.winsock_optname).is_none() || o.linux_optname.is_some());
            assert!(find(WINSOCK_SOCKET, o.winsock_optname).is_none());
        }
        assert!(find(LINUX_SOCKET, libc::SO_DEBUG).is_none());
    }
}
