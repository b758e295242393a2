//! The preloaded front (`libwsd.so`, the `wsd-front` crate) as the engine sees
//! it: the table it handed over when it loaded the engine (`api::Front`).
//! It owns the descriptor table's memory, the `vfork` count, which file
//! standard error was at start, and the lookup of the real functions.
//!
//! Set once, by `wsd_engine_init`, before any hook of the engine runs; in the
//! `wsd` tool and the test binaries, where no front runs, it is never set.

use std::sync::atomic::{AtomicPtr, Ordering::*};
use wsd_front::api::Front;

static FRONT: AtomicPtr<Front> = AtomicPtr::new(std::ptr::null_mut());

/// Takes the front's table (the engine's start-up): the real functions are
/// looked up through it from now on.
pub fn adopt(front: &'static Front) {
    FRONT.store(front as *const Front as *mut Front, Release);
    wsd_front::real::set_lookup(front.lookup);
}

/// The front, if one loaded this engine.
#[inline(always)]
pub fn get() -> Option<&'static Front> {
    // SAFETY: set once from a `&'static Front`.
    unsafe { FRONT.load(Acquire).as_ref() }
}

/// How many `vfork` children run in this memory, as the front's `vfork`
/// counts them (0 without a front).
#[inline(always)]
pub fn vforks() -> u64 {
    // SAFETY: the front's static, alive as long as the process.
    get().map_or(0, |f| unsafe { &*f.vforks }.load(Acquire))
}

/// In a fork child: no `vfork` child runs in this memory, whatever the count
/// copied from the parent said (a vfork of another of its threads).
pub fn forget_vforks() {
    if let Some(f) = get() {
        // SAFETY: the front's static, as above.
        unsafe { &*f.vforks }.store(0, Release);
    }
}

/// Which file descriptor 2 was when the front started (0 if not open, or no front).
pub fn stderr_at_start() -> u64 {
    // SAFETY: the front's static, as above.
    get().map_or(0, |f| unsafe { &*f.stderr_id }.load(Relaxed))
}
