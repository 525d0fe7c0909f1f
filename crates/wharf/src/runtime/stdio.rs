//! A guest's stdio as a call asks for it: stdin from bytes, the process or
//! an async reader; stdout and stderr captured into a bounded buffer or
//! written through to a writer the embedder gives.

use std::io::{self, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::cli::{AsyncStdinStream, IsTerminal, StdoutStream};
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use super::call::{Captured, Output, Stdin};

/// How many bytes a guest may hand over in one write.
const WRITE_BUDGET: usize = 64 << 10;

/// Gives `builder` the stdin `stdin` says, and returns the sinks of stdout
/// and stderr, which hold what was captured once the guest is done.
pub(super) fn wire(
    builder: &mut WasiCtxBuilder,
    stdin: Stdin,
    stdout: Output,
    stderr: Output,
) -> (Option<Sink>, Option<Sink>) {
    match stdin {
        Stdin::Null => {}
        Stdin::Bytes(bytes) => {
            builder.stdin(MemoryInputPipe::new(bytes));
        }
        Stdin::Inherit => {
            builder.stdin(wasmtime_wasi::cli::stdin());
        }
        Stdin::Reader(reader) => {
            builder.stdin(AsyncStdinStream::new(reader));
        }
    }
    let stdout = match stdout {
        Output::Inherit => {
            builder.stdout(std::io::stdout());
            None
        }
        other => Sink::for_output(other).inspect(|sink| {
            builder.stdout(sink.clone());
        }),
    };
    let stderr = match stderr {
        Output::Inherit => {
            builder.stderr(std::io::stderr());
            None
        }
        other => Sink::for_output(other).inspect(|sink| {
            builder.stderr(sink.clone());
        }),
    };
    (stdout, stderr)
}

/// Where one of a guest's output streams goes: a bounded buffer, or a
/// writer. Clones share it.
#[derive(Clone)]
pub(super) struct Sink(Arc<Mutex<Target>>);

enum Target {
    Capture {
        bytes: Vec<u8>,
        limit: usize,
        truncated: bool,
    },
    Writer(Box<dyn Write + Send>),
    /// A bounded channel; the sender is dropped when the call's sinks are
    /// taken, which closes it.
    Channel(Option<tokio::sync::mpsc::Sender<Bytes>>),
}

impl Sink {
    /// The sink `output` needs: none for nothing (or the process's own
    /// stream, which the caller wires).
    fn for_output(output: Output) -> Option<Self> {
        match output {
            Output::Null | Output::Inherit => None,
            other => Some(Self::new(other)),
        }
    }

    /// A sink for `output`, which is a capture or a writer.
    fn new(output: Output) -> Self {
        let target = match output {
            Output::Capture { limit } => Target::Capture {
                bytes: Vec::new(),
                limit,
                truncated: false,
            },
            Output::Writer(writer) => Target::Writer(writer),
            Output::Channel(sender) => Target::Channel(Some(sender)),
            Output::Null | Output::Inherit => unreachable!("wired without a sink"),
        };
        Self(Arc::new(Mutex::new(target)))
    }

    fn put(&self, buf: &[u8]) -> io::Result<()> {
        match &mut *self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            Target::Capture {
                bytes,
                limit,
                truncated,
            } => {
                let room = limit.saturating_sub(bytes.len());
                if buf.len() > room {
                    *truncated = true;
                }
                bytes.extend_from_slice(&buf[..buf.len().min(room)]);
                Ok(())
            }
            Target::Writer(writer) => writer.write_all(buf),
            Target::Channel(sender) => {
                use tokio::sync::mpsc::error::TrySendError;
                let Some(sender) = sender else {
                    return Err(io::ErrorKind::BrokenPipe.into());
                };
                match sender.try_send(Bytes::copy_from_slice(buf)) {
                    Ok(()) => Ok(()),
                    Err(TrySendError::Closed(_)) => Err(io::ErrorKind::BrokenPipe.into()),
                    // Writers through `check_write` wait for room first;
                    // one that does not (an async writer) is told to retry.
                    Err(TrySendError::Full(_)) => Err(io::ErrorKind::WouldBlock.into()),
                }
            }
        }
    }

    /// Whether a write fits now: always, but for a full channel.
    fn has_room(&self) -> bool {
        match &*self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            Target::Channel(Some(sender)) => sender.capacity() > 0 || sender.is_closed(),
            _ => true,
        }
    }

    /// The channel's sender, to wait on for room.
    fn channel(&self) -> Option<tokio::sync::mpsc::Sender<Bytes>> {
        match &*self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            Target::Channel(sender) => sender.clone(),
            _ => None,
        }
    }

    fn flush_target(&self) -> io::Result<()> {
        match &mut *self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            Target::Capture { .. } | Target::Channel(_) => Ok(()),
            Target::Writer(writer) => writer.flush(),
        }
    }

    /// What was captured (nothing for a writer), leaving the sink empty.
    pub(super) fn take(&self) -> Captured {
        match &mut *self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            Target::Capture {
                bytes, truncated, ..
            } => Captured {
                bytes: std::mem::take(bytes),
                truncated: *truncated,
            },
            Target::Writer(writer) => {
                let _ = writer.flush();
                Captured::default()
            }
            Target::Channel(sender) => {
                *sender = None;
                Captured::default()
            }
        }
    }
}

