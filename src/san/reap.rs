//! Reclaiming what dead processes left in the segment (SPEC §5), without a daemon:
//! whoever next touches the segment reaps. A program attaching, or finding the
//! table full, runs a bounded pass ([`Segment::reap_some`]: a fixed number of
//! records from a cursor that goes round the table; when the table is full, at
//! most every 100 ms per segment); a SAN call now and then looks at its own peer;
//! `wsd san status`/`check` run [`Segment::reap`] over every record.
//!
//! Whether an endpoint's socket still exists is the kernel's to say
//! ([`super::kernel`]): a socket closed by any path — a raw `close` system call,
//! `exit`, `SIGKILL` — ends its endpoint, and one that some process still holds
//! (even one the library never saw take it) keeps it. Only when the kernel cannot
//! tell (another network namespace, a socket with no address) do the holders'
//! lives decide: a process is alive when its pid exists, is not a zombie, and
//! started at the time its identity records; a process that reuses a dead one's
//! pid has another start time, so it never inherits the dead one's endpoints.
//! The holders' lives also say how a closed socket ended: with its processes'
//! deaths (its peer is reset) or by a close in a live process (it is not).

use super::kernel::{Fate, Kernel};
use super::layout::{EndpointRole, FLAG_HOLDERS_DIED};
use super::layout::{STATE_CLAIMED, STATE_LIVE, STATE_MASK, identity_pid, identity_start};
use super::segment::Segment;
use std::sync::atomic::Ordering::Relaxed;

/// The start time (clock ticks after boot, field 22 of `/proc/PID/stat`) and the
/// state letter of a process: `Ok(None)` if it does not exist, `Err` if that could
/// not be found out (no descriptor left, `/proc` not mounted, …).
///
/// Allocates nothing and takes no lock (a stack buffer and three system calls): a
/// SAN call made from a signal handler may get here.
pub fn process_stat(pid: u32) -> std::io::Result<Option<(u64, char)>> {
    let mut path = [0u8; 32];
    let mut w = &mut path[..];
    let _ = std::io::Write::write_fmt(&mut w, format_args!("/proc/{pid}/stat\0"));
    let mut buf = [0u8; 1024];
    // SAFETY: `path` is NUL-terminated (it is at most 23 bytes long).
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOENT | libc::ESRCH) => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: `buf` is valid for its length; the descriptor is ours and closed below
    // with the system call (the library's own `close` export would be found first).
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close, libc::c_long::from(fd)) };
    let unreadable = || std::io::Error::from_raw_os_error(libc::EIO);
    if n < 0 {
        return Err(unreadable());
    }
    parse_stat(&buf[..n as usize]).map(Some).ok_or_else(unreadable)
}

/// The start time and state letter that the contents of a `/proc/PID/stat` give
/// (as [`process_stat`] reads them; the tool reads the file itself, for the name).
pub fn parse_stat(stat: &[u8]) -> Option<(u64, char)> {
    // The command may hold any bytes, spaces and parentheses among them: the fields
    // resume after the last ')', and are ASCII from there on.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 2..)?).ok()?;
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state))
}

/// Does `pid` name a process that has not died?
fn pid_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid as i32, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Is the process with this identity (see `layout::identity`) still running?
///
/// Only a certain answer counts as dead: a pid that does not exist, a zombie, or a
/// start time other than the recorded one. When `/proc` cannot be read, or the
/// start time was not known when the identity was made (0), the process is taken
/// to be alive: a leaked record is better than a live connection reset.
pub fn alive(identity: u64) -> bool {
    let pid = identity_pid(identity);
    if !pid_alive(pid) {
        return false;
    }
    match process_stat(pid) {
        Ok(None) | Ok(Some((_, 'Z' | 'X'))) => false,
        Ok(Some((start, _))) => {
            identity_start(identity) == 0 || identity_start(start) == identity_start(identity)
        }
        Err(_) => true,
    }
}

/// What one reaping pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reaped {
    /// Holder slots of dead processes cleared.
    pub holders: u32,
    /// Records freed because no live process held them (their peers reset).
    pub endpoints: u32,
    /// Records left CLAIMED by a process that died while claiming or freeing.
    pub claims: u32,
    /// Counting lanes of threads that are gone.
    pub lanes: usize,
}

