//! Faults injected into the SAN from outside (SPEC §5, §7: `wsd san down|up|
//! reset|keepalive-fail`, `wsd run --fault`): the network state, the faults of
//! connections (both ends), the fault log, and the wake-up every process holding
//! SAN sockets waits for.
//!
//! Injecting a fault writes, for each endpoint it hits, its connection state and
//! its fault word (number, kind, time); appends an event to the fault log; then
//! bumps [`Header::fault_gen`] and wakes its waiters (`FUTEX_WAKE` on the shared
//! mapping). Each process's watcher (`shim::watch`) then acts on its own
//! descriptors of those sockets, and marks each endpoint acted on; the tool waits
//! for that ([`Segment::wait_acted`]). Each program's first data call on a hit
//! socket answers the fault's code, and records what it saw ([`Record::sight`]).
//!
//! Which endpoints a fault hits is a [`Selector`]: an endpoint id, `ADDR:PORT`
//! (every connection with an end there: a server's address hits every connection
//! accepted on it), a program, a pid — together, the connections that match all
//! of them. A listener is not a connection and is never hit. This is the tool's
//! look over the table, never a call's path.
//!
//! This file owns the faults and their injection; `selector` says which
//! connections a fault hits ([`Selector`], [`Target`]), and `log` keeps the fault
//! log and the fault story that the report tells ([`LoggedFault`], [`Told`]).

mod log;
mod selector;

pub use log::{LoggedFault, Told};
pub use selector::{Selector, Target};

use super::layout::{
    CONN_DOWN, CONN_KEEPALIVE_FAILED, CONN_RESET, EndpointRole, FAULT_DOWN, FAULT_KEEPALIVE, FAULT_RESET,
    FLAG_FAULT_ACTED, NETWORK_DOWN, NETWORK_UP, Record, STATE_LIVE, STATE_MASK, STORY_HIT, fault_word,
    name_bytes, store_text,
};
use super::segment::Segment;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use std::time::Duration;

/// A fault on connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Reset,
    KeepaliveFail,
    /// The network went down: every established connection breaks.
    Down,
}

impl Fault {
    /// The fault word's and the fault log's code (`FAULT_*`).
    pub fn code(self) -> u8 {
        match self {
            Fault::Reset => FAULT_RESET,
            Fault::KeepaliveFail => FAULT_KEEPALIVE,
            Fault::Down => FAULT_DOWN,
        }
    }

    /// The connection state bit it leaves.
    fn conn_bit(self) -> u32 {
        match self {
            Fault::Reset => CONN_RESET,
            Fault::KeepaliveFail => CONN_KEEPALIVE_FAILED,
            Fault::Down => CONN_DOWN,
        }
    }

    /// The errno a program's first data call on a hit socket answers (SPEC §7).
    pub fn errno(code: u8) -> i32 {
        match code {
            FAULT_KEEPALIVE => libc::ENETRESET,
            FAULT_DOWN => libc::ENETDOWN,
            _ => libc::ECONNRESET,
        }
    }

    /// Its name, as the tool's verbs spell it.
    pub fn name(code: u8) -> &'static str {
        match code {
            FAULT_RESET => "reset",
            FAULT_KEEPALIVE => "keepalive-fail",
            FAULT_DOWN => "down",
            _ => "up",
        }
    }
}

/// The data calls of SPEC §7, as a fault's sight records them (6 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DataCall {
    Read = 1,
    Readv,
    Recv,
    Recvfrom,
    Recvmsg,
    Recvmmsg,
    Write,
    Writev,
    Send,
    Sendto,
    Sendmsg,
    Sendmmsg,
    Sendfile,
}

