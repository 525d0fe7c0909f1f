//! Runs guests: images, `.wasm` files and Wasm bytes, under wasmtime, each
//! call in a fresh sandbox with exactly the filesystem, environment,
//! arguments, stdio and limits it is given.
//!
//! A [`Runtime`] holds the engines and their compiled-module cache; it
//! [loads](Runtime::load) an [`App`] once (compiled, linked, pre-instantiated),
//! and the app is [called](App::call) as often as its embedder likes, from
//! many threads or tasks at once. Every call gets a fresh instance: nothing
//! survives from one call to the next.
//!
//! ```
//! use wharf::runtime::{Call, Runtime, Source};
//!
//! # fn main() -> anyhow::Result<()> {
//! let runtime = Runtime::builder().build()?;
//! let app = runtime.load(Source::bytes("hello", r#"
//!     (module
//!       (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
//!       (memory (export "memory") 1)
//!       (data (i32.const 16) "hello\n")
//!       (func (export "_start")
//!         (i32.store (i32.const 0) (i32.const 16))
//!         (i32.store (i32.const 4) (i32.const 6))
//!         (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#))?;
//! let outcome = app.call(Call::new())?;
//! assert!(outcome.exit.success());
//! assert_eq!(outcome.stdout.text(), "hello\n");
//! # Ok(())
//! # }
//! ```

pub mod alloc_hint;
mod app;
mod artifacts;
mod build_step;
mod call;
mod command;
mod engine;
pub mod env;
mod execute;
mod filesystem;
mod host;
mod http;
#[cfg(feature = "large-folios")]
mod large_folios;
pub mod limits;
mod link;
mod precompile;
mod scratch;
mod snapshot;
mod state;
pub mod status;
mod stdio;
mod ticker;
mod tree;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Result;

pub use app::{App, LoadOptions, Source};
pub use call::{
    Call, CancelHandle, Captured, DEFAULT_CAPTURE, Exit, Outcome, Output, Stdin, TimeoutBy, Usage,
};
pub use engine::{
    Allocation, Checks, Compiled, GUEST_STACK, GUEST_THREAD_STACK, GuestEngine, WASM_STACK,
};
pub use execute::PreparedCall;
pub use filesystem::{GuestFs, Mount, Preopen};
pub use host::{ComponentHostFunction, HostCall, HostFunction};
pub use http::{GuestTask, HttpAnswer, HttpBody, HttpBodyError};
pub use limits::{DEFAULT_MEMORY, EffectiveLimits, LimitHit};
pub use precompile::{EntrypointProgram, PrecompileProgress, Precompiled};
pub use state::{ComponentState, ModuleState};
pub use ticker::TICK;
pub use wasmtime::component::Val as ComponentVal;
pub use wasmtime::{Val, ValType};

/// The version of wasmtime this library runs guests with (`48.0.8`): the
/// crate's own, as wasmtime records it in every artifact it compiles.
pub const WASMTIME_VERSION: &str = wasmtime_environ::VERSION;

use crate::store::Store;
use ticker::EpochTicker;

/// How many sandboxes a runtime's pool holds unless told otherwise.
pub const DEFAULT_POOL: u32 = 64;

/// How long a call waits for a free sandbox in a full pool unless told
/// otherwise.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a guest could not be started. Other failures (no such image, store
/// errors) are plain errors.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Neither the image nor the call gives a command.
    #[error("no command specified: the image has no entrypoint or cmd, and none was given")]
    NoCommand,
    /// `argv[0]` is not in `PATH`.
    #[error("{command}: command not found in the image (PATH={path})")]
    CommandNotFound {
        /// What was looked for.
        command: String,
        /// Where.
        path: String,
    },
    /// The binary is not runnable Wasm.
    #[error("cannot run {what}: {reason}")]
    NotRunnable {
        /// The program, as the user would name it.
        what: String,
        /// Why.
        reason: String,
    },
    /// The call asks for a deadline or a cancel handle, and the app was
    /// loaded without the checks that enforce them.
    #[error(
        "{what} was loaded without interruption checks, so a call cannot be given {why}: load it with LoadOptions::interruptible(true)"
    )]
    NotInterruptible {
        /// The app.
        what: String,
        /// What the call asked for.
        why: String,
    },
    /// The call asks for a fuel budget, and the app was loaded without
    /// fuel counting.
    #[error(
        "{what} was loaded without fuel counting, so a call cannot be given a fuel budget: load it with LoadOptions::fuel(true)"
    )]
    NotMetered {
        /// The app.
        what: String,
    },
    /// Every sandbox of the runtime's pool stayed busy for as long as a
    /// call may wait.
    #[error(
        "all {sandboxes} sandboxes are busy, and none came free within {}: try again, or give the runtime a larger pool",
        humantime::format_duration(*waited)
    )]
    Busy {
        /// The pool's size.
        sandboxes: u32,
        /// How long the call waited.
        waited: Duration,
    },
}

/// Runs guests; holds the engines, their compiled-module cache and the
/// pool of sandboxes. `Send + Sync`, and cheap to clone: clones share all
/// of it.
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
}

