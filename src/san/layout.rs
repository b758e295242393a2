//! The SAN segment's layout: the one place that says what lies where in the shared
//! memory (SPEC §5). Every type here is `#[repr(C)]`, holds only fixed-width
//! atomics, uses indices instead of pointers, and has a compile-time size check, so
//! that every process — and the `wsd` tool — reads the same bytes the same way.
//!
//! ```text
//! offset 0            Header (512 bytes): magic, layout version, geometry, network state,
//!                     the index lock, the free list, statistics
//! offset 512          Record[0]   (256 bytes each)
//! offset 512 + 256·i  Record[i]   for i < capacity
//! then                ReportRow[j] (64 bytes each) for j < REPORT_ROWS
//! then                lane owners (8 bytes each) for LANES lanes
//! then                index buckets (4 bytes each): by cookie, by address pair
//! ```
//!
//! The segment is a sparse file: a page costs memory only once it is written.
//! Records are handed out from the lowest never-used index (`high_water`) or from
//! the free list, and cookies are handed out in sequence, so the pages touched
//! grow with the endpoints in use, not with the capacity.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64};

/// "WSD-SAN" and a format byte, and the layout's version, bumped whenever
/// anything in this file changes meaning or place: declared with what the
/// front's constructor reads of a segment (`wsd_front::segment`).
pub use wsd_front::segment::{HOLDER_MAP_BYTES, LAYOUT_VERSION, MAGIC};
pub const HEADER_SIZE: usize = 512;
pub const RECORD_SIZE: usize = 256;
pub const ROW_SIZE: usize = 64;
/// Rows of the report table: one per distinct (program, call, option, length,
/// answer) and counting lane, so a program that sets one option ten thousand
/// times is one row per thread that made the call.
pub const REPORT_ROWS: u32 = 2048;
/// Counting lanes (see `report`): lane 0 is shared by everyone and counted with
/// atomic additions; lanes 1.. are each owned by one thread at a time, whose rows
/// only it writes.
pub const LANES: u32 = 256;
/// A lane owner: the thread's pid and its thread id; 0 = free.
pub const fn lane_owner(pid: u32, tid: u32) -> u64 {
    (pid as u64) << 32 | tid as u64
}
/// Records in a segment that a program creates on first use (a sparse file: an
/// unused record costs no memory).
pub const DEFAULT_CAPACITY: u32 = 1 << 16;
/// The largest capacity a segment may declare (Onload's limit; the descriptor
/// table holds an endpoint index in 24 bits).
pub const MAX_CAPACITY: u32 = 1 << 21;

/// The capacity rule, said the same way by the segment and the tool: what is
/// wrong with `capacity` records (which may be any number the user typed).
pub fn capacity_rule(capacity: i128) -> String {
    format!("capacity {capacity}: expected a number of endpoint records from 1 to {MAX_CAPACITY}")
}

/// Is `capacity` within the rule?
pub const fn capacity_ok(capacity: i128) -> bool {
    capacity >= 1 && capacity <= MAX_CAPACITY as i128
}

/// Buckets of the index by cookie: one per record (the kernel hands cookies out
/// in sequence, so they fill neighbouring buckets).
pub const fn key_buckets(capacity: u32) -> u32 {
    capacity.next_power_of_two()
}

/// Buckets of the index by address pair: two per record, at least 1,024 and at
/// most 2^18. A connection's two ends share a bucket (the hash is symmetric), so
/// a bucket holds another connection a sixth of the time or less: pairing walks a
/// chain record by record, and each record it passes is a cache miss in a table
/// of tens of megabytes. Addresses hash anywhere, so this index's pages are
/// touched at random: capped, it costs at most 1 MiB however large the capacity.
pub const fn addr_buckets(capacity: u32) -> u32 {
    let b = capacity.next_power_of_two().saturating_mul(2);
    if b < 1024 {
        1024
    } else if b > 1 << 18 {
        1 << 18
    } else {
        b
    }
}

/// `Header::network` values.
pub const NETWORK_UP: u32 = 0;
pub const NETWORK_DOWN: u32 = 1;

/// Segment-wide counters, for `wsd san status` and the report.
#[repr(C)]
pub struct Stats {
    /// Endpoint records handed out since the segment was created.
    pub endpoints_created: AtomicU64,
    /// Candidates that fell back to plain TCP, by reason.
    pub fallback_down: AtomicU64,
    pub fallback_full: AtomicU64,
    pub fallback_replay: AtomicU64,
    /// SAN sockets connected by `connect`, and by `accept`.
    pub connections: AtomicU64,
    pub accepts: AtomicU64,
    /// Calls not counted because the report table was full.
    pub report_dropped: AtomicU64,
    pub _reserved: [AtomicU64; 9],
}