impl DataCall {
    const ALL: [DataCall; 13] = [
        DataCall::Read,
        DataCall::Readv,
        DataCall::Recv,
        DataCall::Recvfrom,
        DataCall::Recvmsg,
        DataCall::Recvmmsg,
        DataCall::Write,
        DataCall::Writev,
        DataCall::Send,
        DataCall::Sendto,
        DataCall::Sendmsg,
        DataCall::Sendmmsg,
        DataCall::Sendfile,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DataCall::Read => "read",
            DataCall::Readv => "readv",
            DataCall::Recv => "recv",
            DataCall::Recvfrom => "recvfrom",
            DataCall::Recvmsg => "recvmsg",
            DataCall::Recvmmsg => "recvmmsg",
            DataCall::Write => "write",
            DataCall::Writev => "writev",
            DataCall::Send => "send",
            DataCall::Sendto => "sendto",
            DataCall::Sendmsg => "sendmsg",
            DataCall::Sendmmsg => "sendmmsg",
            DataCall::Sendfile => "sendfile",
        }
    }

    /// The call a sight word's code names.
    pub fn from_code(code: u8) -> Option<DataCall> {
        DataCall::ALL.into_iter().find(|c| *c as u8 == code)
    }

    /// Does it read (rather than write)?
    pub fn reads(self) -> bool {
        (self as u8) <= DataCall::Recvmmsg as u8
    }
}

/// A process's name (its `comm`), if it runs.
fn process_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end_matches('\n').to_string())
}

/// What an injection did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Injected {
    /// The fault's number in the fault log.
    pub seq: u32,
    /// The endpoints hit (both ends of each connection), by id.
    pub ids: Vec<u64>,
    /// Each of them as it was when hit.
    pub ends: Vec<HitEnd>,
}

/// An endpoint a fault hit, as it was then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HitEnd {
    pub id: u64,
    pub peer_id: u64,
    /// Its creator, and the creator's descriptor.
    pub pid: u32,
    pub fd: i32,
    /// `EndpointRole` as stored.
    pub role: u32,
    /// The creator's name now (it may have renamed itself since it made the
    /// record), else the one the record was made with.
    pub comm: [u8; 16],
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
}

impl HitEnd {
    fn of(rec: &Record, names: &mut HashMap<u32, Option<String>>) -> HitEnd {
        let pid = rec.pid.load(Relaxed);
        let comm = match names.entry(pid).or_insert_with(|| process_name(pid)) {
            Some(name) => {
                let mut comm = [0u8; 16];
                let n = name.len().min(15);
                comm[..n].copy_from_slice(&name.as_bytes()[..n]);
                comm
            }
            None => name_bytes(&rec.comm),
        };
        HitEnd {
            id: rec.id.load(Relaxed),
            peer_id: rec.peer_id.load(Relaxed),
            pid,
            fd: rec.fd.load(Relaxed),
            role: rec.role.load(Relaxed),
            comm,
            local: rec.local.load(),
            peer: rec.peer.load(),
        }
    }

    /// Its program's name, as text.
    pub fn program(&self) -> String {
        let end = self.comm.iter().position(|&b| b == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.comm[..end]).into_owned()
    }
}

/// CLOCK_MONOTONIC (what fault words and the log hold) and the wall clock.
pub fn now_ms() -> u64 {
    clock(libc::CLOCK_MONOTONIC) / 1_000_000
}

