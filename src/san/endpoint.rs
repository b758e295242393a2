//! Endpoint records: claiming, filling, holding, reading and releasing them
//! (SPEC §5).
//!
//! # The scheme, and what a death at each step leaves behind
//!
//! Nothing here takes a lock; every step is one atomic operation on one record,
//! and each intermediate state can be recognised and undone by whoever next
//! touches the segment ([`Segment::reap`]).
//!
//! 1. **Claim**: CAS `state` FREE → CLAIMED|pid. *Dies here:* the record is CLAIMED
//!    by a dead pid; the reaper returns it to FREE.
//! 2. **Fill**: plain stores of the fields, the creator's identity in holder slot 0,
//!    then the fresh `id`. *Dies here:* same as 1 — still CLAIMED by a dead pid.
//! 3. **Publish**: release-store `state` = LIVE. From here every reference a
//!    process keeps is (index, tag = low 32 bits of id) and is checked on each use,
//!    so a record freed and reused is never mistaken for the old one.
//! 4. **Hold** (fork): before the fork the parent counts one pending holder in
//!    `extra_holders` for every endpoint it holds, so no close in the parent can free
//!    a record the child is about to hold; the child then CASes an empty holder slot
//!    0 → its identity and takes the pending count back. *Dies here:* the slot holds
//!    a dead identity, which the reaper clears. (A fork that fails, or a SAN socket
//!    closed by another thread during the fork, leaves one pending count behind: the
//!    record then outlives its sockets until the segment is destroyed.)
//! 5. **Let go** (last descriptor of a process closed): CAS own slot → 0. Whoever
//!    then finds no holder left CASes LIVE → CLAIMED|pid (only one can), resets
//!    the peer if the close was abortive, clears `id` and stores FREE. *Dies
//!    between:* CLAIMED by a dead pid again, undone by the reaper.
//! 6. **Die holding it**: the holder slot names a process that no longer exists
//!    (or a pid now used by another process: the identity includes the start
//!    time). The reaper clears the slot; when the last goes, the record is freed
//!    and its peer reset, as a connection whose process died would be.
//!
//! Known limits: a SAN socket that another thread creates in the instant between
//! the pre-fork count and the fork itself gets no pending hold, so if the parent
//! closes it before the child settles, the child's copy becomes plain TCP; holders
//! beyond the four slots are counted without identities, so
//! if they die holding the socket the record is not reclaimed; a record left
//! CLAIMED by a process whose pid is already reused is not reclaimed either. Both
//! leak a record, never free one in use. A write through a stale reference (the
//! record freed and reused between the id check and the store) can land on the new
//! endpoint; every such write is an option value or counter, never a structure
//! field.
//!
//! Option values and counters are single atomics: setting or reading an option
//! touches only that endpoint's record.

use super::layout::{
    AddrSlot, CONN_ALL, CONN_HEALTHY, CONN_KEEPALIVE_FAILED, CONN_RESET, EndpointRole, FLAG_ABORTIVE,
    NETWORK_DOWN, Record, STATE_CLAIMED, STATE_FREE, STATE_LIVE, STATE_MASK, live_state,
};
use super::segment::Segment;
use crate::model::OptionId;
use crate::model::provider::Connection;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};

/// A process's handle on a record: its index and the low 32 bits of the id it had
/// when taken (its tag), so that a freed and reused record is told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointRef {
    pub index: u32,
    pub tag: u32,
}

/// What a new record starts with.
#[derive(Clone, Copy, Debug)]
pub struct NewEndpoint {
    /// The creating process's identity ([`super::layout::identity`]).
    pub holder: u64,
    pub pid: u32,
    pub fd: i32,
    pub role: EndpointRole,
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
    pub comm: [u8; 16],
}

impl AddrSlot {
    /// Stores `addr`; an IPv4-mapped IPv6 address is stored as IPv4, so that the two
    /// ends of one connection name each other the same way.
    pub fn store(&self, addr: Option<SocketAddr>) {
        self.store_words(addr.map_or([0; 6], encode));
    }

    fn store_words(&self, words: [u32; 6]) {
        for (slot, w) in self.0.iter().zip(words) {
            slot.store(w, Relaxed);
        }
    }

    pub fn words(&self) -> [u32; 6] {
        std::array::from_fn(|i| self.0[i].load(Relaxed))
    }

    pub fn load(&self) -> Option<SocketAddr> {
        decode(self.words())
    }
}

