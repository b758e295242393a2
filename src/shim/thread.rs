//! Per-thread state, in one thread-local block that a hook reaches once per call
//! (in a shared library every thread-local access is a call to `__tls_get_addr`):
//! how deep the thread is inside the shim, its stack's bounds, its counting lane
//! and the report rows it counted in last, its memos of its last SAN calls (see
//! `recent`), and when it next looks at the clock.
//!
//! The depth is an RAII [`Guard`]. Most hooks run only at depth 0: a call made
//! from inside our own code, or from libc while we are in it, goes straight to the
//! real function. `setsockopt` and `getsockopt` are the exception: our own code
//! never calls them on a descriptor of ours, so a nested one comes from a signal
//! handler that interrupted the shim, and gets the same answer as any other call
//! ([`Guard::nested`] then tells the hook to touch nothing that a handler must
//! not: no allocation, no first-time set-up, no per-thread cache).

use crate::san::Segment;
use crate::san::lanes;
use crate::shim::memory::Memory;
use crate::shim::recent::Memos;
use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// Report rows a thread remembers.
const ROW_CACHE: usize = 8;
/// A thread looks at the clock on every this many SAN calls.
const CLOCK_EVERY: u8 = 32;

/// `ThreadState::lane` before the thread first counted a call.
const LANE_UNASKED: u16 = u16::MAX;

/// A remembered row: the key's three words, then `row | lane << 32 | 1 << 40`
/// (0 while empty). Word-sized cells, each read with one load.
type CachedRow = [Cell<u64>; 4];

pub struct ThreadState {
    depth: Cell<u32>,
    /// The stack as (lowest, top) addresses, (0, 0) until first asked.
    stack: Cell<(usize, usize)>,
    /// This thread's counting lane, 0 for the shared one, or [`LANE_UNASKED`].
    lane: Cell<u16>,
    rows: [CachedRow; ROW_CACHE],
    /// The entry of `rows` to replace next.
    next_row: Cell<u8>,
    /// The last SAN `setsockopt`s and `getsockopt`s, and how many calls they answered.
    memos: [Memos; 2],
    memo_hits: Cell<u64>,
    clock: Cell<u8>,
}

thread_local! {
    // `const` and `Drop`-free: no lazy initialisation and no destructor to register,
    // so touching it is safe at any moment of a thread's life.
    static THREAD: ThreadState = const {
        ThreadState {
            depth: Cell::new(0),
            stack: Cell::new((0, 0)),
            lane: Cell::new(LANE_UNASKED),
            rows: [const { [const { Cell::new(0) }; 4] }; ROW_CACHE],
            next_row: Cell::new(0),
            memos: [const { Memos::new() }; 2],
            memo_hits: Cell::new(0),
            clock: Cell::new(0),
        }
    };
}

/// Held while a thread runs the shim's logic; dropping it restores the depth.
pub struct Guard {
    /// This thread's block: it outlives every call the thread makes, and a raw
    /// pointer keeps the guard on its thread (`!Send`).
    thread: *const ThreadState,
}

/// This thread's buffers as far as they are known without learning anything:
/// its stack bounds if a hook has learned them (else no address counts as on the
/// stack). For use outside the guard (around a blocking call): one
/// thread-local load.
#[inline(always)]
pub fn known_memory() -> Memory {
    Memory::new(THREAD.with(|t| t.stack.get()))
}

impl Guard {
    /// Takes the guard if this thread is not inside the shim already.
    #[inline(always)]
    pub fn enter() -> Option<Guard> {
        let thread = THREAD.with(|t| t as *const ThreadState);
        // SAFETY: this thread's own block, alive as long as the thread.
        let t = unsafe { &*thread };
        if t.depth.get() != 0 {
            return None;
        }
        t.depth.set(1);
        Some(Guard { thread })
    }

    /// Takes the guard at any depth (for `setsockopt`/`getsockopt`).
    #[inline(always)]
    pub fn enter_nested() -> Guard {
        let thread = THREAD.with(|t| t as *const ThreadState);
        // SAFETY: as in `enter`.
        let t = unsafe { &*thread };
        t.depth.set(t.depth.get() + 1);
        Guard { thread }
    }

    /// This thread's state.
    #[inline(always)]
    pub fn thread(&self) -> &ThreadState {
        // SAFETY: the guard lives on the thread whose block this is, inside one of
        // its calls.
        unsafe { &*self.thread }
    }

    /// Is this thread inside the shim more than once (a signal handler's call)?
    #[inline(always)]
    pub fn nested(&self) -> bool {
        self.thread().depth.get() > 1
    }

    /// The program's buffers, as this thread may reach them.
    #[inline(always)]
    pub fn memory(&self) -> Memory {
        let t = self.thread();
        let mut bounds = t.stack.get();
        // Learned on first need, but not from a signal handler, which must not
        // allocate (as pthread_getattr_np may): the kernel copy serves it instead.
        if bounds == (0, 0) && !self.nested() {
            bounds = crate::shim::memory::this_thread_stack();
            t.stack.set(bounds);
        }
        Memory::new(bounds)
    }
}

impl Drop for Guard {
    #[inline(always)]
    fn drop(&mut self) {
        let d = &self.thread().depth;
        d.set(d.get().saturating_sub(1));
    }
}

/// The pthread key whose destructor gives a thread's lane back when it exits;
/// `u32::MAX` until made (then lanes are taken).
static LANE_KEY: AtomicU32 = AtomicU32::new(u32::MAX);

