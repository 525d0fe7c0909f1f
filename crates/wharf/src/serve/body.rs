//! Response bodies: a CGI guest's stdout as it writes it, and a wrapper
//! that counts what is sent and writes the access log line when it is done.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::{mpsc, oneshot};

use super::Access;
use crate::runtime::Exit;

/// Any error a body ends with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of a response [`super::Server::handle`] returns.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// A CGI guest's stdout after its head: the bytes that came with the head,
/// then every chunk the guest writes, until the guest's stdout closes.
pub(super) struct Channel {
    first: Option<Bytes>,
    chunks: mpsc::Receiver<Bytes>,
}

impl Channel {
    pub(super) fn new(first: Bytes, chunks: mpsc::Receiver<Bytes>) -> Self {
        Self {
            first: (!first.is_empty()).then_some(first),
            chunks,
        }
    }
}

impl Body for Channel {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        Poll::Ready(ready!(self.chunks.poll_recv(cx)).map(|chunk| Ok(Frame::data(chunk))))
    }
}

/// A guest's response body that, where it would end, waits for the guest
/// to end too: a guest that did not end well (a trap, a limit, a non-zero
/// status) ends the body with an error instead, so that the client sees a
/// cut-short response rather than a complete one. (wasmtime-wasi-http ends
/// a proxy's body normally when the guest traps before finishing it; a
/// CGI guest's stdout closes the same way whether it exited or trapped.)
pub(super) struct Checked<B> {
    inner: B,
    exit: Option<oneshot::Receiver<Exit>>,
}

impl<B> Checked<B> {
    pub(super) fn new(inner: B, exit: oneshot::Receiver<Exit>) -> Self {
        Self {
            inner,
            exit: Some(exit),
        }
    }
}

/// Why a response body was cut short.
#[derive(Debug, thiserror::Error)]
#[error("the response was cut short: {0}")]
pub(super) struct CutShort(pub(super) String);

impl<B> Body for Checked<B>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(frame) = ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
            return Poll::Ready(Some(frame));
        }
        let Some(exit) = self.exit.as_mut() else {
            return Poll::Ready(None);
        };
        let exit = ready!(Pin::new(exit).poll(cx));
        self.exit = None;
        match exit {
            Ok(exit) if !exit.success() => {
                Poll::Ready(Some(Err(Box::new(CutShort(first_line(&exit.to_string()))))))
            }
            _ => Poll::Ready(None),
        }
    }
}

/// The first line of a message (a trap's backtrace follows it).
pub(super) fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().to_owned()
}

/// A body that counts the bytes it sends and, once it ends, fails or is
/// dropped (the client went away), hands its access record to `log`, once.
pub(super) struct Logged<B, F: Fn(&Access)> {
    inner: B,
    access: Access,
    started: Instant,
    log: Option<F>,
    /// Whether the body was empty from the start, or the response has none
    /// (`HEAD`, `204`, `304`): hyper then never polls it, and its drop is
    /// its end.
    empty: bool,
    /// The response's `Content-Length`: hyper stops polling once it has
    /// sent that much, and drops the body.
    length: Option<u64>,
}

impl<B: Body, F: Fn(&Access)> Logged<B, F> {
    pub(super) fn new(
        inner: B,
        access: Access,
        started: Instant,
        failure: Option<String>,
        length: Option<u64>,
        bodiless: bool,
        log: F,
    ) -> Self {
        Self {
            empty: bodiless || inner.is_end_stream(),
            length,
            inner,
            access: Access { failure, ..access },
            started,
            log: Some(log),
        }
    }
}

impl<B, F: Fn(&Access)> Logged<B, F> {
    fn finish(&mut self, failure: Option<String>) {
        if let Some(log) = self.log.take() {
            if failure.is_some() {
                self.access.failure = failure;
            }
            self.access.duration = self.started.elapsed();
            log(&self.access);
        }
    }
}

impl<B, F: Fn(&Access)> Drop for Logged<B, F> {
    fn drop(&mut self) {
        if self.log.is_some() {
            let failure = self.access.failure.clone().or_else(|| {
                let complete = self.empty || self.length == Some(self.access.bytes);
                (!complete).then(|| "the client went away before the response was sent".into())
            });
            self.finish(failure);
        }
    }
}

impl<B, F> Body for Logged<B, F>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
    F: Fn(&Access) + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    self.access.bytes += data.len() as u64;
                }
            }
            Some(Err(e)) => {
                let failure = Some(first_line(&e.to_string()));
                self.finish(failure);
            }
            None => self.finish(None),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A short body, whole.
pub(super) fn full(text: impl Into<Bytes>) -> ResponseBody {
    use http_body_util::BodyExt;
    http_body_util::Full::new(text.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}