/// The six words an address is stored as (see [`AddrSlot`]).
pub fn encode(a: SocketAddr) -> [u32; 6] {
    let ip = match a.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let (family, bytes, scope) = match (ip, a) {
        (IpAddr::V4(v4), _) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.octets());
            (libc::AF_INET as u32, b, 0)
        }
        (IpAddr::V6(v6), SocketAddr::V6(s)) => (libc::AF_INET6 as u32, v6.octets(), s.scope_id()),
        (IpAddr::V6(v6), SocketAddr::V4(_)) => (libc::AF_INET6 as u32, v6.octets(), 0),
    };
    let w = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    [family << 16 | u32::from(a.port()), w(0), w(4), w(8), w(12), scope]
}

fn decode(w: [u32; 6]) -> Option<SocketAddr> {
    let mut bytes = [0u8; 16];
    for i in 0..4 {
        bytes[i * 4..i * 4 + 4].copy_from_slice(&w[i + 1].to_le_bytes());
    }
    let port = (w[0] & 0xffff) as u16;
    match (w[0] >> 16) as i32 {
        libc::AF_INET => Some(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
            port,
        )),
        libc::AF_INET6 => Some(SocketAddr::V6(std::net::SocketAddrV6::new(
            Ipv6Addr::from(bytes),
            port,
            0,
            w[5],
        ))),
        _ => None,
    }
}

