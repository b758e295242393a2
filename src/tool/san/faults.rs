//! `wsd san reset|keepalive-fail|down`: the faults a user injects on connections,
//! which connections they hit ([`Aim`]), and what each verb says was hit once the
//! processes holding the sockets have acted on them (or not, within [`ACT_WITHIN`]).

use super::say;
use crate::tool::{USAGE, fail};
use clap::Args;
use serde_json::{Value, json};
use std::fmt::Write as _;
use wsd::san::faults::{Fault, Injected, Selector};
use wsd::san::{EndpointRole, Segment, Target};

/// Which connections a fault hits: those with an end that matches everything given.
#[derive(Args)]
pub(super) struct Aim {
    /// An endpoint id, or ADDR:PORT: every connection with an end there (a
    /// server's address hits every connection accepted on it; 0.0.0.0:PORT, any
    /// address with that port).
    target: Option<String>,
    /// Connections with an end in a process of this name.
    #[arg(long, value_name = "NAME")]
    program: Option<String>,
    /// Connections with an end held by this process.
    #[arg(long, value_name = "PID")]
    pid: Option<u32>,
}

/// How long `reset`, `keepalive-fail` and `down` wait for the processes holding
/// the sockets to act on them (SPEC §7: within 100 ms).
const ACT_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

pub(super) fn fault(seg: &Segment, aim: &Aim, fault: Fault, json: bool) -> i32 {
    let target = match aim.target.as_deref().map(|t| (t, Target::parse(t))) {
        None => None,
        Some((_, Some(t))) => Some(t),
        Some((t, None)) => {
            return fail(
                USAGE,
                format_args!("target {t:?}: expected an endpoint id or ADDR:PORT"),
            );
        }
    };
    if target.is_none() && aim.program.is_none() && aim.pid.is_none() {
        return fail(
            USAGE,
            "name the connections: an endpoint id or ADDR:PORT, --program NAME or --pid PID",
        );
    }
    let sel = Selector {
        target,
        port: None,
        program: aim.program.clone(),
        pid: aim.pid,
    };
    seg.reap();
    let records = seg.select(&sel);
    if records.is_empty() {
        return fail(
            USAGE,
            format_args!(
                "no live SAN connection matches {} in SAN {:?}",
                sel.describe(),
                seg.name()
            ),
        );
    }
    let hit = seg.inject(fault, &records, &sel.describe());
    delivered(seg, fault, Fault::name(fault.code()), &hit, json)
}

/// Waits until the processes holding the hit sockets acted on them, then says
/// what was hit (each connection, both ends) and what no process took up.
pub(super) fn delivered(seg: &Segment, fault: Fault, what: &str, hit: &Injected, json: bool) -> i32 {
    // As they were when hit: a program that sees the fault may close the socket
    // at once.
    let ends: Vec<Value> = hit
        .ends
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "pid": e.pid,
                "program": e.program(),
                "fd": e.fd,
                "role": EndpointRole::from_raw(e.role).map_or("?", EndpointRole::name),
                "local": e.local.map_or("-".to_string(), |a| a.to_string()),
                "peer": e.peer.map_or("-".to_string(), |a| a.to_string()),
                "peer_id": e.peer_id,
            })
        })
        .collect();
    let unreached = seg.wait_acted(hit.seq, &hit.ids, ACT_WITHIN);
    if !unreached.is_empty() {
        let ids: Vec<String> = unreached.iter().map(u64::to_string).collect();
        eprintln!(
            "wsd: warning: no process holding endpoint {} acted on the {} within {} s \
             (a holder without the library, or stopped)",
            ids.join(", "),
            Fault::name(fault.code()),
            ACT_WITHIN.as_secs()
        );
    }
    say(
        json,
        json!({"san": seg.name(), "fault": Fault::name(fault.code()), "seq": hit.seq,
               "endpoints": hit.ids, "hit": ends, "unreached": unreached}),
        || {
            let mut text = format!(
                "{what}: {} endpoint{} hit (fault {})",
                hit.ids.len(),
                if hit.ids.len() == 1 { "" } else { "s" },
                hit.seq
            );
            for e in &ends {
                let _ = write!(
                    text,
                    "\n  endpoint {:>5}  {:<15} pid {:<7} fd {:<4} {:<9} {} -> {}",
                    e["id"],
                    e["program"].as_str().unwrap_or(""),
                    e["pid"],
                    e["fd"],
                    e["role"].as_str().unwrap_or(""),
                    e["local"].as_str().unwrap_or(""),
                    e["peer"].as_str().unwrap_or("")
                );
            }
            text
        },
    )
}
