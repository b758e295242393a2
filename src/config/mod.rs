//! The environment (SPEC §6.1): parsed once, validated whole. A bad value is an
//! error that names the variable, the value and what was expected; the library then
//! reports it once and leaves the program as it would be without the library.
//!
//! Pure: the caller supplies the variables, so this is unit-tested without touching
//! the process environment.
//!
//! This file owns the variables (`Config::from_env`), the subnet table and the
//! segment-name rule; `rules` owns the rules files of `WSD_CONFIG` and `WSD_RULES`;
//! the unit tests are in `tests.rs`. No unsafe code, but for the one call into
//! libc that `rules::glob` makes.
#![deny(unsafe_code)]

pub mod rules;
#[cfg(test)]
mod tests;

use crate::model::routing::Mode;
use rules::{Rule, Rules, RulesError, Side, Transport};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// `WSD_LOG` levels, most quiet first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    Off,
    Error,
    #[default]
    Warn,
    Info,
    Debug,
}

impl LogLevel {
    const NAMES: [(&'static str, LogLevel); 5] = [
        ("off", LogLevel::Off),
        ("error", LogLevel::Error),
        ("warn", LogLevel::Warn),
        ("info", LogLevel::Info),
        ("debug", LogLevel::Debug),
    ];

    pub fn parse(s: &str) -> Option<LogLevel> {
        Self::NAMES.iter().find(|(n, _)| *n == s).map(|(_, l)| *l)
    }
}

/// One CIDR of the SAN subnet table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Subnet {
    /// Parses `ADDR/PREFIX` or a bare `ADDR` (a host route).
    pub fn parse(s: &str) -> Option<Subnet> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Subnet { addr, prefix })
    }

    /// Is `ip` inside? An IPv4-mapped IPv6 address counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(a)) => prefix_eq(&net.octets(), &a.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(a)) => prefix_eq(&net.octets(), &a.octets(), self.prefix),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    a[..full] == b[..full] && (rest == 0 || (a[full] ^ b[full]) >> (8 - rest) == 0)
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The default SAN subnet table: everything on loopback.
pub const DEFAULT_SUBNETS: &str = "127.0.0.0/8,::1/128";
/// The default segment name.
pub const DEFAULT_SAN: &str = "default";

/// The parsed environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub mode: Mode,
    pub san: String,
    pub subnets: Vec<Subnet>,
    pub groups: bool,
    pub log: LogLevel,
    pub log_file: Option<String>,
    pub fds: Vec<i32>,
    /// `use` rules from `WSD_CONFIG` then `WSD_RULES`, first match wins.
    pub rules: Vec<Rule>,
    /// `WSD_REPORT_FD` (set by `wsd run`): the pipe to tell the tool about
    /// sockets the report cannot learn from the segment.
    pub report_fd: Option<ReportFd>,
}

/// `WSD_REPORT_FD=FD:DEV:INO`: an inherited descriptor, the write end of a pipe
/// that `wsd run` reads, and the device and inode that pipe has, so that a
/// descriptor number the program closed and reused is never written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportFd {
    pub fd: i32,
    pub dev: u64,
    pub ino: u64,
}

impl ReportFd {
    pub fn parse(s: &str) -> Option<ReportFd> {
        let mut parts = s.split(':');
        let fd = parts.next()?.parse::<i32>().ok().filter(|fd| *fd >= 0)?;
        let dev = parts.next()?.parse().ok()?;
        let ino = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(ReportFd { fd, dev, ino })
    }
}

impl fmt::Display for ReportFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.fd, self.dev, self.ino)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Switch,
            san: DEFAULT_SAN.to_string(),
            subnets: parse_subnets(DEFAULT_SUBNETS).unwrap_or_default(),
            groups: true,
            log: LogLevel::Warn,
            log_file: None,
            fds: Vec::new(),
            rules: Vec::new(),
            report_fd: None,
        }
    }
}

/// A bad environment value, an unreadable rules file, or a rules syntax error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    Var {
        var: &'static str,
        value: String,
        expected: &'static str,
    },
    File {
        path: String,
        error: String,
    },
    /// A syntax error in the rules of `var` (`WSD_CONFIG`'s file or `WSD_RULES`).
    Rules {
        var: &'static str,
        error: RulesError,
    },
}

impl ConfigError {
    /// The variable the error is about.
    pub fn var(&self) -> &'static str {
        match self {
            ConfigError::Var { var, .. } => var,
            ConfigError::File { .. } => "WSD_CONFIG",
            ConfigError::Rules { var, .. } => var,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Var { var, value, expected } => write!(f, "{var}={value:?}: expected {expected}"),
            ConfigError::File { path, error } => write!(f, "WSD_CONFIG={path:?}: cannot read it: {error}"),
            ConfigError::Rules { error, .. } => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The segment-name rule, as every message and the README state it (one text).
pub const SAN_NAME_RULE: &str = "a name of 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'";

/// Is `name` usable as a segment name ([`SAN_NAME_RULE`])? It becomes part of a
/// path under /dev/shm.
pub fn valid_san_name(name: &str) -> bool {
    wsd_front::segment::valid_name(name.as_bytes())
}

/// A comma-separated list of CIDRs; empty means no subnet at all.
pub fn parse_subnets(s: &str) -> Option<Vec<Subnet>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(Subnet::parse)
        .collect()
}

fn parse_fds(s: &str) -> Option<Vec<i32>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<i32>().ok().filter(|fd| *fd >= 0))
        .collect()
}

