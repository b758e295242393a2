//! Where the program sets its options (issue 16): each report row's call sites,
//! recorded in the segment (`san::sites`) the first time a row meets a new one.
//!
//! A call site is known on every call by its return address (the export's
//! trampoline passes it: one load). This process remembers, in a small table of
//! its own, which (row, return address) pairs it has recorded and in which slot
//! of the segment; a call from a known pair adds one to that slot's count (a
//! memo answering the call does the same, from the slot it remembers). Only a
//! new pair walks the stack (`frames`) and enters its modules and frames in the
//! segment: a few times per program, never from a signal handler's call. A
//! place the segment has no room for (its site table full) is remembered as
//! such, and once this process's own table is full no new place is recorded:
//! either way no call walks the stack twice.

use crate::san::report::bump;
use crate::san::sites::frame_word;
use crate::shim::errno;
use crate::shim::frames::{self, DEPTH, Module};
use crate::shim::state::Attached;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};

/// Pairs this process remembers (a power of two, `1 << SEEN_BITS`).
const SEEN_BITS: u32 = 12;
const SEEN: usize = 1 << SEEN_BITS;
/// Places looked at per pair.
const PROBES: usize = 16;
/// The slot word of a pair that could not be entered in the segment (its site
/// table full): remembered too, so that its calls do not walk the stack again.
const NO_SLOT: u32 = u32::MAX;

/// Set once this process's table had no room for a pair: from then on new
/// places are not recorded (each would walk the stack on every call).
static FULL: AtomicBool = AtomicBool::new(false);

/// The return address of each remembered pair, 0 while empty.
static SEEN_SITE: [AtomicUsize; SEEN] = [const { AtomicUsize::new(0) }; SEEN];
/// `row << 32 | slot + 1` of each remembered pair (0 while being filled in).
static SEEN_SLOT: [AtomicU64; SEEN] = [const { AtomicU64::new(0) }; SEEN];

fn start(row: u32, site: usize) -> usize {
    let h = (site as u64 ^ u64::from(row) << 40).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> (64 - SEEN_BITS)) as usize
}

/// The segment slot of (`row`, `site`) if this process recorded it already
/// (`Some(None)`: it tried, and the segment had no room).
#[inline(always)]
fn known(row: u32, site: usize) -> Option<Option<u32>> {
    let at = start(row, site);
    for p in 0..PROBES {
        let i = (at + p) % SEEN;
        let s = SEEN_SITE[i].load(Acquire);
        if s == 0 {
            return None;
        }
        if s == site {
            let v = SEEN_SLOT[i].load(Acquire);
            if (v >> 32) as u32 == row && v as u32 != 0 {
                return Some((v as u32 != NO_SLOT).then(|| v as u32 - 1));
            }
        }
    }
    None
}

/// Remembers that (`row`, `site`) is recorded in `slot` (if there is room).
fn remember(row: u32, site: usize, slot: u32) {
    let at = start(row, site);
    for p in 0..PROBES {
        let i = (at + p) % SEEN;
        if SEEN_SITE[i].compare_exchange(0, site, AcqRel, Acquire).is_ok() {
            let word = if slot == NO_SLOT { NO_SLOT } else { slot + 1 };
            SEEN_SLOT[i].store(u64::from(row) << 32 | u64::from(word), Release);
            return;
        }
    }
    FULL.store(true, Relaxed);
}

/// A call counted in report row `row` of lane `lane` was made from `site` (a
/// return address, 0 if not known): counted at its site, recorded first if it
/// is new (not in a signal handler's call: `nested`). The site's counter, for a
/// memo to count the next ones with.
#[inline]
pub fn note(att: &Attached, nested: bool, (row, lane): (u32, u8), site: usize) -> Option<&AtomicU64> {
    if site == 0 {
        return None;
    }
    let slot = match known(row, site) {
        Some(slot) => slot?,
        None if nested || FULL.load(Relaxed) => return None,
        None => record(att, row, site)?,
    };
    let counter = att.seg.site_counter(slot)?;
    bump(counter, lane);
    Some(counter)
}

/// Walks the stack from `site` and enters the site in the segment.
#[cold]
#[inline(never)]
fn record(att: &Attached, row: u32, site: usize) -> Option<u32> {
    let _errno = errno::keep();
    let (addrs, n) = frames::program_frames(site);
    let (frames, modules) = frames::modules_of(&addrs[..n]);
    let mut numbers = [0u16; DEPTH];
    for (k, m) in modules.list.iter().enumerate() {
        if let Some(m) = m {
            numbers[k] = enter_module(att, m).unwrap_or(0);
        }
    }
    let mut words = [0u64; DEPTH];
    for (k, f) in frames.iter().take(n).enumerate() {
        let module = f.module.checked_sub(1).map_or(0, |i| numbers[usize::from(i)]);
        words[k] = frame_word(module, f.offset);
    }
    let slot = att.seg.enter_site(row, &words[..n]);
    remember(row, site, slot.unwrap_or(NO_SLOT));
    slot
}

/// Enters a module in the segment: its build-id and path (the main program's
/// from `/proc/self/exe`, which `dlpi_name` leaves empty).
fn enter_module(att: &Attached, m: &Module) -> Option<u16> {
    let mut buf = [0u8; 256];
    let path: &[u8] = if m.name.is_null() {
        &[]
    } else {
        // SAFETY: the loader's NUL-terminated name of a loaded module.
        unsafe { std::ffi::CStr::from_ptr(m.name) }.to_bytes()
    };
    let path = if path.is_empty() {
        // SAFETY: `buf` is writable for its length; readlink does not terminate.
        let n = unsafe { libc::readlink(c"/proc/self/exe".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        &buf[..n.max(0) as usize]
    } else {
        path
    };
    att.seg
        .enter_module(&m.build_id[..usize::from(m.build_id_len)], path)
}
