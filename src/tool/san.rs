//! `wsd san VERB`: inspect the SAN segment and inject faults (SPEC §6.3). Exit
//! status 0 on success, 1 when `check` finds a violation, 2 for a usage error, a
//! segment that cannot be opened, or an unknown target.
//!
//! `status --json` prints one object: `san`, `capacity`, `network` ("up"/"down"),
//! `live`, `stats` {`endpoints_created`, `fallback_down`, `fallback_full`,
//! `fallback_replay`, and `sets`, `gets`, `provider_refusals` summed over the live
//! endpoints}, `reaped` {`holders`,
//! `endpoints`, `claims`}, and `endpoints`: an array of {`id`, `pid`, `program`,
//! `fd`, `role`, `local`, `peer`, `state`, `peer_id`, `so_debug`,
//! `group_priority`, `holders` (pids), `sets`, `gets`, `set_errors`,
//! `get_errors`, `provider_refusals`}.

use super::{USAGE, fail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::sync::atomic::Ordering::Relaxed;
use wsd::config::{DEFAULT_SAN, valid_san_name};
use wsd::model::provider::Connection;
use wsd::san::layout::{DEFAULT_CAPACITY, Record, identity_pid};
use wsd::san::reap::Reaped;
use wsd::san::{Segment, SegmentError, Target};

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
    /// Show the network state and every endpoint (reclaims dead processes' first).
    Status,
    /// Create the segment.
    Create {
        /// Endpoint records.
        #[arg(long, default_value_t = DEFAULT_CAPACITY)]
        capacity: u32,
    },
    /// Remove the segment.
    Destroy,
    /// Verify the segment's invariants; exit 1 on any violation.
    Check,
    /// Bring the SAN network down: SAN calls answer WSAENETDOWN.
    Down,
    /// Bring the SAN network up again.
    Up,
    /// Reset a connection (both ends answer WSAENOTCONN). TARGET: endpoint id or ADDR:PORT.
    Reset { target: String },
    /// Fail a connection's keep-alive (both ends answer WSAENETRESET).
    #[command(name = "keepalive-fail")]
    KeepaliveFail { target: String },
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
            format_args!("segment name {name:?}: expected letters, digits, '-', '_' or '.'"),
        );
    }
    let open = || Segment::open(&name).map_err(|e| refused(&name, &e));
    match args.verb {
        Verb::Create { capacity } => match Segment::create(&name, capacity) {
            Ok(seg) => say(
                args.json,
                json!({"san": name, "capacity": seg.capacity(), "created": true}),
                || format!("created SAN {name:?} with {} endpoint records", seg.capacity()),
            ),
            Err(e) => refused(&name, &e),
        },
        Verb::Destroy => match Segment::destroy(&name) {
            Ok(()) => say(args.json, json!({"san": name, "destroyed": true}), || {
                format!("destroyed SAN {name:?}")
            }),
            Err(e) => refused(&name, &e),
        },
        Verb::Status => open().map_or_else(|s| s, |seg| status(&seg, args.json)),
        Verb::Check => match Segment::open(&name) {
            Ok(seg) => check(&seg, args.json),
            Err(e) => {
                let v = vec![format!("segment refused: {e}")];
                report_violations(&name, &v, args.json)
            }
        },
        Verb::Down | Verb::Up => open().map_or_else(
            |s| s,
            |seg| {
                let up = matches!(args.verb, Verb::Up);
                seg.set_network(up);
                let state = if up { "up" } else { "down" };
                say(args.json, json!({"san": name, "network": state}), || {
                    format!("SAN {name:?} network {state}")
                })
            },
        ),
        Verb::Reset { ref target } => {
            open().map_or_else(|s| s, |seg| fault(&seg, target, Connection::Reset, args.json))
        }
        Verb::KeepaliveFail { ref target } => open().map_or_else(
            |s| s,
            |seg| fault(&seg, target, Connection::KeepAliveFailed, args.json),
        ),
    }
}

fn refused(name: &str, e: &SegmentError) -> i32 {
    fail(USAGE, format_args!("SAN {name:?}: {e}"))
}

fn say(json: bool, value: Value, text: impl FnOnce() -> String) -> i32 {
    if json {
        outln!("{value}");
    } else {
        outln!("{}", text());
    }
    0
}

fn fault(seg: &Segment, target: &str, state: Connection, json: bool) -> i32 {
    let Some(t) = Target::parse(target) else {
        return fail(
            USAGE,
            format_args!("target {target:?}: expected an endpoint id or ADDR:PORT"),
        );
    };
    seg.reap();
    let Some(rec) = seg.find(t) else {
        return fail(
            USAGE,
            format_args!("no live endpoint is {t} in SAN {:?}", seg.name()),
        );
    };
    let ids = seg.fault(rec, state);
    let what = match state {
        Connection::Reset => "reset",
        _ => "keepalive-failed",
    };
    say(
        json,
        json!({"san": seg.name(), "state": what, "endpoints": ids}),
        || {
            let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
            format!("{what}: endpoint {}", ids.join(" and "))
        },
    )
}

