//! `setsockopt` and `getsockopt`: on a descriptor that is not ours, the real
//! call (a tail jump); on one of ours, the thread's memo when it answers, else
//! the whole path (`hooks::options`).
//!
//! Each comes with the place in the program that made the call (its return
//! address), which the front's two-instruction trampoline passes as a sixth
//! argument, so that the report can say where options are set (issue 16).

use super::shield;
use crate::shim::fdtable::{self, Entry};
use crate::shim::hooks::options;
use crate::shim::state::{self, Shim};
use crate::shim::thread::Guard;
use crate::shim::{memo, real};
use libc::{c_int, c_void, socklen_t};

/// One option call made from a place (`$at`), whose path for a descriptor
/// that is not ours is a tail call to the real function, and its path for ours
/// (`$ours`).
macro_rules! option_export {
    ($name:ident, $at:ident, $ours:ident, $val:ty, $len:ty, $memo:path, $whole:path) => {
        /// The call made from `site` (a return address into the program, 0 if
        /// not known).
        ///
        /// # Safety
        /// As for the export.
        pub unsafe extern "C" fn $at(
            fd: c_int,
            level: c_int,
            name: c_int,
            val: $val,
            len: $len,
            site: usize,
        ) -> c_int {
            let entry = fdtable::get(fd);
            if entry.is_empty() {
                // Not ours: a tail call, with none of the hook's frame set up.
                // SAFETY: the program's arguments, passed on unchanged.
                return unsafe { real::$name(fd, level, name, val, len) };
            }
            $ours(fd, level, name, val, len, entry, site)
        }

        #[inline(never)]
        #[allow(clippy::too_many_arguments)]
        fn $ours(
            fd: c_int,
            level: c_int,
            name: c_int,
            val: $val,
            len: $len,
            entry: Entry,
            site: usize,
        ) -> c_int {
            answer_ours(
                move |g| $memo(g, entry, level, name, val, len, site),
                move |shim, g| $whole(shim, g, fd, entry, level, name, val, len, site),
                // SAFETY: the program's arguments, passed on unchanged.
                move || unsafe { real::$name(fd, level, name, val, len) },
            )
        }
    };
}

option_export! {
    setsockopt, setsockopt_at, setsockopt_ours, *const c_void, socklen_t, memo::set, options::setsockopt
}

option_export! {
    getsockopt, getsockopt_at, getsockopt_ours, *mut c_void, *mut socklen_t, memo::get, options::getsockopt
}

/// A `setsockopt`/`getsockopt` on a descriptor of ours: from the thread's memos
/// when one answers it (`memo`), else the whole path. At any depth: a nested
/// call comes from a signal handler (see `thread`), and takes the whole path.
#[inline(always)]
fn answer_ours(
    memo: impl FnOnce(&Guard) -> Option<c_int>,
    whole: impl FnOnce(&'static Shim, &Guard) -> c_int,
    real: impl FnOnce() -> c_int,
) -> c_int {
    let g = Guard::enter_nested();
    if !g.nested()
        && let Some(rc) = shield(|| memo(&g), || None)
    {
        return rc;
    }
    answer_whole(g, whole, real)
}

/// [`answer_ours`]' whole path, out of line: the memo's path sets up no frame for it.
#[inline(never)]
fn answer_whole(
    g: Guard,
    whole: impl FnOnce(&'static Shim, &Guard) -> c_int,
    real: impl FnOnce() -> c_int,
) -> c_int {
    match state::shim() {
        Some(shim) => shield(|| whole(shim, &g), real),
        None => real(),
    }
}
