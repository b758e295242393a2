//! The portability report (`wsd run`, `wsd report`): every `setsockopt`/
//! `getsockopt` the run's processes made on candidate and SAN sockets, grouped,
//! with who answered, the verdict, and what a bare SAN provider would have said.
//! Built once as JSON (this file); the text form is rendered from that same
//! document (`text.rs`).
//!
//! JSON schema (one object):
//! - `command`: array of strings or null; `status`: the program's exit status or null
//! - `mode`, `san`: the run's mode and segment; `config_error`: string or null
//!   (the program then ran without the SAN)
//! - `summary`: `san_connections` (made by `connect`), `san_accepts` (by `accept`), `endpoints`, `fallbacks` {`network_down`,
//!   `table_full`, `replay_refused`, `segment_refused`}, `segment_refusals`,
//!   `calls`, `answered_by` {`switch`, `provider`, `kernel`},
//!   `provider_would_refuse`, `dropped`
//!   - `fallbacks.segment_refused`: sockets that stayed plain TCP because their
//!     process refused the segment (another owner, other permissions, …); such a
//!     process cannot write to the segment, so only `wsd run` counts them (it
//!     hears them through `WSD_REPORT_FD`): null in `wsd report`
//!   - `segment_refusals`: array of {`reason` (why the segment was refused, as
//!     the library's warning says it), `count` (sockets), `programs` (array of
//!     the processes' names)}, the most frequent first; null in `wsd report`
//! - `rows`: array of {`program`, `pid` (the process: a shared segment's report
//!   tells its processes apart), `end` (for a SAN socket, its endpoint's role:
//!   "connector", "accepted", "listener", …; else null), `call` ("setsockopt"/"getsockopt"), `socket`
//!   ("candidate"/"san"/"plain"), `level`, `level_name`, `option`, `option_name`,
//!   `name` (level and option as every output shows them: `SOL_SOCKET/SO_KEEPALIVE`),
//!   `optlen`, `answered_by` ("switch"/"provider"/"kernel"), `verdict` ("ok" or a
//!   WSAE* name), `errno` (null or a name), `provider` ("ok" or a WSAE* name), `count`}
//! - `fault_seed`: the seed of `wsd run --fault`'s choices, or null
//! - `faults` (SPEC §7): array, oldest first, of {`fault` (its number), `kind`
//!   ("reset", "keepalive-fail", "down", "up"), `target` (what it aimed at, as
//!   said), `at_unix_ns`, `after_start_ms` (null outside `wsd run`),
//!   `injected_by` (pid), `endpoints_hit`, `hit`: array of {`endpoint`, `peer`
//!   (endpoint ids), `program`, `pid`, `fd` (the endpoint's creator), `role`,
//!   `local`, `remote`, `saw`: array of {`program`, `pid`, `fd`, `call`, `error`,
//!   `after_ms`}: each process's first data call that met the fault}}

mod text;

pub use text::render;

use super::sidechannel::Refusals;
use super::sites::Sites;
use serde_json::{Value, json};
use std::sync::atomic::Ordering::Relaxed;
use wsd::model::advice::advice;
use wsd::model::{WsaError, names};
use wsd::san::faults::{DataCall, Fault};
use wsd::san::layout::{CALL_SET, LAYER_KERNEL, LAYER_PROVIDER};
use wsd::san::{EndpointRole, Segment};

/// A JSON array's elements; none if `v` is not an array.
pub(crate) fn arr(v: &Value) -> &[Value] {
    v.as_array().map_or(&[][..], Vec::as_slice)
}

/// How the report is shown (`wsd run` and `wsd report` share these flags).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct View {
    /// Order of the rows: count (most first), option (level and option), or
    /// program (then option); default: program.
    #[arg(long, value_name = "KEY", value_parser = ["count", "option", "program"])]
    pub sort: Option<String>,
    /// Only the rows of calls a bare SAN provider would refuse.
    #[arg(long = "only", value_name = "refused", value_parser = ["refused"])]
    pub only: Option<String>,
    /// Only the summary line (the text report's first line and its totals).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl View {
    /// Is `row` shown (`--only`, `--quiet`)? Asked before its sites are named.
    fn keeps(&self, row: &Value) -> bool {
        !self.quiet && (self.only.is_none() || row["provider"] != "ok")
    }

    /// The document's rows ordered as asked (in place; `build` kept only the
    /// rows the view shows), and `--quiet` said.
    fn apply(&self, doc: &mut Value) {
        let Some(rows) = doc["rows"].as_array_mut() else {
            return;
        };
        let key = |r: &Value, k: &str| r[k].as_str().unwrap_or("").to_string();
        match self.sort.as_deref() {
            Some("count") => rows.sort_by_key(|r| std::cmp::Reverse(r["count"].as_u64().unwrap_or(0))),
            Some("option") => rows.sort_by_key(|r| (key(r, "name"), key(r, "program"), key(r, "call"))),
            _ => {}
        }
        if self.quiet {
            doc["quiet"] = Value::Bool(true);
        }
    }
}

/// What the tool knows about the run beyond the segment.
pub struct RunInfo {
    pub command: Option<Vec<String>>,
    pub status: Option<i32>,
    pub mode: String,
    pub config_error: Option<String>,
    /// When the run started (wall clock, ns since the epoch), if the tool ran it.
    pub started_ns: Option<u64>,
    /// The seed of the run's scheduled faults (`--seed`), if it scheduled any.
    pub seed: Option<u64>,
}

fn code_name(code: i32) -> String {
    WsaError::from_code(code).map_or_else(|| code.to_string(), |c| c.name().to_string())
}

