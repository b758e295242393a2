//! Reclaiming what dead processes left in the segment (SPEC §5), without a daemon:
//! whoever next touches the segment — a program attaching, a full table, a SAN
//! call noticing its peer, or `wsd san status`/`check` — runs [`Segment::reap`].
//!
//! A process is alive when its pid exists, is not a zombie, and started at the
//! time its identity records; a process that reuses a dead one's pid has another
//! start time, so it never inherits the dead one's endpoints.

use super::layout::{STATE_CLAIMED, STATE_FREE, STATE_LIVE, STATE_MASK, identity_pid, identity_start};
use super::segment::Segment;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};

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

fn parse_stat(stat: &[u8]) -> Option<(u64, char)> {
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

impl Segment {
    /// Clears dead holders, frees records no live process holds (resetting their
    /// peers), undoes claims of dead processes, and frees dead threads' lanes.
    pub fn reap(&self) -> Reaped {
        let mut done = Reaped::default();
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() } as u32;
        for (_, rec) in self.records() {
            let state = rec.state.load(Relaxed);
            match state & STATE_MASK {
                STATE_CLAIMED
                    if !pid_alive(state >> 8)
                        && rec
                            .state
                            .compare_exchange(state, STATE_CLAIMED | me << 8, AcqRel, Relaxed)
                            .is_ok() =>
                {
                    rec.id.store(0, Relaxed);
                    rec.state.store(STATE_FREE, Relaxed);
                    done.claims += 1;
                }
                STATE_LIVE => done = self.reap_record(rec, state, me, done),
                _ => {}
            }
        }
        done.lanes = self.reap_lanes();
        done
    }

    fn reap_record(&self, rec: &super::layout::Record, seen: u32, me: u32, mut done: Reaped) -> Reaped {
        let mut cleared = false;
        for (slot, h) in rec.holders.iter().enumerate() {
            let identity = h.load(Relaxed);
            if identity != 0 && !alive(identity) && rec.clear_holder(slot, identity) {
                done.holders += 1;
                cleared = true;
            }
        }
        let empty = rec.has_no_holder();
        // A record no live process holds is freed, whoever left it so: a dead holder
        // (its peer is reset, as when a process dies), or a releaser that died
        // between letting go and freeing (its peer is reset only if it asked for an
        // abortive close).
        let abortive = rec.flags.load(Relaxed) & super::layout::FLAG_ABORTIVE != 0;
        if empty && self.free(rec, seen, me, cleared || abortive) {
            done.endpoints += 1;
        }
        done
    }

    /// Reaps only the peer of `rec` (cheap enough for a SAN call to do now and then):
    /// if no live process holds it any more, it is freed and `rec` is reset.
    pub fn reap_peer_of(&self, rec: &super::layout::Record) {
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() } as u32;
        if let Some((_, peer)) = self.by_id(rec.peer_id.load(Relaxed)) {
            self.reap_record(peer, peer.state.load(Relaxed), me, Reaped::default());
        }
    }
}
