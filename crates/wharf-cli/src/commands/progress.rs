//! The bar or spinner being drawn on stderr, if any, so that the library's
//! notes (through `tracing`) are written above it rather than through it:
//! the one piece of process-wide state the progress display needs.

use std::io::{self, Write};
use std::sync::Mutex;

use indicatif::ProgressBar;

static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// `bar` is drawn now: other lines go above it.
pub fn drawing(bar: &ProgressBar) {
    *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
}

/// Nothing is drawn any more.
pub fn done() {
    *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Standard error for the tracing subscriber: each event (which it writes
/// whole, in one call) is written with the bar being drawn, if any, taken
/// off the screen and put back under it.
pub struct Stderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Self::Writer {
        Stderr
    }
}

impl Write for Stderr {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match active {
            Some(bar) => bar
                .suspend(|| io::stderr().write_all(bytes))
                .map(|()| bytes.len()),
            None => io::stderr().write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
