//! `wsd run --fault SPEC`: the faults a run schedules at launch (SPEC §6.3, §7).
//! This module owns the grammar of SPEC and its parser, [`parse`], to a
//! [`FaultSpec`]; it does no I/O, and scheduling and injecting the faults is
//! `run`'s and `san::faults`' business. The grammar is written here and only here
//! (the README quotes it):
//!
//! ```text
//! SPEC        = KIND ( "," KEY "=" VALUE )*        no spaces anywhere
//! KIND        = reset | keepalive-fail | down
//!
//! after=DURATION          the fault comes this long after the start of the run (default 0)
//! after-connect=DURATION  instead: this long after each connection is established
//! for=DURATION            down only: the network comes up again after this long
//! port=N                  1 to 65535: connections with this port at either end
//! program=NAME            1 to 15 bytes (the kernel's comm length), no ',', '=', spaces or
//!                         control characters: connections with a process of this name at
//!                         either end
//! probability=P           a decimal from 0 to 1 (0, 0.25, 1) or a percentage (25%): the
//!                         chance that each matching connection is hit, decided once per
//!                         connection (default 1)
//!
//! DURATION    = a number of 0 or more (2, 1.5) and a unit: ms, s or m (250ms, 1.5s, 1m);
//!               0 alone is zero; at most 24 hours
//! ```
//!
//! Each key comes at most once, in any order; `after` and `after-connect` exclude
//! each other. `down` acts on the whole network: `port`, `program`, `probability`
//! and `after-connect` do not apply to it, and `for` applies to nothing else. Without
//! `port` or `program` a fault hits every connection. Examples:
//!
//! ```text
//! wsd run --fault reset,after=2s -- CMD                       every connection, 2 s into the run
//! wsd run --fault reset,port=6379,after-connect=500ms,probability=25% -- CMD
//! wsd run --fault keepalive-fail,program=redis-cli,after=1m -- CMD
//! wsd run --fault down,after=1s,for=3s --fault reset,after=10s -- CMD
//! ```
//!
//! As in libfiu's `fiu-run -c "enable_random name=…,probability=0.25"`, a fault is
//! one word of `key=value`s, and `probability` is decided once per connection, as
//! toxiproxy's toxicity is per connection.
//!
//! A spec that does not parse is a [`SpecError`]: where (a byte offset, shown as a
//! character number), what was there, and what was expected there — e.g.
//! `at character 13 ("2x"): expected a duration with a unit, such as 500ms, 2s or 1m`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Which fault (SPEC §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Connections are reset.
    Reset,
    /// Connections' keep-alive detects a failure.
    KeepaliveFail,
    /// The SAN network goes down: every established connection breaks.
    Down,
}

impl FaultKind {
    /// Every kind, in the order the grammar lists them.
    const ALL: [FaultKind; 3] = [FaultKind::Reset, FaultKind::KeepaliveFail, FaultKind::Down];

    /// Its name, as SPEC (and `wsd san`) spells it.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Reset => "reset",
            FaultKind::KeepaliveFail => "keepalive-fail",
            FaultKind::Down => "down",
        }
    }
}

/// When the fault comes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum When {
    /// This long after the start of the run (`after=`, and the default: 0).
    AfterStart(Duration),
    /// This long after each connection is established (`after-connect=`).
    AfterConnect(Duration),
}

/// One `--fault`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    pub kind: FaultKind,
    pub when: When,
    /// `for=`: how long the network stays down (`down` only); `None`: for the rest
    /// of the run.
    pub duration: Option<Duration>,
    /// `port=`: only connections with this port at either end.
    pub port: Option<u16>,
    /// `program=`: only connections with a process of this name at either end.
    pub program: Option<String>,
    /// `probability=`: the chance that each matching connection is hit, in 0..=1.
    pub probability: f64,
    /// The spec as the user gave it.
    pub text: String,
}

/// A spec that does not parse.
///
/// `{}` reads well after clap's own "invalid value 'SPEC' for '--fault <SPEC>': ",
/// which already names the flag and the spec: `at character 13 ("2x"): expected …`.
/// `{:#}` stands alone, for use outside clap: `--fault "reset,after=2x": at
/// character 13 ("2x"): expected …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The whole spec, as given.
    pub spec: String,
    /// The byte offset in `spec` where the bad part starts.
    pub position: usize,
    /// The bad part (empty when something is missing there).
    pub found: String,
    /// What was expected there, to follow "expected ".
    pub expected: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            write!(f, "--fault {:?}: ", self.spec)?;
        }
        let character = character(&self.spec, self.position);
        write!(f, "at character {character} ")?;
        if self.found.is_empty() {
            f.write_str("(nothing)")?;
        } else {
            write!(f, "({:?})", self.found)?;
        }
        write!(f, ": expected {}", self.expected)
    }
}

