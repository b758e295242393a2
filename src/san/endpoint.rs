//! Endpoint records: claiming, filling, holding, reading and releasing them
//! (SPEC §5). A record is a kernel socket's: found by its cookie (or, for a
//! connection's ends claimed without asking the kernel for it, by its address
//! pair), so a socket reached from another process is joined, never adopted
//! twice. Whether its socket still exists is the kernel's to say (`reap`).
//!
//! # The scheme, and what a death at each step leaves behind
//!
//! Claiming and freeing change the indexes and the free list under the index
//! lock (`index`), which a waiter takes over from an owner thread that is gone;
//! holding, letting go and every option value or counter are single atomics on
//! the record, with no lock. Each step leaves a state that whoever next touches
//! the segment can recognise and undo ([`Segment::reap`]).
//!
//! 1. **Claim** (under the lock): a record from the free list or the high-water
//!    mark; CAS `state` FREE → CLAIMED|pid. *Dies here:* CLAIMED by a dead pid; the
//!    reaper gives it back (`unclaim`), resetting a peer it had been paired with.
//! 2. **Fill and file**: plain stores of the fields, the creator's identity in
//!    holder slot 0, the fresh `id`; then into the indexes, and paired with its
//!    peer found in its address-pair chain. *Dies here:* as in 1.
//! 3. **Publish**: release-store `state` = LIVE. From here every reference a
//!    process keeps is (index, tag = low 32 bits of id) and is checked on each use,
//!    so a record freed and reused is never mistaken for the old one.
//! 4. **Hold** (fork): before the fork the parent counts one pending holder in
//!    `extra_holders` for every endpoint it holds, so no close in the parent can free
//!    a record the child is about to hold; the child then CASes an empty holder slot
//!    0 → its identity and takes the pending count back. A process that joins a
//!    record (`WSD_FDS`, `SCM_RIGHTS`) adds its identity the same way.
//! 5. **Let go** (last descriptor of a process closed): CAS own slot → 0. Whoever
//!    then finds no holder left — and the socket was never sent to another
//!    process — frees it under the lock: LIVE → CLAIMED|pid (only one can), the
//!    peer reset if the close was abortive, out of the indexes and the pairing,
//!    FREE, onto the free list. *Dies between:* the reaper finds a record whose
//!    socket the kernel no longer has.
//! 6. **Die holding it**: the holder slot names a process that no longer exists
//!    (or a pid now used by another process: the identity includes the start
//!    time). The reaper clears the slot; when the kernel says the socket is gone
//!    the record is freed and its peer reset, as a connection whose process died
//!    would be.
//!
//! Known limits: a SAN socket that another thread creates in the instant between
//! the pre-fork count and the fork itself gets no pending hold, so if the parent
//! closes it before the child settles, the child's copy becomes plain TCP. A
//! write through a stale reference (the record freed and reused between the id
//! check and the store) can land on the new endpoint; every such write is an
//! option value or counter, never a structure field.
//!
//! Option values and counters are single atomics: setting or reading an option
//! touches only that endpoint's record.
//!
//! This file owns the records' life: claiming, filling, filing and pairing
//! ([`Segment::allocate`]), holding and letting go, and freeing. What a record's
//! fields say, and the header's statistics the shim counts, are methods in
//! `fields.rs` (callers never load a field themselves); finding a live record —
//! by reference, id or cookie, or as a peer — is `lookup.rs`; how an address is
//! kept in a record's words is `address.rs`.

mod address;
mod fields;
mod lookup;

pub use address::encode;
pub use fields::{FallbackCount, tally};

use super::index::{Index, IndexLock, addr_hash};
use super::layout::{
    CONN_HEALTHY, EndpointRole, FLAG_ABORTIVE, FLAG_PAIRED, FLAG_SENT, Record, STATE_CLAIMED, STATE_FREE,
    STATE_LIVE, STATE_MASK, live_state,
};
use super::segment::Segment;
use crate::model::checks::Connection;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

/// A process's handle on a record: its index and the low 32 bits of the id it had
/// when taken (its tag), so that a freed and reused record is told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointRef {
    pub index: u32,
    pub tag: u32,
}

