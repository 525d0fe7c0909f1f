//! Serving HTTP from an app, each request in a fresh sandbox: what `wharf
//! serve` is, for any server to embed.
//!
//! Two kinds of app answer HTTP, told apart by what the app's program is:
//!
//! - a **`wasi:http/proxy` component** (what `wasmtime serve` and Spin
//!   run) gets the request through `wasi:http/incoming-handler`, and its
//!   response streams back as it writes it;
//! - a **WASI command** (any core module or command component, CPython
//!   included) is run as a CGI script (RFC 3875): the request's
//!   meta-variables in its environment ([`cgi::meta_variables`]), the body
//!   on stdin, and the response it writes on stdout (CGI header lines, a
//!   blank line, the body) streamed back as it writes it. A WSGI app
//!   serves this way through the standard library's
//!   `wsgiref.handlers.CGIHandler`.
//!
//! Every request gets a fresh instance with the call's limits: the
//! [`Call`] the server is given for each request (its timeout, memory,
//! fuel, environment and mounts). A guest that traps, exits non-zero, hits
//! a limit or writes a malformed response costs its own request a `5xx`
//! with a one-line reason ([`Failure`]); the server and the other requests
//! go on. Guests have no outbound network: no sockets, and `wasi:http`
//! requests are denied.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use wharf::runtime::{Call, Runtime, Source};
//! use wharf::serve::{ServeOptions, Server};
//!
//! let runtime = Runtime::builder().pool(16).build()?;
//! let app = runtime.load(Source::File("hello-http.wasm".into()))?;
//! let server = Server::builder(app)
//!     .options(ServeOptions { max_concurrency: 16, ..ServeOptions::default() })
//!     .call(|| Call::new().timeout(std::time::Duration::from_secs(30)))
//!     .on_access(|access| println!("{access}"))
//!     .build()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! // Serves until `stop` is sent (or dropped), then lets the requests in
//! // flight finish.
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! # drop(stop);
//! server.serve(listener, async { let _ = stopped.await; }).await?;
//! # Ok(())
//! # }
//! ```

mod body;
pub mod cgi;
mod failure;

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::runtime::{App, Call, CancelHandle, HttpAnswer, Output, Stdin};
pub use body::{BoxError, ResponseBody};
use body::{Channel, Checked, Logged};
pub use cgi::Peers;
pub use failure::Failure;

/// How many requests run at once unless told otherwise.
pub const DEFAULT_MAX_CONCURRENCY: usize = 32;
/// How long a request waits for a free place when that many run, before
/// it gets `503 Service Unavailable`.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest request body accepted: 16 MiB (larger gets `413`).
pub const DEFAULT_MAX_BODY: usize = 16 << 20;
/// The most bytes of request line and headers read: 64 KiB (more gets
/// `431`).
pub const DEFAULT_MAX_HEADER: usize = 64 << 10;
/// How long a client may take to send its request line and headers, and
/// then its body (longer gets `408`).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How many connections are open at once; one more waits to be accepted
/// until another closes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// A request's timeout when neither the call template nor the image sets
/// one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long requests in flight may take to finish once the server is told
/// to stop.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// The longest CGI response head accepted: 64 KiB.
pub const MAX_CGI_HEAD: usize = 64 << 10;

/// How a server takes requests.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// How many requests run at once (each in its own sandbox); more wait
    /// up to `queue_timeout`, then get `503`.
    pub max_concurrency: usize,
    /// How long a request waits for a place.
    pub queue_timeout: Duration,
    /// The largest request body, in bytes. Bodies are read whole before
    /// the guest starts (CGI needs `CONTENT_LENGTH`).
    pub max_body: usize,
    /// The most bytes of request line and headers.
    pub max_header: usize,
    /// How long a client may take to send its headers, and its body.
    pub read_timeout: Duration,
    /// How long requests in flight may take once the server stops.
    pub grace: Duration,
    /// How many connections [`Server::serve`] keeps open at once (each
    /// holds a buffer for its headers); more wait to be accepted.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            max_header: DEFAULT_MAX_HEADER,
            read_timeout: DEFAULT_READ_TIMEOUT,
            grace: DEFAULT_GRACE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// How an app answers: through `wasi:http`, or as a CGI script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppKind {
    /// A `wasi:http/proxy` component.
    Proxy,
    /// A WASI command, run as a CGI script.
    Cgi,
}

