//! The report table in the segment: every `setsockopt`/`getsockopt` made on a
//! candidate or SAN socket by any process of a run, counted per distinct call.
//!
//! Rows are found by hashing the call's key and probing a short run of slots; an
//! empty slot is claimed by one CAS, filled, then published. A row's key includes
//! its counting lane (see `lanes`): the rows of a lane are written by its owner
//! thread alone, with a plain load and store; lane 0's rows by anyone, with atomic
//! additions (two threads that add the same new key there at once may each get a
//! row). Readers merge rows with equal keys across lanes. A call that finds no row
//! in its lane's probe run is counted in lane 0; a full table drops it and counts
//! it in `stats.report_dropped`.

use super::layout::{REPORT_ROWS, ROW_CLAIMED, ROW_EMPTY, ROW_LIVE, ReportRow};
use super::segment::Segment;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// Slots looked at before a call is dropped.
const PROBES: u32 = 64;

/// What one row counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey {
    /// The counting lane (see `lanes`); readers merge lanes.
    pub lane: u8,
    pub comm: [u8; 16],
    /// `layout::CALL_*`.
    pub call: u8,
    /// `layout::LAYER_*`: who answered.
    pub layer: u8,
    /// 1 candidate, 2 SAN socket, 3 plain socket remembering values.
    pub role: u8,
    pub level: i32,
    pub optname: i32,
    pub optlen: i32,
    /// 0, or the errno the program saw.
    pub errno: i32,
    /// 0, or the `WSAE*` code a bare provider would answer.
    pub provider: i32,
    /// The process that made the call.
    pub pid: u32,
    /// The endpoint's role (`EndpointRole` as stored) on a SAN socket, else 0.
    pub end: u8,
}

/// One more in a row's (or a call site's) count: its lane's owner is the only
/// writer of a lane's rows, so it adds without a locked instruction; lane 0 is
/// shared.
#[inline(always)]
pub fn bump(count: &AtomicU64, lane: u8) {
    if lane == 0 {
        count.fetch_add(1, Relaxed);
    } else {
        count.store(count.load(Relaxed).wrapping_add(1), Relaxed);
    }
}

impl CallKey {
    fn kind(&self) -> u32 {
        u32::from(self.call)
            | u32::from(self.layer) << 8
            | u32::from(self.role) << 16
            | u32::from(self.lane) << 24
    }

    fn comm_words(&self) -> [u64; 2] {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&self.comm[..8]);
        b.copy_from_slice(&self.comm[8..]);
        [u64::from_le_bytes(a), u64::from_le_bytes(b)]
    }

    /// FNV-1a over the key's words.
    fn hash(&self) -> u32 {
        let c = self.comm_words();
        let words = [
            c[0],
            c[1],
            u64::from(self.kind()),
            self.level as u32 as u64,
            self.optname as u32 as u64,
            self.optlen as u32 as u64,
            u64::from(self.errno as u32) << 32 | u64::from(self.provider as u32),
            u64::from(self.pid) | u64::from(self.end) << 32,
        ];
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for w in words {
            h = (h ^ w).wrapping_mul(0x100_0000_01b3);
        }
        (h ^ h >> 32) as u32
    }

    fn matches(&self, row: &ReportRow) -> bool {
        let c = self.comm_words();
        row.kind.load(Relaxed) == self.kind()
            && row.level.load(Relaxed) == self.level
            && row.optname.load(Relaxed) == self.optname
            && row.optlen.load(Relaxed) == self.optlen
            && row.errno.load(Relaxed) == self.errno
            && row.provider.load(Relaxed) == self.provider
            && row.comm[0].load(Relaxed) == c[0]
            && row.comm[1].load(Relaxed) == c[1]
            && row.pid.load(Relaxed) == self.pid
            && row.end.load(Relaxed) == u64::from(self.end)
    }

    fn read(row: &ReportRow) -> CallKey {
        let kind = row.kind.load(Relaxed);
        let mut comm = [0u8; 16];
        comm[..8].copy_from_slice(&row.comm[0].load(Relaxed).to_le_bytes());
        comm[8..].copy_from_slice(&row.comm[1].load(Relaxed).to_le_bytes());
        CallKey {
            // Lanes are merged when read.
            lane: 0,
            comm,
            call: kind as u8,
            layer: (kind >> 8) as u8,
            role: (kind >> 16) as u8,
            level: row.level.load(Relaxed),
            optname: row.optname.load(Relaxed),
            optlen: row.optlen.load(Relaxed),
            errno: row.errno.load(Relaxed),
            provider: row.provider.load(Relaxed),
            pid: row.pid.load(Relaxed),
            end: row.end.load(Relaxed) as u8,
        }
    }

    /// The key's fields other than the program name, the process and the lane,
    /// packed: what a thread's cache of rows compares (its program, process and
    /// lane are fixed: a fork child forgets the cache).
    #[inline(always)]
    pub fn words(&self) -> [u64; 3] {
        [
            u64::from(self.level as u32) | u64::from(self.optname as u32) << 32,
            u64::from(self.optlen as u32) | u64::from(self.errno as u32) << 32,
            u64::from(self.provider as u32)
                | u64::from(self.call) << 32
                | u64::from(self.layer) << 40
                | u64::from(self.role) << 48
                | u64::from(self.end) << 56,
        ]
    }

    /// The program name as text.
    pub fn program(&self) -> String {
        let end = self.comm.iter().position(|&b| b == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.comm[..end]).into_owned()
    }
}

