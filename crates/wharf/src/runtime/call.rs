//! One call of an app: what it is given (arguments, environment, stdin,
//! mounts, limits, where its output goes, a cancel handle) and how it
//! ended (exit status, captured output, what it used).

use std::fmt;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::env::EnvVar;
use super::filesystem::Mount;
use super::limits::LimitHit;
use super::status;
use crate::manifest::Limits;

/// How much of stdout or stderr [`Output::capture`] keeps unless told
/// otherwise: 1 MiB.
pub const DEFAULT_CAPTURE: usize = 1 << 20;

/// Everything one call of an app is given. What it does not set comes
/// from the app's image (its `cmd`, environment, working directory and
/// `[limits]`), else from wharf's defaults.
///
/// ```
/// use std::time::Duration;
/// use wharf::runtime::{Call, Output};
///
/// let call = Call::new()
///     .args(["--name", "Ada"])
///     .env("GREETING", "hello")
///     .stdin(b"input".to_vec())
///     .stdout(Output::capture(64 << 10))
///     .memory(64 << 20)
///     .timeout(Duration::from_secs(2));
/// ```
#[derive(Debug, Default)]
pub struct Call {
    /// Arguments that replace the image's `cmd` (none: keep it).
    pub args: Option<Vec<String>>,
    /// Replaces the image's entrypoint (and drops its `cmd`), as `docker
    /// run --entrypoint` does.
    pub entrypoint: Option<Vec<String>>,
    /// Variables applied over the image's, in order.
    pub env: Vec<EnvVar>,
    /// Variables removed, from the image's and `env` alike (what `docker
    /// run -e NAME` does when the host has no `NAME`).
    pub unset: Vec<String>,
    /// What the guest reads on stdin.
    pub stdin: Stdin,
    /// Where the guest's stdout goes.
    pub stdout: Output,
    /// Where the guest's stderr goes.
    pub stderr: Output,
    /// Host directories to hand over.
    pub mounts: Vec<Mount>,
    /// Working directory (absolute, or relative to the image's).
    pub workdir: Option<String>,
    /// Limits that override the image's `[limits]`.
    pub limits: Limits,
    /// Who stops the call when its timeout passes.
    pub timeout_by: TimeoutBy,
    /// Stops the call when cancelled.
    pub cancel: Option<CancelHandle>,
    /// Whether the guest gets a private writable `/tmp` (a fresh host
    /// directory, removed when the call ends). On by default; a plugin that
    /// writes no files is faster without it.
    pub no_tmp: bool,
}

impl Call {
    /// A call with the image's defaults: no stdin, stdout and stderr
    /// captured up to [`DEFAULT_CAPTURE`] each.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the image's `cmd` with `args`.
    pub fn args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.args = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// Sets a variable (later calls win).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Removes a variable the image (or [`Call::env`]) sets.
    pub fn unset_env(mut self, key: impl Into<String>) -> Self {
        self.unset.push(key.into());
        self
    }

    /// Applies `-e` flags and env-file lines in order, as `docker run`
    /// does: a value sets the variable, none removes it (the last word on
    /// a name wins).
    pub fn env_flags(mut self, flags: impl IntoIterator<Item = super::env::EnvFlag>) -> Self {
        for (key, value) in flags {
            self.unset.retain(|k| *k != key);
            match value {
                // A name set before keeps its place, as over the image's.
                Some(value) => match self.env.iter_mut().find(|(k, _)| *k == key) {
                    Some(entry) => entry.1 = value,
                    None => self.env.push((key, value)),
                },
                None => {
                    self.env.retain(|(k, _)| *k != key);
                    self.unset.push(key);
                }
            }
        }
        self
    }

    /// What the guest reads on stdin.
    pub fn stdin(mut self, stdin: impl Into<Stdin>) -> Self {
        self.stdin = stdin.into();
        self
    }

    /// Where the guest's stdout goes.
    pub fn stdout(mut self, output: Output) -> Self {
        self.stdout = output;
        self
    }

    /// Where the guest's stderr goes.
    pub fn stderr(mut self, output: Output) -> Self {
        self.stderr = output;
        self
    }

