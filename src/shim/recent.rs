//! A thread's most recent SAN `setsockopt` and `getsockopt`, remembered so that the
//! next call with the same option on a SAN socket (the same one, as a program
//! setting an option in a loop makes, or another, as a server setting up each
//! connection alike makes) is answered with a few loads and stores instead of the
//! whole path (routing, the provider's option look-up, the report row's look-up).
//!
//! A memo is made only by the whole path (`hooks`), from a call that the provider
//! answered with success on a SAN socket, outside a signal handler, with `SO_DEBUG`
//! off. Its key is what that answer depended on that cannot change while the key
//! stays the same: the level, the option and the length (SPEC §2.2 rows 3–5, and
//! the report row's key); routing follows from them, the socket's role (SAN) and
//! the configuration, which never changes. The memo holds the outcome of those:
//! the option row, the segment, and the report row (with its lane) the call was
//! counted in. Nothing in it belongs to one socket.
//!
//! Everything else the whole path looks at is looked at again, with the same
//! functions: the descriptor's entry, read afresh by the export, must name a SAN
//! socket whose record is live (`Segment::endpoint`); then the network (row 2)
//! and the connection (rows 7–8), that no `SO_DEBUG` line is due, the bytes at
//! `optval` (row 5) and their validity (row 6, the model's `normalise`), and the
//! clock's countdown (`hooks`' check for dead peers). A memo answers only for
//! buffers on the calling thread's stack, which it reads and writes without a
//! system call. When anything says otherwise, the call takes the whole path,
//! which decides afresh and remembers anew. Signal handlers' calls neither use
//! nor make memos.
//!
//! `tests/memo.rs` runs one random program of calls, faults, descriptor changes
//! and corrupted records twice, once with every call on a fresh thread (which has
//! no memo), and requires the same answers, values, counters, report and debug
//! lines; `wsd_memo_hits` shows the memo answered.

use crate::model::OptionId;
use crate::model::options;
use crate::model::provider::{Connection, normalise};
use crate::san::endpoint::tally;
use crate::shim::fdtable::Entry;
use crate::shim::state::Attached;
use crate::shim::thread::Guard;
use libc::{c_int, c_void, socklen_t};
use std::cell::Cell;
use std::sync::atomic::Ordering::Relaxed;

/// One remembered call; empty while `att` is null.
pub struct Memo {
    /// `level | optname << 32`.
    option: Cell<u64>,
    optlen: Cell<i32>,
    option_id: Cell<OptionId>,
    /// The shim's segment: never freed once attached.
    att: Cell<*const Attached>,
    /// The report row and its lane: `row | lane << 32`.
    row: Cell<u64>,
}

fn pack(low: i32, high: i32) -> u64 {
    u64::from(low as u32) | u64::from(high as u32) << 32
}

impl Memo {
    pub const fn new() -> Memo {
        Memo {
            option: Cell::new(0),
            optlen: Cell::new(0),
            option_id: Cell::new(OptionId::Debug),
            att: Cell::new(std::ptr::null()),
            row: Cell::new(0),
        }
    }

    pub fn forget(&self) {
        self.att.set(std::ptr::null());
    }

    /// The segment, if the memo is of this option.
    #[inline(always)]
    fn of(&self, level: c_int, optname: c_int) -> Option<&Attached> {
        if self.option.get() != pack(level, optname) {
            return None;
        }
        // SAFETY: null, or set by `remember` from the shim's attached segment,
        // which is never freed.
        unsafe { self.att.get().as_ref() }
    }

    /// Remembers a call the whole path answered (see the module's docs for when).
    pub fn remember(
        &self,
        level: c_int,
        optname: c_int,
        optlen: i32,
        option: OptionId,
        att: &Attached,
        (row, lane): (u32, u8),
    ) {
        self.option.set(pack(level, optname));
        self.optlen.set(optlen);
        self.option_id.set(option);
        self.att.set(att);
        self.row.set(u64::from(row) | u64::from(lane) << 32);
    }

    fn count(&self, att: &Attached) {
        let row = self.row.get();
        att.seg.count_row(row as u32, (row >> 32) as u8);
    }
}

/// `setsockopt` answered from this thread's memo, or None: the whole path decides.
/// `g` is held at depth 1 (not inside a signal handler's call).
#[inline(always)]
pub fn set(
    g: &Guard,
    entry: Entry,
    level: c_int,
    optname: c_int,
    optval: *const c_void,
    optlen: socklen_t,
) -> Option<c_int> {
    let t = g.thread();
    let m = t.set_memo();
    let att = m.of(level, optname)?;
    if m.optlen.get() != optlen as i32 {
        return None;
    }
    let rec = att.seg.endpoint(entry.endpoint()?)?;
    if att.seg.network_down()
        || rec.connection_state() != Connection::Healthy
        || rec.so_debug.load(Relaxed) != 0
    {
        return None;
    }
    let spec = options::spec(m.option_id.get());
    let raw = g.memory().read_on_stack::<4>(optval)?;
    let value = normalise(spec, i32::from_ne_bytes(raw)).ok()?;
    // Turning SO_DEBUG on writes a debug line; the whole path does that. So does
    // the call whose turn it is to look at the clock.
    if (spec.id == OptionId::Debug && value != 0) || !t.clock_tick() {
        return None;
    }
    rec.store_option(spec.id, value);
    tally(&rec.sets);
    m.count(att);
    t.memo_hit();
    Some(0)
}

/// `getsockopt` answered from this thread's memo, or None (as [`set`]).
#[inline(always)]
pub fn get(
    g: &Guard,
    entry: Entry,
    level: c_int,
    optname: c_int,
    optval: *mut c_void,
    optlen: *mut socklen_t,
) -> Option<c_int> {
    let m = g.thread().get_memo();
    let att = m.of(level, optname)?;
    let mem = g.memory();
    if mem.read_on_stack::<4>(optlen.cast()).map(i32::from_ne_bytes) != Some(m.optlen.get()) {
        return None;
    }
    let rec = att.seg.endpoint(entry.endpoint()?)?;
    if att.seg.network_down() || rec.so_debug.load(Relaxed) != 0 {
        return None;
    }
    let spec = options::spec(m.option_id.get());
    let value = rec.option(spec.id).to_ne_bytes();
    // As `provider::get_into`: the value, then its size. A write it cannot make
    // directly leaves the call to the whole path, which makes the same writes.
    if !mem.write_on_stack(optval, &value[..spec.size])
        || !mem.write_on_stack(optlen.cast(), &(spec.size as i32).to_ne_bytes())
    {
        return None;
    }
    tally(&rec.gets);
    m.count(att);
    g.thread().memo_hit();
    Some(0)
}
