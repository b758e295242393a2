//! `libwsd_engine.so`: the `wsd` crate linked as the engine that `libwsd.so`,
//! the preloaded front (the `wsd-front` crate), loads the first time a process
//! needs it. Everything it does is in that crate (`wsd::shim`); this package
//! links it as a cdylib of its own, so that link-time optimisation runs over it
//! and the standard library (a crate built as both rlib and cdylib gets none),
//! and exports its one symbol. Its build script builds the front.

use wsd_front::api::{Engine, Front};

/// The engine's start-up and its table of entry points, for the front that
/// loaded it (null if the front is of another version).
///
/// # Safety
/// `front` is the front's table, which lives as long as the process.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsd_engine_init(front: *const Front) -> *const Engine {
    // SAFETY: as the caller promises.
    match unsafe { front.as_ref() } {
        Some(front) => wsd::shim::engine(front).map_or(std::ptr::null(), |e| e as *const Engine),
        None => std::ptr::null(),
    }
}