impl fmt::Display for AppKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AppKind::Proxy => "a wasi:http/proxy component",
            AppKind::Cgi => "a WASI command, through CGI",
        })
    }
}

/// One line of the access log: a request and how it was answered.
#[derive(Clone, Debug)]
pub struct Access {
    /// Who asked.
    pub remote: SocketAddr,
    /// The request's method.
    pub method: http::Method,
    /// Its path and query, as sent.
    pub target: String,
    /// The status answered.
    pub status: StatusCode,
    /// Bytes of response body sent.
    pub bytes: u64,
    /// From the request's arrival to the end of its response body.
    pub duration: Duration,
    /// Why the request failed, when wharf answered for the guest, or the
    /// body was cut short.
    pub failure: Option<String>,
}

impl fmt::Display for Access {
    /// `REMOTE "METHOD TARGET" STATUS BYTES DURATION`, then the reason of a
    /// failure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} \"{} {}\" {} {} {:.1}ms",
            self.remote.ip(),
            self.method,
            self.target,
            self.status.as_u16(),
            self.bytes,
            self.duration.as_secs_f64() * 1000.0
        )?;
        if let Some(failure) = &self.failure {
            write!(f, " {failure}")?;
        }
        Ok(())
    }
}

type CallTemplate = Box<dyn Fn() -> Call + Send + Sync>;
type AccessLog = Box<dyn Fn(&Access) + Send + Sync>;

/// Makes a [`Server`].
pub struct ServerBuilder {
    app: App,
    options: ServeOptions,
    call: CallTemplate,
    on_access: Option<AccessLog>,
}

impl ServerBuilder {
    /// How requests are taken. Default: [`ServeOptions::default`].
    pub fn options(mut self, options: ServeOptions) -> Self {
        self.options = options;
        self
    }

    /// The call each request starts from: its limits, environment, mounts,
    /// stderr, a cancel handle of the embedder's. The server sets stdin,
    /// stdout and (for CGI) the request's variables over it. Default:
    /// [`Call::new`] with the image's timeout, else [`DEFAULT_TIMEOUT`]
    /// (stderr captured and dropped). A template without a timeout lets a
    /// guest that never ends, or a client that stops reading its response,
    /// hold a place for ever.
    pub fn call(mut self, template: impl Fn() -> Call + Send + Sync + 'static) -> Self {
        self.call = Box::new(template);
        self
    }

    /// Called once per request when its response is done (or cut short),
    /// from the task that served it.
    pub fn on_access(mut self, log: impl Fn(&Access) + Send + Sync + 'static) -> Self {
        self.on_access = Some(Box::new(log));
        self
    }

    /// The server. Prepares one call of the app to learn what kind it is.
    ///
    /// # Errors
    ///
    /// When the app cannot be called the way the template says (no such
    /// command, not runnable, limits it cannot enforce): the errors of
    /// [`App::prepare`].
    pub fn build(self) -> Result<Server> {
        let probe = self.app.prepare((self.call)())?;
        let kind = if probe.is_http_proxy() {
            AppKind::Proxy
        } else {
            AppKind::Cgi
        };
        drop(probe);
        Ok(Server {
            inner: Arc::new(Inner {
                permits: Arc::new(Semaphore::new(self.options.max_concurrency.max(1))),
                app: self.app,
                options: self.options,
                call: self.call,
                on_access: self.on_access,
                kind,
            }),
        })
    }
}

/// Answers HTTP requests from an app, each in a fresh sandbox. Cheap to
/// clone; clones share the concurrency limit.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

struct Inner {
    app: App,
    options: ServeOptions,
    call: CallTemplate,
    on_access: Option<AccessLog>,
    kind: AppKind,
    permits: Arc<Semaphore>,
}

impl Server {
    /// A server of `app`, to configure.
    pub fn builder(app: App) -> ServerBuilder {
        let timeout = app.image_limits().timeout.unwrap_or(DEFAULT_TIMEOUT);
        ServerBuilder {
            app,
            options: ServeOptions::default(),
            call: Box::new(move || Call::new().timeout(timeout)),
            on_access: None,
        }
    }

