//! `errno`, this thread's.

use crate::c::c_int;

#[link(name = "c")]
unsafe extern "C" {
    fn __errno_location() -> *mut c_int;
}

/// This thread's `errno`.
pub fn get() -> c_int {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    unsafe { *__errno_location() }
}

/// Sets this thread's `errno`.
pub fn set(e: c_int) {
    // SAFETY: as above.
    unsafe { *__errno_location() = e };
}
