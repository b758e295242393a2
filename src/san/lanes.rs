//! Counting lanes: how threads count calls in the report table without contending.
//!
//! A lane is a number 1..[`LANES`] that one thread owns at a time; its owner word
//! in the segment holds the thread's (pid, tid), 0 when free. Report rows carry a
//! lane, and only the lane's owner writes the rows of its lane, so it counts with
//! a plain load and store — no locked instruction, no cache line that another
//! thread writes. Lane 0 is everyone's: a thread that has no lane (all taken, or a
//! signal handler's call) counts there with atomic additions. Readers merge rows
//! across lanes.
//!
//! A thread takes a lane on its first counted call (one CAS) and gives it back when
//! it exits. A thread that dies without giving it back (its process killed) is
//! found out by [`Segment::reap_lanes`]: `tgkill(pid, tid, 0)` answers `ESRCH`
//! only when no such thread exists. The next owner of a lane goes on counting in
//! the same rows, which are exact: the old owner is gone.

use super::layout::{LANES, lane_owner};
use super::segment::Segment;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

impl Segment {
    /// Takes a free lane for the thread `owner` (see `layout::lane_owner`); 0 if none is
    /// free, even after reclaiming the lanes of threads that are gone.
    pub fn claim_lane(&self, owner: u64) -> u32 {
        if let Some(lane) = self.take_free_lane(owner) {
            return lane;
        }
        if self.reap_lanes() > 0
            && let Some(lane) = self.take_free_lane(owner)
        {
            return lane;
        }
        0
    }

    fn take_free_lane(&self, owner: u64) -> Option<u32> {
        (1..LANES).find(|&i| {
            self.lane(i).is_some_and(|w| {
                w.load(Relaxed) == 0 && w.compare_exchange(0, owner, AcqRel, Relaxed).is_ok()
            })
        })
    }

    /// Gives lane `lane` back, if `owner` still holds it.
    pub fn release_lane(&self, lane: u32, owner: u64) {
        if let Some(w) = self.lane(lane) {
            let _ = w.compare_exchange(owner, 0, AcqRel, Relaxed);
        }
    }

    /// Frees the lanes whose owner thread no longer exists; returns how many.
    pub fn reap_lanes(&self) -> usize {
        (1..LANES)
            .filter(|&i| {
                self.lane(i).is_some_and(|w| {
                    let owner = w.load(Acquire);
                    owner != 0
                        && !thread_alive(owner)
                        && w.compare_exchange(owner, 0, AcqRel, Relaxed).is_ok()
                })
            })
            .count()
    }

    /// Lanes owned now (for `wsd san status`).
    pub fn lanes_in_use(&self) -> usize {
        (1..LANES)
            .filter(|&i| self.lane(i).is_some_and(|w| w.load(Relaxed) != 0))
            .count()
    }
}

/// Does the thread of lane owner `owner` exist? Only a certain "no" counts.
pub(super) fn thread_alive(owner: u64) -> bool {
    let (pid, tid) = (
        (owner >> 32) as libc::c_long,
        (owner & 0xffff_ffff) as libc::c_long,
    );
    // SAFETY: signal 0 only checks that the thread exists; every argument is a
    // full machine word, as the variadic `syscall` needs.
    let r = unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, 0 as libc::c_long) };
    // SAFETY: __errno_location returns this thread's errno.
    r == 0 || unsafe { *libc::__errno_location() } != libc::ESRCH
}

thread_local! {
    /// This thread's owner word once asked, with the pid it was asked in: a fork
    /// child's copy of the thread has another pid and tid, and asks again.
    static OWNER: std::cell::Cell<(u64, u32)> = const { std::cell::Cell::new((0, 0)) };
}

/// The pid of this process as this library last learned it: set by
/// [`note_fork_child`], so that the owner word cache needs no system call to
/// know it is still right.
static OWN_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A fork child: owner words cached by its threads (the forking one) are its
/// parent's. Call from the child's fork handler.
pub fn note_fork_child() {
    // SAFETY: getpid has no preconditions.
    OWN_PID.store(unsafe { libc::getpid() } as u32, Relaxed);
}

/// This thread's lane owner word, (pid, tid): asked of the kernel once per thread
/// (and again in a fork child).
pub fn this_thread() -> u64 {
    let own = OWN_PID.load(Relaxed);
    let cached = OWNER.try_with(|c| c.get()).unwrap_or((0, 0));
    if cached.0 != 0 && own != 0 && cached.1 == own {
        return cached.0;
    }
    // SAFETY: getpid and gettid have no preconditions.
    let (pid, tid) = unsafe { (libc::getpid() as u32, libc::gettid() as u32) };
    let owner = lane_owner(pid, tid);
    if own == 0 {
        OWN_PID.store(pid, Relaxed);
    }
    if OWN_PID.load(Relaxed) == pid {
        let _ = OWNER.try_with(|c| c.set((owner, pid)));
    }
    owner
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_exclusive_and_a_dead_threads_lane_is_reclaimed() {
        let name = format!("unit-lanes-{}", std::process::id());
        let seg = Segment::create(&name, 4).unwrap();
        let me = this_thread();
        let a = seg.claim_lane(me);
        let b = seg.claim_lane(me);
        assert!(a >= 1 && b >= 1 && a != b);
        // A thread that exited without giving its lane back.
        let gone = std::thread::spawn(this_thread).join().unwrap();
        let c = seg.claim_lane(gone);
        assert_eq!(seg.lanes_in_use(), 3);
        assert_eq!(seg.reap_lanes(), 1, "only the exited thread's lane");
        seg.release_lane(a, me);
        seg.release_lane(b, 12345);
        assert_eq!(seg.lanes_in_use(), 1);
        assert_eq!(seg.claim_lane(me), a.min(c), "the lowest free lane");
        Segment::destroy(&name).unwrap();
    }
}
