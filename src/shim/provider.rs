//! The provider bound to its state: `WSPSetSockOpt`/`WSPGetSockOpt` on a socket's
//! endpoint record (values in the SAN segment) or, for the switch's own answers,
//! on the values it remembers. The checks themselves are `model::checks`'; this
//! file gathers the facts they look at and stores or writes their result.

use crate::model::checks::{self, Facts, Network};
use crate::model::options::{Asked, OptionId};
use crate::model::{OptionSpec, WsaError};
use crate::san::Segment;
use crate::san::layout::Record;
use crate::shim::fdtable::Remembered;
use crate::shim::memory::Memory;
use libc::c_void;

/// The facts of a SAN socket's record.
pub fn facts(seg: &Segment, rec: &Record, groups: bool) -> Facts {
    Facts {
        is_ours: true,
        network: if seg.network_down() {
            Network::Down
        } else {
            Network::Up
        },
        connection: rec.connection_state(),
        groups,
    }
}

/// `WSPSetSockOpt` on a record: check, then store.
#[inline(always)]
pub fn set_on_record(
    mem: Memory,
    facts: &Facts,
    rec: &Record,
    asked: &Asked,
    optval: *const c_void,
    optlen: i32,
) -> Result<(), WsaError> {
    let a = checks::set_asked(facts, asked, optlen, |_| mem.read::<4>(optval))?;
    rec.store_option(a.option, a.value);
    Ok(())
}

/// The switch answering a provider option itself (SPEC §4.2): rows 3–6, then the
/// value is remembered in `r`.
pub fn set_remembered(
    mem: Memory,
    r: &mut Remembered,
    asked: &Asked,
    optval: *const c_void,
    optlen: i32,
) -> Result<(), WsaError> {
    let a = checks::set_asked(&Facts::healthy(true), asked, optlen, |_| mem.read::<4>(optval))?;
    r.set(a.option, a.value);
    Ok(())
}

/// The program's `optlen` argument of a `getsockopt`: where it points, and what
/// was there when the call began (None when NULL or unreadable). Read once per call.
#[derive(Clone, Copy)]
pub struct OptLen {
    pub at: *mut c_void,
    pub value: Option<i32>,
}

impl OptLen {
    pub fn read(mem: Memory, at: *mut c_void) -> OptLen {
        OptLen {
            at,
            value: mem.read::<4>(at).map(i32::from_ne_bytes),
        }
    }
}

/// `WSPGetSockOpt`'s checks, then the value from `value_of`, written to `optval`
/// and its size to `*optlen`. An `optval` that cannot be written is found by the
/// write itself, the last step, and answers `WSAEFAULT` as row 5 would.
pub fn get_into(
    mem: Memory,
    facts: &Facts,
    asked: &Asked,
    optval: *mut c_void,
    optlen: OptLen,
    value_of: impl FnOnce(OptionId) -> i32,
) -> Result<&'static OptionSpec, WsaError> {
    let spec = match checks::get_asked(facts, asked, optlen.value, !optval.is_null()) {
        Ok(spec) => spec,
        Err(e) => {
            if let Some(needed) = e.needed_len {
                mem.write(optlen.at, &needed.to_ne_bytes());
            }
            return Err(e.code);
        }
    };
    let value = value_of(spec.id);
    if !mem.write(optval, &value.to_ne_bytes()[..spec.size])
        || !mem.write(optlen.at, &(spec.size as i32).to_ne_bytes())
    {
        return Err(WsaError::EFAULT);
    }
    Ok(spec)
}