impl std::error::Error for SpecError {}

/// The character number (from 1) at a byte offset of `spec`: counted in
/// characters, so that a name in UTF-8 before it does not shift it; for ASCII it
/// is `position + 1`.
fn character(spec: &str, position: usize) -> usize {
    spec.get(..position).map_or(position, |s| s.chars().count()) + 1
}

impl FromStr for FaultSpec {
    type Err = SpecError;

    fn from_str(spec: &str) -> Result<FaultSpec, SpecError> {
        parse(spec)
    }
}

/// The keys, once: each with its name, an example of its use, and the kinds it
/// applies to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    After,
    AfterConnect,
    For,
    Port,
    Program,
    Probability,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AppliesTo {
    Every,
    /// `reset` and `keepalive-fail`.
    Connections,
    Down,
}

struct KeySpec {
    key: Key,
    name: &'static str,
    example: &'static str,
    applies_to: AppliesTo,
}

const fn key(key: Key, name: &'static str, example: &'static str, applies_to: AppliesTo) -> KeySpec {
    KeySpec {
        key,
        name,
        example,
        applies_to,
    }
}

const KEYS: [KeySpec; 6] = [
    key(Key::After, "after", "after=2s", AppliesTo::Every),
    key(
        Key::AfterConnect,
        "after-connect",
        "after-connect=500ms",
        AppliesTo::Connections,
    ),
    key(Key::For, "for", "for=3s", AppliesTo::Down),
    key(Key::Port, "port", "port=6379", AppliesTo::Connections),
    key(
        Key::Program,
        "program",
        "program=redis-server",
        AppliesTo::Connections,
    ),
    key(
        Key::Probability,
        "probability",
        "probability=0.25",
        AppliesTo::Connections,
    ),
];

const EXPECTED_KIND: &str = "a fault kind: reset, keepalive-fail or down";
const EXPECTED_KEY: &str = "a key: after, after-connect, for, port, program or probability";
const EXPECTED_NO_SPACE: &str =
    "no spaces: the parts are joined by ',' alone, as in reset,port=6379,after=2s";
const EXPECTED_DURATION: &str = "a duration with a unit, such as 500ms, 2s or 1m";
const EXPECTED_SHORT_DURATION: &str = "a duration of at most 24 hours (1440m)";
const EXPECTED_PORT: &str = "a port number from 1 to 65535, such as 6379";
const EXPECTED_PROGRAM: &str =
    "a program name of 1 to 15 bytes without ',', '=', spaces or control characters, such as redis-server";
const EXPECTED_PROBABILITY: &str =
    "a probability: a decimal from 0 to 1, such as 0.25, or a percentage, such as 25%";
const EXPECTED_SMALL_PROBABILITY: &str = "a probability of at most 1, such as 0.25 or 25%";
const EXPECTED_SMALL_PERCENTAGE: &str = "a percentage of at most 100%, such as 25%";

/// The longest delay or outage a spec may ask for.
const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);
/// The kernel's limit on a process name (`comm`, `TASK_COMM_LEN` less the NUL).
const MAX_PROGRAM: usize = 15;

