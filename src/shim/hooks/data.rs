//! The data calls on SAN sockets (SPEC §7): a connection hit by a fault answers
//! the fault's code on this process's first data call after it — `ECONNRESET`,
//! `ENETRESET` or `ENETDOWN` — whether the call was made after the fault or was
//! blocked in the kernel when it came (the watcher's reset woke it); later calls
//! see the socket as the kernel leaves a reset one (reads 0, writes `EPIPE`).
//!
//! The exports call [`before`] and [`after`] only for SAN descriptors (every
//! other descriptor costs one bounds check and one load: the exports' fast path).
//! The real call runs between them outside the re-entrancy guard, so that a
//! signal handler that interrupts a blocked `recv` is treated as any other call.

pub use crate::san::faults::DataCall as Call;
use crate::san::faults::{Fault, now_ms};
use crate::san::layout::{Record, fault_parts, sight_word};
use crate::shim::fdtable::Entry;
use crate::shim::state::{self, Attached};
use crate::shim::thread::Guard;
use crate::shim::{errno, net, watch};
use libc::c_int;

/// Nothing to do for a data call on SAN socket `entry`: its connection has no
/// fault, and this process's watcher runs. The data calls' common path: a few
/// loads, no guard, no thread-local (whatever a fault left on the record — a
/// fault this process answered already, a record reused meanwhile — takes the
/// full path, which looks closer).
#[inline(always)]
pub fn quiet(entry: Entry) -> bool {
    let Some(shim) = state::shim() else { return true };
    let Some(ep) = entry.endpoint() else { return true };
    watch::running_here()
        && shim
            .san_if_attached()
            .and_then(|att| att.seg.record(ep.index))
            .is_none_or(|rec| rec.fault_word() == 0)
}

/// Before a data call on SAN descriptor `fd`: `Some(-1)`, with `errno` set to the
/// fault's code, if this call is the one that answers a fault on its connection.
#[inline]
pub fn before(fd: c_int, entry: Entry, call: Call) -> Option<isize> {
    // A vfork child runs in its parent's memory: it claims nothing there.
    if state::in_vm_sharing_child() {
        return None;
    }
    let _g = Guard::enter()?;
    let shim = state::shim()?;
    watch::ensure(shim);
    let att = shim.san_if_attached()?;
    answer_fault(att, fd, entry, call)
}

/// After the real call returned `r`: a call that found its connection broken (a
/// read at its end, a failure such as `ECONNRESET` or `EPIPE`) answers the
/// fault's code instead, if a fault broke it and no call answered it yet.
#[inline]
pub fn after(fd: c_int, entry: Entry, call: Call, r: isize) -> isize {
    if !looks_broken(call, r) {
        return r;
    }
    if state::in_vm_sharing_child() {
        return r;
    }
    let kept = errno::keep();
    let answered = Guard::enter().and_then(|_g| {
        let att = state::shim()?.san_if_attached()?;
        answer_fault(att, fd, entry, call)
    });
    match answered {
        Some(a) => {
            // The fault's code is the answer.
            kept.release();
            a
        }
        None => r,
    }
}

fn looks_broken(call: Call, r: isize) -> bool {
    if r > 0 {
        return false;
    }
    if r == 0 {
        return call.reads();
    }
    matches!(
        errno::get(),
        libc::ECONNRESET | libc::EPIPE | libc::ENOTCONN | libc::ENETRESET | libc::ENETDOWN | libc::ETIMEDOUT
    )
}

/// If the connection of `entry` has a fault this process has not answered:
/// answers it now (once per process and fault), breaking the kernel socket
/// first if this process has not, and records who saw it.
fn answer_fault(att: &Attached, fd: c_int, entry: Entry, call: Call) -> Option<isize> {
    let ep = entry.endpoint()?;
    let rec = att.seg.endpoint(ep)?;
    let word = rec.fault_word();
    if word == 0 {
        return None;
    }
    let (seq, kind, at_ms) = fault_parts(word);
    // Answered here already, and the socket broken: the call goes on as on any
    // reset socket (the common case, after the fault).
    if att.delivered(ep.index, seq) && att.acted(ep.index, seq) {
        return None;
    }
    // Only the socket that was hit: a descriptor closed behind the library's back
    // (a raw system call) and reused by another socket is not it.
    let inode = rec.inode();
    if inode != 0 && net::socket_id(fd).map(|(_, i)| i) != Some(inode) {
        return None;
    }
    // The kernel socket is broken before any call goes on: by this call, or by
    // the watcher (waited for, briefly: while it breaks a socket whose waiters it
    // woke, the socket is open again for an instant, and a call then would see
    // `ENOTCONN` rather than what a reset socket answers). If the watcher has not
    // done it by then, this call does (a second break is harmless).
    let broke = att.claim_action(ep.index, seq) || !wait_acted(rec, word);
    if broke {
        net::reset_socket(fd);
        rec.mark_fault_acted(word);
    }
    if att.delivered(ep.index, seq) || !att.claim_delivery(ep.index, seq) {
        return None;
    }
    net::take_error(fd);
    let code = Fault::errno(kind);
    let after = (now_ms() as u32).wrapping_sub(at_ms);
    let pid = state::own_pid();
    rec.note_first_sight(sight_word(pid, call as u8, code as u8, after));
    // The process's name now (it may have renamed itself since start-up).
    let comm = state::comm();
    att.seg.tell_sight(seq, rec, pid, comm, fd, call, code, after);
    errno::set(code);
    Some(-1)
}

/// Waits (at most 200 ms) until the socket of `rec` has been broken for fault
/// `word`, or another fault replaced it: did that happen?
fn wait_acted(rec: &Record, word: u64) -> bool {
    for _ in 0..2000 {
        if rec.fault_acted() || rec.fault_word() != word {
            return true;
        }
        net::pause_100us();
    }
    false
}