#[repr(C)]
pub struct Header {
    pub magic: AtomicU64,
    pub layout_version: AtomicU32,
    pub header_size: AtomicU32,
    pub record_size: AtomicU32,
    pub capacity: AtomicU32,
    pub total_size: AtomicU64,
    /// [`NETWORK_UP`] or [`NETWORK_DOWN`].
    pub network: AtomicU32,
    pub _pad: AtomicU32,
    /// The next endpoint id; ids are never reused within a segment.
    pub next_id: AtomicU64,
    /// Rows of the report table ([`REPORT_ROWS`]).
    pub report_rows: AtomicU32,
    /// One more than the highest record index ever handed out: records at and
    /// above it have never been touched, and scans stop there.
    pub high_water: AtomicU32,
    /// Buckets of the indexes ([`key_buckets`], [`addr_buckets`]), for validation.
    pub key_buckets: AtomicU32,
    pub addr_buckets: AtomicU32,
    /// The index lock (see `san::index`): the owning thread's
    /// [`lane_owner`] word, 0 when free.
    pub index_lock: AtomicU64,
    /// Freed records, a stack linked through `Record::next_free` (index + 1; 0 ends
    /// it). Changed only under the index lock.
    pub free_head: AtomicU32,
    /// Where the next bounded reaping pass starts (a record index).
    pub reap_cursor: AtomicU32,
    /// When (CLOCK_MONOTONIC milliseconds) a process may next run a bounded
    /// reaping pass because the table was full.
    pub reap_due_ms: AtomicU64,
    /// Bumped (and woken with `FUTEX_WAKE`) whenever a fault is injected: every
    /// process holding SAN sockets waits on it (SPEC §7, `shim::watch`).
    pub fault_gen: AtomicU32,
    /// The number of the last fault injected (its event is in the fault log).
    pub fault_seq: AtomicU32,
    /// Entries ever written to the fault story (see [`StoryEntry`]).
    pub story_next: AtomicU64,
    /// Where the holder map starts ([`holder_map_offset`]; see
    /// `wsd_front::segment::HOLDER_MAP_BYTES`).
    pub holder_map: AtomicU64,
    pub _reserved: [AtomicU64; 34],
    pub stats: Stats,
}

/// `Record::state` values, in its low 8 bits. While CLAIMED the high 24 bits hold
/// the claiming process's pid, so that a claimer that dies is found and undone;
/// while LIVE they hold the low 24 bits of the id ([`live_state`]).
pub const STATE_FREE: u32 = 0;
/// Taken by a process that is filling it in or freeing it.
pub const STATE_CLAIMED: u32 = 1;
pub const STATE_LIVE: u32 = 2;
pub const STATE_MASK: u32 = 0xff;

/// The state word of a LIVE record with id `id`: LIVE, and the id's low 24 bits
/// above it, so that a compare-and-swap from a state someone saw fails if the
/// record was freed and taken again since (no ABA).
pub const fn live_state(id: u64) -> u32 {
    STATE_LIVE | ((id as u32) & 0xff_ffff) << 8
}

/// Holder slots per record: processes whose identity is known. More holders than
/// this (a socket shared by many forked workers) are counted in `extra_holders`.
pub const HOLDER_SLOTS: usize = 4;

/// `Record::flags`: the socket asked for an abortive close (`SO_LINGER` on, 0 s).
pub const FLAG_ABORTIVE: u32 = 1;
/// `Record::flags`: the endpoint was paired with a peer once (a connection that
/// was established, as opposed to a `connect` that never was).
pub const FLAG_PAIRED: u32 = 2;
/// `Record::flags`: its last known holder died holding it (set by the reaper
/// that found it so, for whichever pass frees it: its peer is then reset).
pub const FLAG_HOLDERS_DIED: u32 = 4;
/// `Record::flags`: the socket was sent to another process (`SCM_RIGHTS`): a
/// holder's last close does not end the endpoint, which the receiver joins (the
/// kernel says when the socket is gone).
pub const FLAG_SENT: u32 = 8;
/// A process holding the socket has acted on the kernel socket for its last
/// fault (reset it and woke its waiters, SPEC §7): the tool waits for this.
pub const FLAG_FAULT_ACTED: u32 = 16;

