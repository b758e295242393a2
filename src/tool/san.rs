//! `wsd san VERB`: inspect the SAN segment and inject faults (SPEC §6.3). Exit
//! status 0 on success, 1 when `check` finds a violation, 2 for a usage error, a
//! segment that cannot be opened, or an unknown target.
//!
//! `create --json` prints `{san, capacity, created, mode ("0600", or "0660" with
//! --group), group (null, or {gid, name}: name null when the group database has
//! no such gid)}`.
//!
//! This file owns the verbs' command line, the segment's life (`create`,
//! `destroy`), `up` and `check`; `faults` owns the verbs that inject faults on
//! connections (`reset`, `keepalive-fail`, `down`) and what they say was hit;
//! `status` owns the summary and the table of endpoints.

mod faults;
mod status;

use super::{USAGE, fail};
use clap::{Args, Subcommand};
use faults::{Aim, delivered, fault};
use serde_json::{Value, json};
use status::{StatusArgs, status};
use wsd::config::{DEFAULT_SAN, SAN_NAME_RULE, valid_san_name};
use wsd::san::faults::Fault;
use wsd::san::layout::DEFAULT_CAPACITY;
use wsd::san::{Segment, SegmentError};

#[derive(Args)]
pub struct SanArgs {
    #[command(subcommand)]
    verb: Verb,
    /// Segment name; default: $WSD_SAN, else "default".
    #[arg(long, global = true)]
    san: Option<String>,
    /// One JSON document instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Verb {
    /// Show a summary of the segment, then its endpoints (reclaims dead processes' first).
    ///
    /// The summary covers the whole segment: its name and capacity, the network
    /// state, the endpoints live by role and by connection state (healthy,
    /// keepalive-failed, reset), the processes holding endpoints, and the report
    /// rows used. The endpoint rows follow: the process that made each endpoint
    /// (pid, and program: the process's name, or the name the endpoint was made
    /// with once that process is gone), and in the holders column every process
    /// holding the socket now, as PID/NAME (a forked child that kept a socket its
    /// parent closed, say).
    ///
    /// --program, --port, --state and --role choose the endpoint rows, in text and
    /// in JSON (all must match); the summary still covers the whole segment and
    /// says how many rows matched and how many --limit left out.
    Status(StatusArgs),
    /// Create the segment: private to this user (0600), or shared with a group.
    Create {
        /// Endpoint records, from 1 to 2^21 (each 256 bytes of a sparse file).
        #[arg(long, default_value_t = DEFAULT_CAPACITY, value_parser = capacity, allow_negative_numbers = true)]
        capacity: u32,
        /// Share the segment with group G (a name or a number): mode 0660, group G,
        /// so that programs that drop privileges to a user of G (`memcached -u
        /// nobody`) still use it. Only root may name a group it is not in.
        #[arg(long, value_name = "G")]
        group: Option<String>,
    },
    /// Remove the segment.
    Destroy,
    /// Verify the segment's invariants; exit 1 on any violation.
    Check,
    /// Bring the SAN network down: every established SAN connection breaks (its
    /// first data call answers ENETDOWN), SAN calls answer WSAENETDOWN, new
    /// connections are plain TCP until `up`.
    Down,
    /// Bring the SAN network up again (connections `down` broke stay broken).
    Up,
    /// Reset connections, both ends: the first data call on each answers
    /// ECONNRESET, setsockopt answers WSAENOTCONN (SPEC §7).
    Reset(Aim),
    /// Fail connections' keep-alive, both ends: the first data call answers
    /// ENETRESET, setsockopt answers WSAENETRESET.
    #[command(name = "keepalive-fail")]
    KeepaliveFail(Aim),
}