/// What claiming a record for a socket found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claimed {
    /// A new record, this process its only holder.
    New(EndpointRef),
    /// The socket had a record already (it is known by its cookie).
    Existing(EndpointRef),
}

impl Claimed {
    pub fn endpoint(self) -> EndpointRef {
        match self {
            Claimed::New(ep) | Claimed::Existing(ep) => ep,
        }
    }
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
    /// The socket's cookie (`SO_COOKIE`), 0 if unknown.
    pub cookie: u64,
    /// Its network namespace's cookie (`SO_NETNS_COOKIE`), 0 if unknown.
    pub netns: u64,
    /// Its inode (`fstat`), 0 if unknown.
    pub inode: u64,
}

impl Segment {
    /// The record for a new SAN socket: the socket's own record if another
    /// process (or another descriptor) made one already — found by its cookie, so
    /// that a socket is never adopted twice — else a new record, filled in, put in
    /// the indexes and paired with its peer. `None` when the table is full, or
    /// the index lock cannot be taken (a signal handler interrupting its holder).
    /// Constant cost: no scan of the table.
    pub fn allocate(&self, new: &NewEndpoint) -> Option<Claimed> {
        let lock = self.lock_index()?;
        if let Some(ep) = self.existing(&lock, new) {
            // A forked candidate's record (its values) becomes the endpoint.
            if let Some(rec) = self.record(ep.index)
                && rec.role() == Some(EndpointRole::Candidate)
                && new.role != EndpointRole::Candidate
            {
                self.remove(&lock, Index::Addr, ep.index);
                rec.role.store(new.role as u32, Relaxed);
                rec.local.store(new.local);
                rec.peer.store(new.peer);
                self.insert(&lock, Index::Addr, ep.index);
                self.pair(&lock, ep.index, rec);
            }
            return Some(Claimed::Existing(ep));
        }
        let h = self.header();
        let claimed = STATE_CLAIMED | new.pid << 8;
        // A record on the free list that is not free (a corrupt segment) is left
        // out of it; a list that goes round in circles gives up after a few.
        let (index, rec) = (0..16).find_map(|_| {
            let index = self.pop_free(&lock)?;
            let rec = self.record(index)?;
            rec.state
                .compare_exchange(STATE_FREE, claimed, Acquire, Relaxed)
                .is_ok()
                .then_some((index, rec))
        })?;
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
        rec.peer_index.store(0, Relaxed);
        super::layout::store_text(&rec.comm, &new.comm);
        for c in [
            &rec.sets,
            &rec.gets,
            &rec.set_errors,
            &rec.get_errors,
            &rec.provider_refusals,
        ] {
            c.store(0, Relaxed);
        }
        rec.cookie.store(new.cookie, Relaxed);
        rec.netns.store(new.netns, Relaxed);
        rec.inode.store(new.inode, Relaxed);
        rec.fault.store(0, Relaxed);
        rec.sight.store(0, Relaxed);
        rec.id.store(id, Relaxed);
        for which in [Index::Cookie, Index::Addr] {
            self.insert(&lock, which, index);
        }
        // Paired before it is published: a claimer killed in between leaves a
        // claim whose peer knows it, and whoever undoes the claim resets that peer.
        self.pair(&lock, index, rec);
        rec.state.store(live_state(id), Release);
        // Its holder's bit in the holder map, once the record is live (see
        // `shim::startup`'s look at start).
        self.note_holder(super::layout::identity_pid(new.holder));
        h.stats.endpoints_created.fetch_add(1, Relaxed);
        Some(Claimed::New(EndpointRef {
            index,
            tag: id as u32,
        }))
    }

