//! The switch's decisions about a socket's life (SPEC §4.1–4.2): whether a
//! socket goes to the SAN (rules, then the subnet table), handing a candidate to
//! the SAN (claiming its endpoint and replaying what it remembered), falling
//! back to plain TCP with a reason, and letting go of an endpoint when its last
//! descriptor closes. `inherited` follows sockets that cross into or out of
//! this process (fork, exec, `SCM_RIGHTS`, `WSD_FDS`).

mod inherited;
pub use inherited::{
    Forked, adopt, forked_view, publish_candidates, readopt_after_exec, received, retire_forked, sent,
};

use crate::config::LogLevel;
use crate::config::rules::Side;
use crate::model::WsaError;
use crate::model::checks;
use crate::model::names::OptionName;
use crate::model::options::{self, OptionId, WINSOCK_SOL_SOCKET};
use crate::san::endpoint::Claimed;
use crate::san::{EndpointRef, EndpointRole, FallbackCount, NewEndpoint};
use crate::shim::fdtable::{self, Entry, Remembered};
use crate::shim::provider::facts;
use crate::shim::state::{self, Attached, Shim};
use crate::shim::{log, net, sidechannel, watch};
use crate::wsd_log;
use std::net::SocketAddr;

/// Why a socket that could have gone to the SAN stayed plain TCP.
#[derive(Clone, Copy, Debug)]
pub enum Fallback {
    /// A `use tcp` rule (at this line of the rules) matched.
    TcpRule(usize),
    NotSanAddress,
    /// The kernel gave no IPv4/IPv6 address to decide by.
    NoAddress,
    Unusable,
    NetworkDown,
    Full,
    Replay(&'static str, WsaError),
}

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fallback::TcpRule(line) => write!(f, "a `use tcp` rule (line {line}) matched"),
            Fallback::NotSanAddress => f.write_str("address not in the SAN subnet table"),
            Fallback::NoAddress => f.write_str("no IPv4 or IPv6 address to decide by"),
            Fallback::Unusable => f.write_str("the SAN segment cannot be used"),
            Fallback::NetworkDown => f.write_str("the SAN network is down"),
            Fallback::Full => f.write_str("the SAN segment is full"),
            Fallback::Replay(opt, e) => write!(f, "replaying {opt} failed with {e}"),
        }
    }
}

/// Does a socket in role `side` at `addr` go to the SAN? Rules first, then the
/// subnet table (a listener on the wildcard address counts as on the SAN). The
/// error is why not. With `WSD_LOG=debug` the decision and its real reason are
/// logged.
pub fn decide(shim: &Shim, side: Side, addr: std::net::SocketAddr) -> Result<(), Fallback> {
    let (san, rule) = shim.config.decide(&shim.program, side, addr);
    let wildcard = rule.is_none() && side == Side::Server && net::is_wildcard(addr);
    let verdict = match (san || wildcard, rule) {
        (true, _) => Ok(()),
        (false, Some(line)) => Err(Fallback::TcpRule(line)),
        (false, None) => Err(Fallback::NotSanAddress),
    };
    if log::enabled(crate::config::LogLevel::Debug) {
        // Plain TCP says why as the fall-back does; the SAN says which rule, or
        // what of the address, sent it there.
        let p = &shim.program;
        match (&verdict, rule) {
            (Err(why), _) => wsd_log!(Debug, "{p} {side:?} {addr}: plain TCP: {why}"),
            (Ok(()), Some(line)) => {
                wsd_log!(
                    Debug,
                    "{p} {side:?} {addr}: SAN: a `use san` rule (line {line}) matched"
                )
            }
            (Ok(()), None) if san => wsd_log!(
                Debug,
                "{p} {side:?} {addr}: SAN: no rule matched; the address is in the SAN subnet table"
            ),
            (Ok(()), None) => wsd_log!(
                Debug,
                "{p} {side:?} {addr}: SAN: no rule matched; a listener on the wildcard address"
            ),
        }
    }
    verdict
}

/// Makes `fd`, a TCP socket the switch did not see made (one inherited through
/// `WSD_FDS`, one a direct provider call names), a SAN socket with `role` at
/// the addresses the kernel gives it, with no remembered values: [`associate`].
pub fn take_up(shim: &Shim, fd: i32, current: Entry, role: EndpointRole) -> Entry {
    associate(
        shim,
        fd,
        current,
        role,
        net::local_addr(fd),
        net::peer_addr(fd),
        Remembered::default(),
    )
}