pub fn san(args: SanArgs) -> i32 {
    let name = args
        .san
        .clone()
        .or_else(|| std::env::var("WSD_SAN").ok())
        .unwrap_or_else(|| DEFAULT_SAN.to_string());
    if !valid_san_name(&name) {
        return fail(
            USAGE,
            format_args!("segment name {name:?}: expected {SAN_NAME_RULE}"),
        );
    }
    let open = || Segment::open(&name).map_err(|e| refused(&name, &e));
    match args.verb {
        Verb::Create { capacity, ref group } => {
            let group = match group.as_deref().map(super::group).transpose() {
                Ok(g) => g,
                Err(e) => return fail(USAGE, e),
            };
            let made = match &group {
                Some((gid, _)) => Segment::create_shared(&name, capacity, *gid),
                None => Segment::create(&name, capacity),
            };
            match made {
                Ok(seg) => say(
                    args.json,
                    json!({
                        "san": name,
                        "capacity": seg.capacity(),
                        "created": true,
                        "mode": if group.is_some() { "0660" } else { "0600" },
                        "group": group.as_ref().map(|(gid, name)| json!({"gid": gid, "name": name})),
                    }),
                    || match &group {
                        Some((gid, gname)) => format!(
                            "created SAN {name:?} with {} endpoint records, shared with group {}: mode 0660",
                            seg.capacity(),
                            super::group_text(*gid, gname.as_deref())
                        ),
                        None => format!(
                            "created SAN {name:?} with {} endpoint records, private to this user: mode 0600",
                            seg.capacity()
                        ),
                    },
                ),
                Err(e) => match &group {
                    Some((gid, gname)) => fail(
                        USAGE,
                        super::shared_creation_failed(&name, &e, *gid, gname.as_deref()),
                    ),
                    None => refused(&name, &e),
                },
            }
        }
        Verb::Destroy => match Segment::destroy(&name) {
            Ok(()) => say(args.json, json!({"san": name, "destroyed": true}), || {
                format!("destroyed SAN {name:?}")
            }),
            Err(e) => fail(USAGE, format_args!("SAN {name:?}: {e}")),
        },
        Verb::Status(ref status_args) => {
            open().map_or_else(|s| s, |seg| status(&seg, status_args, args.json))
        }
        // A segment that cannot be opened at all is a usage error (exit status 2),
        // as for every verb; one that opens is checked (1 on a violation).
        Verb::Check => open().map_or_else(|s| s, |seg| check(&seg, args.json)),
        Verb::Up => open().map_or_else(
            |s| s,
            |seg| {
                let seq = seg.bring_up();
                say(
                    args.json,
                    json!({"san": name, "network": "up", "fault": seq}),
                    || format!("SAN {name:?} network up"),
                )
            },
        ),
        Verb::Down => open().map_or_else(
            |s| s,
            |seg| {
                seg.reap();
                let hit = seg.bring_down();
                delivered(&seg, Fault::Down, "network down", &hit, args.json)
            },
        ),
        Verb::Reset(ref aim) => open().map_or_else(|s| s, |seg| fault(&seg, aim, Fault::Reset, args.json)),
        Verb::KeepaliveFail(ref aim) => {
            open().map_or_else(|s| s, |seg| fault(&seg, aim, Fault::KeepaliveFail, args.json))
        }
    }
}

fn refused(name: &str, e: &SegmentError) -> i32 {
    let hint = match e {
        SegmentError::Missing => ": create it with `wsd san create`, or name another with --san",
        _ => "",
    };
    fail(USAGE, format_args!("SAN {name:?}: {e}{hint}"))
}

/// `--capacity`: a number within the capacity rule, said as the segment says it.
fn capacity(s: &str) -> Result<u32, String> {
    match s.trim().parse::<i128>() {
        Ok(n) if wsd::san::layout::capacity_ok(n) => Ok(n as u32),
        Ok(n) => Err(wsd::san::layout::capacity_rule(n)),
        Err(_) => Err(format!(
            "{s:?}: expected a number of endpoint records from 1 to {}",
            wsd::san::layout::MAX_CAPACITY
        )),
    }
}

fn say(json: bool, value: Value, text: impl FnOnce() -> String) -> i32 {
    if json {
        outln!("{value}");
    } else {
        outln!("{}", text());
    }
    0
}

fn check(seg: &Segment, json: bool) -> i32 {
    seg.reap();
    report_violations(seg.name(), &seg.check(), json)
}

fn report_violations(name: &str, violations: &[String], json: bool) -> i32 {
    if json {
        outln!(
            "{}",
            json!({"san": name, "ok": violations.is_empty(), "violations": violations})
        );
    } else if violations.is_empty() {
        outln!("SAN {name:?}: no violation");
    } else {
        for v in violations {
            outln!("SAN {name:?}: {v}");
        }
    }
    i32::from(!violations.is_empty())
}
