//! `setsockopt` and `getsockopt` on descriptors that are ours (candidates, SAN
//! sockets, plain sockets remembering values), the whole path: the option is
//! looked up once ([`Asked`]), the switch routes the call (SPEC §4.3), the
//! provider, the switch or the kernel answers it, the report counts it, and a
//! call the provider answered with success is remembered (`memo`) so that the
//! same call again is answered without this path. The exports have looked the
//! descriptor up, taken the guard and asked the memo already. Every function
//! returns the C result, with `errno` set on failure.

use super::{SanSocket, answer, debug_line, san_record};
use crate::model::checks::{self, Facts};
use crate::model::names::OptionName;
use crate::model::options::Asked;
use crate::model::routing::{self, Mode, Role, Route};
use crate::model::{OptionId, WsaError};
use crate::san::EndpointRole;
use crate::san::endpoint::tally;
use crate::san::kernel::TCP_CLOSE;
use crate::san::layout::Record;
use crate::san::layout::{CALL_GET, CALL_SET, LAYER_KERNEL, LAYER_PROVIDER, LAYER_SWITCH};
use crate::shim::counting::{self, Counted, Outcome};
use crate::shim::fdtable::{self, Entry};
use crate::shim::memory::Memory;
use crate::shim::provider::{self, OptLen, facts};
use crate::shim::state::{Attached, Shim};
use crate::shim::switch::{self, Forked};
use crate::shim::thread::Guard;
use crate::shim::{errno, memo, net, real, sites};
use libc::{c_int, c_void, socklen_t};
use std::sync::atomic::AtomicU64;

/// A SAN socket's record (None for candidates and plain sockets) and the facts a
/// bare provider would see: the record's state, or a healthy socket. None when a
/// SAN socket's record is gone: the call then goes to the kernel.
fn provider_view(shim: &Shim, entry: Entry, role: Role) -> Option<(Option<SanSocket<'_>>, Facts)> {
    let groups = shim.config.groups;
    match role {
        Role::San => {
            let (att, rec) = san_record(shim, entry)?;
            Some((Some((att, rec)), facts(&att.seg, rec, groups)))
        }
        _ => Some((None, Facts::healthy(groups))),
    }
}

/// Now and then (at most every 50 ms per process) a SAN call looks whether the
/// other end of its connection is still there — if its socket is gone with its
/// processes, its record is reclaimed and this end reset (SPEC §5: no daemon,
/// whoever touches it reaps) — and whether the kernel reset this end's connection
/// (the peer closed abortively, however its `SO_LINGER` was set): then it is
/// reset on the SAN too.
#[inline(never)]
fn notice_dead_peer(att: &Attached, rec: &Record, fd: c_int) {
    static NEXT_MS: AtomicU64 = AtomicU64::new(0);
    if crate::san::reap::due(&NEXT_MS, 50) {
        let _errno = errno::keep();
        att.seg.reap_peer_of(rec);
        // Only a connection can be reset: a socket with a peer address (an
        // unconnected one, say under the direct API, is in TCP_CLOSE too).
        if rec.role() != Some(EndpointRole::Listener)
            && rec.peer.load().is_some()
            && net::tcp_state(fd) == Some(TCP_CLOSE)
        {
            rec.set_connection(checks::Connection::Reset);
        }
    }
}

/// A forked candidate (one a fork shared with another process) as it is now:
/// still a candidate, with the record holding the values every process that
/// shares it sets; or a SAN socket, which another process made it (the entry
/// returned is then this process's new one). Any other entry is returned as is.
fn forked(shim: &Shim, fd: c_int, entry: Entry) -> (Entry, Option<&Record>) {
    if !entry.is_forked() {
        return (entry, None);
    }
    let _errno = errno::keep();
    match switch::forked_view(shim, fd, entry) {
        Forked::Candidate(_, rec) => (entry, Some(rec)),
        Forked::San(now) => (now, None),
        Forked::Lost => (entry, None),
    }
}

/// The report's endpoint role of a SAN socket's call (0 for other sockets).
fn end_of(san: Option<SanSocket<'_>>) -> u8 {
    san.map_or(0, |(_, rec)| rec.raw_role())
}

/// After a call on a SAN socket that the provider answered with success: the
/// thread remembers it (`memo`'s docs say why that is the same answer). Not
/// for a signal handler's call, nor when `SO_DEBUG` is on (every call then
/// writes a line).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn memoise(
    g: &Guard,
    call: memo::Call,
    asked: &Asked,
    optlen: i32,
    san: Option<SanSocket<'_>>,
    o: &Outcome,
    counted: Option<(u32, u8)>,
    site: (usize, Option<&AtomicU64>),
) {
    if let (Some((att, rec)), Some(row), Some(spec)) = (san, counted, asked.row)
        && o.provider_said_yes()
        && !g.nested()
        && !rec.debugging()
    {
        memo::remember(
            g,
            call,
            (asked.level, asked.optname, optlen),
            spec,
            (att, rec.raw_role()),
            row,
            site,
        );
    }
}

