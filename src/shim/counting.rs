//! Counting calls in the segment's report table (SPEC §6.3, `wsd run`'s report):
//! who answered each `setsockopt`/`getsockopt` ([`Outcome`]), what the report
//! keeps of it ([`Counted`]), and the per-thread state that makes counting cheap.
//!
//! A thread counts in its own lane (see `san::lanes`), taken on its first count
//! and given back when it exits, and remembers the rows it counted in last: a
//! program that sets one option in a loop finds its row without hashing or
//! probing shared memory, and adds to it without a locked instruction.

use crate::model::WsaError;
use crate::model::routing::Role;
use crate::san::Segment;
use crate::san::lanes;
use crate::san::layout::LAYER_PROVIDER;
use crate::san::report::CallKey;
use crate::shim::state::{self, Attached, Shim};
use crate::shim::thread::{Guard, slot};
use crate::shim::{errno, memo};
use libc::c_int;
use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering::*};

/// Report rows a thread remembers.
const ROW_CACHE: usize = 8;

/// [`Counting::lane`] before the thread first counted a call.
const LANE_UNASKED: u16 = u16::MAX;

/// A remembered row: the key's three words, then `row | lane << 32 | 1 << 40`
/// (0 while empty). Word-sized cells, each read with one load.
type CachedRow = [Cell<u64>; 4];

/// A thread's counting state.
struct Counting {
    /// This thread's counting lane, 0 for the shared one, or [`LANE_UNASKED`].
    lane: Cell<u16>,
    rows: [CachedRow; ROW_CACHE],
    /// The entry of `rows` to replace next.
    next_row: Cell<u8>,
}

thread_local! {
    // `const` and `Drop`-free, as `thread::THREAD`.
    static COUNTING: Counting = const {
        Counting {
            lane: Cell::new(LANE_UNASKED),
            rows: [const { [const { Cell::new(0) }; 4] }; ROW_CACHE],
            next_row: Cell::new(0),
        }
    };
}

/// This thread's counting state, for the length of one call, reached through
/// the guard's thread block (`Guard::kept`).
#[inline(always)]
fn this_thread(g: &Guard) -> &Counting {
    // SAFETY: COUNTING is this thread's own block, which lives as long as the
    // thread, at the same address every time.
    unsafe { g.kept(slot::COUNTING, || COUNTING.with(|c| c as *const Counting)) }
}

/// The pthread key whose destructor gives a thread's lane back when it exits;
/// `u32::MAX` until made (with the first lane taken).
static LANE_KEY: AtomicU32 = AtomicU32::new(u32::MAX);

/// The key that gives lanes back at thread exit, made on first need. Two threads
/// racing here each make one; the loser deletes its own.
fn lane_key() -> Option<libc::pthread_key_t> {
    let key = LANE_KEY.load(Acquire);
    if key != u32::MAX {
        return Some(key);
    }
    let mut made: libc::pthread_key_t = 0;
    // SAFETY: `made` is a valid out-pointer; the destructor is an `extern "C" fn`
    // of the right type that stays loaded (the library is never unloaded while
    // threads run: it is preloaded).
    if unsafe { libc::pthread_key_create(&mut made, Some(lane_exit)) } != 0 {
        return None;
    }
    match LANE_KEY.compare_exchange(u32::MAX, made, AcqRel, Acquire) {
        Ok(_) => Some(made),
        Err(winner) => {
            // SAFETY: a key this thread just made, which nobody else knows.
            unsafe { libc::pthread_key_delete(made) };
            Some(winner)
        }
    }
}

/// A thread is exiting: its lane goes back, and any call it still makes (another
/// key's destructor) counts in the shared lane.
extern "C" fn lane_exit(value: *mut libc::c_void) {
    let lane = value as usize as u32;
    let _ = COUNTING.try_with(|c| {
        c.lane.set(0);
        c.forget_rows();
    });
    memo::forget_this_thread();
    if let Some(att) = state::shim().and_then(|s| s.san_if_attached()) {
        att.seg.release_lane(lane, lanes::this_thread());
    }
}

/// In a fork child: the lane and rows the forking thread knew are its parent's,
/// and so are the memos that name them.
pub fn forget_after_fork() {
    let _ = COUNTING.try_with(|c| {
        c.lane.set(LANE_UNASKED);
        c.forget_rows();
    });
    memo::forget_this_thread();
}

impl Counting {
    /// This thread's counting lane in `seg`, taken on first need (0: the shared
    /// one). A vfork child, running on its parent's thread state, takes none.
    fn lane(&self, seg: &Segment) -> u8 {
        let lane = self.lane.get();
        if lane != LANE_UNASKED {
            return lane as u8;
        }
        let mut taken = 0;
        if !state::in_vm_sharing_child()
            && let Some(key) = lane_key()
        {
            taken = seg.claim_lane(lanes::this_thread());
            // SAFETY: a key made by `lane_key`; the value is a number, not a
            // pointer anyone dereferences.
            if taken != 0 && unsafe { libc::pthread_setspecific(key, taken as usize as *const _) } != 0 {
                seg.release_lane(taken, lanes::this_thread());
                taken = 0;
            }
        }
        self.lane.set(taken as u16);
        taken as u8
    }