/// Identities found alive or dead in one reaping pass, so that a process holding
/// many records is looked up once (a small direct-mapped cache on the stack).
struct Seen([(u64, bool); 64]);

impl Seen {
    fn new() -> Seen {
        Seen([(0, false); 64])
    }

    fn alive(&mut self, identity: u64) -> bool {
        let slot = &mut self.0[(identity ^ identity >> 29) as usize % 64];
        if slot.0 != identity {
            *slot = (identity, alive(identity));
        }
        slot.1
    }
}

/// Records a bounded reaping pass looks at (see [`Segment::reap_some`]).
pub const REAP_BATCH: u32 = 1024;
/// How often a process may run a bounded pass because the table was full.
const REAP_EVERY_MS: u64 = 100;

/// Is it time — `every_ms` after the last time `next` said so? `next` holds the
/// next due time (CLOCK_MONOTONIC_COARSE milliseconds, read from the vDSO); one
/// caller among those that race wins. No system call, no lock: for "now and then"
/// work on a call's path (a process's look at its peer, a pass over a full table
/// shared by every process through the segment).
pub fn due(next: &std::sync::atomic::AtomicU64, every_ms: u64) -> bool {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    let now = ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000;
    let at = next.load(Relaxed);
    now >= at
        && next
            .compare_exchange(at, now + every_ms, Relaxed, Relaxed)
            .is_ok()
}

/// Does a live holder of `rec` still hold its socket (by inode, at its
/// descriptor or another)? When that cannot be known — no inode recorded,
/// holders the record does not name, a holder whose descriptors cannot be read —
/// the answer is yes: a record kept too long is better than a live one freed.
fn still_held(rec: &super::layout::Record) -> bool {
    let inode = rec.inode.load(Relaxed);
    let fd = rec.fd.load(Relaxed);
    let mut named = rec.holder_identities().peekable();
    // Holders beyond the named slots are only counted: while a named holder
    // lives they may be alive too; once every named one is gone (the reaper
    // cleared them) and the kernel finds no socket, the count is all that is
    // left of processes that held it (many forked workers, all killed).
    if named.peek().is_none() {
        return false;
    }
    if inode == 0 || rec.extra_holders.load(Relaxed) != 0 {
        return true;
    }
    named.any(|h| super::kernel::holds(identity_pid(h), fd, inode) != Some(false))
}

impl Segment {
    /// Clears dead holders, frees records no live process holds (resetting their
    /// peers), undoes claims of dead processes, and frees dead threads' lanes, over
    /// every record ever handed out. For the tool (`status`, `check`): no call's
    /// path runs this.
    pub fn reap(&self) -> Reaped {
        let high = self.header().high_water.load(Relaxed).min(self.capacity());
        let mut done = self.reap_range(0, high);
        done.lanes = self.reap_lanes();
        done
    }

    /// A bounded pass: [`REAP_BATCH`] records from where the last pass stopped,
    /// so that reaping costs the same whatever the table holds.
    pub fn reap_some(&self) -> Reaped {
        let h = self.header();
        let high = h.high_water.load(Relaxed).min(self.capacity());
        if high == 0 {
            return Reaped::default();
        }
        let start = h.reap_cursor.fetch_add(REAP_BATCH, Relaxed) % high;
        let end = (start + REAP_BATCH).min(high);
        self.reap_range(start, end)
    }

    /// [`Segment::reap_some`], at most every 100 ms per segment (all processes
    /// together): what a process does when the table is full, so that a full
    /// table costs a new socket nothing but the fall-back.
    pub fn reap_some_now_and_then(&self) -> Reaped {
        if !due(&self.header().reap_due_ms, REAP_EVERY_MS) {
            return Reaped::default();
        }
        self.reap_some()
    }

