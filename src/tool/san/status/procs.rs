//! The processes `wsd san status` names: each looked up in `/proc` once, however
//! many endpoints it holds, for the program column and the holders.

use super::Entry;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use wsd::san::layout::{identity_pid, identity_start};
use wsd::san::reap::parse_stat;

/// What `/proc/PID/stat` says about a running process: when it started (clock
/// ticks after boot, as in holder identities) and its name — the `comm` of its
/// thread-group leader, as `/proc/PID/comm` gives it, not that of whichever
/// thread made a socket.
pub(super) struct Proc {
    start: u64,
    pub(super) name: String,
}

/// Processes looked up in `/proc`, each once (one open and read per pid, however
/// many endpoints it holds).
#[derive(Default)]
pub(super) struct Procs(HashMap<u32, Option<Proc>>);

impl Procs {
    fn pid(&mut self, pid: u32) -> Option<&Proc> {
        self.0.entry(pid).or_insert_with(|| read_proc(pid)).as_ref()
    }

    /// The process with this holder identity, if it still runs (the same pid and
    /// start time).
    pub(super) fn identity(&mut self, identity: u64) -> Option<&Proc> {
        let want = identity_start(identity);
        self.pid(identity_pid(identity))
            .filter(|p| want == 0 || identity_start(p.start) == want)
    }

    /// The program column: the name of the process that made the endpoint while it
    /// runs, else the name the record was made with (the creating thread's).
    pub(super) fn program(&mut self, e: &Entry) -> String {
        let pid = e.rec.pid.load(Relaxed);
        let holders = &e.holders;
        let creator = match holders.iter().find(|&&h| identity_pid(h) == pid) {
            // It holds the socket still: its identity tells it from a reused pid.
            Some(&own) => self.identity(own),
            // It let go (a server that handed the socket to a forked child). Holders
            // got the socket from it, so they started after it did: a process at
            // its pid that started later than a holder reuses a dead creator's pid.
            None => self.pid(pid).filter(|p| {
                holders.iter().all(|&h| {
                    let since = identity_start(h);
                    since == 0 || identity_start(p.start) <= since
                })
            }),
        };
        creator.map_or_else(|| e.rec.comm(), |p| p.name.clone())
    }

    /// The holders, as (pid, name while it runs).
    pub(super) fn held_by(&mut self, e: &Entry) -> Vec<(u32, Option<String>)> {
        e.holders
            .iter()
            .map(|&h| (identity_pid(h), self.identity(h).map(|p| p.name.clone())))
            .collect()
    }
}

fn read_proc(pid: u32) -> Option<Proc> {
    if pid == 0 {
        return None;
    }
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // The name may hold any bytes, parentheses among them: it ends at the last ')'
    // (the fields after it are the library's to read: `parse_stat`).
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let name = String::from_utf8_lossy(stat.get(open + 1..close)?).into_owned();
    let (start, state) = parse_stat(&stat)?;
    if matches!(state, 'Z' | 'X' | 'x') {
        return None;
    }
    Some(Proc { start, name })
}