/// Makes `fd` (whose entry was `current`) a SAN socket, or plain TCP if the SAN
/// cannot take it. `inherit` are values from a listener, overridden by what the
/// candidate itself remembered. Returns the new entry.
pub fn associate(
    shim: &Shim,
    fd: i32,
    current: Entry,
    role: EndpointRole,
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
    inherit: Remembered,
) -> Entry {
    let mut values = inherit;
    // A forked candidate's values are in the segment, where every process that
    // shares it set them; its record has done its work once the socket's role is
    // known.
    let forked = match current.is_forked().then(|| forked_view(shim, fd, current)) {
        Some(Forked::Candidate(ep, rec)) => {
            for id in [OptionId::Debug, OptionId::GroupPriority] {
                values.set(id, rec.option(id));
            }
            Some(ep)
        }
        _ => {
            for (id, v) in current.remembered().values() {
                values.set(id, v);
            }
            None
        }
    };
    if let (Some(ep), Some(att)) = (forked, shim.san_if_attached()) {
        att.seg.retire(ep);
    }
    match claim(shim, fd, role, local, peer, values) {
        Ok(entry) => {
            if settle(shim, fd, current, entry) {
                // Dups of the candidate are the same socket: SAN sockets too.
                for_each_sibling(fd, current, |sib, e| {
                    if fdtable::update(sib, e, entry) {
                        share(shim, entry);
                    }
                });
                entry
            } else {
                // Closed (or replaced) meanwhile: the endpoint is nobody's.
                release(shim, entry);
                fdtable::get(fd)
            }
        }
        Err(why) => fall_back(shim, fd, current, values, why),
    }
}

fn claim(
    shim: &Shim,
    fd: i32,
    role: EndpointRole,
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
    values: Remembered,
) -> Result<Entry, Fallback> {
    let att = shim.san().map_err(|_| Fallback::Unusable)?;
    let seg = &att.seg;
    if seg.network_down() {
        return Err(Fallback::NetworkDown);
    }
    let (pid, holder) = state::identity();
    let new = NewEndpoint {
        holder,
        pid,
        fd,
        role,
        local,
        peer,
        comm: shim.comm,
        // A connection's ends are named by their address pair until someone
        // needs their cookie (see `Segment::allocate`): connect and accept make no
        // extra system call for it. Any other claim may be of a socket that has a
        // record already, and asks.
        cookie: match role {
            EndpointRole::Connector | EndpointRole::Accepted => 0,
            _ => net::cookie(fd),
        },
        netns: state::netns_of(fd),
        inode: net::inode(fd),
    };
    let claimed = match seg.allocate(&new) {
        Some(c) => c,
        // Full: a bounded pass reclaims what dead processes left (at most every
        // 100 ms for the whole segment, so a full table costs nothing more), then
        // one more try.
        None => {
            let reaped = seg.reap_some_now_and_then();
            if reaped.endpoints + reaped.claims == 0 {
                return Err(Fallback::Full);
            }
            seg.allocate(&new).ok_or(Fallback::Full)?
        }
    };
    let ep = claimed.endpoint();
    let existing = matches!(claimed, Claimed::Existing(_));
    // The socket had a record already (it came through WSD_FDS, a fork, an exec or
    // SCM_RIGHTS): this process holds it too, and replays onto it.
    if existing && !att.holds(ep) && !seg.join(ep, holder) {
        return Err(Fallback::Full);
    }
    let Some(rec) = seg.endpoint(ep) else {
        return Err(Fallback::Full);
    };
    let groups = shim.config.groups;
    for (id, value) in values.values() {
        let spec = options::spec(id);
        if spec.known_with(groups) {
            // Replayed through WSPSetSockOpt, as the switch does (SPEC §4.2).
            let replay = checks::set_sock_opt(
                &facts(seg, rec, groups),
                WINSOCK_SOL_SOCKET,
                spec.winsock_optname,
                spec.size as i32,
                |_| Some(value.to_ne_bytes()),
            );
            match replay {
                Ok(a) => rec.store_option(a.option, a.value),
                // A socket that is a SAN socket already (in another process)
                // stays one: there is no fall-back from an established connection.
                Err(e) if existing => {
                    wsd_log!(Info, "fd {fd}: replaying {} failed with {e}", spec.name);
                }
                Err(e) => {
                    seg.release(ep, holder, pid);
                    return Err(Fallback::Replay(spec.name, e));
                }
            }
        } else {
            // Groups off: the switch keeps the value itself.
            rec.store_option(id, value);
        }
    }
    // The replays are operations on the socket too (SPEC §6.4).
    if rec.debugging() {
        for (id, _) in values.values() {
            let spec = options::spec(id);
            let name = OptionName {
                level: WINSOCK_SOL_SOCKET,
                optname: spec.winsock_optname,
            };
            let what = format_args!("{name} len={} (replayed)", spec.size);
            log::debug_line(rec.endpoint_id(), fd, "setsockopt", what, 0, 0);
        }
    }
    hold(shim, att, ep);
    match role {
        _ if existing => {}
        EndpointRole::Connector => seg.count_connection(false),
        EndpointRole::Accepted => seg.count_connection(true),
        _ => {}
    }
    if log::enabled(LogLevel::Info) {
        wsd_log!(
            Info,
            "fd {fd} is a SAN socket ({}), endpoint {}",
            role.name(),
            rec.endpoint_id()
        );
    }
    Ok(Entry::san(ep))
}

