//! Which lines of a program's own output speak of a socket call: the study shows
//! those a program printed in `provider` mode and not in `switch` mode, which is
//! usually how a program says it gave up on a refused option
//! (`Could not connect to Redis at 127.0.0.1:6379: setsockopt(TCP_NODELAY):
//! Protocol not available`).
//!
//! The rule is the declared lists below, and nothing else.

/// Lower-case words matched in any case: a line naming a socket call.
pub const CALL_WORDS: &[&str] = &["setsockopt", "getsockopt", "socket", "connect"];

/// Marks matched as written: option names, what libc and Winsock call the
/// provider's refusals, errno names, and what clients say when their server gave
/// up (postgres: `server closed the connection unexpectedly`).
pub const MARKS: &[&str] = &[
    "TCP_NODELAY",
    "Protocol not available",
    "Operation not supported",
    "Invalid argument",
    "Bad address",
    "WSAE",
    "ENOPROTOOPT",
    "EOPNOTSUPP",
    "EINVAL",
    "EFAULT",
    "ENOTSOCK",
    "server closed the connection",
];

/// Prefixes followed by an upper-case letter: an option's name (`SO_KEEPALIVE`,
/// `TCP_KEEPIDLE`, `IPV6_V6ONLY`).
pub const OPTION_PREFIXES: &[&str] = &["SO_", "TCP_", "IP_", "IPV6_"];

/// Lines that start so are wsd's own (the library's warnings, `SO_DEBUG` lines,
/// `wsd run`'s messages), not the program's.
pub const OURS: &[&str] = &["wsd:", "wsd "];

/// Longest line kept, in characters (longer ones are cut, with an ellipsis).
pub const LINE_CHARS: usize = 300;

/// Does `line` speak of a socket call (and is it the program's own)?
pub fn mentions_socket_call(line: &str) -> bool {
    let line = line.trim_start();
    if OURS.iter().any(|p| line.starts_with(p)) {
        return false;
    }
    let lower = line.to_ascii_lowercase();
    CALL_WORDS.iter().any(|w| lower.contains(w))
        || MARKS.iter().any(|m| line.contains(m))
        || OPTION_PREFIXES.iter().any(|p| {
            line.match_indices(p).any(|(at, _)| {
                let before = line[..at].chars().next_back();
                let after = line[at + p.len()..].chars().next();
                !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                    && after.is_some_and(|c| c.is_ascii_uppercase())
            })
        })
}

/// The key two lines are compared by: every run of digits written `#`, so that
/// pids, times and counts do not make a line new.
pub fn key(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut digits = false;
    for c in line.chars() {
        if c.is_ascii_digit() {
            if !digits {
                out.push('#');
            }
            digits = true;
        } else {
            out.push(c);
            digits = false;
        }
    }
    out
}

/// `line` without trailing blanks, cut to [`LINE_CHARS`].
pub fn tidy(line: &str) -> String {
    crate::tool::ellipsize(line.trim_end(), LINE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_lines_are_told_from_others() {
        for yes in [
            "Could not connect to Redis at 127.0.0.1:6379: setsockopt(TCP_NODELAY): Protocol not available",
            "curl: (7) Failed to connect to 127.0.0.1 port 80",
            "OSError: [Errno 92] Protocol not available",
            "setsockopt SO_KEEPALIVE failed",
            "error: TCP_KEEPIDLE",
            "WSAENOPROTOOPT",
            "errno ENOPROTOOPT",
            "server closed the connection unexpectedly",
            "Socket error",
            "could not set IPV6_V6ONLY",
        ] {
            assert!(mentions_socket_call(yes), "{yes}");
        }
        for no in [
            "PONG",
            "OK",
            "127.0.0.1 - - [01/Jan/2024 10:00:00] \"GET / HTTP/1.1\" 200 -",
            "ALSO_RAN", // SO_ inside a word
            "SO_called",
            "wsd: warning: SAN segment \"x\" cannot be used: permission denied",
            "wsd 11:11:22.469119 pid=1 fd=5 ep=2 setsockopt SOL_SOCKET/SO_DEBUG len=4 -> 0",
        ] {
            assert!(!mentions_socket_call(no), "{no}");
        }
    }

    #[test]
    fn keys_forget_numbers_and_long_lines_are_cut() {
        assert_eq!(key("1234:M 26 Nov 15:55:34.632 # x"), "#:M # Nov #:#:#.# # x");
        assert_eq!(key("no digits"), "no digits");
        let long = "x".repeat(LINE_CHARS + 10);
        assert_eq!(tidy(&long).chars().count(), LINE_CHARS);
        assert!(tidy(&long).ends_with('…'));
        assert_eq!(tidy("a  \r"), "a");
    }
}