/// Parses one `--fault` spec (the grammar is in the module docs).
pub fn parse(spec: &str) -> Result<FaultSpec, SpecError> {
    let error = |position: usize, found: &str, expected: &str| SpecError {
        spec: spec.to_string(),
        position,
        found: found.to_string(),
        expected: expected.to_string(),
    };

    if let Some((at, c)) = spec.char_indices().find(|(_, c)| c.is_whitespace()) {
        return Err(error(at, &c.to_string(), EXPECTED_NO_SPACE));
    }

    let mut parts = spec.split(',');
    let first = parts.next().unwrap_or_default();
    let Some(kind) = FaultKind::ALL.into_iter().find(|k| k.name() == first) else {
        return Err(error(0, first, EXPECTED_KIND));
    };
    let down = kind == FaultKind::Down;

    let mut fault = FaultSpec {
        kind,
        when: When::AfterStart(Duration::ZERO),
        duration: None,
        port: None,
        program: None,
        probability: 1.0,
        text: spec.to_string(),
    };
    // Where each key was given (a byte offset), by its place in KEYS.
    let mut seen: [Option<usize>; KEYS.len()] = [None; KEYS.len()];
    // Where `after=` or `after-connect=` was given, and which.
    let mut when_given: Option<(usize, &str)> = None;

    let mut start = first.len() + 1;
    for part in parts {
        let at = start;
        start += part.len() + 1;

        let Some((name, value)) = part.split_once('=') else {
            let expected = match KEYS.iter().find(|k| k.name == part) {
                Some(k) => format!("{}= and a value, such as {}", k.name, k.example),
                None if part.is_empty() => format!("KEY=VALUE after ',', with {EXPECTED_KEY}"),
                None => format!("KEY=VALUE, with {EXPECTED_KEY}"),
            };
            return Err(error(at, part, &expected));
        };
        let Some(index) = KEYS.iter().position(|k| k.name == name) else {
            return Err(error(at, name, EXPECTED_KEY));
        };
        let key = &KEYS[index];

        if down && key.applies_to == AppliesTo::Connections {
            let expected = format!(
                "no {}= with down: down acts on the whole network, so port=, program=, probability= \
                 and after-connect= do not apply to it",
                key.name
            );
            return Err(error(at, part, &expected));
        }
        if !down && key.applies_to == AppliesTo::Down {
            let expected = format!(
                "no {}= with {}: {}= applies only to down",
                key.name,
                kind.name(),
                key.name
            );
            return Err(error(at, part, &expected));
        }
        if let Some(earlier) = seen[index] {
            let expected = format!(
                "each key at most once, and {}= is already at character {}",
                key.name,
                character(spec, earlier)
            );
            return Err(error(at, part, &expected));
        }
        if matches!(key.key, Key::After | Key::AfterConnect) {
            // A repeat was refused above, so this is the other one.
            if let Some((earlier, other)) = when_given {
                let expected = format!(
                    "after= or after-connect=, not both ({other}= is already at character {})",
                    character(spec, earlier)
                );
                return Err(error(at, part, &expected));
            }
            when_given = Some((at, key.name));
        }
        seen[index] = Some(at);

        let value_at = at + name.len() + 1;
        let bad_value = |expected: &str| error(value_at, value, expected);
        match key.key {
            Key::After => fault.when = When::AfterStart(parse_duration(value).map_err(bad_value)?),
            Key::AfterConnect => fault.when = When::AfterConnect(parse_duration(value).map_err(bad_value)?),
            Key::For => fault.duration = Some(parse_duration(value).map_err(bad_value)?),
            Key::Port => fault.port = Some(parse_port(value).map_err(bad_value)?),
            Key::Program => fault.program = Some(parse_program(value).map_err(|e| bad_value(&e))?),
            Key::Probability => fault.probability = parse_probability(value).map_err(bad_value)?,
        }
    }
    Ok(fault)
}

/// `\d+(\.\d+)?`: the numbers of durations and probabilities (no sign, no
/// exponent, no `inf`).
fn is_decimal(number: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match number.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(number),
    }
}

/// DURATION: a decimal and `ms`, `s` or `m`, or `0` alone; at most 24 hours.
/// Exact to the nanosecond (no floating point).
fn parse_duration(value: &str) -> Result<Duration, &'static str> {
    if value == "0" {
        return Ok(Duration::ZERO);
    }
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let unit_nanos: u128 = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        _ => return Err(EXPECTED_DURATION),
    };
    if !is_decimal(number) {
        return Err(EXPECTED_DURATION);
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let accumulate = |digits: &str| {
        digits.bytes().fold(0u128, |n, b| {
            n.saturating_mul(10).saturating_add(u128::from(b - b'0'))
        })
    };
    // Digits past the 20th are worth less than a nanosecond of a minute.
    let fraction = &fraction[..fraction.len().min(20)];
    let nanos = accumulate(whole)
        .saturating_mul(unit_nanos)
        .saturating_add(accumulate(fraction) * unit_nanos / 10u128.pow(fraction.len() as u32));
    if nanos > MAX_DURATION.as_nanos() {
        return Err(EXPECTED_SHORT_DURATION);
    }
    Ok(Duration::from_nanos(nanos as u64))
}

fn parse_port(value: &str) -> Result<u16, &'static str> {
    // u16's own parser takes a leading '+'.
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EXPECTED_PORT);
    }
    match value.parse::<u16>() {
        Ok(port) if port >= 1 => Ok(port),
        _ => Err(EXPECTED_PORT),
    }
}

fn parse_program(value: &str) -> Result<String, String> {
    if value.is_empty()
        || value
            .chars()
            .any(|c| c == ',' || c == '=' || c.is_whitespace() || c.is_control())
    {
        return Err(EXPECTED_PROGRAM.to_string());
    }
    if value.len() > MAX_PROGRAM {
        let mut expected = format!(
            "a program name of at most {MAX_PROGRAM} bytes, as the kernel keeps it (this one has {})",
            value.len()
        );
        if let Some(cut) = value.get(..MAX_PROGRAM) {
            expected.push_str(&format!(", such as {cut}"));
        }
        return Err(expected);
    }
    Ok(value.to_string())
}