    /// How the app answers.
    pub fn kind(&self) -> AppKind {
        self.inner.kind
    }

    /// The options it was built with.
    pub fn options(&self) -> &ServeOptions {
        &self.inner.options
    }

    /// Accepts HTTP/1.1 connections on `listener` until `shutdown`
    /// resolves; then stops accepting, lets the requests in flight finish
    /// within [`ServeOptions::grace`] and returns. Each connection is a
    /// task of the current tokio runtime (which needs its time and I/O
    /// drivers).
    ///
    /// # Errors
    ///
    /// When the listener's address cannot be read. Errors of single
    /// connections (a client gone, a malformed request) end that
    /// connection only, and are said through `tracing` at debug level.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()> {
        let local = listener
            .local_addr()
            .context("cannot read the listening address")?;
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let connections = Arc::new(Semaphore::new(self.inner.options.max_connections.max(1)));
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = async {
                    let open = connections.clone().acquire_owned().await;
                    (listener.accept().await, open)
                } => {
                    let (accepted, open) = accepted;
                    let (stream, remote) = match accepted {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            // Out of file descriptors, a connection reset
                            // while queued: wait a little, go on.
                            tracing::warn!("cannot accept a connection: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let peers = Peers { local, remote };
                    let server = self.clone();
                    let service = hyper::service::service_fn(move |request| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(server.handle(request, peers).await) }
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(self.inner.options.read_timeout)
                        .max_header_size(self.inner.options.max_header)
                        .serve_connection(TokioIo::new(stream), service);
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!("connection from {remote}: {e}");
                        }
                        drop(open);
                    });
                }
                () = &mut shutdown => break,
            }
        }
        drop(listener);
        let in_flight = graceful.count();
        if in_flight > 0 {
            tracing::info!(
                "no longer accepting; waiting up to {} for {in_flight} connection(s) to finish",
                humantime::format_duration(self.inner.options.grace)
            );
        }
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(self.inner.options.grace) => {
                tracing::warn!("stopped with requests still in flight: the grace period ended");
            }
        }
        Ok(())
    }

    /// Answers one request: waits for a place, reads its body (up to
    /// [`ServeOptions::max_body`]), runs the guest in a fresh sandbox and
    /// returns its response, whose body streams as the guest writes it.
    /// For a server of the embedder's own (hyper, axum…); [`Server::serve`]
    /// calls it for each request. Never fails: what goes wrong is a `4xx`
    /// or `5xx` response with a one-line reason.
    ///
    /// The guest runs in a task of its own (on the current tokio runtime)
    /// that holds the request's place until the guest has ended, whether
    /// or not anyone still waits for its answer: dropping this future
    /// before it answers (a client gone) cancels the guest.
    pub async fn handle<B>(&self, request: Request<B>, peers: Peers) -> Response<ResponseBody>
    where
        B: hyper::body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let started = Instant::now();
        let (parts, body) = request.into_parts();
        let access = Access {
            remote: peers.remote,
            method: parts.method.clone(),
            target: parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
            status: StatusCode::OK,
            bytes: 0,
            duration: Duration::ZERO,
            failure: None,
        };
        let method = parts.method.clone();
        let response = match self.admit(&parts, body).await {
            Err(failure) => failure.response(),
            Ok((body, permit)) => {
                let (answer, answered) = tokio::sync::oneshot::channel();
                let server = self.clone();
                tokio::spawn(async move {
                    server.run_guest(parts, body, peers, permit, answer).await;
                });
                match answered.await {
                    Ok(response) => response,
                    Err(_) => {
                        Failure::Internal("the request's task ended without answering".into())
                            .response()
                    }
                }
            }
        };
        let log = self.inner.clone();
        let (parts, body) = response.into_parts();
        let access = Access {
            status: parts.status,
            ..access
        };
        let failure = parts.extensions.get::<Failure>().map(|f| f.to_string());
        let length = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        // Responses hyper sends without polling their body (RFC 9110 6.4.1).
        let bodiless = method == http::Method::HEAD
            || parts.status == StatusCode::NO_CONTENT
            || parts.status == StatusCode::NOT_MODIFIED;
        let body = Logged::new(
            body,
            access,
            started,
            failure,
            length,
            bodiless,
            move |access| {
                if let Some(log) = &log.on_access {
                    log(access);
                }
            },
        );
        Response::from_parts(parts, body.boxed_unsync())
    }

    /// Takes a request in: checks what wharf refuses outright, waits for a
    /// place, reads the body.
    async fn admit<B>(
        &self,
        parts: &http::request::Parts,
        body: B,
    ) -> Result<(Bytes, OwnedSemaphorePermit), Failure>
    where
        B: hyper::body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        // A 2xx answer to CONNECT would turn the connection into a tunnel.
        if parts.method == http::Method::CONNECT {
            return Err(Failure::NotImplemented(
                "CONNECT (wharf serve does not tunnel)".into(),
            ));
        }
        // A NUL would cut the decoded PATH_INFO short in the guest's libc.
        if parts.uri.path().to_ascii_lowercase().contains("%00") {
            return Err(Failure::BadRequest("the path holds a NUL (%00)".into()));
        }
        if let Some(host) = parts.headers.get(http::header::HOST)
            && host.to_str().is_err()
        {
            return Err(Failure::BadRequest("the Host header is not ASCII".into()));
        }
        let options = &self.inner.options;
        // The place first: at most `max_concurrency` bodies are held at
        // once, however many clients send one.
        let permit = tokio::time::timeout(
            options.queue_timeout,
            self.inner.permits.clone().acquire_owned(),
        )
        .await
        .map_err(|_| Failure::Busy(options.max_concurrency))?
        .map_err(|_| Failure::Busy(options.max_concurrency))?;
        let body = tokio::time::timeout(
            options.read_timeout,
            Limited::new(body, options.max_body).collect(),
        )
        .await
        .map_err(|_| Failure::BodyTimeout(options.read_timeout))?
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Failure::BodyTooLarge(options.max_body)
            } else {
                Failure::BadRequest(format!("cannot read the request body: {e}"))
            }
        })?
        .to_bytes();
        Ok((body, permit))
    }

    /// Runs the guest of one request, sends its response to `answer`, and
    /// holds `permit` until the guest has ended. Nobody waiting for the
    /// answer any more cancels the guest.
    async fn run_guest(
        &self,
        parts: http::request::Parts,
        body: Bytes,
        peers: Peers,
        permit: OwnedSemaphorePermit,
        answer: tokio::sync::oneshot::Sender<Response<ResponseBody>>,
    ) {
        let call = (self.inner.call)();
        // The embedder's cancel handle, if the template has one, still
        // stops the call; so does the server's own.
        let cancel = call
            .cancel
            .as_ref()
            .map_or_else(CancelHandle::new, CancelHandle::child);
        let call = call.cancel(&cancel);
        let (response, done) = match self.inner.kind {
            AppKind::Proxy => self.proxy(call, parts, body, peers).await,
            AppKind::Cgi => self.cgi(call, parts, body, peers, &cancel).await,
        };
        if answer.send(response).is_err() {
            cancel.cancel();
        }
        if let Some(done) = done {
            done.await;
        }
        drop(permit);
    }

    async fn proxy(
        &self,
        call: Call,
        mut parts: http::request::Parts,
        body: Bytes,
        peers: Peers,
    ) -> (Response<ResponseBody>, Option<GuestDone>) {
        // wasi:http wants an authority: the Host header's, else ours.
        if parts.uri.authority().is_none() && !parts.headers.contains_key(http::header::HOST) {
            let host = HeaderValue::from_str(&peers.local.to_string())
                .expect("a socket address is a valid header value");
            parts.headers.insert(http::header::HOST, host);
        }
        let prepared = match self.inner.app.prepare(call.stdin(Stdin::Null)) {
            Ok(prepared) => prepared,
            Err(e) => return (Failure::start(e).response(), None),
        };
        let answer = match prepared.run_http(Request::from_parts(parts, body)).await {
            Ok(answer) => answer,
            Err(e) => return (Failure::start(e).response(), None),
        };
        match answer {
            HttpAnswer::Response { response, guest } => {
                let (exit_sender, exit) = tokio::sync::oneshot::channel();
                let done: GuestDone = Box::pin(async move {
                    let exit = match guest.finish().await {
                        Ok(outcome) => outcome.exit,
                        Err(e) => crate::runtime::Exit::Trap(format!("{e:#}")),
                    };
                    let _ = exit_sender.send(exit);
                });
                let response = response
                    .map(|body| Checked::new(body.map_err(BoxError::from), exit).boxed_unsync());
                (response, Some(done))
            }
            HttpAnswer::Failed { error, outcome } => {
                let failure = match error {
                    Some(code) => Failure::ProxyError(code),
                    None if outcome.exit.success() => Failure::NoResponse,
                    None => Failure::Guest(outcome.exit),
                };
                (failure.response(), None)
            }
        }
    }

    async fn cgi(
        &self,
        mut call: Call,
        parts: http::request::Parts,
        body: Bytes,
        peers: Peers,
        cancel: &CancelHandle,
    ) -> (Response<ResponseBody>, Option<GuestDone>) {
        let (sender, mut receiver) = mpsc::channel::<Bytes>(16);
        for (name, value) in cgi::meta_variables(&parts, body.len(), peers) {
            call = call.env(name, value);
        }
        let call = call
            .stdin(Stdin::Bytes(body.into()))
            .stdout(Output::Channel(sender));
        let prepared = match self.inner.app.prepare(call) {
            Ok(prepared) => prepared,
            Err(e) => return (Failure::start(e).response(), None),
        };
        let mut guest = tokio::spawn(prepared.run_async());
        // Waits for the guest after it was told to stop, and says nothing
        // of how it ended: its answer is already decided.
        let stopped = |guest: tokio::task::JoinHandle<_>| -> Option<GuestDone> {
            Some(Box::pin(async move {
                let _ = guest.await;
            }))
        };
        // The head: everything up to the first blank line.
        let mut head = Vec::new();
        let mut scanner = cgi::HeadScanner::default();
        let end = loop {
            if let Some(end) = scanner.scan(&head) {
                break end;
            }
            if head.len() > MAX_CGI_HEAD {
                cancel.cancel();
                let failure = Failure::Cgi(cgi::HeadError::TooLong(MAX_CGI_HEAD));
                return (failure.response(), stopped(guest));
            }
            match receiver.recv().await {
                Some(chunk) => head.extend_from_slice(&chunk),
                None => {
                    // The guest ended before its head was complete.
                    let failure = match (&mut guest).await {
                        Ok(Ok(outcome)) if outcome.exit.success() => {
                            Failure::Cgi(cgi::HeadError::Incomplete)
                        }
                        Ok(Ok(outcome)) => Failure::Guest(outcome.exit),
                        Ok(Err(e)) => Failure::start(e),
                        Err(e) => Failure::Internal(e.to_string()),
                    };
                    return (failure.response(), None);
                }
            }
        };
        let parsed = match cgi::parse_head(&head[..end]) {
            Ok(parsed) => parsed,
            Err(e) => {
                cancel.cancel();
                return (Failure::Cgi(e).response(), stopped(guest));
            }
        };
        let rest = Bytes::from(head).slice(end..);
        let (exit_sender, exit) = tokio::sync::oneshot::channel();
        let done: GuestDone = Box::pin(async move {
            let exit = match guest.await {
                Ok(Ok(outcome)) => outcome.exit,
                Ok(Err(e)) => crate::runtime::Exit::Trap(format!("{e:#}")),
                Err(e) => crate::runtime::Exit::Trap(e.to_string()),
            };
            let _ = exit_sender.send(exit);
        });
        let body = Checked::new(Channel::new(rest, receiver), exit);
        let mut response = Response::new(body.boxed_unsync());
        *response.status_mut() = parsed.status;
        let headers = response.headers_mut();
        // Iterating a HeaderMap by value names a field once, before its
        // first value only.
        let mut current = None;
        for (name, value) in parsed.headers {
            if name.is_some() {
                current = name;
            }
            if let Some(name) = &current {
                headers.append(name.clone(), value);
            }
        }
        // Hop-by-hop fields are the server's to set (RFC 9110 7.6.1).
        for hop in ["connection", "keep-alive", "transfer-encoding", "upgrade"] {
            headers.remove(hop);
        }
        (response, Some(done))
    }
}

/// Resolves when a guest that answered has ended.
type GuestDone = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;