/// The call site of a call counted in `row`: counted there, and recorded in the
/// segment if it is new (`sites`). Its slot, for the memo.
#[inline(always)]
fn at_site<'a>(
    shim: &'a Shim,
    g: &Guard,
    row: Option<(u32, u8)>,
    site: usize,
) -> (usize, Option<&'a AtomicU64>) {
    let slot = match (row, shim.san_if_attached()) {
        (Some(row), Some(att)) => sites::note(att, g.nested(), row, site),
        _ => None,
    };
    (site, slot)
}

/// What the whole path of a call on a descriptor of ours starts from: the
/// descriptor's entry as it is now, a forked candidate's shared record, its role,
/// the option looked up, the route, and a SAN socket's record with the facts a
/// bare provider would see.
type Start<'a> = (
    Entry,
    Option<&'a Record>,
    Role,
    Asked,
    Route,
    Option<SanSocket<'a>>,
    Facts,
);

/// The start of the whole path; None when the kernel answers the call (the
/// descriptor is no longer ours, or a SAN socket's record is gone).
#[inline(always)]
fn start<'a>(
    shim: &'a Shim,
    fd: c_int,
    entry: Entry,
    (level, optname): (c_int, c_int),
    route_of: fn(Mode, Role, bool, &Asked) -> Route,
) -> Option<Start<'a>> {
    let (entry, shared) = forked(shim, fd, entry);
    let role = entry.role()?;
    let asked = Asked::new(level, optname);
    let route = route_of(shim.config.mode, role, shim.config.groups, &asked);
    let (san, facts) = provider_view(shim, entry, role)?;
    Some((entry, shared, role, asked, route, san, facts))
}

#[allow(clippy::too_many_arguments)]
pub fn setsockopt(
    shim: &Shim,
    g: &Guard,
    fd: c_int,
    entry: Entry,
    level: c_int,
    optname: c_int,
    optval: *const c_void,
    optlen: socklen_t,
    site: usize,
) -> c_int {
    let len = optlen as i32;
    // SAFETY: the program's own arguments, passed on unchanged.
    let kernel = || unsafe { real::setsockopt(fd, level, optname, optval, optlen) };
    let Some((entry, shared, role, asked, route, san, f)) =
        start(shim, fd, entry, (level, optname), routing::route_set)
    else {
        return kernel();
    };
    let mem = g.memory();
    if let Some((att, rec)) = san
        && g.thread().clock_due()
    {
        notice_dead_peer(att, rec, fd);
    }
    let debug_before = san.is_some_and(|(_, rec)| rec.debugging());
    let set_on = |facts: &Facts, rec: &Record| provider::set_on_record(mem, facts, rec, &asked, optval, len);
    let (rc, layer) = match san {
        _ if shim.config.mode == Mode::Observe => (kernel(), LAYER_KERNEL),
        None if route == Route::Kernel => (kernel(), LAYER_KERNEL),
        // A forked candidate: the value goes where every process sharing it
        // reads it.
        None if shared.is_some() => (
            answer(shared.map_or(Ok(()), |rec| set_on(&Facts::healthy(true), rec))),
            LAYER_SWITCH,
        ),
        None => (
            answer(remember(mem, fd, entry, &asked, optval, len)),
            LAYER_SWITCH,
        ),
        // A call that reaches WSPSetSockOpt gets its verdict in §2.2's order
        // (argument errors before the connection's state); one that the switch
        // answers or passes on meets the SAN's state first (SPEC §4.3).
        Some((_, rec)) => match (route, routing::san_gate(f.network, f.connection)) {
            (Route::Provider, _) => (answer(set_on(&f, rec)), LAYER_PROVIDER),
            (_, Err(e)) => (answer(Err(e)), LAYER_SWITCH),
            (Route::Kernel, Ok(())) => (kernel(), LAYER_KERNEL),
            (Route::Switch, Ok(())) => (answer(set_on(&Facts::healthy(true), rec)), LAYER_SWITCH),
        },
    };
    // What `provider` mode would answer (recorded in every mode), without
    // storing anything.
    let o = Outcome::of(rc, layer, || {
        checks::set_asked(&f, &asked, len, |_| mem.read::<4>(optval)).map(|_| ())
    });
    let counted = Counted {
        role,
        end: end_of(san),
        call: CALL_SET,
        level,
        optname,
        optlen: len,
        outcome: &o,
    };
    let row = counting::count(shim, g, san.map(|(att, _)| att), &counted);
    let site = at_site(shim, g, row, site);
    memoise(g, memo::Call::Set, &asked, len, san, &o, row, site);
    if let Some((_, rec)) = san {
        after_san_set(mem, rec, &asked, optval, &o);
        if debug_before || rec.debugging() {
            let _errno = errno::keep();
            let what = format_args!("{} len={len}", OptionName { level, optname });
            debug_line(rec, fd, "setsockopt", what, rc);
        }
    }
    rc
}

