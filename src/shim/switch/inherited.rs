//! Sockets that cross into or out of this process (SPEC §5): candidates shared
//! by a fork (their values move into the segment, where every process sharing
//! them sets and reads them), SAN sockets taken back after an exec or adopted
//! through `WSD_FDS`, and descriptors passed in `SCM_RIGHTS` messages.

use super::{hold, release, take_up};
use crate::san::endpoint::Claimed;
use crate::san::layout::Record;
use crate::san::{EndpointRef, EndpointRole, NewEndpoint};
use crate::shim::fdtable::{self, Entry};
use crate::shim::net;
use crate::shim::state::{self, Shim};
use crate::wsd_log;

/// A forked candidate's record of its values goes (its socket's role became
/// known, or this process closed it): `retire` leaves a record that is no
/// longer a candidate's alone.
pub fn retire_forked(shim: &Shim, fd: i32) {
    if let Some(att) = shim.san_if_attached()
        && let Some(ep) = att.seg.by_cookie(net::cookie(fd))
    {
        att.seg.retire(ep);
    }
}

/// What a record of `fd`'s socket says of it, as this process sees it now: its
/// addresses, cookie, namespace and inode from the kernel (for looking up the
/// socket's record, or making one).
fn as_found(shim: &Shim, fd: i32, role: EndpointRole) -> NewEndpoint {
    let (pid, holder) = state::identity();
    NewEndpoint {
        holder,
        pid,
        fd,
        role,
        local: net::local_addr(fd),
        peer: net::peer_addr(fd),
        comm: shim.comm,
        cookie: net::cookie(fd),
        netns: net::netns_cookie(fd),
        inode: net::inode(fd),
    }
}

/// A descriptor this process received from another (`SCM_RIGHTS`): if its socket
/// is a SAN socket (it has a record: found by its cookie, or its address pair),
/// it is one here too, held by this process as well. Nothing is made for a
/// socket that has no record.
pub fn received(shim: &Shim, fd: i32) {
    let stale = fdtable::replace(fd, Entry::EMPTY);
    release(shim, stale);
    // A program none of whose sockets could reach the SAN looks no further.
    if !shim.routable || !net::is_tcp_stream(fd) {
        return;
    }
    let Ok(att) = shim.san() else { return };
    let new = as_found(shim, fd, EndpointRole::Adopted);
    let holder = new.holder;
    let Some(ep) = att.seg.find_existing(&new) else {
        return;
    };
    if (att.holds(ep) || att.seg.join(ep, holder)) && fdtable::update(fd, Entry::EMPTY, Entry::san(ep)) {
        hold(shim, att, ep);
    }
}

/// A descriptor this process sent to another (`SCM_RIGHTS`): its SAN socket's
/// endpoint outlives this process's last close of it, for the receiver to join.
pub fn sent(shim: &Shim, fd: i32) {
    if let (Some(ep), Some(att)) = (fdtable::get(fd).endpoint(), shim.san_if_attached())
        && let Some(rec) = att.seg.endpoint(ep)
    {
        rec.mark_sent();
    }
}

/// Before a fork: every candidate not yet published is (see
/// [`publish_candidate`]).
pub fn publish_candidates(shim: &Shim) {
    for (fd, entry) in fdtable::entries() {
        if entry.role() == Some(crate::model::routing::Role::Candidate) && !entry.is_forked() {
            publish_candidate(shim, fd, entry);
        }
    }
}

/// Before a fork: a candidate's remembered values move into the segment, into a
/// record of its socket (found by its cookie), so that after the fork each
/// process sees what the other sets (SPEC §5: values remembered on a candidate
/// belong to the socket). Its entry is marked forked; the child inherits it.
fn publish_candidate(shim: &Shim, fd: i32, entry: Entry) {
    let Ok(att) = shim.san() else { return };
    let cookie = net::cookie(fd);
    if cookie == 0 {
        return;
    }
    // No address yet: the record is found by the cookie.
    let new = NewEndpoint {
        local: None,
        peer: None,
        cookie,
        ..as_found(shim, fd, EndpointRole::Candidate)
    };
    let Some(ep) = att.seg.allocate(&new).map(Claimed::endpoint) else {
        return;
    };
    if let Some(rec) = att.seg.endpoint(ep)
        && rec.role() == Some(EndpointRole::Candidate)
    {
        for (id, value) in entry.remembered().values() {
            rec.store_option(id, value);
        }
        // Another thread connected it, or closed it, meanwhile: not a candidate.
        if !fdtable::update(fd, entry, entry.forked()) {
            att.seg.retire(ep);
        }
    }
}

/// What a forked candidate is now.
pub enum Forked<'a> {
    /// Its values' record: it is still a candidate everywhere.
    Candidate(EndpointRef, &'a Record),
    /// Another process connected it (or made it listen) and it is a SAN socket:
    /// here too, with this entry.
    San(Entry),
    /// Neither (it ended up plain TCP elsewhere, or the record is gone): this
    /// process's own remembered values stand.
    Lost,
}

/// A forked candidate's state, from the segment: its socket's record, found by
/// cookie (or by address pair, once connected).
pub fn forked_view<'a>(shim: &'a Shim, fd: i32, entry: Entry) -> Forked<'a> {
    let Ok(att) = shim.san() else { return Forked::Lost };
    let new = as_found(shim, fd, EndpointRole::Adopted);
    let holder = new.holder;
    let Some(ep) = att.seg.find_existing(&new) else {
        return Forked::Lost;
    };
    let Some(rec) = att.seg.endpoint(ep) else {
        return Forked::Lost;
    };
    if rec.role() == Some(EndpointRole::Candidate) {
        return Forked::Candidate(ep, rec);
    }
    let san = Entry::san(ep);
    if (att.holds(ep) || att.seg.join(ep, holder)) && fdtable::update(fd, entry, san) {
        hold(shim, att, ep);
        return Forked::San(san);
    }
    Forked::Lost
}

/// `WSD_FDS`: an inherited TCP socket becomes a SAN socket at start-up.
pub fn adopt(shim: &Shim, fd: i32) {
    if !net::is_tcp_stream(fd) {
        wsd_log!(
            Warn,
            "WSD_FDS names descriptor {fd}, which is not a TCP socket; left alone"
        );
        return;
    }
    let current = fdtable::get(fd);
    if current.endpoint().is_none() {
        take_up(shim, fd, current, EndpointRole::Adopted);
    }
}

/// At start-up after an exec: the endpoints this process held before the exec are
/// its SAN sockets again, where their descriptor is still that socket; the others
/// were closed by the exec and are let go.
pub fn readopt_after_exec(shim: &Shim) {
    let Some(att) = shim.san_if_attached() else { return };
    let (pid, me) = state::identity();
    for (index, rec) in att.seg.live() {
        if !rec.holder_identities().any(|h| h == me) {
            continue;
        }
        let ep = EndpointRef {
            index,
            tag: rec.endpoint_id() as u32,
        };
        let fd = rec.fd();
        let same_socket = net::is_tcp_stream(fd)
            && net::local_addr(fd).map(crate::san::endpoint::encode) == Some(rec.local.words());
        if same_socket && fdtable::get(fd).is_empty() {
            fdtable::replace(fd, Entry::san(ep));
            hold(shim, att, ep);
        } else {
            att.seg.release(ep, me, pid);
        }
    }
}