struct Shared {
    store: Option<Store>,
    /// Where compiled modules are cached when there is no store.
    artifact_cache: Option<std::path::PathBuf>,
    allocation: Allocation,
    /// One engine per combination of checks ([`Checks::ALL`]'s order),
    /// made when first needed: each changes the generated code, so each
    /// has compiled artifacts of its own.
    engines: [OnceLock<GuestEngine>; 4],
    ticker: EpochTicker,
    slots: Option<Arc<tokio::sync::Semaphore>>,
    queue_timeout: Duration,
    pinning: bool,
    /// The tokio runtime blocking calls from plain threads run on, made on
    /// first use: one worker, for the tasks wasmtime-wasi spawns (stdin).
    tokio: OnceLock<Arc<tokio::runtime::Runtime>>,
    /// The empty directories calls make up directories from.
    empty_dirs: Arc<filesystem::EmptyDirs>,
    /// Empty directories kept for calls' `/tmp`.
    scratch_dirs: Arc<scratch::ScratchDirs>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The last handle may go inside an async task, where a tokio
        // runtime must not be dropped (it would block): let it wind down
        // in the background instead.
        if let Some(tokio) = self.tokio.take()
            && let Ok(tokio) = Arc::try_unwrap(tokio)
        {
            tokio.shutdown_background();
        }
    }
}

/// Configures a [`Runtime`].
#[derive(Debug)]
pub struct RuntimeBuilder {
    store: Option<Store>,
    artifact_cache: Option<std::path::PathBuf>,
    allocation: Allocation,
    queue_timeout: Duration,
    pinning: bool,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        Self {
            store: None,
            artifact_cache: None,
            allocation: Allocation::Pool(DEFAULT_POOL),
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            pinning: false,
        }
    }
}

impl RuntimeBuilder {
    /// Runs images of `store`, and caches compiled modules there (without
    /// a store, modules are compiled anew by each runtime).
    pub fn store(mut self, store: &Store) -> Self {
        self.store = Some(store.clone());
        self
    }

    /// Caches compiled modules in the directory `dir` (in `artifacts/`,
    /// written through `tmp/` when it exists) when the runtime has no
    /// store, so that a module is compiled once for every runtime given
    /// the same directory: for an embedder that runs trees no store holds,
    /// as containerd's shim does. `dir` is trusted as a store is: whoever
    /// can write it can plant the machine code a run maps. A store's own
    /// cache wins over it.
    pub fn artifact_cache(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.artifact_cache = Some(dir.into());
        self
    }

    /// How many sandboxes may run at once: a pool of slots reserved once
    /// and reused (wasmtime's pooling allocator), in which a call is
    /// instantiated in microseconds. A call made while all are busy waits
    /// for one (see [`RuntimeBuilder::queue_timeout`]). Default:
    /// [`DEFAULT_POOL`].
    ///
    /// A pool reserves address space, not memory: each slot has room for
    /// two linear memories of 4 GiB and their guard pages (about 8 GiB),
    /// and each engine the runtime makes (one per set of checks its apps
    /// are loaded with) has its own pool, made when the first app needs
    /// it. On a host whose address space is small (`ulimit -v`, 39-bit
    /// address spaces), keep pools small or use
    /// [`RuntimeBuilder::on_demand`].
    pub fn pool(mut self, sandboxes: u32) -> Self {
        self.allocation = Allocation::Pool(sandboxes.max(1));
        self
    }

    /// No pool: each call maps its memory when it starts, and any number
    /// run at once. For a process that runs a guest or two, as the `wharf`
    /// command does.
    pub fn on_demand(mut self) -> Self {
        self.allocation = Allocation::OnDemand;
        self
    }

    /// How long a call waits for a sandbox of a full pool before it fails
    /// with [`RunError::Busy`]. Default: [`DEFAULT_QUEUE_TIMEOUT`]; zero
    /// fails at once.
    pub fn queue_timeout(mut self, timeout: Duration) -> Self {
        self.queue_timeout = timeout;
        self
    }

    /// Keeps the modules the runtime loads mapped until the process exits,
    /// which lets it read their tables in place (see
    /// [`GuestEngine::pin_loaded_modules`]): for a process that runs one
    /// guest and exits, as the `wharf` command does.
    #[cfg(feature = "packed-tables")]
    pub fn pin_loaded_modules(mut self) -> Self {
        self.pinning = true;
        self
    }

    /// The runtime. Its engines (and their pools) are made when the first
    /// app needs one.
    ///
    /// # Errors
    ///
    /// None yet; an engine wasmtime refuses (a pool larger than the address
    /// space holds) is an error of the first `load` that needs it.
    pub fn build(self) -> Result<Runtime> {
        let slots = match self.allocation {
            Allocation::Pool(sandboxes) => {
                Some(Arc::new(tokio::sync::Semaphore::new(sandboxes as usize)))
            }
            Allocation::OnDemand => None,
        };
        let runtime = Runtime {
            shared: Arc::new(Shared {
                store: self.store,
                artifact_cache: self.artifact_cache,
                allocation: self.allocation,
                engines: Default::default(),
                ticker: EpochTicker::default(),
                slots,
                queue_timeout: self.queue_timeout,
                pinning: self.pinning,
                tokio: OnceLock::new(),
                empty_dirs: Arc::default(),
                scratch_dirs: Arc::default(),
            }),
        };
        Ok(runtime)
    }
}

