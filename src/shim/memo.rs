//! A thread's most recent SAN `setsockopt`s and `getsockopt`s (the last few
//! options of each), remembered so that the next call with one of those options
//! on a SAN socket (the same one, as a program setting an option in a loop makes,
//! or another, as a server setting up each connection alike makes) is answered
//! with a few loads and stores instead of the whole path (routing, the provider's
//! option look-up, the report row's look-up).
//!
//! A memo is made only by the whole path (`hooks::options`), from a call that the provider
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
//! clock's countdown (`hooks::options`' check for dead peers). A memo answers only for
//! buffers on the calling thread's stack, which it reads and writes without a
//! system call. When anything says otherwise, the call takes the whole path,
//! which decides afresh and remembers anew. Signal handlers' calls neither use
//! nor make memos.
//!
//! `tests/memo.rs` runs one random program of calls, faults, descriptor changes
//! and corrupted records twice, once with every call on a fresh thread (which has
//! no memo), and requires the same answers, values, counters, report and debug
//! lines; `wsd_memo_hits` shows the memo answered.

use crate::model::checks::{Connection, normalise};
use crate::model::{OptionId, OptionSpec, options};
use crate::san::endpoint::tally;
use crate::san::report::bump;
use crate::shim::fdtable::Entry;
use crate::shim::state::Attached;
use crate::shim::thread::{Guard, slot};
use libc::{c_int, c_void, socklen_t};
use std::cell::Cell;
use std::sync::atomic::AtomicU64;

/// Memos a thread keeps per call: a program that sets a few options on every
/// connection finds each of them remembered.
const PER_CALL: usize = 4;

/// One remembered call; empty while `att` is null.
struct Memo {
    /// `level | optname << 32`.
    option: Cell<u64>,
    optlen: Cell<i32>,
    option_id: Cell<OptionId>,
    /// The shim's segment: never freed once attached.
    att: Cell<*const Attached>,
    /// The report row and its lane: `row | lane << 32`.
    row: Cell<u64>,
    /// Where in the program the call was made (its return address; 0 if not
    /// known), and the count of that call site in the segment (null: none).
    site: Cell<usize>,
    site_count: Cell<*const AtomicU64>,
    /// The endpoint's role the row was counted for (the report row's `end`):
    /// one helper setting an option on both ends of a connection counts each
    /// end in its own row.
    end: Cell<u8>,
}

fn pack(low: i32, high: i32) -> u64 {
    u64::from(low as u32) | u64::from(high as u32) << 32
}

impl Memo {
    const fn new() -> Memo {
        Memo {
            option: Cell::new(0),
            optlen: Cell::new(0),
            option_id: Cell::new(OptionId::Debug),
            att: Cell::new(std::ptr::null()),
            row: Cell::new(0),
            site: Cell::new(0),
            site_count: Cell::new(std::ptr::null()),
            end: Cell::new(0),
        }
    }

    /// The segment, if the memo is of this option and length, made from this
    /// call site.
    #[inline(always)]
    fn of(&self, option: u64, optlen: i32, site: usize) -> Option<&Attached> {
        if self.option.get() != option || self.optlen.get() != optlen || self.site.get() != site {
            return None;
        }
        // SAFETY: null, or set by `remember` from the shim's attached segment,
        // which is never freed.
        unsafe { self.att.get().as_ref() }
    }

    /// Counts the call in its report row, and at its call site.
    fn count(&self, att: &Attached) {
        let row = self.row.get();
        att.seg.count_row(row as u32, (row >> 32) as u8);
        // SAFETY: null, or a counter in the attached segment, which is never
        // unmapped (set by `remember`).
        if let Some(c) = unsafe { self.site_count.get().as_ref() } {
            bump(c, (row >> 32) as u8);
        }
    }
}

/// A thread's memos of one call (`setsockopt` or `getsockopt`).
struct Memos {
    memos: [Memo; PER_CALL],
    /// The memo to replace next.
    next: Cell<u8>,
}

impl Memos {
    const fn new() -> Memos {
        Memos {
            memos: [const { Memo::new() }; PER_CALL],
            next: Cell::new(0),
        }
    }

    fn forget(&self) {
        for m in &self.memos {
            m.att.set(std::ptr::null());
        }
    }

    /// The memo of this option and length, and its segment.
    #[inline(always)]
    fn find(&self, level: c_int, optname: c_int, optlen: i32, site: usize) -> Option<(&Memo, &Attached)> {
        let option = pack(level, optname);
        self.memos
            .iter()
            .find_map(|m| Some((m, m.of(option, optlen, site)?)))
    }

