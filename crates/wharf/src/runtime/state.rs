//! What each guest's wasmtime `Store` holds: its WASI context and the
//! limiter that counts its memory.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use std::time::{Duration, Instant};

use super::call::{CancelHandle, Exit};
use super::limits::{GuestLimiter, LimitHit};
use super::tree::TreeCtx;

/// Store data for core modules: the preview 1 context (seen through the
/// guest's file tree), the memory limiter and what stops the call.
pub struct ModuleState {
    pub(super) wasi: TreeCtx,
    pub(super) limiter: GuestLimiter,
    pub(super) stop: Stop,
}

impl ModuleState {
    pub(super) fn new(wasi: TreeCtx, memory: u64) -> Self {
        Self {
            wasi,
            limiter: GuestLimiter::new(memory),
            stop: Stop::default(),
        }
    }
}

/// What stops a call besides its guest: a deadline and a cancel handle,
/// which host functions look at when they return.
#[derive(Clone, Debug, Default)]
pub(super) struct Stop {
    pub(super) deadline: Option<(Instant, Duration)>,
    pub(super) cancel: Option<CancelHandle>,
}

impl Stop {
    /// How the call ends now, if it must.
    pub(super) fn due(&self) -> Option<Exit> {
        if self.cancel.as_ref().is_some_and(CancelHandle::is_cancelled) {
            return Some(Exit::Cancelled);
        }
        match self.deadline {
            Some((at, limit)) if Instant::now() >= at => {
                Some(Exit::Limit(LimitHit::Timeout { limit }))
            }
            _ => None,
        }
    }
}

/// The error a host function returns when its call had to stop while it
/// ran: it ends the guest with the exit it carries.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct Stopped(pub(super) Exit);

/// Store data for components: the WASI context, its resource table and
/// the memory limiter.
pub struct ComponentState {
    pub(super) ctx: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limiter: GuestLimiter,
    pub(super) stop: Stop,
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}
