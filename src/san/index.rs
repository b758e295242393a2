//! The segment's indexes (SPEC §5, "Scale"): a record is found by its socket's
//! cookie or by the address pair of its connection in constant time, a record
//! names its peer's record directly, and a free record is taken from a free list
//! — no call's path scans the table.
//!
//! Each index is an array of buckets holding the first record of a chain (record
//! index + 1; 0 ends a chain), chained through a link field of each record. Keys
//! handed out in sequence (cookies) map to neighbouring buckets, so the pages
//! an index touches grow with the records in use. The address-pair index hashes
//! both ends of a connection to one bucket (the hash is symmetric), so a socket
//! finds its peer in its own chain.
//!
//! Every change of a chain or of the free list is made under the **index lock**,
//! one word in the header holding the owner thread's (pid, tid). A waiter spins,
//! then yields; one that finds the owner thread gone (`tgkill(pid, tid, 0)` says
//! `ESRCH`: the process was killed mid-update) takes the lock over. Each update
//! is a sequence of single stores, each leaving the chains walkable, so a thread
//! killed between two of them leaves at worst a record outside a chain it should
//! be in (found by `wsd san check`), never a broken chain. A chain walk is bounded
//! by the capacity and every link is bounds-checked: a corrupt segment can make a
//! lookup miss, never loop or read outside the mapping.
//!
//! A thread that already holds the lock (a signal handler interrupting it) gets
//! `None` from [`Segment::lock_index`] rather than waiting for itself.

use super::lanes::{this_thread, thread_alive};
use super::layout::{Record, addr_buckets, buckets_offset, key_buckets};
use super::segment::Segment;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// Which index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Index {
    Cookie,
    Addr,
}

/// The index lock, held; released on drop.
pub struct IndexLock<'a> {
    word: &'a std::sync::atomic::AtomicU64,
    owner: u64,
}

impl Drop for IndexLock<'_> {
    fn drop(&mut self) {
        let _ = self.word.compare_exchange(self.owner, 0, Release, Relaxed);
    }
}

/// Rounds of [`Segment::lock_index`]'s wait for one owner before it gives up:
/// each a yield, so a tenth of a second or so — far more than any holder needs (a
/// few hundred instructions, or a time slice if it is preempted).
const LOCK_SPINS: u32 = 50_000;

/// Could the owner word `owner` name a thread that still runs? Pids and tids are
/// below 2^22 on Linux: a word beyond that is garbage, and nobody's. A thread of
/// a process that has exited but is not reaped yet (a zombie) runs no more.
fn owner_alive(owner: u64) -> bool {
    let (pid, tid) = (owner >> 32, owner & 0xffff_ffff);
    (1..1 << 22).contains(&pid)
        && (1..1 << 22).contains(&tid)
        && thread_alive(owner)
        // Only a zombie is dead here: a /proc that hides other users' processes
        // (hidepid) says nothing about a thread the kernel says exists.
        && !matches!(
            super::reap::process_stat(pid as u32),
            Ok(Some((_, 'Z' | 'X')))
        )
}

