//! A socket's life as the switch follows it (SPEC §4.1, §5): a candidate that
//! connects or listens goes to the SAN or stays plain TCP; an accepted socket of
//! a SAN listener is a SAN socket; a close, a dup, a fork or a descriptor passed
//! in a message changes who holds an endpoint. Also start-up's part that needs
//! the switch: taking back the SAN sockets an exec'd image inherited, and the
//! fork handlers. The real call has been made by the export; these keep the
//! program's `errno`.

use super::{SanSocket, debug_line, san_record};
use crate::config::rules::Side;
use crate::model::OptionId;
use crate::model::routing::Role;
use crate::san::EndpointRole;
use crate::shim::counting;
use crate::shim::fdtable::{self, Entry, Remembered};
use crate::shim::state::{self, Shim};
use crate::shim::switch::{self, Fallback};
use crate::shim::{errno, log, net, startup};
use libc::{c_int, sockaddr, socklen_t};

/// The engine's start-up, when the front loads it: `startup` takes the
/// front's table and registers the fork handlers. False if it ran already.
pub fn start(front: &'static wsd_front::api::Front) -> bool {
    startup::start(front, before_fork, after_fork_in_child)
}

/// Takes back what this image inherited, if the front's constructor found
/// there may be something: SAN sockets held across exec, descriptors named in
/// `WSD_FDS`.
pub fn inherit() {
    if let Some(shim) = startup::inherited() {
        if shim.attach_existing() {
            switch::readopt_after_exec(shim);
        }
        for &fd in &shim.config.fds {
            switch::adopt(shim, fd);
        }
    }
}

/// Before a fork: candidates are shared with the child, so their values move to
/// the segment; the endpoints this process holds are held for the child too.
extern "C" fn before_fork() {
    let Some(shim) = state::shim() else { return };
    if shim.routable {
        switch::publish_candidates(shim);
    }
    if let Some(att) = shim.san_if_attached() {
        state::before_fork(att);
    }
}

/// In a fork child: a process of its own, holding what its parent held, with
/// none of the forking thread's counting state (it was its parent's).
extern "C" fn after_fork_in_child() {
    state::after_fork_in_child();
    counting::forget_after_fork();
}

/// A candidate whose role is now known — `side`, at `addr` — goes to the SAN as
/// what `ends` says (role, local and peer address), or stays plain TCP with the
/// real reason. Returns the SAN socket, if it became one.
fn hand_over<'a>(
    shim: &'a Shim,
    fd: c_int,
    entry: Entry,
    side: Side,
    addr: Option<std::net::SocketAddr>,
    ends: impl FnOnce() -> (
        EndpointRole,
        Option<std::net::SocketAddr>,
        Option<std::net::SocketAddr>,
    ),
) -> Option<SanSocket<'a>> {
    let verdict = addr
        .ok_or(Fallback::NoAddress)
        .and_then(|a| switch::decide(shim, side, a));
    if let Err(why) = verdict {
        switch::not_san(shim, fd, entry, why);
        return None;
    }
    let (role, local, peer) = ends();
    let now = switch::associate(shim, fd, entry, role, local, peer, Remembered::default());
    san_record(shim, now)
}

/// After the real `connect` returned `rc`: a candidate connecting to a SAN
/// address becomes a SAN socket. `errno` is left as `connect` set it.
pub fn connected(shim: &Shim, fd: c_int, entry: Entry, addr: *const sockaddr, len: socklen_t, rc: c_int) {
    let kept = errno::keep();
    let err = kept.value();
    if rc != 0 && err != libc::EINPROGRESS {
        return;
    }
    // SAFETY: the kernel has just accepted `len` bytes at `addr`.
    let dest = unsafe { net::decode(addr, len) };
    let rec = match entry.role() {
        Some(Role::Candidate) => hand_over(shim, fd, entry, Side::Client, dest, || {
            (EndpointRole::Connector, net::local_addr(fd), dest)
        }),
        // Connected again, or disconnected (AF_UNSPEC): a new connection.
        Some(Role::San) => san_record(shim, entry).inspect(|(att, _)| {
            if let Some(ep) = entry.endpoint() {
                att.seg.readdress(ep, net::local_addr(fd), dest);
            }
        }),
        _ => None,
    };
    if let Some((_, rec)) = rec
        && rec.debugging()
    {
        let ep = rec.endpoint_id();
        match dest {
            Some(d) => log::debug_line(ep, fd, "connect", format_args!("to {d}"), rc, err),
            None => log::debug_line(ep, fd, "connect", format_args!(""), rc, err),
        }
    }
}

