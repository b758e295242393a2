//! Faults scheduled at launch (`wsd run --fault`, SPEC §7): the tool runs
//! [`run`] on a thread of its own beside the program, and injects each fault as
//! `wsd san` would, when it is due.
//!
//! - A fault `after` a delay hits the connections that match it when it comes
//!   (each with its probability); `down` then `for` a while brings the network
//!   up again at the end.
//! - A fault `after-connect` a delay hits each matching connection that long
//!   after the schedule first saw it (it looks for new connections every few
//!   milliseconds, and only when the segment made new endpoints since it last
//!   looked: a run that makes none costs one load per look).
//! - Whether a connection is hit is decided once per connection and fault, from
//!   the run's seed (`--seed`), so that a run can be repeated.

use super::faults::{Fault, Selector, is_connection};
use super::faultspec::{FaultKind, FaultSpec, When};
use super::segment::Segment;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// How often the schedule looks, at most.
const TICK: Duration = Duration::from_millis(5);

struct Item {
    spec: FaultSpec,
    /// `after`: injected (and, for `down … for`, brought up again).
    done: bool,
    up_done: bool,
    /// `after-connect`: each connection seen (by its key), with when it is due,
    /// or None once decided against or hit.
    due: HashMap<u64, Option<Instant>>,
}

/// Runs the schedule of `specs` on `seg` until `stop` is set; `start` is the
/// run's start.
pub fn run(seg: &Segment, specs: &[FaultSpec], seed: u64, start: Instant, stop: &AtomicBool) {
    let mut items: Vec<Item> = specs
        .iter()
        .map(|s| Item {
            spec: s.clone(),
            done: false,
            up_done: false,
            due: HashMap::new(),
        })
        .collect();
    let mut created_seen = u64::MAX;
    while !stop.load(Relaxed) {
        let now = Instant::now();
        let created = seg.header().stats.endpoints_created.load(Relaxed);
        let new_endpoints = created != created_seen;
        created_seen = created;
        for (n, item) in items.iter_mut().enumerate() {
            step(seg, item, n as u64, seed, start, now, new_endpoints);
        }
        std::thread::sleep(TICK);
    }
}

fn fault_of(kind: FaultKind) -> Fault {
    match kind {
        FaultKind::Reset => Fault::Reset,
        FaultKind::KeepaliveFail => Fault::KeepaliveFail,
        FaultKind::Down => Fault::Down,
    }
}

fn selector(spec: &FaultSpec) -> Selector {
    Selector {
        target: None,
        port: spec.port,
        program: spec.program.clone(),
        pid: None,
    }
}

/// Is the connection with key `key` hit by fault item `n` (probability `p`)?
/// Decided from the seed alone: the same seed, the same choices.
pub fn chosen(seed: u64, n: u64, key: u64, p: f64) -> bool {
    if p >= 1.0 {
        return true;
    }
    if p <= 0.0 {
        return false;
    }
    // splitmix64 over the three numbers.
    let mut z = seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ key.rotate_left(17);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 <= p
}

/// A connection's key: the smaller of its two ends' ids (one end's id while the
/// other is not known).
fn key(rec: &super::layout::Record) -> u64 {
    let id = rec.id.load(Relaxed);
    match rec.peer_id.load(Relaxed) {
        0 => id,
        peer => id.min(peer),
    }
}

fn step(
    seg: &Segment,
    item: &mut Item,
    n: u64,
    seed: u64,
    start: Instant,
    now: Instant,
    new_endpoints: bool,
) {
    let spec = &item.spec;
    let what = format!("--fault {}", spec.text);
    match (spec.kind, spec.when) {
        (FaultKind::Down, When::AfterStart(d)) | (FaultKind::Down, When::AfterConnect(d)) => {
            if !item.done && now >= start + d {
                seg.bring_down();
                item.done = true;
            }
            if let Some(f) = spec.duration
                && item.done
                && !item.up_done
                && now >= start + d + f
            {
                seg.bring_up();
                item.up_done = true;
            }
        }
        (kind, When::AfterStart(d)) => {
            if item.done || now < start + d {
                return;
            }
            item.done = true;
            let hit: Vec<_> = seg
                .select(&selector(spec))
                .into_iter()
                .filter(|r| chosen(seed, n, key(r), spec.probability))
                .collect();
            if !hit.is_empty() {
                seg.inject(fault_of(kind), &hit, &what);
            }
        }
        (kind, When::AfterConnect(d)) => {
            if new_endpoints {
                let sel = selector(spec);
                let mut names = HashMap::new();
                for (_, rec) in seg.live() {
                    // Connections seen before are not looked at again (matching a
                    // program reads /proc).
                    let k = key(rec);
                    if item.due.contains_key(&k) || !is_connection(rec) {
                        continue;
                    }
                    let hit = sel.matches(rec, &mut names) && chosen(seed, n, k, spec.probability);
                    item.due.insert(k, hit.then_some(now + d));
                }
            }
            let ready: Vec<u64> = item
                .due
                .iter()
                .filter(|(_, due)| due.is_some_and(|t| now >= t))
                .map(|(k, _)| *k)
                .collect();
            for k in ready {
                item.due.insert(k, None);
                // The connection, if it still lives: its end with that id, and its peer.
                let Some((_, rec)) = seg.by_id(k) else { continue };
                let mut hit = vec![rec];
                if let Some((peer, _)) = seg.peer_of(rec) {
                    hit.push(peer);
                }
                seg.inject(fault_of(kind), &hit, &what);
            }
            // Connections gone before their time leave no trace behind.
            if item.due.len() > 4096 {
                let live: HashSet<u64> = seg.live().map(|(_, r)| key(r)).collect();
                item.due.retain(|k, _| live.contains(k));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_follow_the_probability_and_the_seed() {
        let hits = |seed, p| (0..10_000).filter(|&k| chosen(seed, 0, k, p)).count();
        assert_eq!(hits(1, 0.0), 0);
        assert_eq!(hits(1, 1.0), 10_000);
        let quarter = hits(7, 0.25);
        assert!((2_200..2_800).contains(&quarter), "{quarter}");
        assert_eq!(hits(7, 0.25), quarter, "the same seed, the same choices");
        assert_ne!(
            (0..64).map(|k| chosen(7, 0, k, 0.5)).collect::<Vec<_>>(),
            (0..64).map(|k| chosen(8, 0, k, 0.5)).collect::<Vec<_>>()
        );
    }
}
