//! The fault log (one event per fault injected, a ring of [`FAULT_LOG`]) and the
//! fault story (each endpoint a fault hit, and each program's first data call that
//! met it, a ring of [`STORY_LOG`]): written as faults are injected and seen, and
//! read back for the report, which outlives the endpoints.

use super::{DataCall, clock};
use crate::san::layout::{
    FAULT_EVENT_SIZE, FAULT_LOG, FaultEvent, Record, STORY_ENTRY_SIZE, STORY_HIT, STORY_LOG, STORY_SIGHT,
    StoryEntry, faults_offset, load_text, store_text, story_offset,
};
use crate::san::segment::Segment;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

impl Segment {
    fn fault_event(&self, slot: u32) -> &FaultEvent {
        let offset = faults_offset(self.capacity()) + (slot % FAULT_LOG) as usize * FAULT_EVENT_SIZE;
        // SAFETY: the fault log lies inside the mapping (the geometry check covers
        // the whole segment size); entries are 8-aligned atomics valid for any bit
        // pattern.
        unsafe { self.at(offset) }
    }

    pub(super) fn log_fault(&self, seq: u32, kind: u8, at_ms: u64, hit: u32, what: &str) {
        let e = self.fault_event(seq);
        e.seq.store(0, Release);
        e.kind.store(u32::from(kind), Relaxed);
        e.at_realtime_ns.store(clock(libc::CLOCK_REALTIME), Relaxed);
        e.at_ms.store(at_ms, Relaxed);
        e.hit.store(hit, Relaxed);
        e.by.store(std::process::id(), Relaxed);
        store_text(&e.target, what.as_bytes());
        e.seq.store(seq, Release);
    }

    /// Writes one entry of the fault story: `fill` sets its fields, then its
    /// number marks it whole.
    pub(super) fn tell(&self, kind: u32, fault: u32, fill: impl FnOnce(&StoryEntry)) {
        let n = self.header().story_next.fetch_add(1, AcqRel);
        let e = self.story_entry(n);
        e.written.store(0, Release);
        e.kind.store(kind, Relaxed);
        e.fault.store(fault, Relaxed);
        e.after_ms.store(0, Relaxed);
        e.errno.store(0, Relaxed);
        fill(e);
        e.written.store(n + 1, Release);
    }

    /// A process's first data call met fault `fault` on `rec` (SPEC §7): who, which
    /// call on which descriptor, what it answered, how long after. For the report:
    /// the record itself often ends at once (the program closes the socket).
    #[allow(clippy::too_many_arguments)]
    pub fn tell_sight(
        &self,
        fault: u32,
        rec: &Record,
        pid: u32,
        comm: [u8; 16],
        fd: i32,
        call: DataCall,
        errno: i32,
        after_ms: u32,
    ) {
        self.tell(STORY_SIGHT, fault, |e| {
            e.id.store(rec.id.load(Relaxed), Relaxed);
            e.pid.store(pid, Relaxed);
            e.fd.store(fd, Relaxed);
            e.role_or_call.store(call as u32, Relaxed);
            e.errno.store(errno as u32, Relaxed);
            e.after_ms.store(after_ms, Relaxed);
            store_text(&e.comm, &comm);
        });
    }

    fn story_entry(&self, n: u64) -> &StoryEntry {
        let offset = story_offset(self.capacity()) + (n % u64::from(STORY_LOG)) as usize * STORY_ENTRY_SIZE;
        // SAFETY: the story lies inside the mapping (the geometry check covers the
        // whole segment size); entries are 8-aligned atomics valid for any bit
        // pattern.
        unsafe { self.at(offset) }
    }

    /// The fault story, oldest first (the last [`STORY_LOG`] entries).
    pub fn story(&self) -> Vec<Told> {
        let next = self.header().story_next.load(Acquire);
        let first = next.saturating_sub(u64::from(STORY_LOG));
        (first..next)
            .filter_map(|n| {
                let e = self.story_entry(n);
                if e.written.load(Acquire) != n + 1 {
                    return None;
                }
                let told = Told {
                    kind: e.kind.load(Relaxed),
                    fault: e.fault.load(Relaxed),
                    id: e.id.load(Relaxed),
                    peer_id: e.peer_id.load(Relaxed),
                    pid: e.pid.load(Relaxed),
                    fd: e.fd.load(Relaxed),
                    role_or_call: e.role_or_call.load(Relaxed),
                    errno: e.errno.load(Relaxed) as i32,
                    after_ms: e.after_ms.load(Relaxed),
                    comm: load_text(&e.comm),
                    local: e.local.load(),
                    peer: e.peer.load(),
                };
                // Torn by a writer that lapped the ring meanwhile: left out.
                (e.written.load(Acquire) == n + 1).then_some(told)
            })
            .collect()
    }

    /// The fault log, oldest first: (number, kind, wall-clock ns, monotonic ms,
    /// endpoints hit, injector pid, target text).
    pub fn fault_log(&self) -> Vec<LoggedFault> {
        let last = self.header().fault_seq.load(Acquire);
        let first = last.saturating_sub(FAULT_LOG - 1).max(1);
        (first..=last)
            .filter_map(|seq| {
                let e = self.fault_event(seq);
                (e.seq.load(Acquire) == seq).then(|| LoggedFault {
                    seq,
                    kind: e.kind.load(Relaxed) as u8,
                    at_realtime_ns: e.at_realtime_ns.load(Relaxed),
                    at_ms: e.at_ms.load(Relaxed),
                    hit: e.hit.load(Relaxed),
                    by: e.by.load(Relaxed),
                    target: load_text(&e.target),
                })
            })
            .collect()
    }
}

/// One entry of the fault story (see `layout::StoryEntry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Told {
    pub kind: u32,
    pub fault: u32,
    pub id: u64,
    pub peer_id: u64,
    pub pid: u32,
    pub fd: i32,
    pub role_or_call: u32,
    pub errno: i32,
    pub after_ms: u32,
    pub comm: String,
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
}

impl Told {
    pub fn is_hit(&self) -> bool {
        self.kind == STORY_HIT
    }
}

/// One entry of the fault log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedFault {
    pub seq: u32,
    pub kind: u8,
    pub at_realtime_ns: u64,
    pub at_ms: u64,
    pub hit: u32,
    pub by: u32,
    pub target: String,
}