impl Runtime {
    /// A runtime with the defaults of [`RuntimeBuilder`], to configure.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// A runtime for images of `store`, with a pool of [`DEFAULT_POOL`]
    /// sandboxes.
    ///
    /// # Errors
    ///
    /// As [`RuntimeBuilder::build`].
    pub fn new(store: &Store) -> Result<Self> {
        Self::builder().store(store).build()
    }

    /// The store whose images this runtime runs.
    pub fn store(&self) -> Option<&Store> {
        self.shared.store.as_ref()
    }

    /// Loads an app from `source`, interruptible and without fuel
    /// counting ([`LoadOptions::default`]).
    ///
    /// # Errors
    ///
    /// When the source cannot be read or built, is not a runnable program
    /// (a [`RunError::NotRunnable`] that says why: not Wasm, corrupt, an
    /// import nothing provides), or names no image of the store.
    pub fn load(&self, source: Source) -> Result<App> {
        App::load(self, source, LoadOptions::default())
    }

    /// Loads an app from `source` as `options` say.
    ///
    /// # Errors
    ///
    /// As [`Runtime::load`].
    pub fn load_with(&self, source: Source, options: LoadOptions) -> Result<App> {
        App::load(self, source, options)
    }

    /// The engine whose code has `checks`, made on first use; an
    /// interruptible one's epoch starts ticking.
    ///
    /// # Errors
    ///
    /// As [`RuntimeBuilder::build`].
    pub fn engine(&self, checks: Checks) -> Result<&GuestEngine> {
        let slot = &self.shared.engines[checks.index()];
        if let Some(engine) = slot.get() {
            return Ok(engine);
        }
        #[allow(unused_mut)]
        let mut engine = GuestEngine::new(
            self.shared
                .store
                .as_ref()
                .map(Store::root)
                .or(self.shared.artifact_cache.as_deref()),
            checks,
            self.shared.allocation,
        )?;
        #[cfg(feature = "packed-tables")]
        if self.shared.pinning {
            engine.pin_loaded_modules();
        }
        let _ = self.shared.pinning;
        // Ticking before it is installed: an engine that could not be
        // timed is never used. (If another thread installs its own first,
        // this one is ticked for nothing until the runtime goes.)
        if checks.interrupt {
            self.shared.ticker.add(engine.engine())?;
        }
        Ok(slot.get_or_init(|| engine))
    }

    /// The tokio runtime blocking calls from plain threads run on.
    /// The empty directories calls of this runtime make up directories
    /// from.
    fn empty_dirs(&self) -> &Arc<filesystem::EmptyDirs> {
        &self.shared.empty_dirs
    }

    /// The empty directories kept for calls' `/tmp`.
    fn scratch_dirs(&self) -> &Arc<scratch::ScratchDirs> {
        &self.shared.scratch_dirs
    }

    fn tokio(&self) -> Result<&Arc<tokio::runtime::Runtime>> {
        if let Some(tokio) = self.shared.tokio.get() {
            return Ok(tokio);
        }
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("wharf-io")
            .enable_all()
            .build()
            .map_err(|e| anyhow::anyhow!("cannot start the runtime calls run on: {e}"))?;
        Ok(self.shared.tokio.get_or_init(|| Arc::new(tokio)))
    }

    /// The names of the artifact directories of every engine a runtime
    /// may use: what `system prune` keeps.
    ///
    /// # Errors
    ///
    /// As [`RuntimeBuilder::build`].
    pub fn engine_keys() -> Result<Vec<String>> {
        Checks::ALL
            .into_iter()
            .map(|checks| Ok(GuestEngine::new(None, checks, Allocation::OnDemand)?.key()))
            .collect()
    }

    /// Waits for a free sandbox of the pool (none to wait for without a
    /// pool); the slot is free again when the returned permit drops.
    async fn sandbox_slot(&self) -> Result<Option<tokio::sync::SemaphorePermit<'_>>> {
        let Some(slots) = &self.shared.slots else {
            return Ok(None);
        };
        if let Ok(permit) = slots.try_acquire() {
            return Ok(Some(permit));
        }
        let waited = self.shared.queue_timeout;
        match tokio::time::timeout(waited, slots.acquire()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            Ok(Err(_)) | Err(_) => Err(RunError::Busy {
                sandboxes: match self.shared.allocation {
                    Allocation::Pool(sandboxes) => sandboxes,
                    Allocation::OnDemand => 0,
                },
                waited,
            }
            .into()),
        }
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("store", &self.shared.store.as_ref().map(Store::root))
            .field("allocation", &self.shared.allocation)
            .finish_non_exhaustive()
    }
}
