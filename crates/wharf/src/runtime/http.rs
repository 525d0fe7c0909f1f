//! Running a `wasi:http/proxy` component on one HTTP request: a fresh
//! instance of the component, the request handed to its
//! `wasi:http/incoming-handler`, and the response it sets streamed back
//! while the guest goes on writing its body (as `wasmtime serve` does).

use std::time::Instant;

use anyhow::{Result, anyhow};
use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use tokio::sync::oneshot;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};

use super::call::Outcome;
use super::execute::{PreparedCall, instantiation_failure, outcome};
use super::link::Program;
use super::state::Stop;
use super::stdio::Sink;

/// A response body as a proxy component writes it: chunks as the guest
/// writes them, an error when the guest stops before finishing it.
pub type HttpBody = UnsyncBoxBody<Bytes, HttpBodyError>;

/// Why a response body ended before its end: the guest trapped, hit a
/// limit or never finished it.
#[derive(Debug, thiserror::Error)]
#[error("the response body was cut short: {0}")]
pub struct HttpBodyError(String);

/// How a proxy component answered one request.
pub enum HttpAnswer {
    /// It set a response. Its body streams as the guest writes it; `guest`
    /// is the instance still running (the body may not be done), which
    /// ends with how the guest ended.
    Response {
        /// The response: status, headers and the streaming body.
        response: http::Response<HttpBody>,
        /// The guest, still running.
        guest: GuestTask,
    },
    /// It ended without setting a response, or set an error instead (its
    /// `wasi:http` error code, as text, in `error`).
    Failed {
        /// The error code the guest set, if it set one.
        error: Option<String>,
        /// How the guest ended, what it wrote to stderr, what it used.
        outcome: Outcome,
    },
}

/// A guest instance still running after it answered: its body may still be
/// coming. Dropping it does not stop the guest (its limits do).
pub struct GuestTask(tokio::task::JoinHandle<Result<Outcome>>);

impl GuestTask {
    /// Waits for the guest to end, and says how it ended.
    ///
    /// # Errors
    ///
    /// When the guest's task panicked or was cancelled by its runtime.
    pub async fn finish(self) -> Result<Outcome> {
        self.0
            .await
            .map_err(|e| anyhow!("the guest's task failed: {e}"))?
    }
}

impl PreparedCall {
    /// Whether the call's program is a `wasi:http/proxy` component, which
    /// [`PreparedCall::run_http`] runs (anything else runs as a command).
    pub fn is_http_proxy(&self) -> bool {
        matches!(self.program(), Program::Proxy(_))
    }

    /// Hands `request` to the call's `wasi:http/proxy` component in a fresh
    /// instance with the call's environment, stdio, files and limits, and
    /// returns its answer as soon as it sets a response. The guest then
    /// runs on in a task of its own (on the current tokio runtime) while it
    /// writes the body, within the call's timeout, memory and fuel; a guest
    /// stopped mid-body ends the body with an [`HttpBodyError`]. The
    /// request's URI should carry the authority (or the request a `Host`
    /// header). The guest has no outbound network: a request it makes
    /// fails with `HTTP-request-denied`.
    ///
    /// # Errors
    ///
    /// When the program is not a proxy component ([`super::RunError::NotRunnable`]),
    /// the request has no authority, or the guest cannot be set up. How the
    /// guest ended, when it ended without answering, is an
    /// [`HttpAnswer::Failed`].
    pub async fn run_http(mut self, request: http::Request<Bytes>) -> Result<HttpAnswer> {
        let Program::Proxy(pre) = self.program().clone() else {
            return Err(self
                .not_runnable("it is not a wasi:http/proxy component".into())
                .into());
        };
        let stdio = self
            .0
            .stdio
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("a call runs once");
        let started = Instant::now();
        let deadline =
            self.0.limits.timeout.filter(|_| {
                self.0.timeout_by == super::TimeoutBy::Guest && self.0.app.interruptible()
            });
        let stop = Stop {
            deadline: deadline.map(|limit| (started + limit, limit)),
            cancel: self.0.cancel.clone(),
        };
        let (mut store, stdout, stderr) = self.component_store(stdio, stop)?;
        let (sender, receiver) = oneshot::channel();
        let request = request.map(|body| {
            http_body_util::Full::new(body)
                .map_err(|never| -> wasmtime_wasi_http::Error { match never {} })
        });
        let request = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(|e| anyhow!("cannot hand the request to the guest: {e:#}"))?;
        let response_out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(|e| anyhow!("cannot hand the request to the guest: {e:#}"))?;
        let task = tokio::spawn(async move {
            let this = self;
            let limits = this.0.limits;
            // The pool's slot outlives the store, which holds the instance:
            // declared first, it is dropped last, however the task ends.
            let mut slot = None;
            let mut store = store;
            let exit = {
                let guest = std::pin::pin!(async {
                    slot = this.0.app.runtime().sandbox_slot().await?;
                    let proxy = match pre.instantiate_async(&mut store).await {
                        Ok(proxy) => proxy,
                        Err(e) => {
                            return instantiation_failure(e, &limits, |r| this.not_runnable(r));
                        }
                    };
                    let handled = proxy
                        .wasi_http_incoming_handler()
                        .call_handle(&mut store, request, response_out)
                        .await;
                    Ok(outcome(handled, &limits))
                });
                this.race(deadline, guest).await?
            };
            let usage = this.usage(&store, store.data().limiter.peak(), started);
            drop(store);
            drop(slot);
            Ok(Outcome {
                exit,
                stdout: stdout.map(Sink::into_captured).unwrap_or_default(),
                stderr: stderr.map(Sink::into_captured).unwrap_or_default(),
                usage,
            })
        });
        match receiver.await {
            Ok(Ok(response)) => {
                let response = response.map(|body| {
                    body.map_err(|e| HttpBodyError(e.to_string()))
                        .boxed_unsync()
                });
                Ok(HttpAnswer::Response {
                    response,
                    guest: GuestTask(task),
                })
            }
            Ok(Err(code)) => {
                let outcome = GuestTask(task).finish().await?;
                Ok(HttpAnswer::Failed {
                    error: Some(error_code(&code)),
                    outcome,
                })
            }
            // The guest ended (its store, and the sender with it, are gone)
            // without setting a response.
            Err(_) => Ok(HttpAnswer::Failed {
                error: None,
                outcome: GuestTask(task).finish().await?,
            }),
        }
    }
}

/// A `wasi:http` error code as a short text.
fn error_code(code: &ErrorCode) -> String {
    match code {
        ErrorCode::InternalError(Some(message)) => message.clone(),
        other => format!("{other:?}"),
    }
}