/// `Record::role` values: how the socket became a SAN socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum EndpointRole {
    Connector = 1,
    Listener = 2,
    Accepted = 3,
    /// Named in `WSD_FDS`.
    Adopted = 4,
    /// First used through the direct `WSPSetSockOpt`/`WSPGetSockOpt` API.
    Direct = 5,
    /// A candidate (its role not known yet) that a fork shared between processes:
    /// the values it remembers live here, so that each process sees the other's.
    Candidate = 6,
}

impl EndpointRole {
    pub fn from_raw(v: u32) -> Option<EndpointRole> {
        [
            EndpointRole::Connector,
            EndpointRole::Listener,
            EndpointRole::Accepted,
            EndpointRole::Adopted,
            EndpointRole::Direct,
            EndpointRole::Candidate,
        ]
        .into_iter()
        .find(|r| *r as u32 == v)
    }

    pub fn name(self) -> &'static str {
        match self {
            EndpointRole::Connector => "connector",
            EndpointRole::Listener => "listener",
            EndpointRole::Accepted => "accepted",
            EndpointRole::Adopted => "adopted",
            EndpointRole::Direct => "direct",
            EndpointRole::Candidate => "candidate",
        }
    }
}

/// `Record::connection` bits (SPEC §5): each fault a connection met; 0 is healthy.
pub const CONN_HEALTHY: u32 = 0;
pub const CONN_KEEPALIVE_FAILED: u32 = 1;
pub const CONN_RESET: u32 = 2;
/// Broken by `wsd san down` (SPEC §7): `up` does not mend it.
pub const CONN_DOWN: u32 = 4;
/// Every bit a connection's state may hold: the faults it met, together.
pub const CONN_ALL: u32 = CONN_KEEPALIVE_FAILED | CONN_RESET | CONN_DOWN;

/// Faults injected on connections (SPEC §7), as the fault word and the fault
/// log name them.
pub const FAULT_RESET: u8 = 1;
pub const FAULT_KEEPALIVE: u8 = 2;
pub const FAULT_DOWN: u8 = 3;
/// `wsd san up` in the fault log (it hits no connection).
pub const FAULT_UP: u8 = 4;

/// A fault's number as fault words hold it: 24 bits, never 0 (which a process's
/// per-record memory of faults starts at), 1 again after 2^24 − 1.
pub const fn fault_number(seq: u32) -> u32 {
    seq.wrapping_sub(1) % 0xff_ffff + 1
}

/// `Record::fault`: fault number ([`fault_number`], 24 bits), kind (8 bits),
/// and when it was injected (CLOCK_MONOTONIC milliseconds, low 32 bits).
pub const fn fault_word(seq: u32, kind: u8, at_ms: u64) -> u64 {
    (fault_number(seq) as u64) << 40 | (kind as u64) << 32 | (at_ms & 0xffff_ffff)
}

/// The parts of a fault word: (number, kind, milliseconds).
pub const fn fault_parts(word: u64) -> (u32, u8, u32) {
    ((word >> 40) as u32, (word >> 32) as u8, word as u32)
}

/// `Record::sight`: the first data call that met the fault — the process (22
/// bits), which call (6 bits, `shim::data::Call`), the errno it answered (8
/// bits) and how long after the injection (milliseconds, 28 bits).
pub const fn sight_word(pid: u32, call: u8, errno: u8, after_ms: u32) -> u64 {
    let after = if after_ms > 0x0fff_ffff {
        0x0fff_ffff
    } else {
        after_ms
    };
    (pid as u64 & 0x3f_ffff) << 42 | ((call & 0x3f) as u64) << 36 | (errno as u64) << 28 | after as u64
}

/// The parts of a sight word: (pid, call, errno, milliseconds after).
pub const fn sight_parts(word: u64) -> (u32, u8, u8, u32) {
    (
        (word >> 42) as u32,
        ((word >> 36) & 0x3f) as u8,
        (word >> 28) as u8,
        (word & 0x0fff_ffff) as u32,
    )
}

/// Entries of the fault log, a ring: the last this many faults injected.
pub const FAULT_LOG: u32 = 64;

