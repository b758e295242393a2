//! The hooks: what the library does with a call on a descriptor that is ours,
//! once the exports have looked the descriptor up and taken the guard.
//!
//! - [`options`]: `setsockopt`/`getsockopt`, the whole path (SPEC §2–4, §6.3).
//! - [`life`]: a socket's life — connect, listen, accept, close, dup, fork,
//!   descriptors passed in messages — and start-up's taking back of inherited
//!   SAN sockets (SPEC §4.1, §5).
//! - [`data`]: the data calls on SAN sockets after a fault (SPEC §7).
//! - [`capi`]: the provider's C API, `WSPSetSockOpt`/`WSPGetSockOpt` called
//!   directly (SPEC §2–3).
//!
//! They use the layer below (`switch`, `memo`, `counting`, `provider`, `watch`)
//! and never the exports.

pub mod capi;
pub mod data;
pub mod life;
pub mod options;

use crate::model::WsaError;
use crate::san::layout::Record;
use crate::shim::fdtable::Entry;
use crate::shim::state::{Attached, Shim};
use crate::shim::{errno, log};
use libc::c_int;

/// A SAN socket's segment and record.
type SanSocket<'a> = (&'a Attached, &'a Record);

/// A SAN socket's endpoint, if its record is still the one the entry names.
fn san_record(shim: &Shim, entry: Entry) -> Option<SanSocket<'_>> {
    let att = shim.san_if_attached()?;
    let rec = att.seg.endpoint(entry.endpoint()?)?;
    Some((att, rec))
}

/// `-1` with `errno` set to the code's Linux counterpart, or `0`.
#[inline(always)]
fn answer(r: Result<(), WsaError>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => {
            errno::set(e.errno());
            -1
        }
    }
}

/// One `SO_DEBUG` line (SPEC §6.4) for a SAN socket's record: the call answered
/// `rc`, with the `errno` it left.
fn debug_line(rec: &Record, fd: c_int, call: &str, what: std::fmt::Arguments<'_>, rc: c_int) {
    log::debug_line(rec.endpoint_id(), fd, call, what, rc, errno::get());
}
