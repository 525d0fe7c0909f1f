//! What each guest's wasmtime `Store` holds: its WASI context and the
//! limiter that counts its memory.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

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
    pub(super) fn new(wasi: TreeCtx, memory: Option<u64>) -> Self {
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
/// the memory limiter; for `wasi:http/proxy` components, the HTTP context
/// too.
pub struct ComponentState {
    pub(super) ctx: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limiter: GuestLimiter,
    pub(super) stop: Stop,
    pub(super) http: WasiHttpCtx,
    pub(super) hooks: NoOutbound,
}

impl WasiHttpView for ComponentState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// `wasi:http`'s hooks for wharf's guests: no outbound requests. A guest
/// has no network of its own (it has no sockets either); a request it
/// makes through `wasi:http/outgoing-handler` fails with
/// `HTTP-request-denied`.
#[derive(Default)]
pub(super) struct NoOutbound;

impl WasiHttpHooks for NoOutbound {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                )>,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}
