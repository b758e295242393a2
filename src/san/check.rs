//! `wsd san check`: the segment's invariants, each violation reported on its own.
//! Everything is read, bounds-checked and compared; nothing is trusted or changed.

use super::layout::{
    CONN_RESET, EndpointRole, NETWORK_DOWN, Record, STATE_CLAIMED, STATE_FREE, STATE_LIVE, STATE_MASK,
};
use super::reap::alive;
use super::segment::Segment;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;

fn check_live(i: u32, r: &Record, next_id: u64, out: &mut Vec<String>) {
    let id = r.id.load(Relaxed);
    if id == 0 || id >= next_id {
        out.push(format!("record {i}: live with id {id}, outside 1..{next_id}"));
    }
    let role = r.role.load(Relaxed);
    if EndpointRole::from_raw(role).is_none() {
        out.push(format!("record {i}: role {role} is not a role"));
    }
    let conn = r.connection.load(Relaxed);
    if conn > CONN_RESET {
        out.push(format!("record {i}: connection state {conn} is not a state"));
    }
    let debug = r.so_debug.load(Relaxed);
    if debug > 1 {
        out.push(format!("record {i}: SO_DEBUG stored as {debug}, not 0 or 1"));
    }
    let prio = r.group_priority.load(Relaxed);
    if prio < 0 {
        out.push(format!("record {i}: SO_GROUP_PRIORITY {prio} is negative"));
    }
    if r.has_no_holder() {
        out.push(format!("record {i}: live but held by no process"));
    }
    for h in r.holder_identities() {
        if !alive(h) {
            out.push(format!(
                "record {i}: held by a dead process (pid {})",
                super::layout::identity_pid(h)
            ));
        }
    }
    for (what, slot) in [("local", &r.local), ("peer", &r.peer)] {
        let family = slot.words()[0] >> 16;
        if ![0, libc::AF_INET as u32, libc::AF_INET6 as u32].contains(&family) {
            out.push(format!(
                "record {i}: {what} address family {family} is not an address family"
            ));
        }
    }
}

impl Segment {
    /// Every violated invariant, as a sentence; empty when the segment is sound.
    pub fn check(&self) -> Vec<String> {
        let mut out = Vec::new();
        let h = self.header();
        let network = h.network.load(Relaxed);
        if network > NETWORK_DOWN {
            out.push(format!("header: network state {network} is neither up nor down"));
        }
        let next_id = h.next_id.load(Relaxed);
        let mut ids: HashMap<u64, u32> = HashMap::new();
        for (i, r) in self.records() {
            let state = r.state.load(Relaxed);
            match state & STATE_MASK {
                STATE_FREE if r.id.load(Relaxed) != 0 => {
                    out.push(format!(
                        "record {i}: free but still has id {}",
                        r.id.load(Relaxed)
                    ));
                }
                STATE_FREE => {}
                STATE_CLAIMED if state >> 8 == 0 => out.push(format!("record {i}: claimed by no process")),
                STATE_CLAIMED => {}
                STATE_LIVE => {
                    check_live(i, r, next_id, &mut out);
                    if let Some(other) = ids.insert(r.id.load(Relaxed), i) {
                        out.push(format!(
                            "record {i}: id {} also used by record {other}",
                            r.id.load(Relaxed)
                        ));
                    }
                }
                other => out.push(format!("record {i}: state {other} is not a state")),
            }
        }
        for (i, r) in self.live() {
            let peer = r.peer_id.load(Relaxed);
            if let Some((j, p)) = self.by_id(peer)
                && p.peer_id.load(Relaxed) != r.id.load(Relaxed)
            {
                out.push(format!(
                    "record {i}: peer is record {j}, whose peer is not record {i}"
                ));
            }
        }
        out
    }
}
