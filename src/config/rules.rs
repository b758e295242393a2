//! Rules files (SPEC §4.1, `WSD_CONFIG` and `WSD_RULES`), in the shape users know
//! from libsdp and libvma:
//!
//! ```text
//! # comment
//! use san|tcp client|server|* PROGRAM-GLOB ADDR[/PREFIX]|*:PORT[-PORT]|*
//! subnet CIDR
//! fd N
//! mode switch|provider|observe
//! log off|error|warn|info|debug
//! ```
//!
//! The first `use` rule that matches a socket decides; no match falls back to the
//! subnet table. An IPv6 address is written in brackets: `[::1]/128:80`. A syntax
//! error names the source, line and column and what was expected.

use super::{LogLevel, Subnet};
use crate::model::routing::Mode;
use std::fmt;
use std::net::SocketAddr;

/// Where a socket goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    San,
    Tcp,
}

/// Which side a socket is when its role becomes known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// One `use` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// 1-based line in its source, for log messages.
    pub line: usize,
    pub transport: Transport,
    pub side: Option<Side>,
    pub program: String,
    pub subnet: Option<Subnet>,
    pub ports: Option<Ports>,
}

impl Rule {
    /// Does the rule cover a `side` socket of `program` at `addr`?
    pub fn matches(&self, program: &str, side: Side, addr: SocketAddr) -> bool {
        self.side.is_none_or(|s| s == side)
            && glob(&self.program, program)
            && self.subnet.is_none_or(|n| n.contains(addr.ip()))
            && self.ports.is_none_or(|(lo, hi)| (lo..=hi).contains(&addr.port()))
    }
}

/// Everything a rules source says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub rules: Vec<Rule>,
    pub subnets: Vec<Subnet>,
    pub fds: Vec<i32>,
    pub mode: Option<Mode>,
    pub log: Option<LogLevel>,
}

/// A syntax error: where, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RulesError {
    pub source: String,
    pub line: usize,
    pub column: usize,
    pub expected: String,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: expected {}",
            self.source, self.line, self.column, self.expected
        )
    }
}

impl std::error::Error for RulesError {}

/// Matches `name` against a shell glob (`*`, `?`, `[…]`) with `fnmatch(3)`.
// The one exception to `config`'s `deny(unsafe_code)`: the glob is libc's own
// `fnmatch(3)`, so that a rule's program pattern means what it does in the shell,
// and a call into C is unsafe.
#[allow(unsafe_code)]
pub fn glob(pattern: &str, name: &str) -> bool {
    let (Ok(p), Ok(n)) = (std::ffi::CString::new(pattern), std::ffi::CString::new(name)) else {
        return false;
    };
    // SAFETY: both are valid NUL-terminated strings.
    unsafe { libc::fnmatch(p.as_ptr(), n.as_ptr(), 0) == 0 }
}

