//! The interposed calls' logic, for descriptors that are ours (candidates, SAN
//! sockets, plain sockets remembering values). The exports have already looked the
//! descriptor up and taken the guard; here the switch routes each call (SPEC §4).
//! Every function returns the C result, with `errno` set on failure.

use crate::config::rules::Side;
use crate::model::checks::{self, Facts};
use crate::model::names::OptionName;
use crate::model::routing::{self, Mode, Role, Route};
use crate::model::{WsaError, options};
use crate::san::EndpointRole;
use crate::san::endpoint::tally;
use crate::san::kernel::TCP_CLOSE;
use crate::san::layout::Record;
use crate::san::layout::{CALL_GET, CALL_SET, LAYER_KERNEL, LAYER_PROVIDER, LAYER_SWITCH};
use crate::san::report::CallKey;
use crate::shim::fdtable::{self, Entry, Remembered};
use crate::shim::memory::Memory;
use crate::shim::provider::{self, OptLen, facts};
use crate::shim::recent::Memos;
use crate::shim::state::{self, Attached, Shim};
use crate::shim::switch::{self, Fallback, associate};
use crate::shim::thread::Guard;
use crate::shim::{log, net, real};
use crate::wsd_log;
use libc::{c_int, c_void, sockaddr, socklen_t};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns this thread's errno.
    unsafe { *libc::__errno_location() = e };
}

fn errno() -> c_int {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() }
}

/// `-1` with `errno` set to the code's Linux counterpart, or `0`.
#[inline(always)]
fn answer(r: Result<(), WsaError>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => {
            set_errno(e.errno());
            -1
        }
    }
}

/// A SAN socket's endpoint, if its record is still the one the entry names.
fn san_record(shim: &Shim, entry: Entry) -> Option<(&Attached, &Record)> {
    let att = shim.san_if_attached()?;
    let rec = att.seg.endpoint(entry.endpoint()?)?;
    Some((att, rec))
}

/// A SAN socket's segment and record.
type SanSocket<'a> = (&'a Attached, &'a Record);

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

/// One `SO_DEBUG` line (SPEC §6.4) for a SAN socket's record.
fn debug_line(rec: &Record, fd: c_int, call: &str, what: std::fmt::Arguments<'_>, rc: c_int) {
    log::debug_line(rec.id.load(Relaxed), fd, call, what, rc, errno());
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
        keeping_errno(|| {
            att.seg.reap_peer_of(rec);
            // Only a connection can be reset: a socket with a peer address (an
            // unconnected one, say under the direct API, is in TCP_CLOSE too).
            if rec.role() != Some(EndpointRole::Listener)
                && rec.peer.load().is_some()
                && net::tcp_state(fd) == Some(TCP_CLOSE)
            {
                rec.set_connection(crate::model::checks::Connection::Reset);
            }
        });
    }
}

/// The provider's verdict on a `setsockopt`, without storing anything: what
/// `provider` mode would answer (recorded in every mode).
fn provider_verdict(
    mem: Memory,
    f: &Facts,
    level: c_int,
    optname: c_int,
    optval: *const c_void,
    optlen: i32,
) -> Result<(), WsaError> {
    checks::set_sock_opt(f, level, optname, optlen, |_| mem.read::<4>(optval)).map(|_| ())
}

/// A forked candidate (one a fork shared with another process) as it is now:
/// still a candidate, with the record holding the values every process that
/// shares it sets; or a SAN socket, which another process made it (the entry
/// returned is then this process's new one). Any other entry is returned as is.
fn forked(shim: &Shim, fd: c_int, entry: Entry) -> (Entry, Option<&Record>) {
    if !entry.is_forked() {
        return (entry, None);
    }
    let mut view = None;
    keeping_errno(|| view = Some(switch::forked_view(shim, fd, entry)));
    match view {
        Some(switch::Forked::Candidate(_, rec)) => (entry, Some(rec)),
        Some(switch::Forked::San(now)) => (now, None),
        _ => (entry, None),
    }
}

/// Who answered a call, and what a bare provider would have said, for the report.
struct Outcome {
    rc: c_int,
    errno: c_int,
    layer: u8,
    provider: Result<(), WsaError>,
}

impl Outcome {
    /// The outcome of a call answered by `layer` with `rc`: when the provider
    /// answered, its verdict is the answer; otherwise `bare` says what it would
    /// have. Nothing of ours between the answer and here touches `errno`, and
    /// nothing after it does except what restores it.
    #[inline(always)]
    fn of(rc: c_int, layer: u8, bare: impl FnOnce() -> Result<(), WsaError>) -> Outcome {
        let errno = if rc == 0 { 0 } else { errno() };
        Outcome {
            rc,
            errno,
            layer,
            provider: match (layer, rc) {
                (LAYER_PROVIDER, 0) => Ok(()),
                (LAYER_PROVIDER, _) => WsaError::from_errno(errno).map_or(Ok(()), Err),
                _ => bare(),
            },
        }
    }
}

