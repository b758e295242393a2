//! The program's `errno`: read, set, and kept across the library's own work.
//!
//! Every hook leaves `errno` as the program's call left it, except where it
//! answers the call itself. The one way to do that is the RAII guard [`keep`]:
//! whatever the library does while the guard lives (system calls of its own,
//! the log, attaching the segment), `errno` is restored when it drops.

use libc::c_int;

/// This thread's `errno`.
#[inline(always)]
pub fn get() -> c_int {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Sets this thread's `errno`.
#[inline(always)]
pub fn set(e: c_int) {
    // SAFETY: as in `get`.
    unsafe { *libc::__errno_location() = e };
}

/// `errno` as it was when [`keep`] made the guard; restored on drop.
#[must_use = "errno is restored when the guard drops"]
pub struct Kept(c_int);

/// Keeps `errno` until the guard drops.
#[inline(always)]
pub fn keep() -> Kept {
    Kept(get())
}

impl Kept {
    /// The value kept.
    #[inline(always)]
    pub fn value(&self) -> c_int {
        self.0
    }

    /// Drops the guard without restoring: the call answers with the `errno` it
    /// has now.
    #[inline(always)]
    pub fn release(self) {
        std::mem::forget(self);
    }
}

impl Drop for Kept {
    #[inline(always)]
    fn drop(&mut self) {
        set(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_restores_and_release_does_not() {
        set(libc::EAGAIN);
        {
            let kept = keep();
            set(libc::EBADF);
            assert_eq!(kept.value(), libc::EAGAIN);
        }
        assert_eq!(get(), libc::EAGAIN);
        let kept = keep();
        set(libc::EBADF);
        kept.release();
        assert_eq!(get(), libc::EBADF);
    }
}
