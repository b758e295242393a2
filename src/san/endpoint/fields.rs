//! What a record's fields say and how they change, as methods, so that no caller
//! loads or stores a field itself: the connection's state, the option values and
//! call counters, the holders, the flags; and what the shim reads and counts in
//! the header: the network state, the statistics, the high-water mark and the
//! word its watchers wait on.

use crate::model::OptionId;
use crate::model::checks::Connection;
use crate::san::layout::{
    self, CONN_ALL, CONN_DOWN, CONN_HEALTHY, CONN_KEEPALIVE_FAILED, CONN_RESET, EndpointRole, FLAG_ABORTIVE,
    FLAG_FAULT_ACTED, FLAG_SENT, NETWORK_DOWN, Record,
};
use crate::san::segment::Segment;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

/// Adds one to a record's call counter. A load and a store, not a locked
/// read-modify-write: these are statistics, and the only race — two threads or
/// processes using one socket in the same instant — can lose a count, never
/// corrupt anything. (The report's counts, which must be exact, are atomic adds.)
pub fn tally(counter: &std::sync::atomic::AtomicU64) {
    counter.store(counter.load(Relaxed).wrapping_add(1), Relaxed);
}

/// The fall-backs to plain TCP the segment's statistics count.
#[derive(Clone, Copy, Debug)]
pub enum FallbackCount {
    Down,
    Full,
    Replay,
}

impl Record {
    /// The connection's state as the provider's checks see it. A connection keeps
    /// every fault it met: after a keep-alive failure and then a reset it is still
    /// the keep-alive failure that answers (SPEC §2.2: row 7 before row 8).
    pub fn connection_state(&self) -> Connection {
        let v = self.connection.load(Acquire);
        if v & !CONN_ALL != 0 {
            // Garbage: a connection we cannot read is not usable.
            Connection::Reset
        } else if v & CONN_KEEPALIVE_FAILED != 0 {
            Connection::KeepAliveFailed
        } else if v & (CONN_RESET | CONN_DOWN) != 0 {
            // Broken by `down`: after `up` it answers as a reset connection.
            Connection::Reset
        } else {
            Connection::Healthy
        }
    }

    /// Adds a fault to the connection's state (`Healthy` clears it: a fresh
    /// connection on the same record).
    pub fn set_connection(&self, c: Connection) {
        match c {
            Connection::Healthy => self.connection.store(CONN_HEALTHY, Release),
            Connection::KeepAliveFailed => {
                self.connection.fetch_or(CONN_KEEPALIVE_FAILED, Release);
            }
            Connection::Reset => {
                self.connection.fetch_or(CONN_RESET, Release);
            }
        }
    }

    /// The stored value of an option (SO_GROUP_ID is always 0, SPEC §3).
    pub fn option(&self, id: OptionId) -> i32 {
        match id {
            OptionId::Debug => (self.so_debug.load(Relaxed) != 0) as i32,
            OptionId::GroupId => 0,
            OptionId::GroupPriority => self.group_priority.load(Relaxed),
        }
    }

    pub fn store_option(&self, id: OptionId, value: i32) {
        match id {
            OptionId::Debug => self.so_debug.store(value as u32, Relaxed),
            OptionId::GroupId => {}
            OptionId::GroupPriority => self.group_priority.store(value, Relaxed),
        }
    }

    pub fn comm(&self) -> String {
        layout::load_text(&self.comm)
    }

    pub fn role(&self) -> Option<EndpointRole> {
        EndpointRole::from_raw(self.role.load(Relaxed))
    }

