//! Diagnostics for `--verbose`: what wharf decided and why, on stderr.

use std::sync::atomic::{AtomicBool, Ordering};

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Turns verbose diagnostics on or off for the whole process.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// Whether verbose diagnostics are on.
pub fn is_verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// Prints `wharf: …` on stderr when `--verbose` is on.
#[macro_export]
macro_rules! verbose {
    ($($arg:tt)*) => {
        if $crate::diagnostics::is_verbose() {
            eprintln!("wharf: {}", format_args!($($arg)*));
        }
    };
}