/// What the report counts of one call (SPEC §6.3 `wsd run`'s report).
struct Counted<'a> {
    role: Role,
    /// The endpoint's role, for a SAN socket's call (0 otherwise).
    end: u8,
    call: u8,
    level: c_int,
    optname: c_int,
    optlen: i32,
    outcome: &'a Outcome,
}

impl Counted<'_> {
    #[inline(always)]
    fn key(&self, shim: &Shim) -> CallKey {
        let o = self.outcome;
        CallKey {
            lane: 0,
            comm: shim.comm,
            call: self.call,
            layer: o.layer,
            role: match self.role {
                Role::Candidate => 1,
                Role::San => 2,
                Role::PlainRemembering => 3,
            },
            level: self.level,
            optname: self.optname,
            optlen: self.optlen,
            errno: if o.rc == 0 { 0 } else { o.errno },
            provider: o.provider.err().map_or(0, WsaError::code),
            pid: state::own_pid(),
            end: self.end,
        }
    }
}

/// Counts the call in the segment's report table. A thread counts in its own lane
/// (see `san::lanes`) and remembers the rows it counted in last: a program that
/// sets one option in a loop finds its row without hashing or probing shared
/// memory, and adds to it without a locked instruction. `att` is the segment when
/// the caller has it at hand (a SAN socket's). Returns the row and lane that
/// counted the call when they are the thread's to remember.
#[inline(always)]
fn count(shim: &Shim, g: &Guard, att: Option<&Attached>, c: &Counted<'_>) -> Option<(u32, u8)> {
    if let Some(att) = att
        && !g.nested()
        // The key's words, packed from the values in registers (packing them from
        // a key just stored would stall on store forwarding).
        && let Some((row, lane)) = g.thread().cached_row(&c.key(shim).words())
    {
        att.seg.count_row(row, lane);
        return Some((row, lane));
    }
    count_in_table(shim, g, c)
}

/// [`count`] when the thread does not remember the row. Attaching the segment or
/// taking a lane makes system calls: the program's `errno` is kept.
#[inline(never)]
fn count_in_table(shim: &Shim, g: &Guard, c: &Counted<'_>) -> Option<(u32, u8)> {
    let mut counted = None;
    keeping_errno(|| counted = count_in_lane(shim, g, c));
    counted
}

fn count_in_lane(shim: &Shim, g: &Guard, c: &Counted<'_>) -> Option<(u32, u8)> {
    let nested = g.nested();
    // A signal handler's call counts only in a segment already attached, in the
    // shared lane, and without the per-thread cache it may have interrupted.
    let att = if nested {
        shim.san_if_attached()
    } else {
        shim.san().ok()
    };
    let att = att?;
    let key = c.key(shim);
    if nested {
        att.seg.count_call(&key);
        return None;
    }
    let t = g.thread();
    let lane = t.lane(&att.seg);
    let (row, lane) = att.seg.count_call(&CallKey { lane, ..key })?;
    t.cache_row(key.words(), row, lane);
    Some((row, lane))
}

