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
//!
//! The values of the keys (durations, ports, program names, probabilities) are
//! read, and said back, by `values`; the unit tests are in `tests.rs` (errors in
//! `tests/errors.rs`).

#[cfg(test)]
mod tests;
mod values;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use values::{parse_duration, parse_port, parse_probability, parse_program, show_duration};

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
