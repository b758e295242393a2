//! `wsd san check`: the segment's invariants, each violation reported on its own.
//! Everything is read, bounds-checked and compared; nothing is trusted or changed.
//! A message names a record as `wsd san status` does, by its endpoint id, with its
//! table slot: `endpoint 17 in record 3: …` (a record that holds no id: `record 3: …`).

use super::index::Index;
use super::layout::{
    CONN_ALL, EndpointRole, NETWORK_DOWN, Record, STATE_CLAIMED, STATE_FREE, STATE_LIVE, STATE_MASK,
};
use super::reap::alive;
use super::segment::Segment;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;

/// How a message names record `i`: by the endpoint id that `wsd san status` shows
/// (`endpoint 17 in record 3`), or by its table slot alone when it holds no id.
fn who(i: u32, r: &Record) -> String {
    match r.id.load(Relaxed) {
        0 => format!("record {i}"),
        id => format!("endpoint {id} in record {i}"),
    }
}

fn check_live(i: u32, r: &Record, next_id: u64, out: &mut Vec<String>) {
    let who = who(i, r);
    let id = r.id.load(Relaxed);
    if id == 0 || id >= next_id {
        out.push(format!("{who}: live with id {id}, outside 1..{next_id}"));
    }
    let role = r.role.load(Relaxed);
    if EndpointRole::from_raw(role).is_none() {
        out.push(format!("{who}: role {role} is not a role"));
    }
    let conn = r.connection.load(Relaxed);
    if conn & !CONN_ALL != 0 {
        out.push(format!("{who}: connection state {conn} is not a state"));
    }
    let debug = r.so_debug.load(Relaxed);
    if debug > 1 {
        out.push(format!("{who}: SO_DEBUG stored as {debug}, not 0 or 1"));
    }
    let prio = r.group_priority.load(Relaxed);
    if prio < 0 {
        out.push(format!("{who}: SO_GROUP_PRIORITY {prio} is negative"));
    }
    if r.has_no_holder() {
        out.push(format!("{who}: live but held by no process"));
    }
    for h in r.holder_identities() {
        if !alive(h) {
            out.push(format!(
                "{who}: held by a dead process (pid {})",
                super::layout::identity_pid(h)
            ));
        }
    }
    for (what, slot) in [("local", &r.local), ("peer", &r.peer)] {
        let family = slot.words()[0] >> 16;
        if ![0, libc::AF_INET as u32, libc::AF_INET6 as u32].contains(&family) {
            out.push(format!(
                "{who}: {what} address family {family} is not an address family"
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
                    out.push(format!("{}: free but still has its id", who(i, r)));
                }
                STATE_FREE => {}
                STATE_CLAIMED if state >> 8 == 0 => {
                    out.push(format!("{}: claimed by no process", who(i, r)));
                }
                STATE_CLAIMED => {}
                STATE_LIVE => {
                    check_live(i, r, next_id, &mut out);
                    let id = r.id.load(Relaxed);
                    if let Some(other) = ids.insert(id, i) {
                        out.push(format!("{}: id {id} also used by record {other}", who(i, r)));
                    }
                }
                other => out.push(format!("{}: state {other} is not a state", who(i, r))),
            }
        }
        // The indexes: every live record is found by its cookie and address pair;
        // the free list holds free records only, each once. Read under the index
        // lock, a record at a time: a claim in another process is never seen
        // half-done.
        for (i, r) in self.live() {
            for (which, name) in [(Index::Cookie, "cookie"), (Index::Addr, "address pair")] {
                if !self.indexed(which, i) {
                    out.push(format!("{}: not found in the index by {name}", who(i, r)));
                }
            }
        }
        let free = self.free_list();
        let mut on_list = std::collections::HashSet::new();
        for &(i, state) in &free {
            let Some(r) = self.record(i) else { continue };
            if !on_list.insert(i) {
                out.push(format!("{}: on the free list twice", who(i, r)));
            } else if state & STATE_MASK == STATE_LIVE {
                out.push(format!("{}: live, yet on the free list", who(i, r)));
            }
        }
        if free.len() as u32 >= self.capacity() {
            out.push("header: the free list does not end".to_string());
        }
        for (i, r) in self.live() {
            let peer = r.peer_id.load(Relaxed);
            if peer != 0 && self.peer_of(r).is_none() {
                out.push(format!(
                    "{}: peer endpoint {peer} is not where the record says",
                    who(i, r)
                ));
            }
            if let Some((j, p)) = ids.get(&peer).and_then(|&j| self.record(j).map(|p| (j, p)))
                && p.peer_id.load(Relaxed) != r.id.load(Relaxed)
            {
                let theirs = match p.peer_id.load(Relaxed) {
                    0 => "none".to_string(),
                    id => format!("endpoint {id}"),
                };
                out.push(format!(
                    "{}: peer is {}, whose peer is {theirs}",
                    who(i, r),
                    who(j, p)
                ));
            }
        }
        out
    }
}
