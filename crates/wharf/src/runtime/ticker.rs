//! The clock of interruptible engines: a thread that advances their epochs
//! every [`TICK`], so that every guest running on them reaches an epoch
//! check that often and wharf can stop it at its deadline or when it is
//! cancelled (wasmtime serve does the same).

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::{Context, Result};
use wasmtime::Engine;

/// How often a running guest on an interruptible engine checks whether it
/// must stop: the precision of deadlines and cancellation.
pub const TICK: Duration = Duration::from_millis(10);

/// Advances the epochs of the engines it is given, from a thread started
/// with the first one and stopped when the ticker is dropped.
#[derive(Default)]
pub(super) struct EpochTicker {
    engines: Arc<Mutex<Vec<Engine>>>,
    thread: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
}

impl EpochTicker {
    /// Advances `engine`'s epoch every tick from now on.
    ///
    /// # Errors
    ///
    /// When the ticking thread cannot be started.
    pub(super) fn add(&self, engine: &Engine) -> Result<()> {
        self.engines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(engine.clone());
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        if thread.is_none() {
            let (stop, stopped) = mpsc::channel::<()>();
            let engines = self.engines.clone();
            let handle = thread::Builder::new()
                .name("wharf-epoch".into())
                .spawn(move || {
                    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                        for engine in engines.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                            engine.increment_epoch();
                        }
                    }
                })
                .context("cannot start the thread that times guests")?;
            *thread = Some((stop, handle));
        }
        Ok(())
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        let thread = self.thread.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some((stop, handle)) = thread.take() {
            drop(stop);
            let _ = handle.join();
        }
    }
}