fn clock(which: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(which, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Segment {
    pub fn set_network(&self, up: bool) {
        self.header()
            .network
            .store(if up { NETWORK_UP } else { NETWORK_DOWN }, Release);
    }

    /// The live connections' endpoints a selector hits: each matching endpoint
    /// that is a connection (not a listener, not a candidate), and its peer.
    /// Sorted by id, each once.
    pub fn select(&self, sel: &Selector) -> Vec<&Record> {
        let mut hit: Vec<&Record> = Vec::new();
        let mut names = HashMap::new();
        for (_, rec) in self.live() {
            if !is_connection(rec) || !sel.matches(rec, &mut names) {
                continue;
            }
            hit.push(rec);
            if let Some((peer, _)) = self.peer_of(rec) {
                hit.push(peer);
            }
        }
        hit.sort_by_key(|r| r.id.load(Relaxed));
        hit.dedup_by_key(|r| r.id.load(Relaxed));
        hit
    }

    /// Hits `records` with `fault`: their connection state, their fault word, an
    /// event in the fault log naming `what`; then wakes every watcher.
    pub fn inject(&self, fault: Fault, records: &[&Record], what: &str) -> Injected {
        let h = self.header();
        let seq = h.fault_seq.fetch_add(1, AcqRel) + 1;
        let at = now_ms();
        let word = fault_word(seq, fault.code(), at);
        // Every end described first, then every end hit: a program that sees the
        // fault on one end may close the other before it would be described.
        let mut names = HashMap::new();
        let ends: Vec<HitEnd> = records.iter().map(|r| HitEnd::of(r, &mut names)).collect();
        for end in &ends {
            self.tell(STORY_HIT, seq, |e| {
                e.id.store(end.id, Relaxed);
                e.peer_id.store(end.peer_id, Relaxed);
                e.pid.store(end.pid, Relaxed);
                e.fd.store(end.fd, Relaxed);
                e.role_or_call.store(end.role, Relaxed);
                store_text(&e.comm, &end.comm);
                e.local.store(end.local);
                e.peer.store(end.peer);
            });
        }
        let still = |rec: &Record, id: u64| {
            rec.state.load(SeqCst) & STATE_MASK == STATE_LIVE && rec.id.load(SeqCst) == id
        };
        for (rec, end) in records.iter().zip(&ends) {
            // Still that endpoint (not freed and reused since it was chosen)...
            if !still(rec, end.id) {
                continue;
            }
            rec.connection.fetch_or(fault.conn_bit(), Release);
            rec.flags.fetch_and(!FLAG_FAULT_ACTED, Relaxed);
            rec.sight.store(0, Relaxed);
            rec.fault.store(word, SeqCst);
            // ...and still it once hit: a record freed and claimed again in the
            // instant between (its claimer clears the fault word before it
            // publishes the new id) does not keep a fault meant for the old one.
            if !still(rec, end.id) {
                let _ = rec.fault.compare_exchange(word, 0, SeqCst, Relaxed);
            }
        }
        self.log_fault(seq, fault.code(), at, records.len() as u32, what);
        self.wake_watchers();
        Injected {
            seq,
            ids: ends.iter().map(|e| e.id).collect(),
            ends,
        }
    }

    /// `wsd san up`: the network is up again (connections `down` broke stay
    /// broken), and the fault log says so.
    pub fn bring_up(&self) -> u32 {
        self.set_network(true);
        let seq = self.header().fault_seq.fetch_add(1, AcqRel) + 1;
        self.log_fault(seq, super::layout::FAULT_UP, now_ms(), 0, "the network");
        seq
    }

    /// `wsd san down`: the network goes down and every established connection
    /// breaks (new ones fall back to TCP until `up`).
    pub fn bring_down(&self) -> Injected {
        self.set_network(false);
        let all = self.select(&Selector::default());
        self.inject(Fault::Down, &all, "the network")
    }

    /// Wakes every process waiting for faults (`shim::watch`).
    pub fn wake_watchers(&self) {
        let word = &self.header().fault_gen;
        word.fetch_add(1, Release);
        // SAFETY: FUTEX_WAKE on a word of the shared mapping (no FUTEX_PRIVATE_FLAG:
        // waiters are other processes); it only reads the address.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAKE,
                i32::MAX,
                std::ptr::null::<libc::timespec>(),
                0usize,
                0u32,
            )
        };
    }

    /// Waits (up to `timeout`) until some holder has acted on each endpoint of
    /// `ids` still live and still hit by fault `seq`; returns those none did.
    pub fn wait_acted(&self, seq: u32, ids: &[u64], timeout: Duration) -> Vec<u64> {
        let until = std::time::Instant::now() + timeout;
        loop {
            let waiting: Vec<u64> = ids
                .iter()
                .copied()
                .filter(|&id| {
                    self.by_id(id).is_some_and(|(_, r)| {
                        super::layout::fault_parts(r.fault.load(Acquire)).0
                            == super::layout::fault_number(seq)
                            && r.flags.load(Acquire) & FLAG_FAULT_ACTED == 0
                    })
                })
                .collect();
            if waiting.is_empty() || std::time::Instant::now() >= until {
                return waiting;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Is `rec` one end of a connection (rather than a listener or a candidate)?
pub fn is_connection(rec: &Record) -> bool {
    !matches!(
        rec.role(),
        Some(EndpointRole::Listener | EndpointRole::Candidate) | None
    ) && rec.peer.words()[0] != 0
}
