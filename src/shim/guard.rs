//! The "we are inside the shim" flag: an RAII guard per thread. A hook that finds
//! it taken — a call made from inside our own code, or from libc while we are in
//! it — goes straight to the real function.

use std::cell::Cell;

thread_local! {
    // `const` and `Drop`-free: no lazy initialisation and no destructor to register,
    // so touching it is safe at any moment of a thread's life.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Held while a thread runs the shim's logic; dropping it clears the flag.
pub struct Guard(());

impl Guard {
    /// Takes the guard, or `None` if this thread is already inside the shim (or its
    /// thread-local storage is gone).
    pub fn enter() -> Option<Guard> {
        INSIDE
            .try_with(|inside| (!inside.replace(true)).then_some(Guard(())))
            .ok()
            .flatten()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = INSIDE.try_with(|inside| inside.set(false));
    }
}

#[cfg(test)]
mod tests {
    use super::Guard;

    #[test]
    fn nested_entry_is_refused_and_drop_restores() {
        let g = Guard::enter().expect("first entry");
        assert!(Guard::enter().is_none());
        drop(g);
        assert!(Guard::enter().is_some());
    }
}