/// A decimal in 0..=1, or a percentage in 0..=100 (`25%`, `12.5%`).
fn parse_probability(value: &str) -> Result<f64, &'static str> {
    let (number, percent) = match value.strip_suffix('%') {
        Some(number) => (number, true),
        None => (value, false),
    };
    if !is_decimal(number) {
        return Err(EXPECTED_PROBABILITY);
    }
    // A percentage as `NUMBERe-2`, so that it is rounded once: 33.3% is 0.333.
    let text = if percent {
        format!("{number}e-2")
    } else {
        number.to_string()
    };
    let probability: f64 = text.parse().map_err(|_| EXPECTED_PROBABILITY)?;
    if probability > 1.0 {
        return Err(if percent {
            EXPECTED_SMALL_PERCENTAGE
        } else {
            EXPECTED_SMALL_PROBABILITY
        });
    }
    Ok(probability)
}

/// A duration as a user would write it: `1m`, `90s`, `1.5s`, `250ms`, `0.5ms`.
fn show_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    let trimmed = |whole: u128, fraction: u128, digits: usize, unit: &str| {
        if fraction == 0 {
            format!("{whole}{unit}")
        } else {
            let fraction = format!("{fraction:0digits$}");
            format!("{whole}.{}{unit}", fraction.trim_end_matches('0'))
        }
    };
    if nanos >= 60_000_000_000 && nanos.is_multiple_of(60_000_000_000) {
        format!("{}m", nanos / 60_000_000_000)
    } else if nanos >= 1_000_000_000 {
        trimmed(nanos / 1_000_000_000, nanos % 1_000_000_000, 9, "s")
    } else if nanos == 0 {
        "0s".to_string()
    } else {
        trimmed(nanos / 1_000_000, nanos % 1_000_000, 6, "ms")
    }
}

