//! `wsd san status`: a summary of the whole segment, then its endpoints, as many
//! as the filters (`filters.rs`) and `--limit` keep.
//!
//! `status --json` prints one object: `san`, `capacity`, `network` ("up"/"down"),
//! `live`, `summary` (the whole segment, whatever the filters: `san`, `capacity`,
//! `network`, `live`, `roles` {`listener`, `connector`, `accepted`, `adopted`, `candidate`,
//! `direct`}, `states` {`healthy`, `keepalive-failed`, `reset`}, `processes`
//! (distinct processes in holder slots), `unidentified_holders`, `report_rows`
//! {`used`, `capacity`}; then the rows: `filters` {`program`, `port`, `state`,
//! `role`, each null when not given}, `limit` (null: every row), `matched`,
//! `shown`, `omitted`), `stats` {`endpoints_created`, `fallback_down`,
//! `fallback_full`, `fallback_replay`, and `sets`, `gets`, `provider_refusals`
//! summed over the live endpoints}, `reaped` {`holders`, `endpoints`, `claims`},
//! and `endpoints`: the rows the filters and `--limit` kept, an array of {`id`,
//! `pid` (the creator), `program` (the creator's process name while it runs, else
//! `comm`), `comm` (the name the record was made with: the creating thread's),
//! `fd`, `role`, `local`, `peer`, `state`, `peer_id`, `so_debug`,
//! `group_priority`, `holders` (pids), `held_by` [{`pid`, `program`: its process
//! name, null once gone}], `extra_holders` (holders beyond the slots, without
//! identity), `sets`, `gets`, `set_errors`, `get_errors`, `provider_refusals`}.
//!
//! Process names come from `/proc/PID/stat` (`procs.rs`), read once per pid
//! (with the start time, which tells a holder from a process that reused its
//! pid); nothing else in `status` makes a system call per endpoint, and the text
//! is written at once.

mod filters;
mod procs;

use crate::tool::out;
use clap::Args;
use filters::{RoleArg, StateArg};
use procs::Procs;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use wsd::model::checks::Connection;
use wsd::san::layout::{REPORT_ROWS, ROW_EMPTY, Record, identity_pid};
use wsd::san::reap::Reaped;
use wsd::san::{EndpointRole, Segment};

fn conn_name(state: Connection) -> &'static str {
    match state {
        Connection::Healthy => "healthy",
        Connection::KeepAliveFailed => "keepalive-failed",
        Connection::Reset => "reset",
    }
}

fn addr(slot: &wsd::san::layout::AddrSlot) -> String {
    slot.load().map_or("-".to_string(), |a| a.to_string())
}

/// Endpoint rows `status` prints in text unless `--limit` says otherwise.
const DEFAULT_LIMIT: usize = 50;

/// The roles, in the order the summary counts them.
const ROLES: [EndpointRole; 6] = [
    EndpointRole::Listener,
    EndpointRole::Connector,
    EndpointRole::Accepted,
    EndpointRole::Adopted,
    EndpointRole::Direct,
    EndpointRole::Candidate,
];

/// The connection states, in the order the summary counts them.
const STATES: [Connection; 3] = [
    Connection::Healthy,
    Connection::KeepAliveFailed,
    Connection::Reset,
];

#[derive(Args)]
pub struct StatusArgs {
    /// Endpoint rows to print, after the filters: 50 by default in text, every row
    /// with --json; 0 prints every row. The summary says how many were left out.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Only endpoints whose program, or a process holding them now, is named NAME:
    /// an exact name or a shell glob (`*`, `?`, `[...]`; quote it), e.g. 'postgres*'.
    /// Names are the kernel's process names (/proc/PID/comm, at most 15 bytes).
    #[arg(long, value_name = "NAME")]
    program: Option<String>,
    /// Only endpoints with PORT at either end: their local or their peer address.
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// Only endpoints in this connection state (the state column).
    #[arg(long, value_enum, value_name = "STATE")]
    state: Option<StateArg>,
    /// Only endpoints with this role (the role column); listening sockets: --role listener.
    #[arg(long, value_enum, value_name = "ROLE")]
    role: Option<RoleArg>,
}

/// One live endpoint, with what is read from it more than once read once.
struct Entry<'a> {
    rec: &'a Record,
    holders: Vec<u64>,
    state: Connection,
}

/// The whole segment, whatever the filters.
struct Summary {
    live: usize,
    roles: [u64; ROLES.len()],
    states: [u64; STATES.len()],
    /// Distinct processes in holder slots.
    processes: usize,
    /// Holders counted beyond the slots, whose identity is not known.
    unidentified: u64,
    report_rows: u32,
}