    /// Hands the guest a host directory.
    pub fn mount(mut self, mount: Mount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// The guest's working directory.
    pub fn workdir(mut self, workdir: impl Into<String>) -> Self {
        self.workdir = Some(workdir.into());
        self
    }

    /// Limits the guest's linear memories and tables, together, to `bytes`;
    /// `0` is no limit, the image's overridden (as `docker run -m 0`).
    pub fn memory(mut self, bytes: u64) -> Self {
        self.limits.memory = Some(bytes);
        self
    }

    /// Stops the guest after `timeout` of wall-clock time;
    /// `Duration::ZERO` is no timeout, the image's overridden.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = Some(timeout);
        self
    }

    /// Stops the guest after `fuel` units (about one per Wasm instruction);
    /// `0` is no budget, the image's overridden.
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.limits.fuel = Some(fuel);
        self
    }

    /// Stops the call when `cancel` is cancelled (from any thread).
    pub fn cancel(mut self, cancel: &CancelHandle) -> Self {
        self.cancel = Some(cancel.clone());
        self
    }

    /// Gives the guest no `/tmp`.
    pub fn without_tmp(mut self) -> Self {
        self.no_tmp = true;
        self
    }
}

/// What a guest reads on stdin.
#[derive(Default)]
pub enum Stdin {
    /// Nothing: end of file at once.
    #[default]
    Null,
    /// These bytes, then end of file.
    Bytes(Vec<u8>),
    /// The process's own stdin.
    Inherit,
    /// An async reader the embedder gives (a socket, a pipe); a read waits
    /// until it has data.
    Reader(Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>),
}

impl From<Vec<u8>> for Stdin {
    fn from(bytes: Vec<u8>) -> Self {
        Stdin::Bytes(bytes)
    }
}

impl From<&str> for Stdin {
    fn from(text: &str) -> Self {
        Stdin::Bytes(text.as_bytes().to_vec())
    }
}

impl fmt::Debug for Stdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stdin::Null => write!(f, "Null"),
            Stdin::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            Stdin::Inherit => write!(f, "Inherit"),
            Stdin::Reader(_) => write!(f, "Reader"),
        }
    }
}

/// Where a guest's stdout or stderr goes.
pub enum Output {
    /// Nowhere.
    Null,
    /// Into a buffer of at most `limit` bytes, returned in the
    /// [`Outcome`]; what the guest writes beyond it is dropped (the guest
    /// is not told) and the outcome says the output was truncated.
    Capture {
        /// The most bytes kept.
        limit: usize,
    },
    /// To the process's own stdout or stderr.
    Inherit,
    /// Through to a writer the embedder gives, as the guest writes. A
    /// write error reaches the guest (a closed pipe as `EPIPE`).
    Writer(Box<dyn std::io::Write + Send>),
    /// As chunks into a bounded channel, as the guest writes: a guest that
    /// writes while the channel is full waits (without blocking its
    /// thread) until the receiver takes a chunk, so a slow reader slows the
    /// guest instead of filling memory. A dropped receiver reaches the
    /// guest as `EPIPE`. The channel closes when the call ends.
    Channel(tokio::sync::mpsc::Sender<bytes::Bytes>),
}

impl Output {
    /// [`Output::Capture`] with a limit of `limit` bytes.
    pub fn capture(limit: usize) -> Self {
        Output::Capture { limit }
    }
}

impl Default for Output {
    fn default() -> Self {
        Output::Capture {
            limit: DEFAULT_CAPTURE,
        }
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Null => write!(f, "Null"),
            Output::Capture { limit } => write!(f, "Capture {{ limit: {limit} }}"),
            Output::Inherit => write!(f, "Inherit"),
            Output::Writer(_) => write!(f, "Writer"),
            Output::Channel(_) => write!(f, "Channel"),
        }
    }
}

