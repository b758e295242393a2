//! The descriptor table: what the switch knows about each descriptor number.
//!
//! A flat array of `AtomicU64`, indexed by descriptor, which the front maps
//! before the program runs (`wsd_front::table`, sized from the descriptor limit
//! and mapped lazily: untouched pages cost nothing) and hands over when it loads the
//! engine. For a descriptor that is not ours a hook pays one bounds check and
//! one atomic load of a zero. Descriptors beyond the table are never ours.
//!
//! An entry is one word (see [`Entry`]); it is replaced whole, never edited in
//! place, so a reader always sees one consistent state.

use crate::model::OptionId;
use crate::model::routing::Role;
use crate::san::EndpointRef;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};

static TABLE: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());
/// 0 until the table is published: every descriptor passes through before that.
static LEN: AtomicUsize = AtomicUsize::new(0);
/// One more than the highest descriptor ever given an entry (bounds close_range).
static HIGH: AtomicUsize = AtomicUsize::new(0);

/// Provider-option values the switch remembers for a candidate (SPEC §4.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Remembered {
    pub debug: Option<bool>,
    pub priority: Option<i32>,
}

impl Remembered {
    pub fn is_empty(&self) -> bool {
        self.debug.is_none() && self.priority.is_none()
    }

    /// The remembered value of an option, or its default.
    pub fn get(&self, id: OptionId) -> i32 {
        match id {
            OptionId::Debug => self.debug.unwrap_or(false) as i32,
            OptionId::GroupId => 0,
            OptionId::GroupPriority => self.priority.unwrap_or(0),
        }
    }

    pub fn set(&mut self, id: OptionId, value: i32) {
        match id {
            OptionId::Debug => self.debug = Some(value != 0),
            OptionId::GroupId => {}
            OptionId::GroupPriority => self.priority = Some(value),
        }
    }

    /// The remembered options, as (option, value), in table order.
    pub fn values(&self) -> impl Iterator<Item = (OptionId, i32)> {
        let debug = self.debug.map(|d| (OptionId::Debug, d as i32));
        let prio = self.priority.map(|p| (OptionId::GroupPriority, p));
        debug.into_iter().chain(prio)
    }
}

/// One descriptor's state, packed into a word:
///
/// ```text
/// bits 0-2   kind: 0 not ours, 1 candidate, 2 SAN socket, 3 plain TCP remembering values
/// candidate / plain:  bit 3 debug set, bit 4 debug value, bit 5 priority set, bits 32-62 priority,
///                     bit 6 shared: other descriptors (dups) refer to the same socket
/// candidate:          bit 7 forked: a fork shared it with another process; its values
///                     live in a segment record found by the socket's cookie
/// SAN:                bits 8-31 endpoint index, bits 32-63 endpoint tag
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry(u64);

use wsd_front::table::{KIND_MASK, KIND_SAN};
const KIND_CANDIDATE: u64 = 1;
const KIND_PLAIN: u64 = 3;
const SHARED: u64 = 1 << 6;
const FORKED: u64 = 1 << 7;

impl Entry {
    pub const EMPTY: Entry = Entry(0);

    pub fn candidate(r: Remembered) -> Entry {
        Entry(KIND_CANDIDATE | pack(r))
    }

    /// A plain TCP socket; not ours at all unless it remembers values.
    pub fn plain(r: Remembered) -> Entry {
        if r.is_empty() {
            Entry::EMPTY
        } else {
            Entry(KIND_PLAIN | pack(r))
        }
    }

    pub fn san(ep: EndpointRef) -> Entry {
        debug_assert!(ep.index < 1 << 24);
        Entry(KIND_SAN | u64::from(ep.index & 0xff_ffff) << 8 | u64::from(ep.tag) << 32)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Is it a SAN socket's entry? (The data calls' one test.)
    #[inline(always)]
    pub fn is_san(self) -> bool {
        wsd_front::table::is_san(self.0)
    }

    pub fn role(self) -> Option<Role> {
        match self.0 & KIND_MASK {
            KIND_CANDIDATE => Some(Role::Candidate),
            KIND_SAN => Some(Role::San),
            KIND_PLAIN => Some(Role::PlainRemembering),
            _ => None,
        }
    }

    pub fn endpoint(self) -> Option<EndpointRef> {
        (self.0 & KIND_MASK == KIND_SAN).then_some(EndpointRef {
            index: (self.0 >> 8) as u32 & 0xff_ffff,
            tag: (self.0 >> 32) as u32,
        })
    }

    /// Remembered values of a candidate or plain socket.
    pub fn remembered(self) -> Remembered {
        if !matches!(self.0 & KIND_MASK, KIND_CANDIDATE | KIND_PLAIN) {
            return Remembered::default();
        }
        Remembered {
            debug: (self.0 & 1 << 3 != 0).then_some(self.0 & 1 << 4 != 0),
            priority: (self.0 & 1 << 5 != 0).then_some((self.0 >> 32) as i32 & i32::MAX),
        }
    }

    /// The same kind of entry with other remembered values.
    pub fn with_remembered(self, r: Remembered) -> Entry {
        let e = match self.0 & KIND_MASK {
            KIND_CANDIDATE => Entry::candidate(r),
            _ => Entry::plain(r),
        };
        let e = if self.is_shared() { e.shared() } else { e };
        if self.is_forked() { e.forked() } else { e }
    }