impl Summary {
    fn of(seg: &Segment, entries: &[Entry]) -> Summary {
        let mut roles = [0; ROLES.len()];
        let mut states = [0; STATES.len()];
        let mut pids = HashSet::new();
        let mut unidentified = 0;
        for e in entries {
            if let Some(i) = e.rec.role().and_then(|r| ROLES.iter().position(|&x| x == r)) {
                roles[i] += 1;
            }
            if let Some(i) = STATES.iter().position(|&s| s == e.state) {
                states[i] += 1;
            }
            pids.extend(e.holders.iter().map(|&h| identity_pid(h)));
            unidentified += u64::from(e.rec.extra_holders.load(Relaxed));
        }
        let report_rows = (0..REPORT_ROWS)
            .filter_map(|i| seg.row(i))
            .filter(|r| r.state.load(Relaxed) != ROW_EMPTY)
            .count() as u32;
        Summary {
            live: entries.len(),
            roles,
            states,
            processes: pids.len(),
            unidentified,
            report_rows,
        }
    }

    fn counts<T>(names: impl Iterator<Item = T>, counts: &[u64]) -> String
    where
        T: std::fmt::Display,
    {
        names
            .zip(counts)
            .map(|(name, n)| format!("{n} {name}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The counts as JSON, `{name: count}` in the same order.
    fn counts_json<T>(names: impl Iterator<Item = T>, counts: &[u64]) -> Value
    where
        T: std::fmt::Display,
    {
        let map = names
            .zip(counts)
            .map(|(name, &n)| (name.to_string(), Value::from(n)));
        Value::Object(map.collect())
    }
}

/// One endpoint in `status --json` (serialized straight from this struct, not
/// through a map per endpoint: tens of thousands of them stay fast).
#[derive(Serialize)]
struct EndpointJson {
    id: u64,
    pid: u32,
    program: String,
    /// The name the record was made with: the creating thread's.
    comm: String,
    fd: i32,
    role: &'static str,
    local: Option<String>,
    peer: Option<String>,
    state: &'static str,
    peer_id: u64,
    so_debug: u32,
    group_priority: i32,
    holders: Vec<u32>,
    held_by: Vec<HolderJson>,
    extra_holders: u32,
    sets: u64,
    gets: u64,
    set_errors: u64,
    get_errors: u64,
    provider_refusals: u64,
}

#[derive(Serialize)]
struct HolderJson {
    pid: u32,
    program: Option<String>,
}

impl EndpointJson {
    fn of(e: &Entry, procs: &mut Procs) -> EndpointJson {
        let rec = e.rec;
        EndpointJson {
            id: rec.id.load(Relaxed),
            pid: rec.pid.load(Relaxed),
            program: procs.program(e),
            comm: rec.comm(),
            fd: rec.fd.load(Relaxed),
            role: rec.role().map_or("?", |r| r.name()),
            local: rec.local.load().map(|a| a.to_string()),
            peer: rec.peer.load().map(|a| a.to_string()),
            state: conn_name(e.state),
            peer_id: rec.peer_id.load(Relaxed),
            so_debug: rec.so_debug.load(Relaxed),
            group_priority: rec.group_priority.load(Relaxed),
            holders: e.holders.iter().map(|&h| identity_pid(h)).collect(),
            held_by: procs
                .held_by(e)
                .into_iter()
                .map(|(pid, program)| HolderJson { pid, program })
                .collect(),
            extra_holders: rec.extra_holders.load(Relaxed),
            sets: rec.sets.load(Relaxed),
            gets: rec.gets.load(Relaxed),
            set_errors: rec.set_errors.load(Relaxed),
            get_errors: rec.get_errors.load(Relaxed),
            provider_refusals: rec.provider_refusals.load(Relaxed),
        }
    }
}

/// The whole `status --json` document.
#[derive(Serialize)]
struct StatusJson<'a> {
    san: &'a str,
    capacity: u32,
    network: &'static str,
    live: usize,
    summary: Value,
    stats: Value,
    reaped: Value,
    endpoints: Vec<EndpointJson>,
}

/// The holders column: `PID/NAME` of each holder (`PID/?` for one that is gone
/// and not reclaimed yet), `+N` for holders without identity, `-` for none.
fn holders_text(e: &Entry, procs: &mut Procs) -> String {
    let mut words: Vec<String> = procs
        .held_by(e)
        .into_iter()
        .map(|(pid, name)| format!("{pid}/{}", name.as_deref().unwrap_or("?")))
        .collect();
    let extra = e.rec.extra_holders.load(Relaxed);
    if extra > 0 {
        words.push(format!("+{extra}"));
    }
    if words.is_empty() {
        "-".to_string()
    } else {
        words.join(",")
    }
}

pub(super) fn status(seg: &Segment, args: &StatusArgs, json: bool) -> i32 {
    let reaped: Reaped = seg.reap();
    let h = seg.header();
    let s = &h.stats;
    let network = if seg.network_down() { "down" } else { "up" };
    let entries: Vec<Entry> = seg
        .live()
        .map(|(_, rec)| Entry {
            rec,
            holders: rec.holder_identities().collect(),
            state: rec.connection_state(),
        })
        .collect();
    let summary = Summary::of(seg, &entries);
    let mut procs = Procs::default();
    // 0, or none given with --json: every row.
    let limit = match args.limit.unwrap_or(if json { 0 } else { DEFAULT_LIMIT }) {
        0 => usize::MAX,
        n => n,
    };
    let mut matched = 0;
    let mut shown: Vec<&Entry> = Vec::new();
    for e in &entries {
        if !args.filtering() || args.keeps(e, &mut procs) {
            matched += 1;
            if shown.len() < limit {
                shown.push(e);
            }
        }
    }
    let omitted = matched - shown.len();
    let live = &entries;
    if json {
        let doc = StatusJson {
            san: seg.name(),
            capacity: seg.capacity(),
            network,
            live: live.len(),
            summary: json!({
                "san": seg.name(),
                "capacity": seg.capacity(),
                "network": network,
                "live": summary.live,
                "roles": Summary::counts_json(ROLES.iter().map(|r| r.name()), &summary.roles),
                "states": Summary::counts_json(STATES.iter().map(|&s| conn_name(s)), &summary.states),
                "processes": summary.processes,
                "unidentified_holders": summary.unidentified,
                "report_rows": {"used": summary.report_rows, "capacity": REPORT_ROWS},
                "filters": {
                    "program": args.program,
                    "port": args.port,
                    "state": args.state.map(|s| conn_name(s.connection())),
                    "role": args.role.map(|r| r.role().name()),
                },
                "limit": (limit != usize::MAX).then_some(limit),
                "matched": matched,
                "shown": shown.len(),
                "omitted": omitted,
            }),
            stats: json!({
                "endpoints_created": s.endpoints_created.load(Relaxed),
                "fallback_down": s.fallback_down.load(Relaxed),
                "fallback_full": s.fallback_full.load(Relaxed),
                "fallback_replay": s.fallback_replay.load(Relaxed),
                "sets": live.iter().map(|e| e.rec.sets.load(Relaxed)).sum::<u64>(),
                "gets": live.iter().map(|e| e.rec.gets.load(Relaxed)).sum::<u64>(),
                "provider_refusals": live.iter().map(|e| e.rec.provider_refusals.load(Relaxed)).sum::<u64>(),
            }),
            reaped: json!({"holders": reaped.holders, "endpoints": reaped.endpoints, "claims": reaped.claims}),
            endpoints: shown.iter().map(|e| EndpointJson::of(e, &mut procs)).collect(),
        };
        // Serialized first, then written at once: one write, not one per kilobyte.
        let doc = serde_json::to_string(&doc).unwrap_or_default();
        outln!("{doc}");
        return 0;
    }
    // The whole text is written at once: one write, however many rows.
    let mut t = String::new();
    let _ = writeln!(
        t,
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
        let _ = writeln!(
            t,
            "reclaimed: {} endpoints whose sockets are gone, {} dead holders, {} abandoned claims",
            reaped.endpoints, reaped.holders, reaped.claims
        );
    }
    let _ = writeln!(
        t,
        "  roles: {}",
        Summary::counts(ROLES.iter().map(|r| r.name()), &summary.roles)
    );
    let _ = writeln!(
        t,
        "  states: {}",
        Summary::counts(STATES.iter().map(|&s| conn_name(s)), &summary.states)
    );
    let unidentified = match summary.unidentified {
        0 => String::new(),
        n => format!(" (and {n} holders without identity)"),
    };
    let _ = writeln!(
        t,
        "  processes holding endpoints: {}{unidentified}; report rows used: {} of {REPORT_ROWS}",
        summary.processes, summary.report_rows
    );
    let of = if args.filtering() {
        format!("{matched} matching {}", args.describe())
    } else {
        matched.to_string()
    };
    let more = match omitted {
        0 => String::new(),
        n => format!("; {n} not shown (--limit 0 shows all)"),
    };
    let _ = writeln!(t, "  endpoints shown: {} of {of}{more}", shown.len());
    if !shown.is_empty() {
        let _ = writeln!(
            t,
            "{:>5} {:>7} {:<15} {:>4} {:<9} {:<22} {:<22} {:<16} {:>5} {:>5} {:>5} {:>6} {:>6} holders",
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
    }
    for e in shown {
        let r = e.rec;
        let peer_id = r.peer_id.load(Relaxed);
        let _ = writeln!(
            t,
            "{:>5} {:>7} {:<15} {:>4} {:<9} {:<22} {:<22} {:<16} {:>5} {:>5} {:>5} {:>6} {:>6} {}",
            r.id.load(Relaxed),
            r.pid.load(Relaxed),
            procs.program(e),
            r.fd.load(Relaxed),
            r.role().map_or("?", |r| r.name()),
            addr(&r.local),
            addr(&r.peer),
            conn_name(e.state),
            if peer_id == 0 {
                "-".to_string()
            } else {
                peer_id.to_string()
            },
            r.so_debug.load(Relaxed),
            r.group_priority.load(Relaxed),
            r.sets.load(Relaxed),
            r.gets.load(Relaxed),
            holders_text(e, &mut procs),
        );
    }
    out(format_args!("{t}"), false);
    0
}
