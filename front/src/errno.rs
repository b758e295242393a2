//! `errno`, this thread's.

use crate::c::c_int;
use core::sync::atomic::AtomicUsize;

/// libc's `__errno_location`, found on first use (`real::resolve`) rather than
/// bound by the loader at start: only failures set errno here.
fn location() -> *mut c_int {
    let p = crate::real::resolve(&SLOT, c"__errno_location");
    // SAFETY: libc's `int *__errno_location(void)` (every libc has it).
    let f: unsafe extern "C" fn() -> *mut c_int = unsafe { core::mem::transmute(p) };
    // SAFETY: no arguments.
    unsafe { f() }
}

static SLOT: AtomicUsize = AtomicUsize::new(0);

/// Resolves `__errno_location` now (see `engine::resolve_own`).
pub fn resolve() {
    crate::real::resolve(&SLOT, c"__errno_location");
}

/// This thread's `errno`.
pub fn get() -> c_int {
    // SAFETY: a valid pointer to this thread's errno.
    unsafe { *location() }
}

/// Sets this thread's `errno`.
pub fn set(e: c_int) {
    // SAFETY: as above.
    unsafe { *location() = e };
}
