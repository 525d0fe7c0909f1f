//! A guest's stdio as a call asks for it: stdin from bytes, the process or
//! an async reader; stdout and stderr captured into a bounded buffer or
//! written through to a writer the embedder gives, a channel, or the
//! process's own.
//!
//! A reader that went away (`wharf run IMAGE | head -1`, a dropped
//! channel, a client that hung up) reaches the guest as `EPIPE`, as it
//! reaches a native process that ignores `SIGPIPE`: WASI has no signals,
//! so a guest cannot be ended by one, but it can see the error for what
//! it is (Python's `BrokenPipeError`, Rust's `ErrorKind::BrokenPipe`).
//! WASI preview 2 says "closed" for it, which wasi-libc turns into `EPIPE`;
//! wasmtime-wasi's preview 1 turns the same "closed" into `EIO`, so a
//! module is handed the host's own `EPIPE` error instead, which it maps to
//! preview 1's `pipe` (errno 64).

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

/// Which WASI a guest's output streams serve, which decides how a closed
/// pipe is told (see the module's documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wasi {
    /// A core module: WASI preview 1, through wasmtime-wasi's `p1`.
    Preview1,
    /// A component: WASI preview 2 streams.
    Preview2,
}

/// Gives `builder` the stdin `stdin` says, and returns the sinks of stdout
/// and stderr, which hold what was captured once the guest is done.
pub(super) fn wire(
    builder: &mut WasiCtxBuilder,
    stdin: Stdin,
    stdout: Output,
    stderr: Output,
    wasi: Wasi,
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
    let stdout = Sink::for_output(stdout, Process::Stdout, wasi).inspect(|sink| {
        builder.stdout(sink.clone());
    });
    let stderr = Sink::for_output(stderr, Process::Stderr, wasi).inspect(|sink| {
        builder.stderr(sink.clone());
    });
    (stdout, stderr)
}

/// One of the process's own output streams.
#[derive(Clone, Copy, Debug)]
enum Process {
    Stdout,
    Stderr,
}

/// Where one of a guest's output streams goes: a bounded buffer, a
/// writer, a channel or the process's own stream. Clones share it.
#[derive(Clone)]
pub(super) struct Sink {
    target: Arc<Mutex<Target>>,
    wasi: Wasi,
}