/// Who stops a call that outlives its timeout.
///
/// wasmtime stops running guest code only through checks compiled into it:
/// with epoch checks at every function entry and loop back-edge, a guest
/// past its deadline is stopped at the next one, and the process goes on.
/// Those checks cost the guest instructions on every call and iteration
/// (see docs/speed.md), so an app is compiled with them only when it is
/// loaded [interruptible](super::LoadOptions::interruptible).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeoutBy {
    /// wharf stops the guest at its deadline, and the call ends in
    /// [`Exit::Limit`] while the process goes on. Needs an interruptible
    /// app. The default.
    #[default]
    Guest,
    /// The caller ends the whole process when the time is up (after
    /// removing the call's scratch directory,
    /// [`super::PreparedCall::scratch_dir`]), as the `wharf` command does:
    /// the app needs no checks, and wharf does not stop it.
    Caller,
}

/// Stops the calls it is given to, from any thread or task: a guest that
/// computes at its next epoch check (within wharf's tick of 10 ms); one
/// waiting for a free sandbox, a sleep, or stdin from an async reader at
/// once; one in a host call that blocks (reading or writing a file,
/// writing to an [`Output::Writer`], a host function) when that call
/// returns. A call cancelled before it starts does not start. Cheap to clone; every clone cancels
/// the same calls.
#[derive(Clone, Debug, Default)]
pub struct CancelHandle {
    token: CancellationToken,
}

impl CancelHandle {
    /// A handle no call has been given yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops every call given this handle; the calls end in
    /// [`Exit::Cancelled`].
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// A handle of its own that this one's cancel also cancels (and not
    /// the other way round): for a call that both its caller and its
    /// embedder may stop.
    pub fn child(&self) -> CancelHandle {
        CancelHandle {
            token: self.token.child_token(),
        }
    }

    /// Whether [`CancelHandle::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    pub(super) async fn cancelled(&self) {
        self.token.cancelled().await;
    }
}

/// How a guest ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status (0 when `_start` or `run` returned).
    Code(i32),
    /// It trapped; the message has the trap and the Wasm backtrace.
    Trap(String),
    /// It ran into one of its limits and was stopped.
    Limit(LimitHit),
    /// Its [`CancelHandle`] stopped it.
    Cancelled,
}

impl Exit {
    /// The process exit status this maps to, as `docker run` reports the
    /// same ends: the guest's own status; 134 (3 on Windows) for a trap,
    /// as wasmtime reports it; the limit's ([`LimitHit::code`]); 143 (128 +
    /// SIGTERM, as after `docker stop`) when cancelled.
    pub fn code(&self) -> i32 {
        match self {
            Exit::Code(code) => *code,
            Exit::Trap(_) => status::TRAP,
            Exit::Limit(hit) => hit.code(),
            Exit::Cancelled => status::CANCELLED,
        }
    }

    /// Whether the guest exited with status 0.
    pub fn success(&self) -> bool {
        *self == Exit::Code(0)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "the guest exited with status {code}"),
            Exit::Trap(message) => write!(f, "the guest trapped: {message}"),
            Exit::Limit(hit) => write!(f, "{hit}"),
            Exit::Cancelled => write!(f, "the call was cancelled"),
        }
    }
}

/// What a guest wrote to an [`Output::Capture`]d stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Captured {
    /// The bytes kept: at most the capture's limit (empty when the stream
    /// was not captured).
    pub bytes: Vec<u8>,
    /// Whether the guest wrote more than the limit, and the rest was
    /// dropped.
    pub truncated: bool,
}

impl Captured {
    /// The bytes as text, invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// What a call used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Fuel consumed, when the app counts fuel (a call without a budget of
    /// its own has all there is).
    pub fuel: Option<u64>,
    /// The most bytes of linear memory and tables the guest held at once.
    pub peak_memory: u64,
    /// Wall-clock time from the start of the guest's instantiation to its
    /// end.
    pub wall_time: Duration,
}

/// How a call ended, what it wrote and what it used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// How the guest ended.
    pub exit: Exit,
    /// Its stdout, when captured.
    pub stdout: Captured,
    /// Its stderr, when captured.
    pub stderr: Captured,
    /// What it used.
    pub usage: Usage,
}
