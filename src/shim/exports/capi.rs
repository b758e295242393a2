//! The provider's C API (`WSPSetSockOpt`/`WSPGetSockOpt`, SPEC §2–3) and the
//! library's own C functions declared in `include/wsd.h`: the code table's
//! mappings, its texts, a self-test and the memo's count.

use super::shield;
use crate::model::{CODES, SOCKET_ERROR, WsaError};
use crate::shim::hooks::capi;
use crate::shim::memory::Memory;
use crate::shim::thread::Guard;
use crate::shim::{errno, memo};
use libc::{c_char, c_int};

/// Runs a direct provider call: the caller's `errno` is left as it was, and the
/// code goes to `*lp_errno` (if that is writable) on failure.
fn provider_call(lp_errno: *mut c_int, call: impl FnOnce(Memory) -> Result<(), WsaError>) -> c_int {
    let _errno = errno::keep();
    let guard = Guard::enter_nested();
    let mem = guard.memory();
    match shield(|| call(mem), || Err(WsaError::ENETDOWN)) {
        Ok(()) => 0,
        Err(e) => {
            mem.write(lp_errno.cast(), &e.code().to_ne_bytes());
            SOCKET_ERROR
        }
    }
}

/// `WSPSetSockOpt` (SPEC §2).
#[allow(non_snake_case)]
pub extern "C" fn WSPSetSockOpt(
    s: c_int,
    level: c_int,
    name: c_int,
    val: *const c_char,
    len: c_int,
    lp_errno: *mut c_int,
) -> c_int {
    provider_call(lp_errno, |mem| capi::set(mem, s, level, name, val.cast(), len))
}

/// `WSPGetSockOpt` (SPEC §3).
#[allow(non_snake_case)]
pub extern "C" fn WSPGetSockOpt(
    s: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_char,
    len: *mut c_int,
    lp_errno: *mut c_int,
) -> c_int {
    provider_call(lp_errno, |mem| {
        capi::get(mem, s, level, name, val.cast(), len.cast())
    })
}

/// The Linux errno for a `WSAE*` code, 0 if it is not one of the provider's.
pub extern "C" fn wsd_errno_from_wsa(wsa: c_int) -> c_int {
    WsaError::from_code(wsa).map_or(0, WsaError::errno)
}

/// The `WSAE*` code for a Linux errno, 0 if none of the provider's maps to it.
pub extern "C" fn wsd_wsa_from_errno(errno: c_int) -> c_int {
    WsaError::from_errno(errno).map_or(0, WsaError::code)
}

/// The seed page's description of a `WSAE*` code (a static string).
pub extern "C" fn wsd_strerror(wsa: c_int) -> *const c_char {
    static TEXTS: once_cell::sync::Lazy<Vec<std::ffi::CString>> = once_cell::sync::Lazy::new(|| {
        CODES
            .iter()
            .map(|c| std::ffi::CString::new(c.text).unwrap_or_default())
            .collect()
    });
    match CODES.iter().position(|c| c.code.code() == wsa) {
        Some(i) => TEXTS[i].as_ptr(),
        None => c"Unknown error code.".as_ptr(),
    }
}

/// The library's own check of what no socket shows: a failure inside a hook is
/// recovered from (the unwinder that `shield` relies on is linked in and finds the
/// library's frames). 0 when it holds.
pub extern "C" fn wsd_self_test() -> c_int {
    // `resume_unwind` unwinds like a panic but without the panic message.
    shield(|| std::panic::resume_unwind(Box::new(1)), || 0)
}

/// How many of this thread's calls a memo answered (`shim::memo`).
pub extern "C" fn wsd_memo_hits() -> u64 {
    memo::hits()
}