    /// The identities in the holder slots.
    pub fn holder_identities(&self) -> impl Iterator<Item = u64> + '_ {
        self.holders.iter().map(|h| h.load(Acquire)).filter(|&h| h != 0)
    }

    /// No holder at all. The extra count is read first: a fork child settles by
    /// filling a slot and *then* taking back the pending count, so whoever sees the
    /// count drop also sees the slot.
    pub fn has_no_holder(&self) -> bool {
        self.extra_holders.load(Acquire) == 0 && self.holder_identities().next().is_none()
    }

    /// Adds a holder: an empty slot, or the extra count when all are taken.
    pub(super) fn add_holder(&self, identity: u64) {
        if !self
            .holders
            .iter()
            .any(|h| h.compare_exchange(0, identity, AcqRel, Relaxed).is_ok())
        {
            self.extra_holders.fetch_add(1, AcqRel);
        }
    }

    /// Removes a holder; false if `identity` held nothing here.
    pub(super) fn remove_holder(&self, identity: u64) -> bool {
        self.holders
            .iter()
            .any(|h| h.compare_exchange(identity, 0, AcqRel, Relaxed).is_ok())
            || self
                .extra_holders
                .fetch_update(AcqRel, Acquire, |n| n.checked_sub(1))
                .is_ok()
    }

    /// Clears the holder slot `slot` if it still holds `identity` (the reaper).
    pub(in crate::san) fn clear_holder(&self, slot: usize, identity: u64) -> bool {
        self.holders[slot]
            .compare_exchange(identity, 0, AcqRel, Relaxed)
            .is_ok()
    }

    /// The endpoint's id (0 while the record is free).
    pub fn endpoint_id(&self) -> u64 {
        self.id.load(Relaxed)
    }

    /// Is `SO_DEBUG` on (SPEC §6.4: every operation on the socket is logged)?
    pub fn debugging(&self) -> bool {
        self.so_debug.load(Relaxed) != 0
    }

    /// The endpoint's role as stored (0 if none), as report rows keep it.
    pub fn raw_role(&self) -> u8 {
        self.role.load(Relaxed) as u8
    }

    /// The descriptor the creating process had for the socket.
    pub fn fd(&self) -> i32 {
        self.fd.load(Relaxed)
    }

    /// The socket's inode (0 if unknown), which recognises it in a descriptor.
    pub fn inode(&self) -> u64 {
        self.inode.load(Relaxed)
    }

    /// The fault word (`layout::fault_parts`; 0: no fault on the connection).
    pub fn fault_word(&self) -> u64 {
        self.fault.load(Acquire)
    }

    /// Has the kernel socket been broken for the fault now on the record?
    pub fn fault_acted(&self) -> bool {
        self.flags.load(Acquire) & FLAG_FAULT_ACTED != 0
    }

    /// The kernel socket was broken for fault `word`: marked, unless another
    /// fault replaced it meanwhile (the tool waits for the mark).
    pub fn mark_fault_acted(&self, word: u64) {
        if self.fault.load(Acquire) == word {
            self.flags.fetch_or(FLAG_FAULT_ACTED, Release);
        }
    }

    /// The socket was sent to another process (`SCM_RIGHTS`): the endpoint
    /// outlives this process's last close, for the receiver to join.
    pub fn mark_sent(&self) {
        self.flags.fetch_or(FLAG_SENT, Relaxed);
    }

    /// The first data call that saw the connection's fault (`layout::sight_word`),
    /// kept if it is the first: later sightings leave it.
    pub fn note_first_sight(&self, word: u64) {
        let _ = self.sight.compare_exchange(0, word, Release, Relaxed);
    }

    pub fn mark_abortive(&self, on: bool) {
        if on {
            self.flags.fetch_or(FLAG_ABORTIVE, Relaxed);
        } else {
            self.flags.fetch_and(!FLAG_ABORTIVE, Relaxed);
        }
    }
}

impl Segment {
    pub fn network_down(&self) -> bool {
        self.header().network.load(Acquire) == NETWORK_DOWN
    }

    /// Counts a connection made on the SAN (`connect`, or `accept` when
    /// `accepted`), in the segment's statistics.
    pub fn count_connection(&self, accepted: bool) {
        let stats = &self.header().stats;
        let c = if accepted {
            &stats.accepts
        } else {
            &stats.connections
        };
        c.fetch_add(1, Relaxed);
    }

    /// Counts a candidate that fell back to plain TCP for a reason the segment
    /// keeps statistics of.
    pub fn count_fallback(&self, why: FallbackCount) {
        let stats = &self.header().stats;
        let c = match why {
            FallbackCount::Down => &stats.fallback_down,
            FallbackCount::Full => &stats.fallback_full,
            FallbackCount::Replay => &stats.fallback_replay,
        };
        c.fetch_add(1, Relaxed);
    }

    /// Records below this index were handed out at some time; none above.
    pub fn high_water(&self) -> usize {
        self.header().high_water.load(Acquire) as usize
    }

    /// The word every process's watcher waits on (a futex on the shared
    /// mapping), raised at each fault (SPEC §7).
    pub fn fault_futex(&self) -> &std::sync::atomic::AtomicU32 {
        &self.header().fault_gen
    }
}