    fn reap_range(&self, start: u32, end: u32) -> Reaped {
        let mut done = Reaped::default();
        let mut seen = Seen::new();
        let kernel = Kernel::open();
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() } as u32;
        for index in start..end {
            let Some(rec) = self.record(index) else { break };
            let state = rec.state.load(Relaxed);
            match state & STATE_MASK {
                STATE_CLAIMED if !pid_alive(state >> 8) && self.unclaim(rec, state, me) => {
                    done.claims += 1;
                }
                STATE_LIVE => done = self.reap_record(rec, state, me, done, &mut seen, kernel.as_ref()),
                _ => {}
            }
        }
        done
    }

    /// One live record. The kernel decides whether its socket still exists
    /// (see [`super::kernel`]); only when it cannot tell do the holders' lives
    /// decide. Dead holders' slots are cleared either way.
    fn reap_record(
        &self,
        rec: &super::layout::Record,
        seen_state: u32,
        me: u32,
        mut done: Reaped,
        seen: &mut Seen,
        kernel: Option<&Kernel>,
    ) -> Reaped {
        let mut cleared = false;
        for (slot, h) in rec.holders.iter().enumerate() {
            let identity = h.load(Relaxed);
            if identity != 0 && !seen.alive(identity) && rec.clear_holder(slot, identity) {
                done.holders += 1;
                cleared = true;
            }
        }
        let empty = rec.has_no_holder();
        // Every named holder died (those only counted may have too: the kernel's
        // answer below decides whether anyone still holds the socket).
        if cleared && rec.holder_identities().next().is_none() {
            rec.flags.fetch_or(FLAG_HOLDERS_DIED, Relaxed);
        }
        let flags = rec.flags.load(Relaxed);
        let abortive = flags & super::layout::FLAG_ABORTIVE != 0;
        // Died holding it — found now, or by an earlier pass that could not free it.
        let died = flags & FLAG_HOLDERS_DIED != 0;
        let fate = kernel.map_or(Fate::Unknown, |k| {
            k.fate(
                rec.netns.load(Relaxed),
                rec.cookie.load(Relaxed),
                rec.local.load(),
                rec.peer.load(),
            )
        });
        let free = match fate {
            // Some process holds the socket — one the library does not know of
            // (a parent that forked before the connect, a process without the
            // library): the endpoint lives on, whatever its known holders did.
            Fate::Open(_) => None,
            // Not found by the kernel's lookup: closed everywhere — or still held
            // in `TCP_CLOSE` (the kernel reset the connection, or a `connect`
            // failed), which the lookup tables no longer list (and, under load,
            // a lookup can miss a live socket for an instant). The holders' own
            // descriptors tell which; a holder finds a reset itself, exactly,
            // from its own socket (`TCP_INFO`, see the shim's hooks).
            Fate::Gone if still_held(rec) => {
                let paired = rec.flags.load(Relaxed) & super::layout::FLAG_PAIRED != 0;
                // A fault breaks the connection in the kernel (SPEC §7): the
                // socket is closed but held, and the endpoint lives on.
                let faulted = rec.fault.load(Relaxed) != 0;
                match rec.role() {
                    // A `connect` that never connected leaves no endpoint behind.
                    Some(EndpointRole::Connector) if !paired && !faulted => Some(false),
                    _ => None,
                }
            }
            // Closed everywhere. By processes that died holding it: its peer is
            // reset, as when a process dies; by a close the library never saw (a
            // raw system call) in a live process: an orderly end, unless the
            // socket asked for an abortive close.
            Fate::Gone => Some(abortive || died),
            // A record no live process holds is freed, whoever left it so: a dead
            // holder (its peer is reset, as when a process dies), or a releaser that
            // died between letting go and freeing (its peer is reset only if it
            // asked for an abortive close).
            Fate::Unknown => empty.then_some(died || abortive),
        };
        if let Some(reset_peer) = free
            && self.free(rec, seen_state, me, reset_peer)
        {
            done.endpoints += 1;
        }
        done
    }

    /// Reaps only the peer of `rec` (cheap enough for a SAN call to do now and then):
    /// if no live process holds it any more — or its claimer died before it was
    /// published — it is freed and `rec` is reset.
    pub fn reap_peer_of(&self, rec: &super::layout::Record) {
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() } as u32;
        match self.peer_of(rec) {
            Some((peer, state)) if state & STATE_MASK == STATE_LIVE => {
                self.reap_record(
                    peer,
                    state,
                    me,
                    Reaped::default(),
                    &mut Seen::new(),
                    Kernel::open().as_ref(),
                );
            }
            Some((peer, state)) if state & STATE_MASK == STATE_CLAIMED && !pid_alive(state >> 8) => {
                self.unclaim(peer, state, me);
            }
            _ => {}
        }
    }
}
