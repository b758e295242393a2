//! The portability report (`wsd run`, `wsd report`): every `setsockopt`/
//! `getsockopt` the run's processes made on candidate and SAN sockets, grouped,
//! with who answered, the verdict, and what a bare SAN provider would have said.
//! Built once as JSON; the text form is rendered from that same document.
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

use super::sidechannel::Refusals;
use serde_json::{Value, json};
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;
use wsd::model::{WsaError, names};
use wsd::san::faults::{DataCall, Fault};
use wsd::san::layout::{CALL_SET, LAYER_KERNEL, LAYER_PROVIDER};
use wsd::san::{EndpointRole, Segment};

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
    /// The document's rows, filtered and ordered as asked (in place).
    pub fn apply(&self, doc: &mut Value) {
        let Some(rows) = doc["rows"].as_array_mut() else {
            return;
        };
        if self.only.is_some() {
            rows.retain(|r| r["provider"] != "ok");
        }
        let key = |r: &Value, k: &str| r[k].as_str().unwrap_or("").to_string();
        match self.sort.as_deref() {
            Some("count") => rows.sort_by_key(|r| std::cmp::Reverse(r["count"].as_u64().unwrap_or(0))),
            Some("option") => rows.sort_by_key(|r| (key(r, "name"), key(r, "program"), key(r, "call"))),
            _ => {}
        }
        if self.quiet {
            rows.clear();
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

/// The report of `seg`; `refusals` are what `wsd run` heard through its side
/// channel (None for `wsd report`, which has none).
pub fn build(seg: &Segment, info: &RunInfo, refusals: Option<&Refusals>) -> Value {
    let s = &seg.header().stats;
    let mut by_layer = [0u64; 4];
    let mut refused = 0;
    let mut calls = seg.calls();
    calls.sort_by_key(|(k, _)| {
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
        .map(|(k, count)| {
            by_layer[usize::from(k.layer.min(3))] += count;
            if k.provider != 0 {
                refused += count;
            }
            let layer = match k.layer {
                LAYER_KERNEL => "kernel",
                LAYER_PROVIDER => "provider",
                _ => "switch",
            };
            json!({
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
            })
        })
        .collect();
    let calls: u64 = by_layer.iter().sum();
    json!({
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
    })
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

/// The faults section of the text report.
fn render_faults(out: &mut String, faults: &[Value]) {
    if faults.is_empty() {
        return;
    }
    let _ = writeln!(out, "  faults: {}", faults.len());
    for f in faults {
        let when = match f["after_start_ms"].as_u64() {
            Some(ms) => format!("{}.{:03} s into the run", ms / 1000, ms % 1000),
            None => {
                let ns = f["at_unix_ns"].as_u64().unwrap_or(0);
                let day = (ns / 1_000_000_000) % 86_400;
                format!(
                    "at {:02}:{:02}:{:02}.{:03} UTC",
                    day / 3600,
                    day / 60 % 60,
                    day % 60,
                    ns / 1_000_000 % 1000
                )
            }
        };
        let hit = f["hit"].as_array().map_or(&[][..], Vec::as_slice);
        let _ = writeln!(
            out,
            "    fault {}: {} of {}, {when}: {} endpoint{} hit",
            f["fault"],
            f["kind"].as_str().unwrap_or("?"),
            f["target"].as_str().unwrap_or("?"),
            f["endpoints_hit"],
            if f["endpoints_hit"] == 1 { "" } else { "s" }
        );
        for h in hit {
            let s = |k: &str| h[k].as_str().unwrap_or("-").to_string();
            let _ = write!(
                out,
                "      {} pid {} fd {} ({}, {} -> {}): ",
                s("program"),
                h["pid"],
                h["fd"],
                s("role"),
                s("local"),
                s("remote")
            );
            let saw = h["saw"].as_array().map_or(&[][..], Vec::as_slice);
            if saw.is_empty() {
                let _ = writeln!(out, "no data call met it");
                continue;
            }
            let seen: Vec<String> = saw
                .iter()
                .map(|t| {
                    format!(
                        "{} pid {} saw {} in {} on fd {}, {} ms after",
                        t["program"].as_str().unwrap_or("?"),
                        t["pid"],
                        t["error"].as_str().unwrap_or("?"),
                        t["call"].as_str().unwrap_or("?"),
                        t["fd"],
                        t["after_ms"]
                    )
                })
                .collect();
            let _ = writeln!(out, "{}", seen.join("; "));
        }
    }
}

/// `word` as a POSIX shell would need it written to mean that one word: as it
/// is when it holds only characters no shell treats specially, else in single
/// quotes (a quote inside as `'\''`).
pub fn shell_quoted(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The report as text, from the JSON document.
pub fn render(r: &Value) -> String {
    let mut out = String::new();
    let sum = &r["summary"];
    let _ = write!(out, "wsd report");
    if let Some(cmd) = r["command"].as_array() {
        let words: Vec<String> = cmd.iter().filter_map(Value::as_str).map(shell_quoted).collect();
        let _ = write!(out, " for `{}`", words.join(" "));
        if let Some(st) = r["status"].as_i64() {
            let _ = write!(out, " (exit status {st})");
        }
    }
    let _ = writeln!(
        out,
        ": mode {}, SAN {}",
        r["mode"].as_str().unwrap_or("?"),
        r["san"]
    );
    if r["quiet"] == true {
        let faults = r["faults"].as_array().map_or(0, Vec::len);
        let _ = writeln!(
            out,
            "  {} SAN sockets ({} by connect, {} by accept), {} calls, {} a bare SAN provider would refuse, {faults} faults",
            sum["endpoints"],
            sum["san_connections"],
            sum["san_accepts"],
            sum["calls"],
            sum["provider_would_refuse"]
        );
        return out;
    }
    if let Some(e) = r["config_error"].as_str() {
        let _ = writeln!(
            out,
            "  configuration error, so the program ran without the SAN: {e}"
        );
    }
    let fb = &sum["fallbacks"];
    let fallbacks = ["network_down", "table_full", "replay_refused", "segment_refused"]
        .iter()
        .map(|k| fb[k].as_u64().unwrap_or(0));
    let total_fb: u64 = fallbacks.sum();
    if sum["endpoints"].as_u64() == Some(0) && total_fb == 0 {
        let _ = writeln!(out, "  saw no SAN sockets: no socket of this run reached the SAN");
    }
    let _ = write!(
        out,
        "  SAN sockets connected: {} by connect, {} by accept; fell back to plain TCP: {total_fb} (network down {}, table full {}, replay refused {}",
        sum["san_connections"],
        sum["san_accepts"],
        fb["network_down"],
        fb["table_full"],
        fb["replay_refused"]
    );
    // Only `wsd run` hears of sockets whose process refused the segment.
    if let Some(n) = fb["segment_refused"].as_u64() {
        // `segment refused 2 by memcached: REASON`, or with several reasons
        // `segment refused 3: 2 by memcached: REASON; 1 by python3: REASON`.
        let _ = write!(out, ", segment refused {n}");
        let reasons = sum["segment_refusals"].as_array().map_or(&[][..], Vec::as_slice);
        for (i, r) in reasons.iter().enumerate() {
            let programs: Vec<&str> = r["programs"]
                .as_array()
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let reason = r["reason"].as_str().unwrap_or("?");
            let by = programs.join(", ");
            let _ = match (i, reasons.len()) {
                (_, 1) => write!(out, " by {by}: {reason}"),
                (0, _) => write!(out, ": {} by {by}: {reason}", r["count"]),
                _ => write!(out, "; {} by {by}: {reason}", r["count"]),
            };
        }
    }
    let _ = writeln!(out, ")");
    let by = &sum["answered_by"];
    let _ = writeln!(
        out,
        "  calls: {} (switch {}, provider {}, kernel {}); a bare SAN provider would refuse {}",
        sum["calls"], by["switch"], by["provider"], by["kernel"], sum["provider_would_refuse"]
    );
    if sum["dropped"].as_u64().unwrap_or(0) > 0 {
        let _ = writeln!(
            out,
            "  {} calls not counted: the report table was full",
            sum["dropped"]
        );
    }
    render_faults(&mut out, r["faults"].as_array().map_or(&[][..], Vec::as_slice));
    if let Some(seed) = r["fault_seed"].as_u64() {
        let _ = writeln!(
            out,
            "  scheduled faults chose their connections with --seed {seed}"
        );
    }
    let rows = r["rows"].as_array().map_or(&[][..], Vec::as_slice);
    if rows.is_empty() {
        return out;
    }
    let header = [
        "program",
        "pid",
        "call",
        "socket",
        "level/option",
        "optlen",
        "answered",
        "verdict",
        "bare provider",
        "count",
    ];
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|row| {
            let s = |k: &str| row[k].as_str().unwrap_or("").to_string();
            let verdict = match row["errno"].as_str() {
                Some(e) if s("verdict") != e => format!("{} ({e})", s("verdict")),
                _ => s("verdict"),
            };
            let int = |k: &str| row[k].as_i64().unwrap_or(0);
            // A SAN socket's row says which end: `san (connector)`.
            let socket = match row["end"].as_str() {
                Some(end) => format!("{} ({end})", s("socket")),
                None => s("socket"),
            };
            [
                s("program"),
                row["pid"].as_u64().unwrap_or(0).to_string(),
                s("call"),
                socket,
                names::OptionName {
                    level: int("level") as i32,
                    optname: int("option") as i32,
                }
                .to_string(),
                int("optlen").to_string(),
                s("answered_by"),
                verdict,
                s("provider"),
                row["count"].as_u64().unwrap_or(0).to_string(),
            ]
        })
        .collect();
    // Each column as wide as its widest cell; numbers to the right.
    let mut width = header.map(str::len);
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let numeric = [false, true, false, false, false, true, false, false, false, true];
    let line = |out: &mut String, cells: &[&str]| {
        let mut text = String::from(" ");
        for ((c, w), right) in cells.iter().zip(width).zip(numeric) {
            let _ = if right {
                write!(text, " {c:>w$}")
            } else {
                write!(text, " {c:<w$}")
            };
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(&mut out, &header);
    for row in &cells {
        line(&mut out, &row.each_ref().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::shell_quoted;

    #[test]
    fn words_are_quoted_only_when_a_shell_needs_it() {
        assert_eq!(shell_quoted("curl"), "curl");
        assert_eq!(shell_quoted("-w"), "-w");
        assert_eq!(shell_quoted("http://a:80/x.y"), "http://a:80/x.y");
        assert_eq!(shell_quoted("%{http_code}\n"), "'%{http_code}\n'");
        assert_eq!(shell_quoted("two words"), "'two words'");
        assert_eq!(shell_quoted("it's"), "'it'\\''s'");
        assert_eq!(shell_quoted(""), "''");
    }
}