/// After a call on a SAN socket that the provider answered with success: the
/// thread remembers it, so that the same call again is answered by `recent`
/// (its docs say why this is the same answer). Not for a signal handler's call,
/// nor when `SO_DEBUG` is on (every call then writes a line).
fn memoise(
    g: &Guard,
    memos: &Memos,
    san: Option<SanSocket<'_>>,
    o: &Outcome,
    counted: Option<(u32, u8)>,
    (level, optname, optlen): (c_int, c_int, i32),
) {
    if let (Some((att, rec)), Some(row)) = (san, counted)
        && o.rc == 0
        && o.layer == LAYER_PROVIDER
        && o.provider.is_ok()
        && !g.nested()
        && rec.so_debug.load(Relaxed) == 0
        && let Some(spec) = options::lookup_raw(level, optname)
    {
        memos.remember(level, optname, optlen, spec.id, att, row);
    }
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
) -> c_int {
    let cfg = &shim.config;
    let len = optlen as i32;
    // SAFETY: the program's own arguments, passed on unchanged.
    let kernel = || unsafe { real::setsockopt(fd, level, optname, optval, optlen) };
    let (entry, shared) = forked(shim, fd, entry);
    let Some(role) = entry.role() else { return kernel() };
    let route = routing::route_set(cfg.mode, role, cfg.groups, level, optname);
    let Some((san, f)) = provider_view(shim, entry, role) else {
        return kernel();
    };
    let mem = g.memory();
    if let Some((att, rec)) = san
        && g.thread().clock_due()
    {
        notice_dead_peer(att, rec, fd);
    }
    let debug_before = san.is_some_and(|(_, rec)| rec.so_debug.load(Relaxed) != 0);
    let (rc, layer) = match san {
        _ if cfg.mode == Mode::Observe => (kernel(), LAYER_KERNEL),
        None if route == Route::Kernel => (kernel(), LAYER_KERNEL),
        // A forked candidate: the value goes where every process sharing it
        // reads it.
        None if shared.is_some() => (
            answer(shared.map_or(Ok(()), |rec| {
                provider::set_on_record(mem, &Facts::healthy(true), rec, level, optname, optval, len)
            })),
            LAYER_SWITCH,
        ),
        None => (
            answer(remember(mem, fd, entry, level, optname, optval, len)),
            LAYER_SWITCH,
        ),
        // A call that reaches WSPSetSockOpt gets its verdict in §2.2's order
        // (argument errors before the connection's state); one that the switch
        // answers or passes on meets the SAN's state first (SPEC §4.3).
        Some((_, rec)) => match (route, routing::san_gate(f.network, f.connection)) {
            (Route::Provider, _) => (
                answer(provider::set_on_record(mem, &f, rec, level, optname, optval, len)),
                LAYER_PROVIDER,
            ),
            (_, Err(e)) => (answer(Err(e)), LAYER_SWITCH),
            (Route::Kernel, Ok(())) => (kernel(), LAYER_KERNEL),
            (Route::Switch, Ok(())) => (
                answer(provider::set_on_record(
                    mem,
                    &Facts::healthy(true),
                    rec,
                    level,
                    optname,
                    optval,
                    len,
                )),
                LAYER_SWITCH,
            ),
        },
    };
    let o = Outcome::of(rc, layer, || {
        provider_verdict(mem, &f, level, optname, optval, len)
    });
    let counted = Counted {
        role,
        end: san.map_or(0, |(_, rec)| rec.role.load(Relaxed) as u8),
        call: CALL_SET,
        level,
        optname,
        optlen: len,
        outcome: &o,
    };
    let row = count(shim, g, san.map(|(att, _)| att), &counted);
    memoise(g, g.thread().set_memos(), san, &o, row, (level, optname, len));
    if let Some((_, rec)) = san {
        after_san_set(mem, rec, level, optname, optval, &o);
        if debug_before || rec.so_debug.load(Relaxed) != 0 {
            keeping_errno(|| {
                debug_line(
                    rec,
                    fd,
                    "setsockopt",
                    format_args!("{} len={len}", OptionName { level, optname }),
                    rc,
                )
            });
        }
    }
    rc
}