/// One fault injected (`wsd san reset|keepalive-fail|down|up`, or `wsd run
/// --fault`), for the report's story of it.
#[repr(C)]
pub struct FaultEvent {
    /// The fault's number (from 1); 0 while the entry is unused, and while it is
    /// being written (odd times are never seen half-written: the number goes last).
    pub seq: AtomicU32,
    /// `FAULT_*`.
    pub kind: AtomicU32,
    /// When: wall-clock nanoseconds since the epoch, and CLOCK_MONOTONIC
    /// milliseconds (as in fault words).
    pub at_realtime_ns: AtomicU64,
    pub at_ms: AtomicU64,
    /// Endpoints it hit.
    pub hit: AtomicU32,
    /// The process that injected it.
    pub by: AtomicU32,
    /// What it aimed at, as the user said it: UTF-8, NUL-padded.
    pub target: [AtomicU64; 12],
}

/// A socket address: `[family << 16 | port, addr[0..4], addr[4..8], addr[8..12], addr[12..16], scope]`,
/// the port in host order, the address bytes in network order packed little-endian.
#[repr(C)]
pub struct AddrSlot(pub [AtomicU32; 6]);

/// One SAN socket's endpoint.
#[repr(C)]
pub struct Record {
    /// `STATE_*` in the low 8 bits; the claimer's pid above while CLAIMED.
    pub state: AtomicU32,
    /// Holders beyond the identified slots.
    pub extra_holders: AtomicU32,
    /// Unique within the segment; 0 while free.
    pub id: AtomicU64,
    /// The process that created the endpoint, and its descriptor there.
    pub pid: AtomicU32,
    pub fd: AtomicI32,
    /// Identities (see [`identity`]) of the processes holding the socket; 0 = empty.
    pub holders: [AtomicU64; HOLDER_SLOTS],
    pub role: AtomicU32,
    pub connection: AtomicU32,
    /// Stored option values (SPEC §2.1).
    pub so_debug: AtomicU32,
    pub group_priority: AtomicI32,
    /// `FLAG_*` bits.
    pub flags: AtomicU32,
    pub _pad: AtomicU32,
    pub local: AddrSlot,
    pub peer: AddrSlot,
    /// The peer endpoint's id, 0 if none is known.
    pub peer_id: AtomicU64,
    /// Program name, NUL-padded.
    pub comm: [AtomicU64; 2],
    pub sets: AtomicU64,
    pub gets: AtomicU64,
    pub set_errors: AtomicU64,
    pub get_errors: AtomicU64,
    pub provider_refusals: AtomicU64,
    /// The kernel's cookie of the socket (`SO_COOKIE`): what identifies it in every
    /// process, unique while the system runs. 0 if the kernel would not say.
    pub cookie: AtomicU64,
    /// The cookie of the network namespace the socket lives in (`SO_NETNS_COOKIE`).
    pub netns: AtomicU64,
    /// Links of the index chains (record index + 1; 0 ends a chain), and of the
    /// free list. Changed only under the index lock.
    pub next_by_cookie: AtomicU32,
    /// The peer's record (index + 1; 0 if none), whose id is `peer_id`.
    pub peer_index: AtomicU32,
    pub next_by_addr: AtomicU32,
    pub next_free: AtomicU32,
    /// The address-pair hash the record is filed under in that index (computed
    /// once, when it is filed).
    pub addr_key: AtomicU32,
    pub _pad2: AtomicU32,
    /// The socket's inode (`fstat`), to recognise it in a holder's descriptors
    /// when the kernel's lookup cannot find it (a connection in `TCP_CLOSE`).
    pub inode: AtomicU64,
    /// The last fault that hit the connection ([`fault_word`]): its number, kind
    /// and time; 0 if none.
    pub fault: AtomicU64,
    /// Who first saw that fault on a data call ([`sight_word`]); 0 until one did.
    pub sight: AtomicU64,
}

/// Text (a program name, a fault's target) as the words of a record, story
/// entry or fault log entry: little-endian bytes, NUL-padded, cut to fit.
pub fn store_text(words: &[AtomicU64], text: &[u8]) {
    for (k, w) in words.iter().enumerate() {
        w.store(text_word(text, k), Relaxed);
    }
}

/// Word `k` of `text` as [`store_text`] stores it (zero past the end; a text
/// longer than the words is cut).
pub fn text_word(text: &[u8], k: usize) -> u64 {
    let mut b = [0u8; 8];
    let chunk = text.get(k * 8..).unwrap_or(&[]);
    let n = chunk.len().min(8);
    b[..n].copy_from_slice(&chunk[..n]);
    u64::from_le_bytes(b)
}

/// Do `words` hold `text` as [`store_text`] stores it?
pub fn holds_text(words: &[AtomicU64], text: &[u8]) -> bool {
    words
        .iter()
        .enumerate()
        .all(|(k, w)| w.load(Relaxed) == text_word(text, k))
}

