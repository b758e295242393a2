//! How deep a thread is inside the shim: an RAII guard per thread.
//!
//! Most hooks run only at depth 0: a call made from inside our own code, or from
//! libc while we are in it, goes straight to the real function. `setsockopt` and
//! `getsockopt` are the exception: our own code never calls them on a descriptor
//! of ours, so a nested one comes from a signal handler that interrupted the
//! shim, and gets the same answer as any other call ([`Guard::nested`] then tells
//! the hook to touch nothing that a handler must not: no allocation, no
//! first-time set-up, no per-thread cache).

use std::cell::Cell;

thread_local! {
    // `const` and `Drop`-free: no lazy initialisation and no destructor to register,
    // so touching it is safe at any moment of a thread's life.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Held while a thread runs the shim's logic; dropping it restores the depth.
pub struct Guard(());

impl Guard {
    /// Takes the guard if this thread is not inside the shim already (and its
    /// thread-local storage is still there).
    pub fn enter() -> Option<Guard> {
        DEPTH
            .try_with(|d| (d.get() == 0).then(|| d.set(1)).map(|()| Guard(())))
            .ok()
            .flatten()
    }

    /// Takes the guard at any depth (for `setsockopt`/`getsockopt`).
    pub fn enter_nested() -> Option<Guard> {
        DEPTH
            .try_with(|d| {
                d.set(d.get() + 1);
                Guard(())
            })
            .ok()
    }

    /// Is this thread inside the shim more than once (a signal handler's call)?
    pub fn nested() -> bool {
        DEPTH.try_with(|d| d.get() > 1).unwrap_or(true)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::Guard;

    #[test]
    fn nested_entry_is_refused_and_drop_restores() {
        let g = Guard::enter().expect("first entry");
        assert!(Guard::enter().is_none());
        assert!(!Guard::nested());
        let n = Guard::enter_nested().expect("a handler's entry");
        assert!(Guard::nested());
        drop(n);
        drop(g);
        assert!(Guard::enter().is_some());
    }
}