/// After the real `listen` returned `rc`: a candidate listening on a SAN
/// address (or the wildcard) becomes a SAN listener.
pub fn listening(shim: &Shim, fd: c_int, entry: Entry, rc: c_int) {
    let _errno = errno::keep();
    if rc != 0 || entry.role() != Some(Role::Candidate) {
        return;
    }
    let local = net::local_addr(fd);
    let san = hand_over(shim, fd, entry, Side::Server, local, || {
        (EndpointRole::Listener, local, None)
    });
    if let (Some((_, rec)), Some(local)) = (san, local)
        && rec.debugging()
    {
        debug_line(rec, fd, "listen", format_args!("on {local}"), rc);
    }
}

/// After `accept`/`accept4` on a SAN listener returned `newfd`, with the peer's
/// address if the call gave it back.
pub fn accepted(
    shim: &Shim,
    listener: c_int,
    entry: Entry,
    newfd: c_int,
    peer: Option<std::net::SocketAddr>,
) {
    let _errno = errno::keep();
    let stale = fdtable::replace(newfd, Entry::EMPTY);
    switch::release(shim, stale);
    if let Some((_, lrec)) = san_record(shim, entry) {
        let peer = peer.or_else(|| net::peer_addr(newfd));
        if peer.is_some_and(|p| shim.config.is_san_address(p.ip())) {
            let inherit = Remembered {
                debug: Some(lrec.debugging()),
                priority: Some(lrec.option(OptionId::GroupPriority)),
            };
            switch::associate(
                shim,
                newfd,
                Entry::EMPTY,
                EndpointRole::Accepted,
                // A listener bound to one address accepts on that address; one
                // bound to the wildcard, on whichever the client reached.
                lrec.local
                    .load()
                    .filter(|a| !net::is_wildcard(*a))
                    .or_else(|| net::local_addr(newfd)),
                peer,
                inherit,
            );
            if lrec.debugging() {
                debug_line(lrec, listener, "accept", format_args!("fd={newfd}"), newfd);
            }
        }
    }
}

/// Before the real `close`: the descriptor's entry goes, and its endpoint
/// reference with it.
pub fn forget(shim: &Shim, fd: c_int) {
    if state::in_vm_sharing_child() {
        return;
    }
    let old = fdtable::replace(fd, Entry::EMPTY);
    if old.is_forked() {
        switch::retire_forked(shim, fd);
    }
    if let Some((_, rec)) = san_record(shim, old)
        && rec.debugging()
    {
        debug_line(rec, fd, "close", format_args!(""), 0);
    }
    switch::release(shim, old);
}

/// The kernel handed out descriptor `new`, which now refers to what `entry`
/// describes (a dup), or to something new (`entry` empty): stale state goes.
pub fn duplicated_entry(shim: &Shim, old: c_int, entry: Entry, new: c_int) {
    if state::in_vm_sharing_child() {
        return;
    }
    // A candidate's remembered values and its fate now belong to two descriptors.
    let entry = if entry.role().is_some() && old >= 0 && fdtable::update(old, entry, entry.shared()) {
        entry.shared()
    } else {
        entry
    };
    switch::share(shim, entry);
    let stale = fdtable::replace(new, entry);
    switch::release(shim, stale);
    if let Some((_, rec)) = san_record(shim, entry)
        && rec.debugging()
    {
        debug_line(rec, old, "dup", format_args!("fd={new}"), new);
    }
}

/// The descriptors an `SCM_RIGHTS` message carried: received ones that are SAN
/// sockets elsewhere become SAN sockets here, sent ones keep their endpoint for
/// the receiver (SPEC §5). `errno` is kept.
///
/// # Safety
/// `msg` must be a message the kernel has just taken (`sendmsg`) or filled in
/// (`recvmsg`).
pub unsafe fn passed(shim: &Shim, msg: *const libc::msghdr, received: bool) {
    let _errno = errno::keep();
    // SAFETY: as the caller promises.
    unsafe {
        net::scm_rights(msg, |fd| {
            if received {
                switch::received(shim, fd);
            } else {
                switch::sent(shim, fd);
            }
        })
    }
}

/// Before closing `first..=last`.
pub fn forget_range(shim: &Shim, first: u32, last: u32) {
    if state::in_vm_sharing_child() {
        return;
    }
    for fd in fdtable::span(first, last) {
        if !fdtable::get(fd as c_int).is_empty() {
            forget(shim, fd as c_int);
        }
    }
}