impl Segment {
    /// Counts one more call in row `index`, which [`Segment::count_call`] returned
    /// for a key of lane `lane`: a row's key never changes once it is live.
    #[inline]
    pub fn count_row(&self, index: u32, lane: u8) {
        if let Some(row) = self.row(index) {
            bump(&row.count, lane);
        }
    }

    /// Counts one call; returns the row that counts it and that row's lane, which
    /// is the key's, or 0 when the key's lane found no row (None if the table is
    /// full).
    pub fn count_call(&self, key: &CallKey) -> Option<(u32, u8)> {
        if let Some(index) = self.find_or_add(key) {
            return Some((index, key.lane));
        }
        if key.lane != 0 {
            let shared = CallKey { lane: 0, ..*key };
            if let Some(index) = self.find_or_add(&shared) {
                return Some((index, 0));
            }
        }
        self.header().stats.report_dropped.fetch_add(1, Relaxed);
        None
    }

    fn find_or_add(&self, key: &CallKey) -> Option<u32> {
        let start = key.hash() % REPORT_ROWS;
        for probe in 0..PROBES {
            let index = (start + probe) % REPORT_ROWS;
            let row = self.row(index)?;
            match row.state.load(Acquire) {
                ROW_LIVE if key.matches(row) => {
                    bump(&row.count, key.lane);
                    return Some(index);
                }
                ROW_EMPTY
                    if row
                        .state
                        .compare_exchange(ROW_EMPTY, ROW_CLAIMED, Acquire, Relaxed)
                        .is_ok() =>
                {
                    let c = key.comm_words();
                    row.kind.store(key.kind(), Relaxed);
                    row.level.store(key.level, Relaxed);
                    row.optname.store(key.optname, Relaxed);
                    row.optlen.store(key.optlen, Relaxed);
                    row.errno.store(key.errno, Relaxed);
                    row.provider.store(key.provider, Relaxed);
                    row.comm[0].store(c[0], Relaxed);
                    row.comm[1].store(c[1], Relaxed);
                    row.pid.store(key.pid, Relaxed);
                    row.end.store(u64::from(key.end), Relaxed);
                    row.count.store(1, Relaxed);
                    row.state.store(ROW_LIVE, Release);
                    return Some(index);
                }
                _ => {}
            }
        }
        None
    }

    /// Every distinct call with its count, rows with equal keys merged, sorted.
    pub fn calls(&self) -> Vec<(CallKey, u64)> {
        self.calls_with_rows()
            .into_iter()
            .map(|(k, n, _)| (k, n))
            .collect()
    }

    /// As [`calls`](Self::calls), with the table's rows each merged call was
    /// counted in (the call sites, `sites`, name rows by index).
    pub fn calls_with_rows(&self) -> Vec<(CallKey, u64, Vec<u32>)> {
        let mut merged: std::collections::BTreeMap<CallKey, (u64, Vec<u32>)> = Default::default();
        for i in 0..REPORT_ROWS {
            if let Some(row) = self.row(i)
                && row.state.load(Acquire) == ROW_LIVE
            {
                let m = merged.entry(CallKey::read(row)).or_default();
                m.0 += row.count.load(Relaxed);
                m.1.push(i);
            }
        }
        merged.into_iter().map(|(k, (n, rows))| (k, n, rows)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_calls_share_a_row_and_others_do_not() {
        let name = format!("unit-report-{}", std::process::id());
        let seg = Segment::create(&name, 4).unwrap();
        let key = CallKey {
            lane: 0,
            comm: *b"prog\0\0\0\0\0\0\0\0\0\0\0\0",
            call: 1,
            layer: 1,
            role: 2,
            level: 6,
            optname: 1,
            optlen: 4,
            errno: 0,
            provider: 10042,
            pid: 1,
            end: 0,
        };
        for i in 0..10_000 {
            seg.count_call(&CallKey {
                lane: (i % 3) as u8,
                ..key
            });
        }
        seg.count_call(&CallKey { optlen: 8, ..key });
        let calls = seg.calls();
        Segment::destroy(&name).unwrap();
        assert_eq!(calls, vec![(key, 10_000), (CallKey { optlen: 8, ..key }, 1)]);
        assert_eq!(calls[0].0.program(), "prog");
    }
}