    /// Remembers a call the whole path answered (see the module's docs for when),
    /// in place of an older memo of the same option, length and call site, else
    /// of the one made longest ago.
    fn remember(
        &self,
        (level, optname, optlen): (c_int, c_int, i32),
        option: OptionId,
        (att, end): (&Attached, u8),
        row: u64,
        site: (usize, Option<&AtomicU64>),
    ) {
        let key = pack(level, optname);
        let m = match self
            .memos
            .iter()
            .find(|m| m.option.get() == key && m.optlen.get() == optlen && m.site.get() == site.0)
        {
            Some(m) => m,
            None => {
                let next = self.next.get();
                self.next.set((next + 1) % PER_CALL as u8);
                &self.memos[usize::from(next)]
            }
        };
        m.option.set(key);
        m.optlen.set(optlen);
        m.option_id.set(option);
        m.att.set(att);
        m.row.set(row);
        m.site.set(site.0);
        m.site_count
            .set(site.1.map_or(std::ptr::null(), |c| c as *const AtomicU64));
        m.end.set(end);
    }
}

/// A thread's memos, and how many calls they answered.
struct ThreadMemos {
    set: Memos,
    get: Memos,
    hits: Cell<u64>,
}

thread_local! {
    // `const` and `Drop`-free, as `thread::THREAD`.
    static MEMOS: ThreadMemos = const {
        ThreadMemos {
            set: Memos::new(),
            get: Memos::new(),
            hits: Cell::new(0),
        }
    };
}

/// This thread's memos, for the length of one call, reached through the guard's
/// thread block (`Guard::kept`).
#[inline(always)]
fn memos(g: &Guard) -> &ThreadMemos {
    // SAFETY: MEMOS is this thread's own block, which lives as long as the
    // thread, at the same address every time.
    unsafe { g.kept(slot::MEMO, || MEMOS.with(|m| m as *const ThreadMemos)) }
}

/// Which call a memo remembers.
#[derive(Clone, Copy)]
pub enum Call {
    Set,
    Get,
}

/// After a call on a SAN socket that the provider answered with success, outside
/// a signal handler and with `SO_DEBUG` off (the caller checks): the thread
/// remembers the option's row `spec`, the segment and the report row and lane
/// it was counted in, and the call site (its return address and slot), so that
/// the same call again from the same place is answered here.
pub fn remember(
    g: &Guard,
    call: Call,
    asked: (c_int, c_int, i32),
    spec: &OptionSpec,
    (att, end): (&Attached, u8),
    (row, lane): (u32, u8),
    site: (usize, Option<&AtomicU64>),
) {
    let t = memos(g);
    let memos = match call {
        Call::Set => &t.set,
        Call::Get => &t.get,
    };
    memos.remember(
        asked,
        spec.id,
        (att, end),
        u64::from(row) | u64::from(lane) << 32,
        site,
    );
}

/// Forgets this thread's memos: the rows they name are no longer its to count
/// in (a fork child's, a thread's at exit).
pub fn forget_this_thread() {
    let _ = MEMOS.try_with(|t| {
        t.set.forget();
        t.get.forget();
    });
}

/// How many of this thread's calls a memo answered.
pub fn hits() -> u64 {
    MEMOS.try_with(|t| t.hits.get()).unwrap_or(0)
}

/// `setsockopt` answered from this thread's memo, or None: the whole path decides.
/// `g` is held at depth 1 (not inside a signal handler's call).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn set(
    g: &Guard,
    entry: Entry,
    level: c_int,
    optname: c_int,
    optval: *const c_void,
    optlen: socklen_t,
    site: usize,
) -> Option<c_int> {
    let t = memos(g);
    (|| {
        let (m, att) = t.set.find(level, optname, optlen as i32, site)?;
        let rec = att.seg.endpoint(entry.endpoint()?)?;
        if rec.raw_role() != m.end.get() {
            return None;
        }
        if att.seg.network_down() || rec.connection_state() != Connection::Healthy || rec.debugging() {
            return None;
        }
        let spec = options::spec(m.option_id.get());
        let raw = g.memory().read_on_stack::<4>(optval)?;
        let value = normalise(spec, i32::from_ne_bytes(raw)).ok()?;
        // Turning SO_DEBUG on writes a debug line; the whole path does that. So does
        // the call whose turn it is to look at the clock.
        if (spec.id == OptionId::Debug && value != 0) || !g.thread().clock_tick() {
            return None;
        }
        rec.store_option(spec.id, value);
        tally(&rec.sets);
        m.count(att);
        t.hits.set(t.hits.get().wrapping_add(1));
        Some(0)
    })()
}

/// `getsockopt` answered from this thread's memo, or None (as [`set`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn get(
    g: &Guard,
    entry: Entry,
    level: c_int,
    optname: c_int,
    optval: *mut c_void,
    optlen: *mut socklen_t,
    site: usize,
) -> Option<c_int> {
    let mem = g.memory();
    let len = i32::from_ne_bytes(mem.read_on_stack::<4>(optlen.cast())?);
    let t = memos(g);
    (|| {
        let (m, att) = t.get.find(level, optname, len, site)?;
        let rec = att.seg.endpoint(entry.endpoint()?)?;
        if rec.raw_role() != m.end.get() {
            return None;
        }
        if att.seg.network_down() || rec.debugging() {
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
        t.hits.set(t.hits.get().wrapping_add(1));
        Some(0)
    })()
}
