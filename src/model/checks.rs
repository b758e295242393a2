//! `WSPSetSockOpt` and `WSPGetSockOpt` as pure functions of (socket facts, level,
//! optname, bytes) → result. The checks run in exactly SPEC §2.2's order (set) and
//! §3's order (get); the first that fails decides.
//!
//! Memory is never touched here: the caller passes closures that read or probe the
//! program's buffers, and they are called only once every earlier check has passed,
//! so a bad pointer is looked at only when its turn comes.

use super::codes::WsaError;
use super::options::{Asked, Level, OptionId, OptionSpec, TCP_NODELAY, ValueType};

/// State of the SAN as the provider sees it for one call (SPEC §2.2 row 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    Up,
    /// Brought down by a fault, or the segment cannot be used.
    Down,
}

/// State of the socket's connection (SPEC §2.2 rows 7–8, §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Connection {
    #[default]
    Healthy,
    KeepAliveFailed,
    Reset,
}

/// Everything about the socket that the checks look at.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    /// An open TCP stream socket of this provider (row 1).
    pub is_ours: bool,
    pub network: Network,
    pub connection: Connection,
    /// `WSD_GROUPS`: does the provider support socket groups?
    pub groups: bool,
}

impl Facts {
    /// A healthy socket on an up network: what the switch validates against when it
    /// answers for a candidate (SPEC §4.2, rows 3–6 only).
    pub const fn healthy(groups: bool) -> Facts {
        Facts {
            is_ours: true,
            network: Network::Up,
            connection: Connection::Healthy,
            groups,
        }
    }
}

/// A value to store: the outcome of a successful `WSPSetSockOpt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub option: OptionId,
    /// Normalised: a BOOL is 0 or 1.
    pub value: i32,
}

/// Rows 1–2, shared by set and get.
fn socket_and_network(facts: &Facts) -> Result<(), WsaError> {
    if !facts.is_ours {
        return Err(WsaError::ENOTSOCK);
    }
    if facts.network == Network::Down {
        return Err(WsaError::ENETDOWN);
    }
    Ok(())
}

/// Rows 3–4: the level, then the option, shared by set and get.
fn find_option(
    asked: &Asked,
    groups: bool,
    usable: impl Fn(&OptionSpec) -> bool,
) -> Result<&'static OptionSpec, WsaError> {
    match asked.known_level {
        Some(Level::Tcp) if asked.optname != TCP_NODELAY => return Err(WsaError::EINVAL),
        Some(_) => {}
        None => return Err(WsaError::EINVAL),
    }
    asked
        .row
        .filter(|o| o.known_with(groups) && usable(o))
        .ok_or(WsaError::ENOPROTOOPT)
}

/// Row 6: is `raw` a valid value for `spec`? Returns it normalised.
pub fn normalise(spec: &OptionSpec, raw: i32) -> Result<i32, WsaError> {
    match spec.value_type {
        ValueType::Bool => Ok((raw != 0) as i32),
        ValueType::NonNegativeInt if raw < 0 => Err(WsaError::EINVAL),
        ValueType::NonNegativeInt | ValueType::UnsignedInt => Ok(raw),
    }
}

/// `WSPSetSockOpt` (SPEC §2.2). `read(n)` returns the first `n` bytes at `optval`,
/// or `None` when `optval` is NULL or those bytes are not readable; it is called at
/// most once, and only when rows 1–4 have passed and `optlen` is large enough.
pub fn set_sock_opt(
    facts: &Facts,
    level: i32,
    optname: i32,
    optlen: i32,
    read: impl FnOnce(usize) -> Option<[u8; 4]>,
) -> Result<Assignment, WsaError> {
    set_asked(facts, &Asked::new(level, optname), optlen, read)
}

/// [`set_sock_opt`] for an option the caller looked up already.
pub fn set_asked(
    facts: &Facts,
    asked: &Asked,
    optlen: i32,
    read: impl FnOnce(usize) -> Option<[u8; 4]>,
) -> Result<Assignment, WsaError> {
    socket_and_network(facts)?;
    let spec = find_option(asked, facts.groups, |o| o.settable)?;
    if optlen < 0 || (optlen as usize) < spec.size {
        return Err(WsaError::EFAULT);
    }
    let raw = i32::from_ne_bytes(read(spec.size).ok_or(WsaError::EFAULT)?);
    let value = normalise(spec, raw)?;
    match facts.connection {
        Connection::KeepAliveFailed => Err(WsaError::ENETRESET),
        Connection::Reset => Err(WsaError::ENOTCONN),
        Connection::Healthy => Ok(Assignment {
            option: spec.id,
            value,
        }),
    }
}

/// Why a `WSPGetSockOpt` failed: the code, and for a too-small `*optlen` the size to
/// write back into it (SPEC §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetError {
    pub code: WsaError,
    pub needed_len: Option<i32>,
}

impl From<WsaError> for GetError {
    fn from(code: WsaError) -> Self {
        GetError {
            code,
            needed_len: None,
        }
    }
}

/// `WSPGetSockOpt`'s checks (SPEC §3). `optlen` is `*optlen`, or `None` when
/// `optlen` is NULL or unreadable; `optval_present` is false for a NULL `optval`.
/// On success returns the option, whose value the caller reads from its store and
/// writes, setting `*optlen` to its size; an `optval` that is not NULL but cannot
/// be written is found by that write, the last step, and is also `WSAEFAULT`.
pub fn get_sock_opt(
    facts: &Facts,
    level: i32,
    optname: i32,
    optlen: Option<i32>,
    optval_present: bool,
) -> Result<&'static OptionSpec, GetError> {
    get_asked(facts, &Asked::new(level, optname), optlen, optval_present)
}

/// [`get_sock_opt`] for an option the caller looked up already.
pub fn get_asked(
    facts: &Facts,
    asked: &Asked,
    optlen: Option<i32>,
    optval_present: bool,
) -> Result<&'static OptionSpec, GetError> {
    socket_and_network(facts)?;
    let spec = find_option(asked, facts.groups, |_| true)?;
    let len = optlen.ok_or(WsaError::EFAULT)?;
    if len < 0 || (len as usize) < spec.size {
        return Err(GetError {
            code: WsaError::EFAULT,
            needed_len: Some(spec.size as i32),
        });
    }
    if !optval_present {
        return Err(WsaError::EFAULT.into());
    }
    Ok(spec)
}

#[cfg(test)]
mod tests;