/// A closed pipe reaches the guest as `EPIPE` (wasi-libc maps a closed
/// stream to it), anything else as the error it is.
fn stream_error(error: io::Error) -> StreamError {
    if error.kind() == io::ErrorKind::BrokenPipe {
        StreamError::Closed
    } else {
        StreamError::LastOperationFailed(error.into())
    }
}

impl IsTerminal for Sink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Sink {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Sink {
    async fn ready(&mut self) {
        // Room in a channel: reserving a slot waits for one (or for the
        // receiver to go, when writing fails with EPIPE); the slot goes
        // back at once, and this stream is the channel's only writer.
        if let Some(sender) = self.channel() {
            let _ = sender.reserve().await;
        }
    }
}

impl OutputStream for Sink {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.put(&bytes).map_err(stream_error)
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.flush_target().map_err(stream_error)
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(if self.has_room() { WRITE_BUDGET } else { 0 })
    }
}

impl AsyncWrite for Sink {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.put(buf) {
            Ok(()) => Poll::Ready(Ok(buf.len())),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // A full channel: try again soon (the p1 and p2 paths wait
                // on `ready` instead, and do not come here).
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.flush_target())
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_keeps_its_limit_and_says_it_dropped_the_rest() {
        let sink = Sink::new(Output::capture(5));
        sink.put(b"abc").unwrap();
        sink.put(b"defgh").unwrap();
        assert_eq!(
            sink.take(),
            Captured {
                bytes: b"abcde".to_vec(),
                truncated: true
            }
        );
        let sink = Sink::new(Output::capture(5));
        sink.put(b"abcde").unwrap();
        assert!(!sink.take().truncated, "exactly the limit is not truncated");
    }

    #[test]
    fn a_writer_gets_the_bytes_and_a_closed_pipe_is_epipe() {
        #[derive(Clone, Default)]
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let shared = Shared::default();
        let mut sink = Sink::new(Output::Writer(Box::new(shared.clone())));
        OutputStream::write(&mut sink, Bytes::from_static(b"hello")).unwrap();
        assert_eq!(*shared.0.lock().unwrap(), b"hello");
        assert_eq!(sink.take(), Captured::default());

        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut closed = Sink::new(Output::Writer(Box::new(Closed)));
        assert!(matches!(
            OutputStream::write(&mut closed, Bytes::from_static(b"x")),
            Err(StreamError::Closed)
        ));
    }
}