    /// The record `new`'s socket has already, if any: found by its cookie, or —
    /// for a record made without one (a connection's two ends are claimed without
    /// asking the kernel for their cookie: their address pair names them, in their
    /// network namespace) — by its address pair, which then learns the cookie.
    fn existing(&self, lock: &IndexLock<'_>, new: &NewEndpoint) -> Option<EndpointRef> {
        let live = |r: &Record| r.state.load(Acquire) & STATE_MASK == STATE_LIVE;
        let as_ref = |(index, r): (u32, &Record)| EndpointRef {
            index,
            tag: r.id.load(Relaxed) as u32,
        };
        if new.cookie == 0 {
            return None;
        }
        if let Some(found) = self.find_in(Index::Cookie, new.cookie as u32, |r| {
            live(r) && r.cookie.load(Relaxed) == new.cookie
        }) {
            return Some(as_ref(found));
        }
        let (Some(local), Some(peer)) = (new.local, new.peer) else {
            return None;
        };
        let (local, peer) = (encode(local), encode(peer));
        let (index, rec) = self.find_in(Index::Addr, addr_hash(&local, &peer), |r| {
            live(r)
                && r.cookie.load(Relaxed) == 0
                && r.netns.load(Relaxed) == new.netns
                && r.local.words() == local
                && r.peer.words() == peer
        })?;
        rec.cookie.store(new.cookie, Relaxed);
        self.insert(lock, Index::Cookie, index);
        Some(as_ref((index, rec)))
    }

    /// The record `new`'s socket has already (by cookie, or by address pair for a
    /// record made without one), without making one: for a socket this process
    /// received from another (`SCM_RIGHTS`).
    pub fn find_existing(&self, new: &NewEndpoint) -> Option<EndpointRef> {
        let lock = self.lock_index()?;
        self.existing(&lock, new)
    }

    /// Pairs `rec` with the other end of its connection, if that end is a record
    /// too: the record in its address-pair chain whose local address is `rec`'s
    /// peer and whose peer is `rec`'s local address (under the lock).
    fn pair(&self, lock: &IndexLock<'_>, index: u32, rec: &Record) {
        let _ = lock;
        let (local, peer) = (rec.local.words(), rec.peer.words());
        if local[0] == 0 || peer[0] == 0 {
            return;
        }
        let other = self.find_in(Index::Addr, rec.addr_key.load(Relaxed), |r| {
            !std::ptr::eq(r, rec)
                && r.state.load(Acquire) & STATE_MASK == STATE_LIVE
                && r.local.words() == peer
                && r.peer.words() == local
        });
        if let Some((other_index, other)) = other
            && other_index != index
        {
            other.peer_id.store(rec.id.load(Relaxed), Release);
            other.peer_index.store(index + 1, Release);
            other.flags.fetch_or(FLAG_PAIRED, Relaxed);
            rec.flags.fetch_or(FLAG_PAIRED, Relaxed);
            rec.peer_id.store(other.id.load(Relaxed), Release);
            rec.peer_index.store(other_index + 1, Release);
        }
    }

    /// A SAN socket connected again (or disconnected: `peer` None): it is a new
    /// connection, paired with its new peer only, healthy, and its old peer no
    /// longer names it.
    pub fn readdress(&self, ep: EndpointRef, local: Option<SocketAddr>, peer: Option<SocketAddr>) {
        let Some(lock) = self.lock_index() else { return };
        // Looked up under the lock: a record freed and reused meanwhile is not it.
        let Some(rec) = self.endpoint(ep) else { return };
        self.remove(&lock, Index::Addr, ep.index);
        self.unpair(&lock, rec);
        rec.local.store(local);
        rec.peer.store(peer);
        rec.set_connection(Connection::Healthy);
        rec.fault.store(0, Release);
        rec.sight.store(0, Relaxed);
        rec.flags.fetch_and(!FLAG_PAIRED, Relaxed);
        self.insert(&lock, Index::Addr, ep.index);
        self.pair(&lock, ep.index, rec);
    }

    /// `rec`'s peer forgets it, and it its peer (under the lock).
    fn unpair(&self, _lock: &IndexLock<'_>, rec: &Record) {
        let me = rec.id.load(Relaxed);
        if let Some((peer, _)) = self.peer_of(rec)
            && peer.peer_id.compare_exchange(me, 0, AcqRel, Relaxed).is_ok()
        {
            peer.peer_index.store(0, Release);
        }
        rec.peer_id.store(0, Release);
        rec.peer_index.store(0, Release);
    }