fn fall_back(shim: &Shim, fd: i32, current: Entry, values: Remembered, why: Fallback) -> Entry {
    if let Some(att) = shim.san_if_attached() {
        let counted = match why {
            Fallback::NetworkDown => Some(FallbackCount::Down),
            Fallback::Full => Some(FallbackCount::Full),
            Fallback::Replay(..) => Some(FallbackCount::Replay),
            Fallback::TcpRule(_) | Fallback::NotSanAddress | Fallback::NoAddress | Fallback::Unusable => None,
        };
        if let Some(c) = counted {
            att.seg.count_fallback(c);
        }
    }
    let level = match why {
        Fallback::TcpRule(_) | Fallback::NotSanAddress | Fallback::NoAddress => LogLevel::Debug,
        _ => LogLevel::Info,
    };
    if log::enabled(level) {
        log::log(level, format_args!("fd {fd} stays plain TCP: {why}"));
    }
    // A process that refused the segment cannot count there: `wsd run` hears it.
    if let (Fallback::Unusable, Err(e)) = (why, shim.san()) {
        sidechannel::segment_refused(shim.config.report_fd, &shim.comm, e);
    }
    let entry = if current.is_shared() {
        Entry::plain(values).shared()
    } else {
        Entry::plain(values)
    };
    if !settle(shim, fd, current, entry) {
        return fdtable::get(fd);
    }
    for_each_sibling(fd, current, |sib, e| {
        fdtable::update(sib, e, entry);
    });
    entry
}

/// Replaces `fd`'s entry `current` with `new`; also when a fork marked the
/// candidate forked meanwhile (another thread's fork publishes every candidate).
/// False if the descriptor was closed or replaced.
fn settle(shim: &Shim, fd: i32, current: Entry, new: Entry) -> bool {
    if fdtable::update(fd, current, new) {
        return true;
    }
    if current.is_forked() || !fdtable::update(fd, current.forked(), new) {
        return false;
    }
    // The fork put the values in a record of the socket; the socket's role is
    // known now, so the record has done its work.
    retire_forked(shim, fd);
    true
}

/// Calls `f(descriptor, entry)` for every other descriptor that is a dup of `fd`'s
/// socket, when `entry` (fd's) says it has dups. Scans the table: dups of a
/// candidate are rare, and this runs only for them.
pub fn for_each_sibling(fd: i32, entry: Entry, mut f: impl FnMut(i32, Entry)) {
    if !entry.is_shared() {
        return;
    }
    let Some(id) = net::socket_id(fd) else { return };
    for (sib, e) in fdtable::entries() {
        if sib != fd && e.is_shared() && net::socket_id(sib) == Some(id) {
            f(sib, e);
        }
    }
}

/// A candidate that the rules or the subnet table send to plain TCP (`why`
/// says which) becomes plain TCP.
pub fn not_san(shim: &Shim, fd: i32, current: Entry, why: Fallback) {
    fall_back(shim, fd, current, current.remembered(), why);
}

/// Lets go of whatever `entry` held (its descriptor is gone or reused).
pub fn release(shim: &Shim, entry: Entry) {
    if let (Some(ep), Some(att)) = (entry.endpoint(), shim.san_if_attached()) {
        att.drop_ref(ep);
    }
}

/// A descriptor now refers to what `entry` refers to (dup).
pub fn share(shim: &Shim, entry: Entry) {
    if let (Some(ep), Some(att)) = (entry.endpoint(), shim.san_if_attached()) {
        att.take_ref(ep);
    }
}

/// This process holds `ep` through one more descriptor; with its first SAN
/// socket, its fault watcher starts (SPEC §7).
pub(super) fn hold(shim: &Shim, att: &Attached, ep: EndpointRef) {
    att.take_ref(ep);
    watch::ensure(shim);
}