/// The symmetric hash of a connection's two ends: both ends land in one bucket.
pub fn addr_hash(local: &[u32; 6], peer: &[u32; 6]) -> u32 {
    fn h(w: &[u32; 6]) -> u64 {
        w.iter().fold(0xcbf2_9ce4_8422_2325u64, |acc, &x| {
            (acc ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }
    let (a, b) = (h(local), h(peer));
    let m = (a.min(b) ^ a.max(b).rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (m >> 32) as u32
}

impl Segment {
    /// Takes the index lock (see the module docs); `None` if this thread holds it
    /// already, or if one owner kept it for [`LOCK_SPINS`] rounds (its holder is
    /// stopped, or the word is garbage naming a live thread): callers then do
    /// without, as when the table is full. After such a wait, a call that finds
    /// the same owner still there tries only briefly.
    pub fn lock_index(&self) -> Option<IndexLock<'_>> {
        let word = &self.header().index_lock;
        let me = this_thread();
        let stuck = self.stuck_owner.load(Relaxed);
        // Rounds the current owner has held it for, as far as this waiter saw: a
        // lock that changes hands is busy, not stuck, and is waited for.
        let (mut owner, mut held_for) = (0u64, 0u32);
        loop {
            let cur = word.load(Relaxed);
            if cur == 0 {
                if word.compare_exchange_weak(0, me, Acquire, Relaxed).is_ok() {
                    return Some(IndexLock { word, owner: me });
                }
                continue;
            }
            if cur == me {
                return None;
            }
            if cur != owner {
                (owner, held_for) = (cur, 0);
            }
            held_for += 1;
            // Found stuck by this process before, still with the same owner: a
            // brief try, then do without.
            let limit = if cur == stuck { 512 } else { LOCK_SPINS };
            if held_for >= limit {
                self.stuck_owner.store(cur, Relaxed);
                return None;
            }
            if held_for < 64 {
                std::hint::spin_loop();
            } else if held_for % 256 == 0 && !owner_alive(cur) {
                // The owner died mid-update: take over (its updates are each
                // complete or not made at all).
                if word.compare_exchange(cur, me, Acquire, Relaxed).is_ok() {
                    return Some(IndexLock { word, owner: me });
                }
            } else {
                // SAFETY: sched_yield has no preconditions.
                unsafe { libc::sched_yield() };
            }
        }
    }

    fn buckets(&self, which: Index) -> (usize, u32) {
        let cap = self.capacity();
        let keys = key_buckets(cap);
        match which {
            Index::Cookie => (buckets_offset(cap), keys),
            Index::Addr => (buckets_offset(cap) + keys as usize * 4, addr_buckets(cap)),
        }
    }

    /// The head of bucket `hash` of `which`.
    fn bucket(&self, which: Index, hash: u32) -> &AtomicU32 {
        let (offset, count) = self.buckets(which);
        // Bucket counts are powers of two.
        let i = (hash & (count - 1)) as usize;
        self.word_at(offset + i * 4)
    }

    fn link(rec: &Record, which: Index) -> &AtomicU32 {
        match which {
            Index::Cookie => &rec.next_by_cookie,
            Index::Addr => &rec.next_by_addr,
        }
    }

    /// The hash of `rec` in `which` (None: it is not indexed there).
    fn hash_of(rec: &Record, which: Index) -> Option<u32> {
        match which {
            Index::Cookie => {
                let c = rec.cookie.load(Relaxed);
                (c != 0).then_some(c as u32)
            }
            // Filed under the key computed when it was inserted.
            Index::Addr => {
                let (l, p) = (rec.local.words(), rec.peer.words());
                (l[0] != 0 && p[0] != 0).then(|| rec.addr_key.load(Relaxed))
            }
        }
    }

    /// Walks chain `hash` of `which` until `f` says stop; bounded by the capacity.
    fn walk(&self, which: Index, hash: u32, mut f: impl FnMut(u32, &Record, &AtomicU32) -> bool) {
        let mut at = self.bucket(which, hash);
        for _ in 0..self.capacity() {
            let next = at.load(Acquire);
            let Some(rec) = next.checked_sub(1).and_then(|i| self.record(i)) else {
                return;
            };
            if f(next - 1, rec, at) {
                return;
            }
            at = Segment::link(rec, which);
        }
    }

    /// The first record in chain `hash` of `which` for which `pred` holds.
    pub(super) fn find_in(
        &self,
        which: Index,
        hash: u32,
        pred: impl Fn(&Record) -> bool,
    ) -> Option<(u32, &Record)> {
        let mut found = None;
        self.walk(which, hash, |i, rec, _| {
            if pred(rec) {
                found = Some(i);
            }
            found.is_some()
        });
        found.and_then(|i| self.record(i).map(|r| (i, r)))
    }

    /// Puts record `index` at the head of its chain in `which` (under the lock).
    pub(super) fn insert(&self, _lock: &IndexLock<'_>, which: Index, index: u32) {
        let Some(rec) = self.record(index) else { return };
        if which == Index::Addr {
            rec.addr_key
                .store(addr_hash(&rec.local.words(), &rec.peer.words()), Relaxed);
        }
        let Some(hash) = Segment::hash_of(rec, which) else {
            Segment::link(rec, which).store(0, Relaxed);
            return;
        };
        let head = self.bucket(which, hash);
        Segment::link(rec, which).store(head.load(Relaxed), Relaxed);
        head.store(index + 1, Release);
    }

    /// Takes record `index` out of its chain in `which` (under the lock), if it
    /// is in it.
    pub(super) fn remove(&self, _lock: &IndexLock<'_>, which: Index, index: u32) {
        let Some(rec) = self.record(index) else { return };
        let Some(hash) = Segment::hash_of(rec, which) else {
            return;
        };
        let next = Segment::link(rec, which).load(Relaxed);
        self.walk(which, hash, |i, _, at| {
            if i == index {
                at.store(next, Release);
                true
            } else {
                false
            }
        });
    }

    /// A free record: from the free list, else the lowest never-used one. Its
    /// state is left as it was (FREE); the caller claims it.
    pub(super) fn pop_free(&self, _lock: &IndexLock<'_>) -> Option<u32> {
        let h = self.header();
        let head = h.free_head.load(Relaxed);
        if let Some(rec) = head.checked_sub(1).and_then(|i| self.record(i)) {
            h.free_head.store(rec.next_free.load(Relaxed), Relaxed);
            return Some(head - 1);
        }
        let hw = h.high_water.load(Relaxed);
        (hw < self.capacity()).then(|| {
            h.high_water.store(hw + 1, Relaxed);
            hw
        })
    }

    /// Gives record `index` back to the free list (under the lock).
    pub(super) fn push_free(&self, _lock: &IndexLock<'_>, index: u32) {
        let Some(rec) = self.record(index) else { return };
        let h = self.header();
        rec.next_free.store(h.free_head.load(Relaxed), Relaxed);
        h.free_head.store(index + 1, Relaxed);
    }

    /// The free list, read under the lock (so that another process's claim or
    /// release is not seen half-done), at most as long as the capacity; with the
    /// states of its records as they were then. Empty if the lock cannot be had.
    /// For `check`.
    pub fn free_list(&self) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        let Some(_lock) = self.lock_index() else {
            return out;
        };
        let mut next = self.header().free_head.load(Acquire);
        while let Some(i) = next.checked_sub(1) {
            let Some(rec) = self.record(i) else { break };
            if out.len() as u32 >= self.capacity() {
                break;
            }
            out.push((i, rec.state.load(Acquire)));
            next = rec.next_free.load(Acquire);
        }
        out
    }

    /// Is record `index`, if it is live, reachable in its chain of `which`? Read
    /// under the lock; true when that cannot be told (no lock, not live now, not
    /// filed there). For `check`.
    pub fn indexed(&self, which: Index, index: u32) -> bool {
        let Some(rec) = self.record(index) else {
            return false;
        };
        let Some(_lock) = self.lock_index() else {
            return true;
        };
        if rec.state.load(Acquire) & super::layout::STATE_MASK != super::layout::STATE_LIVE {
            return true;
        }
        let Some(hash) = Segment::hash_of(rec, which) else {
            return true;
        };
        let mut seen = false;
        self.walk(which, hash, |i, _, _| {
            seen = i == index;
            seen
        });
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_hash_alike() {
        let a = [2 << 16 | 5000, 0x0100_007f, 0, 0, 0, 0];
        let b = [2 << 16 | 41000, 0x0100_007f, 0, 0, 0, 0];
        assert_eq!(addr_hash(&a, &b), addr_hash(&b, &a));
        let c = [2 << 16 | 41001, 0x0100_007f, 0, 0, 0, 0];
        assert_ne!(addr_hash(&a, &b), addr_hash(&a, &c));
    }
}
