//! The descriptor table's memory, which the front maps before `main` and the
//! engine fills: a flat array of `AtomicU64`, indexed by descriptor, sized from
//! the descriptor limit and mapped lazily (untouched pages cost nothing). For a
//! descriptor that is not ours an export pays one bounds check and one atomic
//! load of a zero. What a word means is the engine's (`shim::fdtable::Entry`);
//! the front knows two things of it, declared here: 0 is "not ours", and the
//! kind bits that say "a SAN socket" (the data calls' one test).

/// Largest table, in descriptors (32 MiB of address space, nothing more, until used).
pub const MAX_SLOTS: usize = 1 << 22;

/// An entry's kind bits, and the kind of a SAN socket's entry.
pub const KIND_MASK: u64 = 0b111;
pub const KIND_SAN: u64 = 2;

/// Smallest table, in descriptors.
pub const MIN_SLOTS: usize = 1024;

/// Is `word` a SAN socket's entry?
#[inline(always)]
pub fn is_san(word: u64) -> bool {
    word & KIND_MASK == KIND_SAN
}

#[cfg(wsd_front)]
pub use mapped::*;

#[cfg(wsd_front)]
mod mapped {
    use super::{MAX_SLOTS, MIN_SLOTS};
    use crate::{c, sys};
    use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};

    pub static TABLE: AtomicPtr<AtomicU64> = AtomicPtr::new(core::ptr::null_mut());
    /// 0 until the table is published: every descriptor passes through before that.
    pub static LEN: AtomicUsize = AtomicUsize::new(0);

    /// Maps the table for the descriptor limit and publishes it (the
    /// constructor, before the program runs). Sized by the limit, not always
    /// the largest: where the kernel does not overcommit (`vm.overcommit_memory`
    /// 2), every page of a private writable mapping is committed, `MAP_NORESERVE`
    /// or not.
    pub fn publish() -> bool {
        let (soft, hard) = sys::getrlimit(c::RLIMIT_NOFILE).unwrap_or((0, 0));
        let slots = (hard.max(soft).min(usize::MAX as u64) as usize).clamp(MIN_SLOTS, MAX_SLOTS);
        // A fresh private anonymous mapping, whose zero pages read as empty entries.
        let Ok(p) = sys::map_anonymous(slots * size_of::<AtomicU64>()) else {
            return false;
        };
        TABLE.store(p.cast(), Relaxed);
        LEN.store(slots, Release);
        true
    }

    /// The word of `fd`: 0 (not ours) beyond the table or before it is mapped.
    #[inline(always)]
    pub fn get(fd: c::c_int) -> u64 {
        let i = fd as u32 as usize;
        if i >= LEN.load(Acquire) {
            return 0;
        }
        // SAFETY: LEN is nonzero only after TABLE points at a mapping of LEN
        // slots that is never unmapped, and `i < LEN`.
        unsafe { (*TABLE.load(Relaxed).add(i)).load(Acquire) }
    }
}