/// A SAN socket's bookkeeping after a `setsockopt`: counters, and an abortive
/// close asked for through `SO_LINGER`.
fn after_san_set(mem: Memory, rec: &Record, asked: &Asked, optval: *const c_void, o: &Outcome) {
    if o.rc == 0
        && asked.level == libc::SOL_SOCKET
        && asked.optname == libc::SO_LINGER
        && o.layer == LAYER_KERNEL
    {
        // The kernel took it, so the bytes are a readable `struct linger`.
        if let Some(l) = mem.read::<8>(optval) {
            let onoff = i32::from_ne_bytes([l[0], l[1], l[2], l[3]]);
            let secs = i32::from_ne_bytes([l[4], l[5], l[6], l[7]]);
            rec.mark_abortive(onoff != 0 && secs == 0);
        }
    }
    // Per-record counters only: a counter every thread of every process hits would
    // serialise them (segment totals are sums over records and report rows).
    tally(&rec.sets);
    if o.rc != 0 {
        tally(&rec.set_errors);
    }
    if o.provider.is_err() {
        tally(&rec.provider_refusals);
    }
}

/// The switch answers a provider option on a candidate or plain socket and
/// remembers the value in the descriptor's entry.
fn remember(
    mem: Memory,
    fd: c_int,
    mut entry: Entry,
    asked: &Asked,
    optval: *const c_void,
    len: i32,
) -> Result<(), WsaError> {
    loop {
        let mut r = entry.remembered();
        provider::set_remembered(mem, &mut r, asked, optval, len)?;
        if fdtable::update(fd, entry, entry.with_remembered(r)) {
            switch::for_each_sibling(fd, entry, |sib, e| {
                fdtable::update(sib, e, e.with_remembered(r));
            });
            return Ok(());
        }
        entry = fdtable::get(fd);
        if !matches!(entry.role(), Some(Role::Candidate | Role::PlainRemembering)) {
            // It changed role meanwhile (connected, or closed): nothing to remember.
            return Ok(());
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub fn getsockopt(
    shim: &Shim,
    g: &Guard,
    fd: c_int,
    entry: Entry,
    level: c_int,
    optname: c_int,
    optval: *mut c_void,
    optlen: *mut socklen_t,
    site: usize,
) -> c_int {
    // SAFETY: the program's own arguments, passed on unchanged.
    let kernel = || unsafe { real::getsockopt(fd, level, optname, optval, optlen) };
    let Some((entry, shared, role, asked, route, san, f)) =
        start(shim, fd, entry, (level, optname), routing::route_get)
    else {
        return kernel();
    };
    let mem = g.memory();
    // The length the program passed (for the checks and the report).
    let len = OptLen::read(mem, optlen.cast());
    let remembered = entry.remembered();
    let value_of = |id: OptionId| match (san, shared) {
        (Some((_, rec)), _) | (None, Some(rec)) => rec.option(id),
        (None, None) => remembered.get(id),
    };
    let get_with =
        |facts: &Facts| answer(provider::get_into(mem, facts, &asked, optval, len, value_of).map(|_| ()));
    let (rc, layer) = match route {
        Route::Kernel => (kernel(), LAYER_KERNEL),
        Route::Switch => (get_with(&Facts::healthy(true)), LAYER_SWITCH),
        Route::Provider => (get_with(&f), LAYER_PROVIDER),
    };
    let o = Outcome::of(rc, layer, || {
        checks::get_asked(&f, &asked, len.value, !optval.is_null())
            .map(|_| ())
            .map_err(|e| e.code)
    });
    let counted = Counted {
        role,
        end: end_of(san),
        call: CALL_GET,
        level,
        optname,
        optlen: len.value.unwrap_or(-1),
        outcome: &o,
    };
    let row = counting::count(shim, g, san.map(|(att, _)| att), &counted);
    let site = at_site(shim, g, row, site);
    if let Some(len) = len.value {
        memoise(g, memo::Call::Get, &asked, len, san, &o, row, site);
    }
    if let Some((_, rec)) = san {
        tally(&rec.gets);
        if rc != 0 {
            tally(&rec.get_errors);
        }
        if rec.debugging() {
            let _errno = errno::keep();
            debug_line(
                rec,
                fd,
                "getsockopt",
                format_args!("{}", OptionName { level, optname }),
                rc,
            );
        }
    }
    rc
}