    /// A candidate that a fork shared with another process (see [`FORKED`]).
    pub fn is_forked(self) -> bool {
        self.0 & KIND_MASK == KIND_CANDIDATE && self.0 & FORKED != 0
    }

    /// The candidate marked forked (other entries are left as they are).
    pub fn forked(self) -> Entry {
        if self.0 & KIND_MASK == KIND_CANDIDATE {
            Entry(self.0 | FORKED)
        } else {
            self
        }
    }

    fn remembers(self) -> bool {
        matches!(self.0 & KIND_MASK, KIND_CANDIDATE | KIND_PLAIN)
    }

    /// A candidate or plain socket that other descriptors (dups) refer to too: the
    /// values it remembers and its fate at `connect` are shared with them.
    pub fn is_shared(self) -> bool {
        self.remembers() && self.0 & SHARED != 0
    }

    /// The entry marked shared (only candidates and plain sockets can be).
    pub fn shared(self) -> Entry {
        if self.remembers() {
            Entry(self.0 | SHARED)
        } else {
            self
        }
    }
}

fn pack(r: Remembered) -> u64 {
    let mut w = 0;
    if let Some(d) = r.debug {
        w |= 1 << 3 | u64::from(d) << 4;
    }
    if let Some(p) = r.priority {
        // Only validated, nonnegative priorities are remembered.
        w |= 1 << 5 | u64::from(p.max(0) as u32) << 32;
    }
    w
}

/// Takes the table the front mapped before the program ran (the engine's
/// start-up), before any entry is made.
pub fn adopt(front: &wsd_front::api::Front) {
    // SAFETY: the front's statics, alive as long as the process; the table they
    // describe is a mapping of that many words that is never unmapped.
    let (table, len) = unsafe { ((*front.table).load(Acquire), (*front.table_len).load(Acquire)) };
    TABLE.store(table, Relaxed);
    LEN.store(len, Release);
}

/// Has the table been mapped?
pub fn published() -> bool {
    LEN.load(Acquire) != 0
}

/// The slot of `fd`, if the table covers it.
#[inline(always)]
fn slot(fd: i32) -> Option<&'static AtomicU64> {
    let i = fd as u32 as usize;
    if i >= LEN.load(Acquire) {
        return None;
    }
    // SAFETY: LEN is nonzero only after TABLE points at a mapping of LEN slots that
    // is never unmapped, and `i < LEN`.
    Some(unsafe { &*TABLE.load(Relaxed).add(i) })
}

/// The entry of `fd`: the hooks' first and, for descriptors not ours, only look.
#[inline(always)]
pub fn get(fd: i32) -> Entry {
    slot(fd).map_or(Entry::EMPTY, |s| Entry(s.load(Acquire)))
}

/// Replaces the entry of `fd`, returning the old one.
pub fn replace(fd: i32, e: Entry) -> Entry {
    let Some(s) = slot(fd) else { return Entry::EMPTY };
    if !e.is_empty() {
        HIGH.fetch_max(fd as usize + 1, Relaxed);
    }
    Entry(s.swap(e.0, AcqRel))
}

/// Replaces the entry of `fd` only if it is still `old` (a concurrent close wins).
pub fn update(fd: i32, old: Entry, new: Entry) -> bool {
    let Some(s) = slot(fd) else { return false };
    if !new.is_empty() {
        HIGH.fetch_max(fd as usize + 1, Relaxed);
    }
    s.compare_exchange(old.0, new.0, AcqRel, Acquire).is_ok()
}

/// Descriptors in `first..=last` that may have entries.
pub fn span(first: u32, last: u32) -> std::ops::Range<usize> {
    let high = HIGH.load(Relaxed);
    let end = (last as usize).saturating_add(1).min(high);
    (first as usize).min(end)..end
}

/// Every descriptor with an entry, and the entry.
pub fn entries() -> impl Iterator<Item = (i32, Entry)> {
    span(0, u32::MAX).filter_map(|fd| {
        let e = get(fd as i32);
        (!e.is_empty()).then_some((fd as i32, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let r = Remembered {
            debug: Some(true),
            priority: Some(i32::MAX),
        };
        let c = Entry::candidate(r);
        assert_eq!(c.role(), Some(Role::Candidate));
        assert_eq!(c.remembered(), r);
        assert_eq!(Entry::plain(r).remembered(), r);
        assert_eq!(Entry::plain(Remembered::default()), Entry::EMPTY);
        let ep = EndpointRef {
            index: 0xab_cdef,
            tag: 0xdead_beef,
        };
        let s = Entry::san(ep);
        assert_eq!(s.role(), Some(Role::San));
        assert_eq!(s.endpoint(), Some(ep));
        assert!(s.remembered().is_empty());
        assert_eq!(Entry::EMPTY.role(), None);
        let zero = Remembered {
            debug: Some(false),
            priority: Some(0),
        };
        assert_eq!(Entry::candidate(zero).remembered(), zero);
        let shared = Entry::candidate(r).shared();
        assert!(shared.is_shared() && shared.remembered() == r);
        assert!(shared.with_remembered(zero).is_shared());
        assert!(!s.shared().is_shared());
    }
}
