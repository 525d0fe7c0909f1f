//! A hint for the process's allocator: the blocks a thread allocates while
//! a compiled module loads are about to be written whole.
//!
//! Loading a compiled CPython decodes a few megabytes of tables into fresh
//! blocks and writes every byte of them. An allocator that hands out pages
//! lazily pays a page fault for each on first touch; one that knows they
//! will all be written can map them populated in one call (the `wharf`
//! command's allocator does, with its `prefault-alloc` feature). The hint is
//! per thread and scoped: it says nothing about blocks allocated outside
//! [`populating`], and costs nothing when no allocator reads it.

use std::cell::Cell;

thread_local! {
    /// Whether this thread is inside [`populating`].
    static POPULATING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, telling an allocator that reads [`is_populating`] that the
/// blocks this thread allocates meanwhile will be written whole. Scopes
/// nest; the outer one is restored.
pub fn populating<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            POPULATING.set(self.0);
        }
    }
    let _restore = Restore(POPULATING.replace(true));
    f()
}

/// Whether the current thread is inside [`populating`]: for a global
/// allocator to read. `false` while the thread's locals are torn down.
pub fn is_populating() -> bool {
    POPULATING.try_with(Cell::get).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_holds_inside_the_scope_and_scopes_nest() {
        assert!(!is_populating());
        populating(|| {
            assert!(is_populating());
            populating(|| assert!(is_populating()));
            assert!(is_populating(), "the inner scope restored the outer one");
        });
        assert!(!is_populating());
        let result = std::panic::catch_unwind(|| populating(|| panic!("unwinds")));
        assert!(result.is_err());
        assert!(!is_populating(), "a panic restored the hint");
    }
}
