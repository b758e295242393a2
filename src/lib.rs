//! wsd: the socket-option semantics of Windows Sockets Direct for unmodified Linux
//! programs.
//!
//! The map, following the data:
//!
//! - [`model`] is the SAN service provider's semantics, pure: the option table, the
//!   error codes, the checks of `WSPSetSockOpt`/`WSPGetSockOpt` in the
//!   specification's order, and the switch's routing of each call.
//! - [`san`] is the emulated SAN in shared memory: the segment's layout, its
//!   validation, and the endpoint records every process shares.
//! - [`shim`] is the `LD_PRELOAD` interposer: the exported libc functions and the
//!   provider's C API, which route each call through the model and the segment.
//! - [`config`] parses the environment (`WSD_*`).
//!
//! The `wsd` tool (`src/main.rs`) reuses `model`, `san` and `config`. The package in
//! `preload/` links this crate as `libwsd.so`; the exports in `shim` only come alive
//! there, never in a program that links this crate as a Rust library.
#![deny(unsafe_op_in_unsafe_fn)]

pub use wsd_front::LIBRARY_MARK;

pub mod config;
pub mod model;
pub mod san;
pub mod shim;