    /// Process `identity` holds `ep` too (it joined a socket that has a record
    /// already, e.g. one it inherited through `WSD_FDS`). False if the record is
    /// gone.
    pub fn join(&self, ep: EndpointRef, identity: u64) -> bool {
        match self.endpoint(ep) {
            Some(rec) => {
                if !rec.holder_identities().any(|h| h == identity) {
                    rec.add_holder(identity);
                }
                self.note_holder(super::layout::identity_pid(identity));
                rec.flags.fetch_and(!super::layout::FLAG_HOLDERS_DIED, Relaxed);
                true
            }
            None => false,
        }
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
                self.note_holder(super::layout::identity_pid(identity));
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
        // The incarnation `ep` names (the id's low 24 bits are in the state word):
        // a record freed and reused since is not freed by this.
        let seen = live_state(u64::from(ep.tag));
        // A socket sent to another process may be in flight, or held by one that
        // has not joined yet: its endpoint ends when the kernel says (reaping).
        if rec.remove_holder(identity) && rec.has_no_holder() && rec.flags.load(Relaxed) & FLAG_SENT == 0 {
            let abortive = rec.flags.load(Relaxed) & FLAG_ABORTIVE != 0;
            self.free(rec, seen, pid, abortive);
        }
    }

    /// Frees a live record that has no holder left, if it is still in the state
    /// `seen` (the same incarnation); only one caller wins. Its peer is reset if
    /// `reset_peer`, and forgets it either way; the record leaves the indexes and
    /// goes back to the free list. False if someone else freed it, or the index
    /// lock could not be taken (a signal handler interrupting its holder: the
    /// reaper frees it later).
    pub(super) fn free(&self, rec: &Record, seen: u32, pid: u32, reset_peer: bool) -> bool {
        if seen & STATE_MASK != STATE_LIVE {
            return false;
        }
        let Some(lock) = self.lock_index() else {
            return false;
        };
        if !take_over(rec, seen, pid) {
            return false;
        }
        if reset_peer && let Some(peer) = self.live_peer_of(rec) {
            peer.set_connection(Connection::Reset);
        }
        self.give_back(&lock, rec)
    }

    /// A claimed record whose claimer died goes back to the free list.
    pub(super) fn unclaim(&self, rec: &Record, seen: u32, me: u32) -> bool {
        let Some(lock) = self.lock_index() else {
            return false;
        };
        if !take_over(rec, seen, me) {
            return false;
        }
        // A claimer that died after pairing: its peer's connection ends with it.
        if let Some(peer) = self.live_peer_of(rec)
            && peer.peer_id.load(Relaxed) == rec.id.load(Relaxed)
        {
            peer.set_connection(Connection::Reset);
        }
        self.give_back(&lock, rec)
    }

    /// A record this caller claimed to free (under the lock): out of its pairing
    /// and of every index it may be in, then free and back on the free list.
    fn give_back(&self, lock: &IndexLock<'_>, rec: &Record) -> bool {
        self.unpair(lock, rec);
        let Some(index) = self.index_of(rec) else {
            return false;
        };
        for which in [Index::Cookie, Index::Addr] {
            self.remove(lock, which, index);
        }
        rec.id.store(0, Relaxed);
        rec.cookie.store(0, Relaxed);
        rec.state.store(STATE_FREE, Release);
        self.push_free(lock, index);
        true
    }

    /// Frees `ep`'s record whoever holds it (a forked candidate's record, once
    /// its socket connected or listened: the values moved to the new endpoint).
    pub fn retire(&self, ep: EndpointRef) {
        let Some(lock) = self.lock_index() else { return };
        // Under the lock, and only while it is still a candidate's record: one
        // that a `listen` turned into an endpoint meanwhile is that endpoint now.
        let Some(rec) = self
            .endpoint(ep)
            .filter(|r| r.role() == Some(EndpointRole::Candidate))
        else {
            return;
        };
        let pid = std::process::id();
        if take_over(rec, live_state(u64::from(ep.tag)), pid) {
            self.give_back(&lock, rec);
        }
    }
}

/// Takes `rec` over for process `pid` to give it back to the free list, if it is
/// still in the state `seen` (live, or claimed by a claimer that died): a
/// compare-and-swap to CLAIMED|pid, so that only one caller wins.
fn take_over(rec: &Record, seen: u32, pid: u32) -> bool {
    rec.state
        .compare_exchange(seen, STATE_CLAIMED | pid << 8, AcqRel, Relaxed)
        .is_ok()
}