/// Words of a line with their 1-based columns; `#` starts a comment.
fn words(line: &str) -> Vec<(usize, &str)> {
    let line = line.split('#').next().unwrap_or("");
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices().chain(std::iter::once((line.len(), ' '))) {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s + 1, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    out
}

/// A port range, both ends included.
type Ports = (u16, u16);

fn parse_target(word: &str) -> Option<(Option<Subnet>, Option<Ports>)> {
    if word == "*" {
        return Some((None, None));
    }
    let (addr, port) = word.rsplit_once(':')?;
    let subnet = match addr {
        "*" => None,
        a if a.starts_with('[') => {
            let (inner, rest) = a[1..].split_once(']')?;
            Some(Subnet::parse(&format!("{inner}{rest}"))?)
        }
        a if a.contains(':') => return None,
        a => Some(Subnet::parse(a)?),
    };
    let ports = match port {
        "*" => None,
        p => {
            let (lo, hi) = p.split_once('-').unwrap_or((p, p));
            let (lo, hi) = (lo.parse().ok()?, hi.parse().ok()?);
            if lo > hi {
                return None;
            }
            Some((lo, hi))
        }
    };
    Some((subnet, ports))
}

/// Parses rules from `text`; `source` names it in errors (a path, or `WSD_RULES`).
/// `separator` splits lines: `'\n'` for files, `';'` for `WSD_RULES`.
pub fn parse(source: &str, text: &str, separator: char) -> Result<Rules, RulesError> {
    let mut r = Rules::default();
    for (n, line) in text.split(separator).enumerate() {
        let w = words(line);
        let err = |i: usize, expected: &str| RulesError {
            source: source.to_string(),
            line: n + 1,
            column: w.get(i).map_or(line.trim_end().len() + 1, |(c, _)| *c),
            expected: expected.to_string(),
        };
        let Some(&(_, keyword)) = w.first() else { continue };
        let arg = |i: usize| w.get(i).map(|(_, s)| *s);
        let one_arg = |expected: &str| match (arg(1), w.len()) {
            (Some(a), 2) => Ok(a),
            (None, _) => Err(err(1, expected)),
            _ => Err(err(2, "the end of the line")),
        };
        match keyword {
            "use" => {
                let transport = match arg(1) {
                    Some("san") => Transport::San,
                    Some("tcp") => Transport::Tcp,
                    _ => return Err(err(1, "san or tcp")),
                };
                let side = match arg(2) {
                    Some("client") => Some(Side::Client),
                    Some("server") => Some(Side::Server),
                    Some("*") => None,
                    _ => return Err(err(2, "client, server or *")),
                };
                let program = arg(3)
                    .ok_or_else(|| err(3, "a program name or glob"))?
                    .to_string();
                let (subnet, ports) = arg(4)
                    .and_then(parse_target)
                    .ok_or_else(|| err(4, "ADDR[/PREFIX]:PORT[-PORT], with * for any address or port"))?;
                if w.len() > 5 {
                    return Err(err(5, "the end of the line"));
                }
                r.rules.push(Rule {
                    line: n + 1,
                    transport,
                    side,
                    program,
                    subnet,
                    ports,
                });
            }
            "subnet" => {
                let s = one_arg("a CIDR such as 10.77.0.0/24")?;
                r.subnets
                    .push(Subnet::parse(s).ok_or_else(|| err(1, "a CIDR such as 10.77.0.0/24"))?);
            }
            "fd" => {
                let s = one_arg("a descriptor number")?;
                r.fds.push(
                    s.parse()
                        .ok()
                        .filter(|fd| *fd >= 0)
                        .ok_or_else(|| err(1, "a descriptor number"))?,
                );
            }
            "mode" => {
                let s = one_arg("switch, provider or observe")?;
                r.mode = Some(Mode::parse(s).ok_or_else(|| err(1, "switch, provider or observe"))?);
            }
            "log" => {
                let s = one_arg("off, error, warn, info or debug")?;
                r.log = Some(LogLevel::parse(s).ok_or_else(|| err(1, "off, error, warn, info or debug"))?);
            }
            _ => return Err(err(0, "use, subnet, fd, mode or log")),
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_full_file_parses() {
        let r = parse(
            "f",
            "# comment\n\nuse tcp client curl *:443\nuse san server redis-* 127.0.0.0/8:6379-6380\nuse san * * [::1]/128:*\nsubnet 10.77.0.0/24\nfd 3\nmode provider\nlog debug  # trailing\n",
            '\n',
        )
        .unwrap();
        assert_eq!(r.rules.len(), 3);
        assert_eq!(r.subnets, [Subnet::parse("10.77.0.0/24").unwrap()]);
        assert_eq!(r.fds, [3]);
        assert_eq!(r.mode, Some(Mode::Provider));
        assert_eq!(r.log, Some(LogLevel::Debug));
        assert!(r.rules[0].matches("curl", Side::Client, sa("127.0.0.1:443")));
        assert!(!r.rules[0].matches("curl", Side::Server, sa("127.0.0.1:443")));
        assert!(!r.rules[0].matches("wget", Side::Client, sa("127.0.0.1:443")));
        assert!(r.rules[1].matches("redis-server", Side::Server, sa("127.0.0.1:6380")));
        assert!(!r.rules[1].matches("redis-server", Side::Server, sa("127.0.0.1:6381")));
        assert!(r.rules[2].matches("x", Side::Client, sa("[::1]:9")));
        assert!(!r.rules[2].matches("x", Side::Client, sa("127.0.0.1:9")));
    }

    #[test]
    fn inline_rules_use_semicolons() {
        let r = parse("WSD_RULES", "use san * * *;use tcp * * *:*", ';').unwrap();
        assert_eq!(r.rules.len(), 2);
        assert!(r.rules[0].matches("anything", Side::Server, sa("10.1.2.3:4")));
    }

    #[test]
    fn errors_name_line_column_and_what_was_expected() {
        let cases = [
            ("use fast client * *:*", 1, 5, "san or tcp"),
            ("\n  use san sideways * *:*", 2, 11, "client, server or *"),
            ("use san client", 1, 15, "a program name or glob"),
            ("use san client x 1.2.3.4", 1, 18, "ADDR[/PREFIX]:PORT"),
            ("use san client x 1.2.3.4:9-8", 1, 18, "ADDR[/PREFIX]:PORT"),
            ("use san client x *:* extra", 1, 22, "the end of the line"),
            ("subnet 10.0.0.0/40", 1, 8, "a CIDR"),
            ("fd -3", 1, 4, "a descriptor number"),
            ("mode fast", 1, 6, "switch, provider or observe"),
            ("log", 1, 4, "off, error"),
            ("allow everything", 1, 1, "use, subnet, fd, mode or log"),
        ];
        for (text, line, column, expected) in cases {
            let e = parse("rules.conf", text, '\n').unwrap_err();
            assert_eq!((e.line, e.column), (line, column), "{text:?}: {e}");
            assert!(e.expected.starts_with(expected), "{text:?}: {e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("rules.conf:{line}:{column}: expected"))
            );
        }
    }

    #[test]
    fn globs() {
        assert!(glob("py*", "python3"));
        assert!(glob("*", "x"));
        assert!(glob("redis-?erver", "redis-server"));
        assert!(!glob("curl", "curly"));
    }
}