enum Target {
    /// The process's stdout or stderr, written through as the guest
    /// writes (std's handles, so that wharf's own lines never interleave
    /// with the guest's in the middle).
    Process(Process),
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
    /// The sink `output` needs, `process` being the stream `Inherit`
    /// means: none for nothing.
    fn for_output(output: Output, process: Process, wasi: Wasi) -> Option<Self> {
        let target = match output {
            Output::Null => return None,
            Output::Inherit => Target::Process(process),
            Output::Capture { limit } => Target::Capture {
                bytes: Vec::new(),
                limit,
                truncated: false,
            },
            Output::Writer(writer) => Target::Writer(writer),
            Output::Channel(sender) => Target::Channel(Some(sender)),
        };
        Some(Self {
            target: Arc::new(Mutex::new(target)),
            wasi,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Target> {
        self.target.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn put(&self, buf: &[u8]) -> io::Result<()> {
        match &mut *self.lock() {
            Target::Process(Process::Stdout) => io::stdout().write_all(buf),
            Target::Process(Process::Stderr) => io::stderr().write_all(buf),
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
        match &*self.lock() {
            Target::Channel(Some(sender)) => sender.capacity() > 0 || sender.is_closed(),
            _ => true,
        }
    }

    /// The channel's sender, to wait on for room.
    fn channel(&self) -> Option<tokio::sync::mpsc::Sender<Bytes>> {
        match &*self.lock() {
            Target::Channel(sender) => sender.clone(),
            _ => None,
        }
    }

    fn flush_target(&self) -> io::Result<()> {
        match &mut *self.lock() {
            Target::Process(Process::Stdout) => io::stdout().flush(),
            Target::Process(Process::Stderr) => io::stderr().flush(),
            Target::Capture { .. } | Target::Channel(_) => Ok(()),
            Target::Writer(writer) => writer.flush(),
        }
    }

    /// What was captured (nothing for a writer), once the guest's store,
    /// which holds the sink's other clones, is gone: then without a lock.
    pub(super) fn into_captured(self) -> Captured {
        match Arc::try_unwrap(self.target) {
            Ok(target) => Self::taken(&mut target.into_inner().unwrap_or_else(|e| e.into_inner())),
            Err(target) => Self { target, ..self }.take(),
        }
    }

    /// What was captured (nothing for a writer), leaving the sink empty.
    pub(super) fn take(&self) -> Captured {
        Self::taken(&mut self.lock())
    }

    /// What `target` holds of what was written, leaving it empty; a
    /// channel's sender is dropped, which closes it.
    fn taken(target: &mut Target) -> Captured {
        match target {
            Target::Process(Process::Stdout) => {
                let _ = io::stdout().flush();
                Captured::default()
            }
            Target::Process(Process::Stderr) => Captured::default(),
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

impl Sink {
    /// A write error as the guest's WASI tells it: a closed pipe as
    /// `EPIPE` (see the module's documentation), anything else as the
    /// error it is.
    fn stream_error(&self, error: io::Error) -> StreamError {
        match (error.kind(), self.wasi) {
            (io::ErrorKind::BrokenPipe, Wasi::Preview2) => StreamError::Closed,
            (io::ErrorKind::BrokenPipe, Wasi::Preview1) => {
                StreamError::LastOperationFailed(broken_pipe().into())
            }
            _ => StreamError::LastOperationFailed(error.into()),
        }
    }
}

/// The host's own error for a write to a pipe nobody reads, which
/// wasmtime-wasi's preview 1 maps to `pipe` (`EPIPE`) by its OS code.
fn broken_pipe() -> io::Error {
    #[cfg(unix)]
    let code = rustix::io::Errno::PIPE.raw_os_error();
    // ERROR_BROKEN_PIPE, which wasmtime-wasi maps on Windows.
    #[cfg(windows)]
    let code = 109;
    #[cfg(any(unix, windows))]
    return io::Error::from_raw_os_error(code);
    #[cfg(not(any(unix, windows)))]
    io::ErrorKind::BrokenPipe.into()
}

impl IsTerminal for Sink {
    /// The process's own stream is a terminal when it is one (CPython
    /// buffers its output by lines there, by blocks elsewhere).
    fn is_terminal(&self) -> bool {
        match &*self.lock() {
            Target::Process(Process::Stdout) => io::IsTerminal::is_terminal(&io::stdout()),
            Target::Process(Process::Stderr) => io::IsTerminal::is_terminal(&io::stderr()),
            _ => false,
        }
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
        self.put(&bytes).map_err(|e| self.stream_error(e))
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.flush_target().map_err(|e| self.stream_error(e))
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

    fn sink(output: Output, wasi: Wasi) -> Sink {
        Sink::for_output(output, Process::Stdout, wasi).unwrap()
    }

    #[test]
    fn a_capture_keeps_its_limit_and_says_it_dropped_the_rest() {
        let capture = sink(Output::capture(5), Wasi::Preview1);
        capture.put(b"abc").unwrap();
        capture.put(b"defgh").unwrap();
        assert_eq!(
            capture.take(),
            Captured {
                bytes: b"abcde".to_vec(),
                truncated: true
            }
        );
        let capture = sink(Output::capture(5), Wasi::Preview1);
        capture.put(b"abcde").unwrap();
        assert!(
            !capture.take().truncated,
            "exactly the limit is not truncated"
        );
        assert!(Sink::for_output(Output::Null, Process::Stdout, Wasi::Preview1).is_none());
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
        let mut writer = sink(Output::Writer(Box::new(shared.clone())), Wasi::Preview2);
        OutputStream::write(&mut writer, Bytes::from_static(b"hello")).unwrap();
        assert_eq!(*shared.0.lock().unwrap(), b"hello");
        assert_eq!(writer.take(), Captured::default());

        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        // Preview 2 says "closed", which wasi-libc makes EPIPE.
        let mut closed = sink(Output::Writer(Box::new(Closed)), Wasi::Preview2);
        assert!(matches!(
            OutputStream::write(&mut closed, Bytes::from_static(b"x")),
            Err(StreamError::Closed)
        ));
        // Preview 1 is handed the host's EPIPE, which wasmtime-wasi maps to
        // `pipe` (its "closed" would be EIO).
        let mut closed = sink(Output::Writer(Box::new(Closed)), Wasi::Preview1);
        let Err(StreamError::LastOperationFailed(error)) =
            OutputStream::write(&mut closed, Bytes::from_static(b"x"))
        else {
            panic!("not an I/O error");
        };
        let error = error.downcast::<io::Error>().unwrap();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        #[cfg(unix)]
        assert_eq!(
            error.raw_os_error(),
            Some(rustix::io::Errno::PIPE.raw_os_error())
        );
    }
}