impl Config {
    /// Builds the configuration from `get(NAME)`, the environment's value of NAME,
    /// reading a `WSD_CONFIG` rules file with `read`. Rules come first; the other
    /// variables override what they say about mode and log level.
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        read: impl Fn(&str) -> std::io::Result<String>,
    ) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        let bad = |var, value: &str, expected| ConfigError::Var {
            var,
            value: value.to_string(),
            expected,
        };
        let mut from_rules = Rules::default();
        if let Some(path) = get("WSD_CONFIG") {
            let text = read(&path).map_err(|e| ConfigError::File {
                path: path.clone(),
                error: e.to_string(),
            })?;
            from_rules = rules::parse(&path, &text, '\n').map_err(|error| ConfigError::Rules {
                var: "WSD_CONFIG",
                error,
            })?;
        }
        if let Some(inline) = get("WSD_RULES") {
            let more = rules::parse("WSD_RULES", &inline, ';').map_err(|error| ConfigError::Rules {
                var: "WSD_RULES",
                error,
            })?;
            from_rules.rules.extend(more.rules);
            from_rules.subnets.extend(more.subnets);
            from_rules.fds.extend(more.fds);
            from_rules.mode = more.mode.or(from_rules.mode);
            from_rules.log = more.log.or(from_rules.log);
        }
        c.mode = from_rules.mode.unwrap_or(c.mode);
        c.log = from_rules.log.unwrap_or(c.log);
        if let Some(v) = get("WSD_MODE") {
            c.mode = Mode::parse(&v).ok_or_else(|| bad("WSD_MODE", &v, "switch, provider or observe"))?;
        }
        if let Some(v) = get("WSD_SAN") {
            if !valid_san_name(&v) {
                return Err(bad("WSD_SAN", &v, SAN_NAME_RULE));
            }
            c.san = v;
        }
        if let Some(v) = get("WSD_SUBNETS") {
            c.subnets = parse_subnets(&v).ok_or_else(|| {
                bad(
                    "WSD_SUBNETS",
                    &v,
                    "comma-separated CIDRs such as 127.0.0.0/8,::1/128",
                )
            })?;
        }
        if let Some(v) = get("WSD_GROUPS") {
            c.groups = match v.as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(bad("WSD_GROUPS", &v, "on or off")),
            };
        }
        if let Some(v) = get("WSD_LOG") {
            c.log =
                LogLevel::parse(&v).ok_or_else(|| bad("WSD_LOG", &v, "off, error, warn, info or debug"))?;
        }
        if let Some(v) = get("WSD_LOG_FILE") {
            if v.is_empty() || v.as_bytes().contains(&0) {
                return Err(bad("WSD_LOG_FILE", &v, "a file path"));
            }
            c.log_file = Some(v);
        }
        if let Some(v) = get("WSD_FDS") {
            c.fds = parse_fds(&v)
                .ok_or_else(|| bad("WSD_FDS", &v, "comma-separated descriptor numbers such as 3,4"))?;
        }
        if let Some(v) = get("WSD_REPORT_FD") {
            c.report_fd = Some(ReportFd::parse(&v).ok_or_else(|| {
                bad(
                    "WSD_REPORT_FD",
                    &v,
                    "FD:DEV:INO, as `wsd run` sets it (not a variable to set by hand)",
                )
            })?);
        }
        c.subnets.extend(from_rules.subnets);
        c.fds.extend(from_rules.fds);
        c.rules = from_rules.rules;
        Ok(c)
    }

    /// Does a `side` socket of `program` at `addr` go to the SAN? The first `use`
    /// rule that matches decides (its line is returned); without one, the subnet
    /// table does (SPEC §4.1).
    pub fn decide(&self, program: &str, side: Side, addr: SocketAddr) -> (bool, Option<usize>) {
        match self.rules.iter().find(|r| r.matches(program, side, addr)) {
            Some(r) => (r.transport == Transport::San, Some(r.line)),
            None => (self.is_san_address(addr.ip()), None),
        }
    }

    /// Is `ip` in the SAN subnet table?
    pub fn is_san_address(&self, ip: IpAddr) -> bool {
        self.subnets.iter().any(|s| s.contains(ip))
    }

    /// Could a TCP socket of `program` ever reach the SAN? If not, nothing is a
    /// candidate (SPEC §4.3): its sockets are left to libc as if the library were
    /// not there. For each side, the rules that apply to `program` are read in
    /// order: a `use san` rule could route there; a `use tcp` rule for every
    /// address and port hides everything after it, the subnet table included.
    pub fn could_route(&self, program: &str) -> bool {
        [Side::Client, Side::Server].into_iter().any(|side| {
            for r in self
                .rules
                .iter()
                .filter(|r| r.side.is_none_or(|s| s == side) && rules::glob(&r.program, program))
            {
                match r.transport {
                    Transport::San => return true,
                    Transport::Tcp if r.subnet.is_none() && r.ports.is_none() => return false,
                    Transport::Tcp => {}
                }
            }
            !self.subnets.is_empty()
        })
    }
}