/// The report of `seg`, shown as `view` asks; `refusals` are what `wsd run`
/// heard through its side channel (None for `wsd report`, which has none).
///
/// The summary counts every row; the sites (read from the modules' ELF and DWARF)
/// and advice are found only for the rows the view keeps.
pub fn build(seg: &Segment, info: &RunInfo, refusals: Option<&Refusals>, view: &View) -> Value {
    let s = &seg.header().stats;
    let mut by_layer = [0u64; 4];
    let mut refused = 0;
    let mut calls = seg.calls_with_rows();
    let mut sites: Option<Sites> = None;
    calls.sort_by_key(|(k, _, _)| {
        (
            k.program(),
            k.pid,
            k.end,
            k.call,
            k.level,
            k.optname,
            k.role,
            k.optlen,
            k.layer,
        )
    });
    let rows: Vec<Value> = calls
        .into_iter()
        .filter_map(|(k, count, table_rows)| {
            by_layer[usize::from(k.layer.min(3))] += count;
            if k.provider != 0 {
                refused += count;
            }
            let layer = match k.layer {
                LAYER_KERNEL => "kernel",
                LAYER_PROVIDER => "provider",
                _ => "switch",
            };
            let mut row = json!({
                "program": k.program(),
                "pid": k.pid,
                "end": EndpointRole::from_raw(u32::from(k.end)).map(EndpointRole::name),
                "call": if k.call == CALL_SET { "setsockopt" } else { "getsockopt" },
                "socket": match k.role { 1 => "candidate", 2 => "san", _ => "plain" },
                "level": k.level,
                "level_name": names::level(k.level),
                "option": k.optname,
                "option_name": names::option(k.level, k.optname),
                "name": names::OptionName { level: k.level, optname: k.optname }.to_string(),
                "optlen": k.optlen,
                "answered_by": layer,
                "verdict": match k.errno {
                    0 => "ok".to_string(),
                    e => WsaError::from_errno(e).map_or_else(|| names::errno(e), |w| w.name().to_string()),
                },
                "errno": (k.errno != 0).then(|| names::errno(k.errno)),
                "provider": if k.provider == 0 { "ok".to_string() } else { code_name(k.provider) },
                "count": count,
            });
            if !view.keeps(&row) {
                return None;
            }
            let sites = sites.get_or_insert_with(|| Sites::of(seg));
            let (shown, other) = sites.of_rows(&table_rows);
            row["sites"] = json!(shown);
            if other > 0 {
                row["other_sites"] = json!(other);
            }
            if k.provider != 0
                && let Some(a) =
                    advice(k.level, k.optname, true).or_else(|| advice(k.level, k.optname, false))
            {
                row["advice"] = json!({"provider": a.provider, "switch": a.switch, "port": a.port});
            }
            Some(row)
        })
        .collect();
    let calls: u64 = by_layer.iter().sum();
    let mut doc = json!({
        "command": info.command,
        "status": info.status,
        "mode": info.mode,
        "san": seg.name(),
        "config_error": info.config_error,
        "summary": {
            "san_connections": s.connections.load(Relaxed),
            "san_accepts": s.accepts.load(Relaxed),
            "endpoints": s.endpoints_created.load(Relaxed),
            "fallbacks": {
                "network_down": s.fallback_down.load(Relaxed),
                "table_full": s.fallback_full.load(Relaxed),
                "replay_refused": s.fallback_replay.load(Relaxed),
                "segment_refused": refusals.map(Refusals::total),
            },
            "segment_refusals": refusals.map(Refusals::to_json),
            "calls": calls,
            "answered_by": {"switch": by_layer[2], "provider": by_layer[3], "kernel": by_layer[1]},
            "provider_would_refuse": refused,
            "dropped": s.report_dropped.load(Relaxed),
        },
        "faults": faults(seg, info),
        "fault_seed": info.seed,
        "rows": rows,
    });
    view.apply(&mut doc);
    doc
}

/// The story of each fault (SPEC §7): when, what it aimed at, which endpoints it
/// hit, and what each program saw first — from the segment's fault log and
/// fault story, which outlive the endpoints.
fn faults(seg: &Segment, info: &RunInfo) -> Value {
    let story = seg.story();
    let faults: Vec<Value> = seg
        .fault_log()
        .into_iter()
        .map(|f| {
            let hits: Vec<Value> = story
                .iter()
                .filter(|t| t.fault == f.seq && t.is_hit())
                .map(|h| {
                    let saw: Vec<Value> = story
                        .iter()
                        .filter(|t| t.fault == f.seq && !t.is_hit() && t.id == h.id)
                        .map(|t| {
                            json!({
                                "program": t.comm,
                                "pid": t.pid,
                                "fd": t.fd,
                                "call": DataCall::from_code(t.role_or_call as u8).map_or("?", DataCall::name),
                                "error": names::errno(t.errno),
                                "after_ms": t.after_ms,
                            })
                        })
                        .collect();
                    json!({
                        "endpoint": h.id,
                        "peer": h.peer_id,
                        "program": h.comm,
                        "pid": h.pid,
                        "fd": h.fd,
                        "role": EndpointRole::from_raw(h.role_or_call).map_or("?", EndpointRole::name),
                        "local": h.local.map(|a| a.to_string()),
                        "remote": h.peer.map(|a| a.to_string()),
                        "saw": saw,
                    })
                })
                .collect();
            json!({
                "fault": f.seq,
                "kind": Fault::name(f.kind),
                "target": f.target,
                "at_unix_ns": f.at_realtime_ns,
                "after_start_ms": info.started_ns.map(|s| f.at_realtime_ns.saturating_sub(s) / 1_000_000),
                "injected_by": f.by,
                "endpoints_hit": f.hit,
                "hit": hits,
            })
        })
        .collect();
    Value::Array(faults)
}