    fn forget_rows(&self) {
        for r in &self.rows {
            r[3].set(0);
        }
    }

    /// The row and lane this thread last counted a call with these key words in.
    /// The few rows are all looked at: a program alternating two options must not
    /// find them evicting each other.
    #[inline(always)]
    fn cached_row(&self, key: &[u64; 3]) -> Option<(u32, u8)> {
        self.rows.iter().find_map(|c| {
            let v = c[3].get();
            (v != 0 && c[0].get() == key[0] && c[1].get() == key[1] && c[2].get() == key[2])
                .then_some((v as u32, (v >> 32) as u8))
        })
    }

    /// Remembers the row of `key`, in place of the one remembered longest ago.
    fn cache_row(&self, key: [u64; 3], row: u32, lane: u8) {
        let next = self.next_row.get();
        self.next_row.set((next + 1) % ROW_CACHE as u8);
        let c = &self.rows[usize::from(next)];
        for (cell, word) in c.iter().zip(key) {
            cell.set(word);
        }
        c[3].set(u64::from(row) | u64::from(lane) << 32 | 1 << 40);
    }
}

/// Who answered a call, and what a bare provider would have said, for the report.
pub struct Outcome {
    pub rc: c_int,
    pub errno: c_int,
    pub layer: u8,
    pub provider: Result<(), WsaError>,
}

impl Outcome {
    /// The outcome of a call answered by `layer` with `rc`: when the provider
    /// answered, its verdict is the answer; otherwise `bare` says what it would
    /// have. Nothing of ours between the answer and here touches `errno`, and
    /// nothing after it does except what restores it.
    #[inline(always)]
    pub fn of(rc: c_int, layer: u8, bare: impl FnOnce() -> Result<(), WsaError>) -> Outcome {
        let errno = if rc == 0 { 0 } else { errno::get() };
        Outcome {
            rc,
            errno,
            layer,
            provider: match (layer, rc) {
                (LAYER_PROVIDER, 0) => Ok(()),
                (LAYER_PROVIDER, _) => WsaError::from_errno(errno).map_or(Ok(()), Err),
                _ => bare(),
            },
        }
    }

    /// Did the provider answer, with success? (What a memo may remember.)
    pub fn provider_said_yes(&self) -> bool {
        self.rc == 0 && self.layer == LAYER_PROVIDER && self.provider.is_ok()
    }
}

/// What the report counts of one call.
pub struct Counted<'a> {
    pub role: Role,
    /// The endpoint's role, for a SAN socket's call (0 otherwise).
    pub end: u8,
    pub call: u8,
    pub level: c_int,
    pub optname: c_int,
    pub optlen: i32,
    pub outcome: &'a Outcome,
}

impl Counted<'_> {
    #[inline(always)]
    fn key(&self, shim: &Shim) -> CallKey {
        let o = self.outcome;
        CallKey {
            lane: 0,
            comm: shim.comm,
            call: self.call,
            layer: o.layer,
            role: match self.role {
                Role::Candidate => 1,
                Role::San => 2,
                Role::PlainRemembering => 3,
            },
            level: self.level,
            optname: self.optname,
            optlen: self.optlen,
            errno: if o.rc == 0 { 0 } else { o.errno },
            provider: o.provider.err().map_or(0, WsaError::code),
            pid: state::own_pid(),
            end: self.end,
        }
    }
}

/// Counts the call in the segment's report table. `att` is the segment when the
/// caller has it at hand (a SAN socket's). Returns the row and lane that counted
/// the call when they are the thread's to remember (a memo keeps them).
#[inline(always)]
pub fn count(shim: &Shim, g: &Guard, att: Option<&Attached>, c: &Counted<'_>) -> Option<(u32, u8)> {
    if let Some(att) = att
        && !g.nested()
        // The key's words, packed from the values in registers (packing them from
        // a key just stored would stall on store forwarding).
        && let Some((row, lane)) = this_thread(g).cached_row(&c.key(shim).words())
    {
        att.seg.count_row(row, lane);
        return Some((row, lane));
    }
    count_in_table(shim, g, c)
}

/// [`count`] when the thread does not remember the row. Attaching the segment or
/// taking a lane makes system calls: the program's `errno` is kept.
#[inline(never)]
fn count_in_table(shim: &Shim, g: &Guard, c: &Counted<'_>) -> Option<(u32, u8)> {
    let _errno = errno::keep();
    let nested = g.nested();
    // A signal handler's call counts only in a segment already attached, in the
    // shared lane, and without the per-thread cache it may have interrupted.
    let att = if nested {
        shim.san_if_attached()
    } else {
        shim.san().ok()
    };
    let att = att?;
    let key = c.key(shim);
    if nested {
        att.seg.count_call(&key);
        return None;
    }
    let t = this_thread(g);
    let lane = t.lane(&att.seg);
    let (row, lane) = att.seg.count_call(&CallKey { lane, ..key })?;
    t.cache_row(key.words(), row, lane);
    Some((row, lane))
}