impl FaultSpec {
    /// One line for people: what, on which connections, with what chance, when,
    /// and for how long — e.g. "reset connections on port 6379 of redis-cli, each
    /// with probability 0.5, 2s after each connection is established".
    pub fn describe(&self) -> String {
        let mut line = match self.kind {
            FaultKind::Reset => "reset ".to_string(),
            FaultKind::KeepaliveFail => "fail the keep-alive of ".to_string(),
            FaultKind::Down => "down the network".to_string(),
        };
        let mut clauses = false;
        if self.kind != FaultKind::Down {
            if self.port.is_none() && self.program.is_none() {
                line.push_str("all connections");
            } else {
                line.push_str("connections");
                if let Some(port) = self.port {
                    line.push_str(&format!(" on port {port}"));
                }
                if let Some(program) = &self.program {
                    line.push_str(&format!(" of {program}"));
                }
                clauses = true;
            }
            if self.probability < 1.0 {
                line.push_str(&format!(", each with probability {}", self.probability));
                clauses = true;
            }
        }
        line.push_str(if clauses { ", " } else { " " });
        line.push_str(&match self.when {
            When::AfterStart(Duration::ZERO) => "at the start".to_string(),
            When::AfterStart(d) => format!("{} after the start", show_duration(d)),
            When::AfterConnect(Duration::ZERO) => "as soon as each connection is established".to_string(),
            When::AfterConnect(d) => format!("{} after each connection is established", show_duration(d)),
        });
        if let Some(d) = self.duration {
            line.push_str(&format!(", for {}", show_duration(d)));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn ok(spec: &str) -> FaultSpec {
        parse(spec).unwrap_or_else(|e| panic!("{spec:?} should parse: {e:#}"))
    }

    /// Parses `spec`, which must fail, and checks where and what was expected.
    #[track_caller]
    fn bad(spec: &str, position: usize, found: &str, expected: &str) -> SpecError {
        let e = parse(spec).expect_err(spec);
        assert_eq!(e.spec, spec);
        assert_eq!((e.position, e.found.as_str()), (position, found), "{spec:?}: {e}");
        assert!(
            e.expected.contains(expected),
            "{spec:?}: {:?} lacks {expected:?}",
            e.expected
        );
        e
    }

    // ---- valid forms ----------------------------------------------------------

    #[test]
    fn each_kind_alone_takes_the_defaults() {
        for (spec, kind) in [
            ("reset", FaultKind::Reset),
            ("keepalive-fail", FaultKind::KeepaliveFail),
            ("down", FaultKind::Down),
        ] {
            assert_eq!(
                ok(spec),
                FaultSpec {
                    kind,
                    when: When::AfterStart(Duration::ZERO),
                    duration: None,
                    port: None,
                    program: None,
                    probability: 1.0,
                    text: spec.to_string(),
                }
            );
            assert_eq!(kind.name(), spec);
        }
    }

    #[test]
    fn every_key_of_a_connection_fault() {
        let spec = "reset,after-connect=2s,port=6379,program=redis-cli,probability=0.5";
        assert_eq!(
            ok(spec),
            FaultSpec {
                kind: FaultKind::Reset,
                when: When::AfterConnect(ms(2000)),
                duration: None,
                port: Some(6379),
                program: Some("redis-cli".to_string()),
                probability: 0.5,
                text: spec.to_string(),
            }
        );
        let f = ok("keepalive-fail,after=1m,port=1,program=a");
        assert_eq!(f.kind, FaultKind::KeepaliveFail);
        assert_eq!(f.when, When::AfterStart(ms(60_000)));
        assert_eq!((f.port, f.program.as_deref()), (Some(1), Some("a")));
    }

    #[test]
    fn down_takes_after_and_for() {
        let f = ok("down,after=1s,for=3s");
        assert_eq!(
            (f.kind, f.when, f.duration),
            (FaultKind::Down, When::AfterStart(ms(1000)), Some(ms(3000)))
        );
        assert_eq!(ok("down,for=250ms").duration, Some(ms(250)));
        assert_eq!(ok("down,for=250ms").when, When::AfterStart(Duration::ZERO));
    }

    #[test]
    fn keys_come_in_any_order() {
        let a = ok("reset,probability=25%,program=x,port=80,after=2s");
        let b = ok("reset,after=2s,port=80,program=x,probability=0.25");
        assert_eq!(
            FaultSpec {
                text: String::new(),
                ..a
            },
            FaultSpec {
                text: String::new(),
                ..b
            }
        );
        assert_eq!(ok("down,for=3s,after=1s").duration, Some(ms(3000)));
    }

    #[test]
    fn durations() {
        let after = |value: &str| match ok(&format!("reset,after={value}")).when {
            When::AfterStart(d) => d,
            other => panic!("{other:?}"),
        };
        assert_eq!(after("0"), Duration::ZERO);
        assert_eq!(after("0ms"), Duration::ZERO);
        assert_eq!(after("0s"), Duration::ZERO);
        assert_eq!(after("0.0s"), Duration::ZERO);
        assert_eq!(after("250ms"), ms(250));
        assert_eq!(after("2s"), ms(2000));
        assert_eq!(after("1.5s"), ms(1500));
        assert_eq!(after("1m"), ms(60_000));
        assert_eq!(after("1.5m"), ms(90_000));
        assert_eq!(after("0.5ms"), Duration::from_micros(500));
        assert_eq!(after("0.000000001s"), Duration::from_nanos(1));
        assert_eq!(
            after("0.0000000009s"),
            Duration::ZERO,
            "below a nanosecond is dropped"
        );
        assert_eq!(after("0.1s"), ms(100), "exact: no floating point");
        assert_eq!(after("007s"), ms(7000));
        assert_eq!(after("1.000000000000000000000000001m"), ms(60_000));
        assert_eq!(after("1440m"), MAX_DURATION);
        assert_eq!(after("86400s"), MAX_DURATION);
        assert_eq!(after("86400000ms"), MAX_DURATION);
        let connect = ok("keepalive-fail,after-connect=0").when;
        assert_eq!(connect, When::AfterConnect(Duration::ZERO));
        assert_eq!(ok("down,for=0").duration, Some(Duration::ZERO));
    }

    #[test]
    fn ports() {
        assert_eq!(ok("reset,port=1").port, Some(1));
        assert_eq!(ok("reset,port=65535").port, Some(65535));
        assert_eq!(ok("reset,port=080").port, Some(80));
    }

    #[test]
    fn programs() {
        assert_eq!(ok("reset,program=x").program.as_deref(), Some("x"));
        assert_eq!(
            ok("reset,program=abcdefghijklmno").program.as_deref(),
            Some("abcdefghijklmno")
        );
        assert_eq!(
            ok("reset,program=kworker/0:1").program.as_deref(),
            Some("kworker/0:1")
        );
        assert_eq!(
            ok("reset,program=python3.12").program.as_deref(),
            Some("python3.12")
        );
        // Bytes, not characters: "é" is two.
        assert_eq!(ok("reset,program=ééééééé").program.as_deref(), Some("ééééééé"));
    }

    #[test]
    fn probabilities() {
        let p = |value: &str| ok(&format!("reset,probability={value}")).probability;
        assert_eq!(p("0"), 0.0);
        assert_eq!(p("1"), 1.0);
        assert_eq!(p("0.25"), 0.25);
        assert_eq!(p("1.0"), 1.0);
        assert_eq!(p("0.333"), 0.333);
        assert_eq!(p("25%"), 0.25);
        assert_eq!(p("0%"), 0.0);
        assert_eq!(p("100%"), 1.0);
        assert_eq!(p("12.5%"), 0.125);
        assert_eq!(p("33.3%"), 0.333, "rounded once, as 0.333 is");
        assert_eq!(p("100.0%"), 1.0);
    }

    #[test]
    fn from_str_is_parse() {
        let f: FaultSpec = "down,after=1s".parse().unwrap();
        assert_eq!(f, ok("down,after=1s"));
        assert_eq!("bogus".parse::<FaultSpec>(), Err(parse("bogus").unwrap_err()));
    }

    // ---- errors ---------------------------------------------------------------

    #[test]
    fn spaces_are_refused_where_they_are() {
        bad(" reset", 0, " ", "no spaces");
        bad("reset ", 5, " ", "no spaces");
        bad("reset, after=2s", 6, " ", "no spaces");
        bad("reset,after=2s ,port=1", 14, " ", "no spaces");
        bad("reset,after= 2s", 12, " ", "no spaces");
        bad("reset,port=1\t", 12, "\t", "no spaces");
        bad("reset,program=a\u{a0}b", 15, "\u{a0}", "no spaces");
        // Before anything else is checked.
        bad("bogus ", 5, " ", "no spaces");
    }

    #[test]
    fn unknown_or_missing_kinds_list_the_kinds() {
        bad("", 0, "", EXPECTED_KIND);
        bad("bogus", 0, "bogus", EXPECTED_KIND);
        bad("Reset", 0, "Reset", EXPECTED_KIND);
        bad("keepalive", 0, "keepalive", EXPECTED_KIND);
        bad("keepalive_fail,after=1s", 0, "keepalive_fail", EXPECTED_KIND);
        bad("after=2s,reset", 0, "after=2s", EXPECTED_KIND);
        bad(",reset", 0, "", EXPECTED_KIND);
    }

    #[test]
    fn unknown_keys_list_the_keys() {
        bad("reset,delay=2s", 6, "delay", EXPECTED_KEY);
        bad("reset,Port=1", 6, "Port", EXPECTED_KEY);
        bad("reset,=1", 6, "", EXPECTED_KEY);
        bad("reset,after=1s,toxicity=0.5", 15, "toxicity", EXPECTED_KEY);
    }

    #[test]
    fn parts_without_a_value() {
        bad("reset,", 6, "", "KEY=VALUE after ','");
        bad("reset,,after=1s", 6, "", "KEY=VALUE after ','");
        bad("reset,after=1s,", 15, "", "KEY=VALUE after ','");
        let e = bad(
            "reset,bogus",
            6,
            "bogus",
            "KEY=VALUE, with a key: after, after-connect",
        );
        assert!(e.expected.ends_with("program or probability"), "{e}");
        bad("reset,port", 6, "port", "port= and a value, such as port=6379");
        bad("reset,after", 6, "after", "after= and a value, such as after=2s");
        bad("down,for", 5, "for", "for= and a value, such as for=3s");
    }

    #[test]
    fn repeated_keys() {
        bad(
            "reset,port=1,port=2",
            13,
            "port=2",
            "each key at most once, and port= is already at character 7",
        );
        bad(
            "down,for=1s,after=1s,for=2s",
            21,
            "for=2s",
            "for= is already at character 6",
        );
        bad(
            "reset,after=1s,after=1s",
            15,
            "after=1s",
            "after= is already at character 7",
        );
        // Even when the first value was bad, it is the first error that counts.
        bad("reset,port=0,port=1", 11, "0", EXPECTED_PORT);
    }

    #[test]
    fn after_and_after_connect_exclude_each_other() {
        let both = "after= or after-connect=, not both";
        bad("reset,after=1s,after-connect=2s", 15, "after-connect=2s", both);
        let e = bad("reset,after-connect=2s,port=1,after=1s", 30, "after=1s", both);
        assert!(
            e.expected.ends_with("(after-connect= is already at character 7)"),
            "{e}"
        );
    }

    #[test]
    fn for_applies_only_to_down() {
        bad(
            "reset,for=3s",
            6,
            "for=3s",
            "no for= with reset: for= applies only to down",
        );
        bad(
            "keepalive-fail,after=1s,for=3s",
            24,
            "for=3s",
            "no for= with keepalive-fail: for= applies only to down",
        );
        // Before its value is looked at.
        bad("reset,for=x", 6, "for=x", "for= applies only to down");
    }

    #[test]
    fn down_takes_no_connection_keys() {
        let whole = "down acts on the whole network, so port=, program=, probability= and after-connect= do not apply";
        let e = bad("down,port=6379", 5, "port=6379", whole);
        assert!(e.expected.starts_with("no port= with down: "), "{e}");
        bad("down,program=x", 5, "program=x", "no program= with down");
        bad(
            "down,probability=0.5",
            5,
            "probability=0.5",
            "no probability= with down",
        );
        bad(
            "down,after-connect=1s",
            5,
            "after-connect=1s",
            "no after-connect= with down",
        );
        bad("down,after=1s,port=bogus", 14, "port=bogus", whole);
    }

    #[test]
    fn bad_durations() {
        for (spec, position, found) in [
            ("reset,after=2x", 12, "2x"),
            ("reset,after=2", 12, "2"),
            ("reset,after=1.5", 12, "1.5"),
            ("reset,after=00", 12, "00"),
            ("reset,after=0.0", 12, "0.0"),
            ("reset,after=", 12, ""),
            ("reset,after=s", 12, "s"),
            ("reset,after=ms", 12, "ms"),
            ("reset,after=.5s", 12, ".5s"),
            ("reset,after=5.s", 12, "5.s"),
            ("reset,after=1..5s", 12, "1..5s"),
            ("reset,after=1.2.3s", 12, "1.2.3s"),
            ("reset,after=-1s", 12, "-1s"),
            ("reset,after=+1s", 12, "+1s"),
            ("reset,after=1h", 12, "1h"),
            ("reset,after=1us", 12, "1us"),
            ("reset,after=2S", 12, "2S"),
            ("reset,after=2sec", 12, "2sec"),
            ("reset,after=1e3ms", 12, "1e3ms"),
            ("reset,after=infs", 12, "infs"),
            ("reset,after=2s2s", 12, "2s2s"),
            ("reset,after-connect=2x", 20, "2x"),
            ("down,for=2", 9, "2"),
            ("reset,port=1,after=x", 19, "x"),
        ] {
            bad(spec, position, found, EXPECTED_DURATION);
        }
    }

    #[test]
    fn durations_past_a_day() {
        bad("reset,after=1441m", 12, "1441m", EXPECTED_SHORT_DURATION);
        bad(
            "reset,after=86400.000000001s",
            12,
            "86400.000000001s",
            EXPECTED_SHORT_DURATION,
        );
        bad(
            "reset,after=86400001ms",
            12,
            "86400001ms",
            EXPECTED_SHORT_DURATION,
        );
        bad(
            "down,for=99999999999999999999999999999999999999999m",
            9,
            "99999999999999999999999999999999999999999m",
            "at most 24 hours",
        );
        bad("reset,after-connect=2000m", 20, "2000m", "at most 24 hours");
    }

    #[test]
    fn bad_ports() {
        for (spec, found) in [
            ("reset,port=0", "0"),
            ("reset,port=65536", "65536"),
            ("reset,port=99999999999999999999", "99999999999999999999"),
            ("reset,port=", ""),
            ("reset,port=+80", "+80"),
            ("reset,port=-1", "-1"),
            ("reset,port=http", "http"),
            ("reset,port=80.0", "80.0"),
        ] {
            bad(spec, 11, found, EXPECTED_PORT);
        }
    }

    #[test]
    fn bad_programs() {
        bad("reset,program=", 14, "", EXPECTED_PROGRAM);
        bad("reset,program=a=b", 14, "a=b", EXPECTED_PROGRAM);
        bad("reset,program=a\u{1}b", 14, "a\u{1}b", EXPECTED_PROGRAM);
        let e = bad(
            "reset,program=abcdefghijklmnop",
            14,
            "abcdefghijklmnop",
            "at most 15 bytes",
        );
        assert_eq!(
            e.expected,
            "a program name of at most 15 bytes, as the kernel keeps it (this one has 16), such as abcdefghijklmno"
        );
        // 16 bytes in 8 characters; the 15th byte is inside one, so no cut is offered.
        let e = bad("reset,program=éééééééé", 14, "éééééééé", "(this one has 16)");
        assert!(!e.expected.contains("such as"), "{e}");
    }

    #[test]
    fn bad_probabilities() {
        for (value, expected) in [
            ("", EXPECTED_PROBABILITY),
            ("%", EXPECTED_PROBABILITY),
            ("half", EXPECTED_PROBABILITY),
            (".5", EXPECTED_PROBABILITY),
            ("-0.5", EXPECTED_PROBABILITY),
            ("+0.5", EXPECTED_PROBABILITY),
            ("1e-1", EXPECTED_PROBABILITY),
            ("nan", EXPECTED_PROBABILITY),
            ("inf", EXPECTED_PROBABILITY),
            ("25%%", EXPECTED_PROBABILITY),
            ("%25", EXPECTED_PROBABILITY),
            ("0.5%0", EXPECTED_PROBABILITY),
            ("1/2", EXPECTED_PROBABILITY),
            ("1.5", EXPECTED_SMALL_PROBABILITY),
            ("25", EXPECTED_SMALL_PROBABILITY),
            ("1.0000001", EXPECTED_SMALL_PROBABILITY),
            ("101%", EXPECTED_SMALL_PERCENTAGE),
            ("100.1%", EXPECTED_SMALL_PERCENTAGE),
        ] {
            bad(&format!("reset,probability={value}"), 18, value, expected);
        }
    }

    // ---- messages -------------------------------------------------------------

    #[test]
    fn display_names_the_character_what_was_there_and_what_was_expected() {
        let e = parse("reset,after=2x").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"at character 13 ("2x"): expected a duration with a unit, such as 500ms, 2s or 1m"#
        );
        assert_eq!(
            format!("{e:#}"),
            r#"--fault "reset,after=2x": at character 13 ("2x"): expected a duration with a unit, such as 500ms, 2s or 1m"#
        );
        assert_eq!(
            parse("").unwrap_err().to_string(),
            "at character 1 (nothing): expected a fault kind: reset, keepalive-fail or down"
        );
        assert_eq!(
            parse("reset,").unwrap_err().to_string(),
            "at character 7 (nothing): expected KEY=VALUE after ',', with a key: after, after-connect, for, \
             port, program or probability"
        );
        assert_eq!(
            parse("reset,\tport=1").unwrap_err().to_string(),
            r#"at character 7 ("\t"): expected no spaces: the parts are joined by ',' alone, as in reset,port=6379,after=2s"#
        );
        assert_eq!(
            format!("{:#}", parse(r#"reset,port="80""#).unwrap_err()),
            r#"--fault "reset,port=\"80\"": at character 12 ("\"80\""): expected a port number from 1 to 65535, such as 6379"#
        );
        assert_eq!(
            parse("down,port=1").unwrap_err().to_string(),
            r#"at character 6 ("port=1"): expected no port= with down: down acts on the whole network, so port=, program=, probability= and after-connect= do not apply to it"#
        );
    }

    #[test]
    fn display_counts_characters_not_bytes() {
        // "ééé" is 6 bytes: the bad value starts at byte 27, character 25.
        let e = parse("reset,program=ééé,after=2x").unwrap_err();
        assert_eq!(e.position, 27);
        assert!(e.to_string().starts_with(r#"at character 25 ("2x")"#), "{e}");
        // And so are the earlier parts an error points back to.
        let e = parse("reset,program=é,port=1,port=2").unwrap_err();
        assert_eq!(e.position, 24);
        assert_eq!(
            e.to_string(),
            r#"at character 24 ("port=2"): expected each key at most once, and port= is already at character 17"#
        );
        let e = parse("reset,program=é,after=1s,after-connect=1s").unwrap_err();
        assert!(
            e.to_string().ends_with("(after= is already at character 17)"),
            "{e}"
        );
    }

    #[test]
    fn the_error_is_a_std_error_clap_can_carry() {
        fn carried<E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>>(e: E) -> String {
            e.into().to_string()
        }
        assert_eq!(
            carried(parse("x").unwrap_err()),
            parse("x").unwrap_err().to_string()
        );
    }

    #[test]
    fn describe_says_what_where_how_often_and_when() {
        let cases = [
            (
                "reset,port=6379,program=redis-cli,probability=0.5,after-connect=2s",
                "reset connections on port 6379 of redis-cli, each with probability 0.5, 2s after each \
                 connection is established",
            ),
            (
                "down,after=1s,for=3s",
                "down the network 1s after the start, for 3s",
            ),
            ("down", "down the network at the start"),
            ("down,for=1.5m", "down the network at the start, for 90s"),
            ("reset", "reset all connections at the start"),
            ("reset,after=2s", "reset all connections 2s after the start"),
            ("reset,port=80", "reset connections on port 80, at the start"),
            (
                "reset,program=nginx,after=1m",
                "reset connections of nginx, 1m after the start",
            ),
            (
                "reset,probability=25%",
                "reset all connections, each with probability 0.25, at the start",
            ),
            (
                "reset,after-connect=0",
                "reset all connections as soon as each connection is established",
            ),
            (
                "keepalive-fail,port=5432,after-connect=250ms",
                "fail the keep-alive of connections on port 5432, 250ms after each connection is established",
            ),
            (
                "keepalive-fail,after=1.5s",
                "fail the keep-alive of all connections 1.5s after the start",
            ),
            (
                "keepalive-fail,probability=0",
                "fail the keep-alive of all connections, each with probability 0, at the start",
            ),
        ];
        for (spec, line) in cases {
            assert_eq!(ok(spec).describe(), line, "{spec}");
        }
    }

    #[test]
    fn durations_are_shown_as_written() {
        for (d, shown) in [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(1), "0.000001ms"),
            (Duration::from_micros(500), "0.5ms"),
            (ms(250), "250ms"),
            (ms(1000), "1s"),
            (ms(1500), "1.5s"),
            (ms(1001), "1.001s"),
            (ms(59_000), "59s"),
            (ms(60_000), "1m"),
            (ms(90_000), "90s"),
            (ms(120_000), "2m"),
            (MAX_DURATION, "1440m"),
        ] {
            assert_eq!(show_duration(d), shown);
        }
    }

    #[test]
    fn the_text_is_kept() {
        let spec = "reset,probability=25%,after=1.50s";
        assert_eq!(ok(spec).text, spec);
    }
}