fn conn_name(rec: &Record) -> &'static str {
    match rec.connection_state() {
        Connection::Healthy => "healthy",
        Connection::KeepAliveFailed => "keepalive-failed",
        Connection::Reset => "reset",
    }
}

fn addr(slot: &wsd::san::layout::AddrSlot) -> String {
    slot.load().map_or("-".to_string(), |a| a.to_string())
}

fn endpoint_json(rec: &Record) -> Value {
    json!({
        "id": rec.id.load(Relaxed),
        "pid": rec.pid.load(Relaxed),
        "program": rec.comm(),
        "fd": rec.fd.load(Relaxed),
        "role": rec.role().map_or("?", |r| r.name()),
        "local": rec.local.load().map(|a| a.to_string()),
        "peer": rec.peer.load().map(|a| a.to_string()),
        "state": conn_name(rec),
        "peer_id": rec.peer_id.load(Relaxed),
        "so_debug": rec.so_debug.load(Relaxed),
        "group_priority": rec.group_priority.load(Relaxed),
        "holders": rec.holder_identities().map(identity_pid).collect::<Vec<_>>(),
        "sets": rec.sets.load(Relaxed),
        "gets": rec.gets.load(Relaxed),
        "set_errors": rec.set_errors.load(Relaxed),
        "get_errors": rec.get_errors.load(Relaxed),
        "provider_refusals": rec.provider_refusals.load(Relaxed),
    })
}

fn status(seg: &Segment, json: bool) -> i32 {
    let reaped: Reaped = seg.reap();
    let h = seg.header();
    let s = &h.stats;
    let network = if seg.network_down() { "down" } else { "up" };
    let live: Vec<&Record> = seg.live().map(|(_, r)| r).collect();
    if json {
        let doc = json!({
            "san": seg.name(),
            "capacity": seg.capacity(),
            "network": network,
            "live": live.len(),
            "stats": {
                "endpoints_created": s.endpoints_created.load(Relaxed),
                "fallback_down": s.fallback_down.load(Relaxed),
                "fallback_full": s.fallback_full.load(Relaxed),
                "fallback_replay": s.fallback_replay.load(Relaxed),
                "sets": live.iter().map(|r| r.sets.load(Relaxed)).sum::<u64>(),
                "gets": live.iter().map(|r| r.gets.load(Relaxed)).sum::<u64>(),
                "provider_refusals": live.iter().map(|r| r.provider_refusals.load(Relaxed)).sum::<u64>(),
            },
            "reaped": {"holders": reaped.holders, "endpoints": reaped.endpoints, "claims": reaped.claims},
            "endpoints": live.iter().map(|r| endpoint_json(r)).collect::<Vec<_>>(),
        });
        outln!("{doc}");
        return 0;
    }
    outln!(
        "SAN {:?}: network {network}, {} of {} endpoints live, {} created; fallbacks to TCP: {} network down, {} table full, {} replay refused",
        seg.name(),
        live.len(),
        seg.capacity(),
        s.endpoints_created.load(Relaxed),
        s.fallback_down.load(Relaxed),
        s.fallback_full.load(Relaxed),
        s.fallback_replay.load(Relaxed),
    );
    if reaped != Reaped::default() {
        outln!(
            "reclaimed: {} endpoints of dead processes, {} dead holders, {} abandoned claims",
            reaped.endpoints,
            reaped.holders,
            reaped.claims
        );
    }
    if live.is_empty() {
        return 0;
    }
    outln!(
        "{:>5} {:>7} {:<15} {:>4} {:<9} {:<22} {:<22} {:<16} {:>5} {:>5} {:>5} {:>6} {:>6}",
        "id",
        "pid",
        "program",
        "fd",
        "role",
        "local",
        "peer",
        "state",
        "peer",
        "debug",
        "prio",
        "sets",
        "gets"
    );
    for r in live {
        let peer_id = r.peer_id.load(Relaxed);
        outln!(
            "{:>5} {:>7} {:<15} {:>4} {:<9} {:<22} {:<22} {:<16} {:>5} {:>5} {:>5} {:>6} {:>6}",
            r.id.load(Relaxed),
            r.pid.load(Relaxed),
            r.comm(),
            r.fd.load(Relaxed),
            r.role().map_or("?", |r| r.name()),
            addr(&r.local),
            addr(&r.peer),
            conn_name(r),
            if peer_id == 0 {
                "-".to_string()
            } else {
                peer_id.to_string()
            },
            r.so_debug.load(Relaxed),
            r.group_priority.load(Relaxed),
            r.sets.load(Relaxed),
            r.gets.load(Relaxed),
        );
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
