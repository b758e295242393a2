//! Per-thread state that every hook needs, in one thread-local block that a hook
//! reaches once per call (in a shared library every thread-local access is a call
//! to `__tls_get_addr`): how deep the thread is inside the shim, its stack's
//! bounds, and when it next looks at the clock. (The memo and the counting lanes
//! keep their own per-thread blocks, `memo` and `counting`, one layer up.)
//!
//! The depth is an RAII [`Guard`]. Most hooks run only at depth 0: a call made
//! from inside our own code, or from libc while we are in it, goes straight to the
//! real function. `setsockopt` and `getsockopt` are the exception: our own code
//! never calls them on a descriptor of ours, so a nested one comes from a signal
//! handler that interrupted the shim, and gets the same answer as any other call
//! ([`Guard::nested`] then tells the hook to touch nothing that a handler must
//! not: no allocation, no first-time set-up, no per-thread cache).

use crate::shim::memory::Memory;
use std::cell::Cell;

/// A thread looks at the clock on every this many SAN calls.
const CLOCK_EVERY: u8 = 32;

pub struct ThreadState {
    depth: Cell<u32>,
    /// The stack as (lowest, top) addresses, (0, 0) until first asked.
    stack: Cell<(usize, usize)>,
    clock: Cell<u8>,
    /// Words the layers above keep per thread, by key (what a pthread key is to
    /// libc): the memo and the counting lanes note their own blocks' addresses
    /// here, so that a hook reaches all its per-thread state through the one
    /// thread-local access the guard makes. 0 until set.
    slots: [Cell<usize>; SLOTS],
}

/// The keys of [`Guard::slot`].
pub mod slot {
    /// `memo`'s block.
    pub const MEMO: usize = 0;
    /// `counting`'s block.
    pub const COUNTING: usize = 1;
}
const SLOTS: usize = 2;

thread_local! {
    // `const` and `Drop`-free: no lazy initialisation and no destructor to register,
    // so touching it is safe at any moment of a thread's life.
    static THREAD: ThreadState = const {
        ThreadState {
            depth: Cell::new(0),
            stack: Cell::new((0, 0)),
            clock: Cell::new(0),
            slots: [const { Cell::new(0) }; SLOTS],
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

    /// The block a layer above keeps for this thread under `key` (see
    /// [`slot`]): its address, found by `locate` on first need, is noted in this
    /// thread's block, so that later calls reach it without a thread-local
    /// access of their own.
    ///
    /// # Safety
    /// `locate` returns the address of a block of this thread that lives as
    /// long as the thread (a `thread_local!` of the caller's), the same one
    /// every time for `key`.
    #[inline(always)]
    pub unsafe fn kept<T>(&self, key: usize, locate: impl FnOnce() -> *const T) -> &T {
        let slot = &self.thread().slots[key];
        let mut p = slot.get() as *const T;
        if p.is_null() {
            p = locate();
            slot.set(p as usize);
        }
        // SAFETY: as the caller promises, the block lives as long as this
        // thread, which outlives the guard.
        unsafe { &*p }
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

impl ThreadState {
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

/// Records the main thread's stack bounds (start-up; see `memory::main_stack`).
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