/// The 16 bytes of a name two words hold.
pub fn name_bytes(words: &[AtomicU64; 2]) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&words[0].load(Relaxed).to_le_bytes());
    b[8..].copy_from_slice(&words[1].load(Relaxed).to_le_bytes());
    b
}

/// The text words hold (see [`store_text`]), up to its first NUL.
pub fn load_text(words: &[AtomicU64]) -> String {
    let b: Vec<u8> = words.iter().flat_map(|w| w.load(Relaxed).to_le_bytes()).collect();
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// A process's identity in holder slots: its pid (22 bits, Linux's largest) and
/// the low 42 bits of its start time in clock ticks after boot, so that a new
/// process that reuses a dead one's pid is a different identity.
pub const fn identity(pid: u32, start_time: u64) -> u64 {
    (pid as u64 & 0x3f_ffff) << 42 | start_time & ((1 << 42) - 1)
}

/// The pid of an identity.
pub const fn identity_pid(identity: u64) -> u32 {
    (identity >> 42) as u32
}

/// The start time of an identity.
pub const fn identity_start(identity: u64) -> u64 {
    identity & ((1 << 42) - 1)
}

/// `ReportRow::state` values.
pub const ROW_EMPTY: u32 = 0;
pub const ROW_CLAIMED: u32 = 1;
pub const ROW_LIVE: u32 = 2;

/// `ReportRow::call`: which call, and who answered it.
pub const CALL_SET: u8 = 1;
pub const CALL_GET: u8 = 2;
pub const LAYER_KERNEL: u8 = 1;
pub const LAYER_SWITCH: u8 = 2;
pub const LAYER_PROVIDER: u8 = 3;

/// One row of the portability report: a distinct call and how many times it was made.
#[repr(C)]
pub struct ReportRow {
    pub state: AtomicU32,
    /// `call | layer << 8 | role << 16 | lane << 24` (role: 1 candidate, 2 SAN, 3 plain).
    pub kind: AtomicU32,
    pub level: AtomicI32,
    pub optname: AtomicI32,
    pub optlen: AtomicI32,
    /// 0 for success, else the errno the program saw.
    pub errno: AtomicI32,
    /// 0 if a bare provider would accept the call, else its `WSAE*` code.
    pub provider: AtomicI32,
    /// The process that made the calls (a shared segment's report tells its
    /// processes apart).
    pub pid: AtomicU32,
    /// Program name, NUL-padded.
    pub comm: [AtomicU64; 2],
    pub count: AtomicU64,
    /// The endpoint's role (`EndpointRole`) for calls on a SAN socket, 0 for
    /// others: a client's calls apart from a server's.
    pub end: AtomicU64,
}

const _: () = assert!(size_of::<Stats>() == 128);
const _: () = assert!(size_of::<FaultEvent>() == FAULT_EVENT_SIZE);
const _: () = assert!(size_of::<StoryEntry>() == STORY_ENTRY_SIZE);
/// Bytes of one fault story entry.
pub const STORY_ENTRY_SIZE: usize = 128;
/// Entries of the fault story, a ring: the last this many hits and sights.
pub const STORY_LOG: u32 = 1024;

/// `StoryEntry::kind`: an endpoint a fault hit (written by the injector), or the
/// first data call of a process that met it (written by that process).
pub const STORY_HIT: u32 = 1;
pub const STORY_SIGHT: u32 = 2;

/// One line of a fault's story (SPEC §7: "the fault is recorded with its time and
/// targets, and each program's first sight of it"), kept apart from the records,
/// which end when their sockets close — often at once after the fault.
#[repr(C)]
pub struct StoryEntry {
    /// The entry's number plus one (0 while unused or being written: it goes last).
    pub written: AtomicU64,
    /// `STORY_HIT` or `STORY_SIGHT`.
    pub kind: AtomicU32,
    /// The fault's number.
    pub fault: AtomicU32,
    /// The endpoint, and (hits) its peer.
    pub id: AtomicU64,
    pub peer_id: AtomicU64,
    /// Hits: the endpoint's creator and its descriptor; sights: the process that
    /// saw it and the descriptor it used.
    pub pid: AtomicU32,
    pub fd: AtomicI32,
    /// Hits: the endpoint's role (`EndpointRole`); sights: the call
    /// (`faults::DataCall`) and the errno it answered.
    pub role_or_call: AtomicU32,
    pub errno: AtomicU32,
    /// Sights: milliseconds after the injection.
    pub after_ms: AtomicU32,
    pub _pad: AtomicU32,
    /// The program name, NUL-padded.
    pub comm: [AtomicU64; 2],
    /// Hits: the endpoint's addresses.
    pub local: AddrSlot,
    pub peer: AddrSlot,
    pub _reserved: AtomicU64,
}
/// Bytes of one fault log entry.
pub const FAULT_EVENT_SIZE: usize = 128;
/// Call sites the segment keeps (issue 16; `sites`), for every report row.
pub const SITE_SLOTS: u32 = 4096;
/// Return addresses kept per call site, innermost first.
pub const SITE_FRAMES: usize = 6;
/// Modules (executables and shared objects) the call sites lie in.
pub const MODULE_SLOTS: u32 = 256;

/// One call site: a report row's calls made from one place (`sites`).
#[repr(C)]
pub struct SiteSlot {
    /// Empty, claimed or live.
    pub state: AtomicU32,
    /// The report row (index) whose calls these are.
    pub row: AtomicU32,
    /// Calls made from here.
    pub count: AtomicU64,
    /// `module << 48 | offset` per frame (`sites::frame_word`), 0 past the last.
    pub frames: [AtomicU64; SITE_FRAMES],
}

/// A module of the call sites: its GNU build-id and its path.
#[repr(C)]
pub struct ModuleSlot {
    pub state: AtomicU32,
    pub build_id_len: AtomicU32,
    pub build_id: [AtomicU64; 3],
    /// The path (see `store_text`), up to 224 bytes.
    pub path: [AtomicU64; 28],
}

const _: () = assert!(size_of::<SiteSlot>() == 64 && size_of::<ModuleSlot>() == 256);
const _: () = assert!(size_of::<ReportRow>() == ROW_SIZE);
const _: () = assert!(size_of::<Header>() == HEADER_SIZE);
const _: () = assert!(
    std::mem::offset_of!(Header, layout_version) == wsd_front::segment::VERSION_AT as usize
        && std::mem::offset_of!(Header, total_size) == wsd_front::segment::TOTAL_SIZE_AT as usize
        && std::mem::offset_of!(Header, holder_map) == wsd_front::segment::HOLDER_MAP_AT as usize,
    "the front reads these fields where wsd_front::segment says they are"
);
const _: () = assert!(size_of::<AddrSlot>() == 24);
const _: () = assert!(size_of::<Record>() == RECORD_SIZE);
const _: () = assert!(align_of::<Record>() == 8 && align_of::<Header>() == 8);

/// Bytes of a segment with `capacity` records.
pub const fn segment_size(capacity: u32) -> usize {
    holder_map_offset(capacity) + HOLDER_MAP_BYTES
}

/// Where the holder map starts (after the index buckets, 8-aligned).
pub const fn holder_map_offset(capacity: u32) -> usize {
    (buckets_offset(capacity) + (key_buckets(capacity) + addr_buckets(capacity)) as usize * 4)
        .next_multiple_of(8)
}

/// Where the fault log starts.
pub const fn faults_offset(capacity: u32) -> usize {
    lanes_offset(capacity) + LANES as usize * 8
}

/// Where the fault story starts.
pub const fn story_offset(capacity: u32) -> usize {
    faults_offset(capacity) + FAULT_LOG as usize * FAULT_EVENT_SIZE
}

/// Where the index buckets start (by cookie, then by address pair).
pub const fn buckets_offset(capacity: u32) -> usize {
    modules_offset(capacity) + MODULE_SLOTS as usize * size_of::<ModuleSlot>()
}

/// Where the call sites' table starts (see `sites`).
pub const fn sites_offset(capacity: u32) -> usize {
    story_offset(capacity) + STORY_LOG as usize * STORY_ENTRY_SIZE
}

/// Where the modules' table of the call sites starts.
pub const fn modules_offset(capacity: u32) -> usize {
    sites_offset(capacity) + SITE_SLOTS as usize * size_of::<SiteSlot>()
}

/// Where the report table starts in a segment with `capacity` records.
pub const fn rows_offset(capacity: u32) -> usize {
    HEADER_SIZE + capacity as usize * RECORD_SIZE
}

/// Where the lane owners start in a segment with `capacity` records.
pub const fn lanes_offset(capacity: u32) -> usize {
    rows_offset(capacity) + REPORT_ROWS as usize * ROW_SIZE
}
