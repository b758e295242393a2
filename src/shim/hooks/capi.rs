//! The provider's C API, `WSPSetSockOpt`/`WSPGetSockOpt`, called directly by a
//! program rather than through the switch (SPEC §2–3); the exports (`exports::capi`)
//! keep the caller's `errno` and write the code to `*lpErrno`. Any open TCP stream socket
//! is the provider's own: its endpoint is created in the segment on first use.

use crate::model::WsaError;
use crate::model::names::OptionName;
use crate::model::options::Asked;
use crate::san::EndpointRole;
use crate::san::endpoint::tally;
use crate::san::layout::Record;
use crate::shim::fdtable;
use crate::shim::memory::Memory;
use crate::shim::provider::{self, facts};
use crate::shim::startup;
use crate::shim::state::Attached;
use crate::shim::{log, net, switch};
use libc::c_void;

/// Rows 1 and 2 (SPEC §2.2) for a descriptor that has no endpoint and cannot get
/// one: not a TCP socket, or the SAN cannot be used.
fn refuse(is_ours: bool) -> WsaError {
    if is_ours {
        WsaError::ENETDOWN
    } else {
        WsaError::ENOTSOCK
    }
}

/// The endpoint of `fd`, created on first use (rows 1 and 2 decide before that).
fn endpoint(fd: i32) -> Result<(&'static Attached, &'static Record), WsaError> {
    let shim = startup::shim_or_start();
    let entry = fdtable::get(fd);
    if let Some(att) = shim.and_then(|s| s.san_if_attached())
        && let Some(rec) = entry.endpoint().and_then(|ep| att.seg.endpoint(ep))
    {
        return Ok((att, rec));
    }
    if !net::is_tcp_stream(fd) {
        return Err(refuse(false));
    }
    let Some(shim) = shim else {
        return Err(refuse(true));
    };
    let att = shim.san().map_err(|_| refuse(true))?;
    if att.seg.network_down() {
        return Err(refuse(true));
    }
    let entry = switch::take_up(shim, fd, entry, EndpointRole::Direct);
    entry
        .endpoint()
        .and_then(|ep| att.seg.endpoint(ep))
        .map(|rec| (att, rec))
        .ok_or_else(|| refuse(true))
}

fn groups() -> bool {
    startup::shim_or_start().is_none_or(|s| s.config.groups)
}

/// `WSPSetSockOpt` (SPEC §2).
pub fn set(
    mem: Memory,
    fd: i32,
    level: i32,
    optname: i32,
    optval: *const c_void,
    optlen: i32,
) -> Result<(), WsaError> {
    let (att, rec) = endpoint(fd)?;
    let debug_before = rec.debugging();
    let asked = Asked::new(level, optname);
    let r = provider::set_on_record(mem, &facts(&att.seg, rec, groups()), rec, &asked, optval, optlen);
    tally(&rec.sets);
    if r.is_err() {
        tally(&rec.set_errors);
        tally(&rec.provider_refusals);
    }
    if debug_before || rec.debugging() {
        let what = format_args!("{} len={optlen}", OptionName { level, optname });
        debug_line(rec, fd, "WSPSetSockOpt", what, r);
    }
    r
}

/// The `SO_DEBUG` line of a direct call (SPEC §2.1, §6.4: every operation on
/// the socket), with the provider's code by name.
fn debug_line(rec: &Record, fd: i32, call: &str, what: std::fmt::Arguments<'_>, r: Result<(), WsaError>) {
    let (rc, err) = r.map_or_else(|e| (-1, e.errno()), |()| (0, 0));
    log::debug_line(rec.endpoint_id(), fd, call, what, rc, err);
}

/// `WSPGetSockOpt` (SPEC §3).
pub fn get(
    mem: Memory,
    fd: i32,
    level: i32,
    optname: i32,
    optval: *mut c_void,
    optlen: *mut c_void,
) -> Result<(), WsaError> {
    let (att, rec) = endpoint(fd)?;
    let r = provider::get_into(
        mem,
        &facts(&att.seg, rec, groups()),
        &Asked::new(level, optname),
        optval,
        provider::OptLen::read(mem, optlen),
        |id| rec.option(id),
    );
    tally(&rec.gets);
    if r.is_err() {
        tally(&rec.get_errors);
    }
    if rec.debugging() {
        let what = format_args!("{}", OptionName { level, optname });
        debug_line(rec, fd, "WSPGetSockOpt", what, r.map(|_| ()));
    }
    r.map(|_| ())
}