/// Makes the key that gives lanes back at thread exit (once, at start-up).
pub fn enable_lanes() {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: `key` is a valid out-pointer; the destructor is an `extern "C" fn`
    // of the right type that stays loaded (the library is never unloaded while
    // threads run: it is preloaded).
    if unsafe { libc::pthread_key_create(&mut key, Some(lane_exit)) } == 0 {
        LANE_KEY.store(key, Relaxed);
    }
}

/// A thread is exiting: its lane goes back, and any call it still makes (another
/// key's destructor) counts in the shared lane.
extern "C" fn lane_exit(value: *mut libc::c_void) {
    let lane = value as usize as u32;
    let _ = THREAD.try_with(|t| {
        t.lane.set(0);
        t.forget_rows();
    });
    if let Some(att) = crate::shim::state::shim().and_then(|s| s.san_if_attached()) {
        att.seg.release_lane(lane, lanes::this_thread());
    }
}

/// In a fork child: the lane and rows the forking thread knew are its parent's.
pub fn forget_lane_after_fork() {
    let _ = THREAD.try_with(|t| {
        t.lane.set(LANE_UNASKED);
        t.forget_rows();
    });
}

impl ThreadState {
    /// This thread's counting lane in `seg`, taken on first need (0: the shared one).
    /// A vfork child, running on its parent's thread state, takes none.
    pub fn lane(&self, seg: &Segment) -> u8 {
        let lane = self.lane.get();
        if lane != LANE_UNASKED {
            return lane as u8;
        }
        let key = LANE_KEY.load(Relaxed);
        let mut taken = 0;
        if key != u32::MAX && !crate::shim::state::in_vm_sharing_child() {
            crate::shim::hooks::keeping_errno(|| {
                taken = seg.claim_lane(lanes::this_thread());
                // SAFETY: a key made by `enable_lanes`; the value is a number, not
                // a pointer anyone dereferences.
                if taken != 0 && unsafe { libc::pthread_setspecific(key, taken as usize as *const _) } != 0 {
                    seg.release_lane(taken, lanes::this_thread());
                    taken = 0;
                }
            });
        }
        self.lane.set(taken as u16);
        taken as u8
    }

    /// Forgets the rows this thread counted in, and the memos that name them
    /// (their lane is no longer this thread's).
    fn forget_rows(&self) {
        for r in &self.rows {
            r[3].set(0);
        }
        for m in &self.memos {
            m.forget();
        }
    }

    pub fn set_memos(&self) -> &Memos {
        &self.memos[0]
    }

    pub fn get_memos(&self) -> &Memos {
        &self.memos[1]
    }

    /// A memo answered a call.
    #[inline(always)]
    pub fn memo_hit(&self) {
        self.memo_hits.set(self.memo_hits.get().wrapping_add(1));
    }

    /// The row and lane this thread last counted a call with these key words in.
    /// The few rows are all looked at: a program alternating two options must not
    /// find them evicting each other.
    #[inline(always)]
    pub fn cached_row(&self, key: &[u64; 3]) -> Option<(u32, u8)> {
        self.rows.iter().find_map(|c| {
            let v = c[3].get();
            (v != 0 && c[0].get() == key[0] && c[1].get() == key[1] && c[2].get() == key[2])
                .then_some((v as u32, (v >> 32) as u8))
        })
    }

    /// Remembers the row of `key`, in place of the one remembered longest ago.
    pub fn cache_row(&self, key: [u64; 3], row: u32, lane: u8) {
        let next = self.next_row.get();
        self.next_row.set((next + 1) % ROW_CACHE as u8);
        let c = &self.rows[usize::from(next)];
        for (cell, word) in c.iter().zip(key) {
            cell.set(word);
        }
        c[3].set(u64::from(row) | u64::from(lane) << 32 | 1 << 40);
    }

    /// Is it this call's turn to look at the clock (every [`CLOCK_EVERY`] calls)?
    #[inline(always)]
    pub fn clock_due(&self) -> bool {
        let n = self.clock.get();
        if n == 0 {
            self.clock.set(CLOCK_EVERY - 1);
            return true;
        }
        self.clock.set(n - 1);
        false
    }

    /// [`clock_due`](Self::clock_due) for a call that does not look at the clock:
    /// false, and nothing changed, when it is the call's turn to.
    #[inline(always)]
    pub fn clock_tick(&self) -> bool {
        let n = self.clock.get();
        if n == 0 {
            return false;
        }
        self.clock.set(n - 1);
        true
    }
}

/// How many of this thread's calls a memo answered.
pub fn memo_hits() -> u64 {
    THREAD.try_with(|t| t.memo_hits.get()).unwrap_or(0)
}

/// Records the main thread's stack bounds (start-up; see `memory`).
pub fn set_stack(bounds: (usize, usize)) {
    let _ = THREAD.try_with(|t| t.stack.set(bounds));
}

#[cfg(test)]
mod tests {
    use super::Guard;

    #[test]
    fn nested_entry_is_refused_and_drop_restores() {
        let g = Guard::enter().expect("first entry");
        assert!(Guard::enter().is_none());
        assert!(!g.nested());
        let n = Guard::enter_nested();
        assert!(n.nested() && g.nested());
        drop(n);
        drop(g);
        assert!(Guard::enter().is_some());
    }

    #[test]
    fn the_clock_is_due_every_few_calls() {
        let g = Guard::enter().unwrap();
        let every = usize::from(super::CLOCK_EVERY);
        let due: Vec<bool> = (0..2 * every + 1).map(|_| g.thread().clock_due()).collect();
        assert_eq!(due.iter().filter(|&&d| d).count(), 3);
        assert!(due[0] && due[every] && due[2 * every]);
    }
}
