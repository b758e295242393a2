//! Call sites in the segment (issue 16): where in the programs each report row's
//! calls were made, kept so that the tool can name the places after the
//! processes have exited.
//!
//! A site is a report row (by index) and up to [`SITE_FRAMES`] return addresses,
//! innermost first, each as a module (an entry of the module table) and an
//! offset from that module's load base; with a count of the calls made from it.
//! A module is its GNU build-id and its path. Both tables are filled by claiming
//! an empty slot with one CAS and publishing it filled; entries are never freed
//! (the report table's rows are not either). A site's count follows its row's
//! lane: added to with a plain store by the lane's one thread, atomically in the
//! shared lane 0.

use super::layout::{
    MODULE_SLOTS, ModuleSlot, SITE_FRAMES, SITE_SLOTS, SiteSlot, holds_text, load_text, store_text,
};
use super::segment::Segment;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

const EMPTY: u32 = 0;
const CLAIMED: u32 = 1;
const LIVE: u32 = 2;
/// Site slots looked at before a new site is dropped.
const PROBES: u32 = 64;

/// One return address: module number (from 1) in the top 16 bits, offset below.
pub fn frame_word(module: u16, offset: u64) -> u64 {
    u64::from(module) << 48 | (offset & ((1 << 48) - 1))
}

/// A frame word's (module number, offset); module 0 is unknown.
pub fn frame_parts(word: u64) -> (u16, u64) {
    ((word >> 48) as u16, word & ((1 << 48) - 1))
}

/// A site as the tool reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub row: u32,
    pub count: u64,
    /// Frame words, innermost first.
    pub frames: Vec<u64>,
}

/// A module as the tool reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleInfo {
    pub build_id: Vec<u8>,
    pub path: String,
}

fn mix(row: u32, first: u64) -> u32 {
    let h = (u64::from(row) << 32 ^ first).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 40) as u32
}

impl Segment {
    fn module_slot(&self, i: u32) -> &ModuleSlot {
        let base = super::layout::modules_offset(self.capacity());
        // SAFETY: slot `i < MODULE_SLOTS` lies inside the mapping (the geometry
        // check covers the whole segment size); slots are 8-aligned atomics,
        // valid for any bit pattern.
        unsafe { self.at(base + i as usize * size_of::<ModuleSlot>()) }
    }

    fn site_slot(&self, i: u32) -> &SiteSlot {
        let base = super::layout::sites_offset(self.capacity());
        // SAFETY: as in `module_slot`, for `i < SITE_SLOTS`.
        unsafe { self.at(base + i as usize * size_of::<SiteSlot>()) }
    }

    /// The number (from 1) of the module with this build-id and path, entered
    /// now if it is new; None when the table is full. Looks through the whole
    /// table: a module is entered once per process and call site, not per call.
    pub fn enter_module(&self, build_id: &[u8], path: &[u8]) -> Option<u16> {
        for i in 0..MODULE_SLOTS {
            let m = self.module_slot(i);
            match m.state.load(Acquire) {
                LIVE if m.matches(build_id, path) => return Some(i as u16 + 1),
                LIVE | CLAIMED => continue,
                _ => {}
            }
            if m.state.compare_exchange(EMPTY, CLAIMED, AcqRel, Relaxed).is_ok() {
                store_text(&m.build_id, build_id);
                m.build_id_len
                    .store(build_id.len().min(BUILD_ID_MAX) as u32, Relaxed);
                store_text(&m.path, path);
                m.state.store(LIVE, Release);
                return Some(i as u16 + 1);
            }
            // Another process took this slot meanwhile: it may be this module.
            if m.state.load(Acquire) == LIVE && m.matches(build_id, path) {
                return Some(i as u16 + 1);
            }
        }
        None
    }

    /// The slot of the site (`row`, `frames`), entered now if it is new; None
    /// when its probe run is full (the site goes unrecorded).
    pub fn enter_site(&self, row: u32, frames: &[u64]) -> Option<u32> {
        let first = frames.first().copied().unwrap_or(0);
        let start = mix(row, first);
        for p in 0..PROBES {
            let i = (start + p) % SITE_SLOTS;
            let s = self.site_slot(i);
            if s.state.load(Acquire) == EMPTY
                && s.state.compare_exchange(EMPTY, CLAIMED, AcqRel, Relaxed).is_ok()
            {
                s.row.store(row, Relaxed);
                for (k, w) in s.frames.iter().enumerate() {
                    w.store(frames.get(k).copied().unwrap_or(0), Relaxed);
                }
                s.state.store(LIVE, Release);
                return Some(i);
            }
            if s.state.load(Acquire) == LIVE && s.is(row, frames) {
                return Some(i);
            }
        }
        None
    }

    /// The count of site slot `i` (for a memo to keep), None past the table.
    pub fn site_counter(&self, i: u32) -> Option<&AtomicU64> {
        (i < SITE_SLOTS).then(|| &self.site_slot(i).count)
    }

    /// Every site recorded.
    pub fn sites(&self) -> Vec<Site> {
        (0..SITE_SLOTS)
            .map(|i| self.site_slot(i))
            .filter(|s| s.state.load(Acquire) == LIVE)
            .map(|s| Site {
                row: s.row.load(Relaxed),
                count: s.count.load(Relaxed),
                frames: s
                    .frames
                    .iter()
                    .map(|w| w.load(Relaxed))
                    .take_while(|&w| w != 0)
                    .collect(),
            })
            .collect()
    }

    /// Module number `n` (from 1), if entered.
    pub fn module_info(&self, n: u16) -> Option<ModuleInfo> {
        let i = u32::from(n).checked_sub(1).filter(|&i| i < MODULE_SLOTS)?;
        let m = self.module_slot(i);
        if m.state.load(Acquire) != LIVE {
            return None;
        }
        let len = (m.build_id_len.load(Relaxed) as usize).min(BUILD_ID_MAX);
        let bytes: Vec<u8> = m
            .build_id
            .iter()
            .flat_map(|w| w.load(Relaxed).to_le_bytes())
            .collect();
        Some(ModuleInfo {
            build_id: bytes[..len].to_vec(),
            path: load_text(&m.path),
        })
    }
}

/// The longest build-id a module slot keeps (its three words).
const BUILD_ID_MAX: usize = 24;

impl ModuleSlot {
    fn matches(&self, build_id: &[u8], path: &[u8]) -> bool {
        self.build_id_len.load(Relaxed) as usize == build_id.len().min(BUILD_ID_MAX)
            && holds_text(&self.build_id, build_id)
            && holds_text(&self.path, path)
    }
}

impl SiteSlot {
    fn is(&self, row: u32, frames: &[u64]) -> bool {
        self.row.load(Relaxed) == row
            && (0..SITE_FRAMES).all(|k| self.frames[k].load(Relaxed) == frames.get(k).copied().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_words_round_trip() {
        let w = frame_word(3, 0x1234_5678);
        assert_eq!(frame_parts(w), (3, 0x1234_5678));
        assert_eq!(frame_parts(frame_word(0xffff, u64::MAX)).1, (1 << 48) - 1);
    }
}
