//! `libwsd.so`'s front: the object the program preloads, without the standard
//! library (issue 17).
//!
//! A process pays for every object it loads before `main`: its relocations,
//! the pages they dirty, its constructors. Rust's standard library, linked into
//! a preloaded object, made that 4–5 % of `/bin/true` before the library did
//! anything (the study of issue 17, README "Design"). So `libwsd.so` is this
//! small `no_std` object, and everything else — the switch, the model, the
//! segment, the log — is the engine, `libwsd_engine.so` beside it, a Rust
//! library with std that the front loads (`dlopen`) the first time a process
//! needs it: its first TCP socket, a message that may carry descriptors, a
//! direct provider call, or SAN sockets to take back at start.
//!
//! What the front owns (the cdylib, built with `--cfg wsd_front`):
//! - `exports`: the libc functions it interposes, `vfork`, the provider's C API
//!   and the library's mark. For a descriptor that is not ours each is a table
//!   load and the real call; otherwise the engine's half of the call.
//! - `start`: the constructor: the objects after the front noted for the real
//!   functions' lookup, the descriptor table mapped, and the engine loaded
//!   only if a parent left SAN sockets to take back.
//! - `engine`: finding, loading and starting the engine, once.
//!
//! What it shares with the engine (this crate as an rlib): [`c`] (the C types
//! and constants), [`cmsg`] (the descriptors a message carries), [`sys`] (system calls without libc), [`next`] (`RTLD_NEXT`
//! without the loader's lock), [`real`] (the real functions' slots), [`errno`],
//! [`table`] (the descriptor table's memory and the words the front reads),
//! [`segment`] (what the constructor reads of a segment) and [`api`] (the
//! tables the two hand each other).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(test)]
extern crate std;

/// The mark `libwsd.so` carries (followed by its version and a NUL), by which
/// `wsd run` tells it from any other shared object.
pub const LIBRARY_MARK: &str = "wsd-library-version=";

pub mod api;
pub mod c;
pub mod cmsg;
pub mod errno;
pub mod next;
pub mod real;
pub mod segment;
pub mod sys;
pub mod table;

#[cfg(wsd_front)]
mod engine;
#[cfg(wsd_front)]
mod exports;
#[cfg(wsd_front)]
mod start;

/// The front's own real functions (with [`c`]'s types).
#[cfg(wsd_front)]
mod own_real {
    #![allow(clippy::missing_safety_doc)]
    use crate::c::*;
    crate::libc_functions!(crate::real_functions);
    pub use crate::real::{closefrom, fcntl, fcntl64};
}

/// A panic in the front stops the process: there is no unwinding without std,
/// and the front is written not to panic.
#[cfg(wsd_front)]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    sys::write(2, b"wsd: libwsd.so failed; stopping\n");
    sys::abort()
}