/// A SAN socket's bookkeeping after a `setsockopt`: counters, and an abortive
/// close asked for through `SO_LINGER`.
fn after_san_set(
    mem: Memory,
    rec: &Record,
    level: c_int,
    optname: c_int,
    optval: *const c_void,
    o: &Outcome,
) {
    if o.rc == 0 && level == libc::SOL_SOCKET && optname == libc::SO_LINGER && o.layer == LAYER_KERNEL {
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
    level: c_int,
    optname: c_int,
    optval: *const c_void,
    len: i32,
) -> Result<(), WsaError> {
    loop {
        let mut r = entry.remembered();
        provider::set_remembered(mem, &mut r, level, optname, optval, len)?;
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
) -> c_int {
    let cfg = &shim.config;
    // SAFETY: the program's own arguments, passed on unchanged.
    let kernel = || unsafe { real::getsockopt(fd, level, optname, optval, optlen) };
    let (entry, shared) = forked(shim, fd, entry);
    let Some(role) = entry.role() else { return kernel() };
    let route = routing::route_get(cfg.mode, role, cfg.groups, level, optname);
    let Some((san, f)) = provider_view(shim, entry, role) else {
        return kernel();
    };
    let mem = g.memory();
    // The length the program passed (for the checks and the report).
    let len = OptLen::read(mem, optlen.cast());
    let remembered = entry.remembered();
    let value_of = |id| match (san, shared) {
        (Some((_, rec)), _) | (None, Some(rec)) => rec.option(id),
        (None, None) => remembered.get(id),
    };
    let (rc, layer) = match route {
        Route::Kernel => (kernel(), LAYER_KERNEL),
        Route::Switch => (
            answer(
                provider::get_into(mem, &Facts::healthy(true), level, optname, optval, len, value_of)
                    .map(|_| ()),
            ),
            LAYER_SWITCH,
        ),
        Route::Provider => (
            answer(provider::get_into(mem, &f, level, optname, optval, len, value_of).map(|_| ())),
            LAYER_PROVIDER,
        ),
    };
    let o = Outcome::of(rc, layer, || {
        checks::get_sock_opt(&f, level, optname, len.value, !optval.is_null())
            .map(|_| ())
            .map_err(|e| e.code)
    });
    let counted = Counted {
        role,
        end: san.map_or(0, |(_, rec)| rec.role.load(Relaxed) as u8),
        call: CALL_GET,
        level,
        optname,
        optlen: len.value.unwrap_or(-1),
        outcome: &o,
    };
    let row = count(shim, g, san.map(|(att, _)| att), &counted);
    if let Some(len) = len.value {
        memoise(g, g.thread().get_memos(), san, &o, row, (level, optname, len));
    }
    if let Some((_, rec)) = san {
        tally(&rec.gets);
        if rc != 0 {
            tally(&rec.get_errors);
        }
        if rec.so_debug.load(Relaxed) != 0 {
            keeping_errno(|| {
                debug_line(
                    rec,
                    fd,
                    "getsockopt",
                    format_args!("{}", OptionName { level, optname }),
                    rc,
                )
            });
        }
    }
    rc
}

/// Does a socket in role `side` at `addr` go to the SAN? Rules first, then the
/// subnet table (a listener on the wildcard address counts as on the SAN). The
/// error is why not. With `WSD_LOG=debug` the decision and its real reason are
/// logged.
fn decide(shim: &Shim, side: Side, addr: std::net::SocketAddr) -> Result<(), Fallback> {
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

/// Runs `f`, leaving `errno` as it was.
pub fn keeping_errno(f: impl FnOnce()) {
    let saved = errno();
    f();
    set_errno(saved);
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
        .and_then(|a| decide(shim, side, a));
    if let Err(why) = verdict {
        switch::not_san(shim, fd, entry, why);
        return None;
    }
    let (role, local, peer) = ends();
    let now = associate(shim, fd, entry, role, local, peer, Remembered::default());
    san_record(shim, now)
}

/// After the real `connect` returned `rc`: a candidate connecting to a SAN
/// address becomes a SAN socket. `errno` is left as `connect` set it.
pub fn connected(shim: &Shim, fd: c_int, entry: Entry, addr: *const sockaddr, len: socklen_t, rc: c_int) {
    let err = errno();
    let started = rc == 0 || err == libc::EINPROGRESS;
    keeping_errno(|| {
        if !started {
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
            && rec.so_debug.load(Relaxed) != 0
        {
            let ep = rec.id.load(Relaxed);
            match dest {
                Some(d) => log::debug_line(ep, fd, "connect", format_args!("to {d}"), rc, err),
                None => log::debug_line(ep, fd, "connect", format_args!(""), rc, err),
            }
        }
    })
}

/// After the real `listen` returned `rc`: a candidate listening on a SAN
/// address (or the wildcard) becomes a SAN listener.
pub fn listening(shim: &Shim, fd: c_int, entry: Entry, rc: c_int) {
    keeping_errno(|| {
        if rc != 0 || entry.role() != Some(Role::Candidate) {
            return;
        }
        let local = net::local_addr(fd);
        let san = hand_over(shim, fd, entry, Side::Server, local, || {
            (EndpointRole::Listener, local, None)
        });
        if let (Some((_, rec)), Some(local)) = (san, local)
            && rec.so_debug.load(Relaxed) != 0
        {
            debug_line(rec, fd, "listen", format_args!("on {local}"), rc);
        }
    })
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
    let saved = errno();
    let stale = fdtable::replace(newfd, Entry::EMPTY);
    switch::release(shim, stale);
    if let Some((_, lrec)) = san_record(shim, entry) {
        let peer = peer.or_else(|| net::peer_addr(newfd));
        if peer.is_some_and(|p| shim.config.is_san_address(p.ip())) {
            let inherit = Remembered {
                debug: Some(lrec.so_debug.load(Relaxed) != 0),
                priority: Some(lrec.group_priority.load(Relaxed)),
            };
            associate(
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
            if lrec.so_debug.load(Relaxed) != 0 {
                debug_line(lrec, listener, "accept", format_args!("fd={newfd}"), newfd);
            }
        }
    }
    set_errno(saved);
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
        && rec.so_debug.load(Relaxed) != 0
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
        && rec.so_debug.load(Relaxed) != 0
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
    keeping_errno(|| {
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
    });
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