/// Adds one to a record's call counter. A load and a store, not a locked
/// read-modify-write: these are statistics, and the only race — two threads or
/// processes using one socket in the same instant — can lose a count, never
/// corrupt anything. (The report's counts, which must be exact, are atomic adds.)
pub fn tally(counter: &std::sync::atomic::AtomicU64) {
    counter.store(counter.load(Relaxed).wrapping_add(1), Relaxed);
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
        } else if v & CONN_RESET != 0 {
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
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.comm[0].load(Relaxed).to_le_bytes());
        b[8..].copy_from_slice(&self.comm[1].load(Relaxed).to_le_bytes());
        let end = b.iter().position(|&c| c == 0).unwrap_or(16);
        String::from_utf8_lossy(&b[..end]).into_owned()
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
    fn add_holder(&self, identity: u64) {
        if !self
            .holders
            .iter()
            .any(|h| h.compare_exchange(0, identity, AcqRel, Relaxed).is_ok())
        {
            self.extra_holders.fetch_add(1, AcqRel);
        }
    }

    /// Removes a holder; false if `identity` held nothing here.
    fn remove_holder(&self, identity: u64) -> bool {
        self.holders
            .iter()
            .any(|h| h.compare_exchange(identity, 0, AcqRel, Relaxed).is_ok())
            || self
                .extra_holders
                .fetch_update(AcqRel, Acquire, |n| n.checked_sub(1))
                .is_ok()
    }

    /// Clears the holder slot `slot` if it still holds `identity` (the reaper).
    pub(super) fn clear_holder(&self, slot: usize, identity: u64) -> bool {
        self.holders[slot]
            .compare_exchange(identity, 0, AcqRel, Relaxed)
            .is_ok()
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

    /// Claims a free record and fills it in; `None` when the table is full.
    pub fn allocate(&self, new: &NewEndpoint) -> Option<EndpointRef> {
        let h = self.header();
        let claimed = STATE_CLAIMED | new.pid << 8;
        for index in 0..self.capacity() {
            let rec = self.record(index)?;
            if rec.state.load(Relaxed) != STATE_FREE
                || rec
                    .state
                    .compare_exchange(STATE_FREE, claimed, Acquire, Relaxed)
                    .is_err()
            {
                continue;
            }
            let id = h.next_id.fetch_add(1, Relaxed);
            rec.extra_holders.store(0, Relaxed);
            rec.holders[0].store(new.holder, Relaxed);
            for slot in &rec.holders[1..] {
                slot.store(0, Relaxed);
            }
            rec.pid.store(new.pid, Relaxed);
            rec.fd.store(new.fd, Relaxed);
            rec.role.store(new.role as u32, Relaxed);
            rec.connection.store(CONN_HEALTHY, Relaxed);
            rec.so_debug.store(0, Relaxed);
            rec.group_priority.store(0, Relaxed);
            rec.flags.store(0, Relaxed);
            rec.local.store(new.local);
            rec.peer.store(new.peer);
            rec.peer_id.store(0, Relaxed);
            rec.comm[0].store(
                u64::from_le_bytes(new.comm[..8].try_into().unwrap_or([0; 8])),
                Relaxed,
            );
            rec.comm[1].store(
                u64::from_le_bytes(new.comm[8..].try_into().unwrap_or([0; 8])),
                Relaxed,
            );
            for c in [
                &rec.sets,
                &rec.gets,
                &rec.set_errors,
                &rec.get_errors,
                &rec.provider_refusals,
            ] {
                c.store(0, Relaxed);
            }
            rec.id.store(id, Relaxed);
            rec.state.store(live_state(id), Release);
            h.high_water.fetch_max(index + 1, Relaxed);
            h.stats.endpoints_created.fetch_add(1, Relaxed);
            return Some(EndpointRef {
                index,
                tag: id as u32,
            });
        }
        None
    }

    /// The live record `ep` refers to, if it is still that endpoint.
    pub fn endpoint(&self, ep: EndpointRef) -> Option<&Record> {
        let rec = self.record(ep.index)?;
        (rec.state.load(Acquire) & STATE_MASK == STATE_LIVE && rec.id.load(Relaxed) as u32 == ep.tag)
            .then_some(rec)
    }

    /// The live record with id `id`.
    pub fn by_id(&self, id: u64) -> Option<(u32, &Record)> {
        if id == 0 {
            return None;
        }
        self.live().find(|(_, r)| r.id.load(Relaxed) == id)
    }

    /// Before a fork: a holder whose identity is not known yet (the child) is
    /// counted, so that nobody frees the record before the child can say who it is.
    pub fn hold_pending(&self, ep: EndpointRef) -> bool {
        match self.endpoint(ep) {
            Some(rec) => {
                rec.extra_holders.fetch_add(1, AcqRel);
                true
            }
            None => false,
        }
    }

    /// In the fork child: the pending holder becomes `identity`.
    pub fn settle_pending(&self, ep: EndpointRef, identity: u64) -> bool {
        match self.endpoint(ep) {
            Some(rec) => {
                rec.add_holder(identity);
                let _ = rec
                    .extra_holders
                    .fetch_update(AcqRel, Acquire, |n| n.checked_sub(1));
                true
            }
            None => false,
        }
    }

    /// Process `identity` lets go of `ep`; when no holder is left the record is
    /// freed (and its peer reset if the close was abortive).
    pub fn release(&self, ep: EndpointRef, identity: u64, pid: u32) {
        let Some(rec) = self.endpoint(ep) else { return };
        let seen = rec.state.load(Acquire);
        if rec.remove_holder(identity) && rec.has_no_holder() {
            let abortive = rec.flags.load(Relaxed) & FLAG_ABORTIVE != 0;
            self.free(rec, seen, pid, abortive);
        }
    }

    /// Frees a live record that has no holder left, if it is still in the state
    /// `seen` (the same incarnation); only one caller wins.
    pub(super) fn free(&self, rec: &Record, seen: u32, pid: u32, reset_peer: bool) -> bool {
        if seen & STATE_MASK != STATE_LIVE
            || rec
                .state
                .compare_exchange(seen, STATE_CLAIMED | pid << 8, AcqRel, Relaxed)
                .is_err()
        {
            return false;
        }
        if reset_peer && let Some((_, peer)) = self.by_id(rec.peer_id.load(Relaxed)) {
            peer.set_connection(Connection::Reset);
        }
        rec.id.store(0, Relaxed);
        rec.state.store(STATE_FREE, Release);
        true
    }

    /// Records `rec`'s peer if its other end is already in the segment: the record
    /// whose local address is `rec`'s peer address and whose peer is `rec`'s local.
    /// Both ends look after publishing themselves, so at least one finds the other.
    pub fn link_peer(&self, rec: &Record) {
        std::sync::atomic::fence(SeqCst);
        let (local, peer) = (rec.local.words(), rec.peer.words());
        if local[0] == 0 || peer[0] == 0 {
            return;
        }
        let me = rec.id.load(Relaxed);
        let other = self
            .live()
            .find(|(_, r)| r.id.load(Relaxed) != me && r.local.words() == peer && r.peer.words() == local);
        if let Some((_, other)) = other {
            let other_id = other.id.load(Relaxed);
            rec.peer_id.store(other_id, Release);
            other.peer_id.store(me, Release);
            // Freed and reused meanwhile? Then the new endpoint is not our peer.
            if other.id.load(Acquire) != other_id || other.state.load(Acquire) & STATE_MASK != STATE_LIVE {
                let _ = other.peer_id.compare_exchange(me, 0, AcqRel, Relaxed);
                rec.peer_id.store(0, Release);
            }
        }
    }

    /// Live records, with their index, below the high-water mark (no record above
    /// it was ever made live; `check` and `reap` look at every record).
    pub fn live(&self) -> impl Iterator<Item = (u32, &Record)> {
        let high = self.header().high_water.load(Relaxed).min(self.capacity());
        (0..high)
            .filter_map(|i| self.record(i).map(|r| (i, r)))
            .filter(|(_, r)| r.state.load(Acquire) & STATE_MASK == STATE_LIVE)
    }
}
