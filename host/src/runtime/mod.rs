//! Runs guests: an image, or a bare `.wasm` file, under wasmtime with
//! exactly the filesystem, environment and arguments a [`RunSpec`] grants.
//!
//! ```no_run
//! use wharf::runtime::{Mount, Program, RunSpec, Runtime};
//! use wharf::store::Store;
//!
//! # fn main() -> anyhow::Result<()> {
//! let store = Store::open_default()?;
//! let runtime = Runtime::new(&store)?;
//! let spec = RunSpec::new(Program::Image("my-first-image".into()))
//!     .env("APP_ENV", "Staging")
//!     .mount(Mount { host: "data".into(), guest: "/data".into(), read_only: true });
//! let exit = runtime.run(&spec)?;
//! println!("guest exited with {}", exit.code());
//! # Ok(())
//! # }
//! ```

pub mod alloc;
mod command;
mod engine;
pub mod env;
mod filesystem;
mod large_folios;
pub mod limits;
mod precompile;
mod snapshot;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, bail};
use oci_spec::image::Digest;
use wasmtime::component::ResourceTable;
use wasmtime::{InstancePre, Store as WasmStore, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::bindings::sync::CommandPre;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub use engine::{
    Checks, Compiled, GUEST_THREAD_STACK, GuestEngine, Program as LinkedProgram, Start, WASM_STACK,
};
pub use filesystem::{GuestFs, Mount, Preopen};
pub use limits::{EffectiveLimits, LimitHit};
pub use precompile::{PrecompileProgress, Precompiled};

use crate::digest;
use crate::exit;
use crate::guest_path;
use crate::image::{DEFAULT_PATH, RunConfig};
use crate::manifest::Limits;
use crate::store::{Rootfs, Store};
use limits::{GuestLimiter, MemoryLimitExceeded, Ticker};

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Program {
    /// An image from the store, by name, digest or ID (prefix).
    Image(String),
    /// A `.wasm` file on the host, run without an image.
    Module(PathBuf),
}

/// Everything a run is granted: the flags of `wharf run`, as a value an
/// embedder can build without the CLI.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// The image or module.
    pub program: Program,
    /// Arguments that replace the image's `cmd` (none: keep it).
    pub args: Vec<String>,
    /// Replaces the image's entrypoint (and drops its `cmd`).
    pub entrypoint: Option<Vec<String>>,
    /// Variables applied over the image's, in order.
    pub env: Vec<env::EnvVar>,
    /// Host directories to hand over.
    pub mounts: Vec<Mount>,
    /// Working directory (absolute, or relative to the image's).
    pub workdir: Option<String>,
    /// Limits that override the image's `[limits]`.
    pub limits: Limits,
    /// Who stops the run when its timeout passes.
    pub timeout_by: TimeoutBy,
}

/// Who stops a run that outlives its timeout.
///
/// wasmtime stops running guest code only through checks compiled into it:
/// with epoch checks at every function entry and loop back-edge, a guest
/// past its deadline traps at the next one, and the process goes on. Those
/// checks cost the guest instructions on every call and iteration (see
/// docs/speed.md), so a program is compiled with them only for runs that
/// need them, into artifacts of their own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeoutBy {
    /// The guest's code checks its deadline, and [`PreparedRun::start`]
    /// returns [`Exit::Limit`] when it passes. The default: for a process
    /// that goes on after the run.
    #[default]
    Guest,
    /// The caller ends the whole process when the run's time is up (after
    /// removing the run's scratch directory, [`PreparedRun::scratch_dir`]),
    /// as the `wharf` command does: the guest's code has no checks and runs
    /// as fast as without a timeout, and [`PreparedRun::start`] does not
    /// stop it.
    Caller,
}

impl RunSpec {
    /// A run of `program` with the image's defaults.
    pub fn new(program: Program) -> Self {
        Self {
            program,
            args: Vec::new(),
            entrypoint: None,
            env: Vec::new(),
            mounts: Vec::new(),
            workdir: None,
            limits: Limits::default(),
            timeout_by: TimeoutBy::default(),
        }
    }

    /// Sets a variable (later calls win).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Adds a mount.
    pub fn mount(mut self, mount: Mount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// Replaces the image's `cmd`.
    pub fn args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.args = args.into_iter().map(Into::into).collect();
        self
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
}

impl Exit {
    /// The process exit status this maps to.
    pub fn code(&self) -> i32 {
        match self {
            Exit::Code(code) => *code,
            Exit::Trap(_) => exit::TRAP,
            Exit::Limit(hit) => hit.code(),
        }
    }
}

/// Why a guest could not be started. Other failures (no such image, store
/// errors) are plain errors.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Neither the image nor the run gives a command.
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
}

/// Runs guests; holds the engines and their compiled-module cache.
pub struct Runtime {
    store: Option<Store>,
    /// The engine without checks, which builds compile for ahead of time.
    engine: GuestEngine,
    /// Engines with checks ([`Checks::ALL`]'s order), made when a run first
    /// needs one: each changes the generated code, so each has compiled
    /// artifacts of its own.
    checked: [OnceLock<GuestEngine>; 4],
}

impl Runtime {
    /// A runtime for images of `store`, caching compiled modules there.
    pub fn new(store: &Store) -> Result<Self> {
        Ok(Self {
            store: Some(store.clone()),
            engine: GuestEngine::new(Some(store.root()), Checks::default())?,
            checked: Default::default(),
        })
    }

    /// A runtime for bare modules only, with no store and no cache.
    pub fn without_store() -> Result<Self> {
        Ok(Self {
            store: None,
            engine: GuestEngine::new(None, Checks::default())?,
            checked: Default::default(),
        })
    }

    /// Keeps the modules this runtime loads mapped until the process exits,
    /// which lets it read their tables in place (see
    /// [`GuestEngine::pin_loaded_modules`]): for a process that runs one
    /// guest and exits, as the `wharf` command does.
    #[must_use]
    pub fn pinning_modules(mut self) -> Self {
        self.engine.pin_loaded_modules();
        self
    }

    /// The engine guests run on when their runs need no checks in their
    /// code, and which builds compile for.
    pub fn engine(&self) -> &GuestEngine {
        &self.engine
    }

    /// The engine for a run with `limits`, whose timeout `timeout_by`
    /// enforces: with epoch checks only when the guest must stop itself
    /// at a deadline, with fuel counting only for a fuel budget.
    fn engine_for(&self, limits: &EffectiveLimits, timeout_by: TimeoutBy) -> Result<&GuestEngine> {
        let checks = Checks {
            interrupt: limits.timeout.is_some() && timeout_by == TimeoutBy::Guest,
            fuel: limits.fuel.is_some(),
        };
        if checks == Checks::default() {
            return Ok(&self.engine);
        }
        let slot = &self.checked[checks.index()];
        if let Some(engine) = slot.get() {
            return Ok(engine);
        }
        let mut engine = GuestEngine::new(self.store.as_ref().map(Store::root), checks)?;
        if self.engine.pins_loaded_modules() {
            engine.pin_loaded_modules();
        }
        Ok(slot.get_or_init(|| engine))
    }

    /// Runs a guest to completion, printing filesystem warnings on stderr.
    /// `Ok` carries how the guest ended (its exit status, a trap, or a
    /// limit); `Err` means it could not be started.
    pub fn run(&self, spec: &RunSpec) -> Result<Exit> {
        let prepared = self.prepare(spec)?;
        for warning in prepared.warnings() {
            eprintln!("wharf: warning: {warning}");
        }
        prepared.start()
    }

    /// Resolves, compiles and checks everything a run needs, without
    /// starting the guest: the limits in force and any warnings can be
    /// read before [`PreparedRun::start`].
    pub fn prepare(&self, spec: &RunSpec) -> Result<PreparedRun<'_>> {
        let mut phases = Phases::start();
        // In the store's staging area when there is a store, so that a run
        // cut short (killed, or ended by the watchdog) leaves its /tmp where
        // `system prune` collects it.
        let tmp = match &self.store {
            Some(store) => tempfile::Builder::new()
                .prefix("run-")
                .tempdir_in(store.root().join("tmp")),
            None => tempfile::Builder::new().prefix("wharf-run-").tempdir(),
        }
        .context("cannot create the run's /tmp")?;
        if let Some(store) = &self.store {
            refuse_store_mounts(store, &spec.mounts)?;
        }
        match &spec.program {
            Program::Image(reference) => {
                let store = self
                    .store
                    .as_ref()
                    .context("running an image needs a store")?;
                let image = store.resolve(reference)?;
                image.check_platform()?;
                let config = image.run_config();
                let limits = EffectiveLimits::resolve(&spec.limits, &config.limits()?);
                let launch = config.launch()?;
                let engine = self.engine_for(&limits, spec.timeout_by)?;
                phases.mark("resolve");
                let rootfs = store.open_rootfs(&image)?;
                phases.mark("tree");
                let workdir = workdir(spec, &config);
                let fs = GuestFs::plan(Some(rootfs.tree()), &spec.mounts, tmp.path(), &workdir)?;
                let argv = command::command_line(&config, spec.entrypoint.as_deref(), &spec.args)?;
                let env = env::merge(&config.env, &spec.env);
                let path_var = env
                    .iter()
                    .find(|(k, _)| k == "PATH")
                    .map_or(DEFAULT_PATH, |(_, v)| v.as_str())
                    .to_owned();
                let program = command::locate(&fs, &argv[0], &path_var, &workdir)?;
                let file = program_file(&fs, Some(&rootfs), &program)?;
                // The image's snapshot, when that is what runs (a mount
                // over it runs what the mount holds).
                let resume = match config.snapshot()? {
                    Some(record) => {
                        record.digest == file.digest.to_string()
                            && fs.canonical(&program).ok().as_deref() == Some(&record.module)
                    }
                    None => false,
                };
                phases.mark("plan");
                let linked = engine.program_marked(
                    &argv[0],
                    &file.digest,
                    launch.as_ref(),
                    resume,
                    || match file.bytes {
                        Some(bytes) => Ok(bytes),
                        None => read_guest_file(&fs, &program),
                    },
                    &mut |phase| phases.mark(phase),
                )?;
                let mut env = env;
                if !env.iter().any(|(k, _)| k == "PATH") {
                    env.push(("PATH".into(), DEFAULT_PATH.into()));
                }
                Ok(PreparedRun {
                    engine,
                    program: linked,
                    argv,
                    env,
                    fs,
                    workdir,
                    limits,
                    phases,
                    tmp,
                    _rootfs: Some(rootfs),
                    exiting: false,
                })
            }
            Program::Module(path) => {
                if spec.entrypoint.is_some() {
                    bail!("--entrypoint needs an image; a .wasm file is its own entrypoint");
                }
                let limits = EffectiveLimits::resolve(&spec.limits, &Limits::default());
                let engine = self.engine_for(&limits, spec.timeout_by)?;
                let bytes = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let digest = digest::sha256(&bytes);
                phases.mark("read");
                let name = path.to_string_lossy().into_owned();
                let linked = engine.program_marked(
                    &name,
                    &digest,
                    None,
                    false,
                    || Ok(bytes),
                    &mut |phase| phases.mark(phase),
                )?;
                let workdir = guest_path::resolve("/", spec.workdir.as_deref().unwrap_or("/"));
                let fs = GuestFs::plan(None, &spec.mounts, tmp.path(), &workdir)?;
                let argv0 = path
                    .file_name()
                    .map_or_else(|| name.clone(), |n| n.to_string_lossy().into_owned());
                let argv = std::iter::once(argv0)
                    .chain(spec.args.iter().cloned())
                    .collect();
                Ok(PreparedRun {
                    engine,
                    program: linked,
                    argv,
                    env: env::merge(&[], &spec.env),
                    fs,
                    workdir,
                    limits,
                    phases,
                    tmp,
                    _rootfs: None,
                    exiting: false,
                })
            }
        }
    }
}

/// A guest that could write into the store could plant compiled code that
/// a later run maps: mounts that hold the store, or lie in it, are refused.
fn refuse_store_mounts(store: &Store, mounts: &[Mount]) -> Result<()> {
    let Ok(root) = std::fs::canonicalize(store.root()) else {
        return Ok(());
    };
    for mount in mounts {
        let Ok(host) = std::fs::canonicalize(&mount.host) else {
            continue; // the plan reports it
        };
        if root.starts_with(&host) || host.starts_with(&root) {
            bail!(
                "cannot mount {} at {}: it holds wharf's image store ({}), which a guest must not reach",
                mount.host.display(),
                mount.guest,
                root.display()
            );
        }
    }
    Ok(())
}

fn workdir(spec: &RunSpec, config: &RunConfig) -> String {
    match &spec.workdir {
        Some(w) => guest_path::resolve(&config.workdir, w),
        None => guest_path::resolve("/", &config.workdir),
    }
}

/// A Wasm binary in the guest's filesystem, ready to be loaded: its digest,
/// and its bytes when they had to be read to learn it.
struct ProgramFile {
    digest: Digest,
    bytes: Option<Vec<u8>>,
}

/// Learns a program's digest: recorded when the image was unpacked, when
/// the image itself serves the path (under it, or where its symlinks
/// lead); otherwise (a mount serves it) by reading the file once, so that
/// the bytes compiled are the bytes hashed.
fn program_file(fs: &GuestFs, rootfs: Option<&Rootfs>, program: &str) -> Result<ProgramFile> {
    if let Some(rootfs) = rootfs.filter(|_| fs.served_by_image(program)) {
        let recorded = rootfs.module_digest(program).cloned().or_else(|| {
            fs.canonical(program)
                .ok()
                .filter(|c| fs.served_by_image(c))
                .and_then(|c| rootfs.module_digest(&c).cloned())
        });
        if let Some(digest) = recorded {
            return Ok(ProgramFile {
                digest,
                bytes: None,
            });
        }
    }
    let bytes = read_guest_file(fs, program)?;
    Ok(ProgramFile {
        digest: digest::sha256(&bytes),
        bytes: Some(bytes),
    })
}

pub(crate) fn read_guest_file(fs: &GuestFs, program: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut file = fs
        .open_file(program)
        .with_context(|| format!("cannot open {program}"))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {program}"))?;
    Ok(bytes)
}

/// A run, ready to start: the program compiled, its filesystem, arguments,
/// environment and limits decided.
pub struct PreparedRun<'r> {
    engine: &'r GuestEngine,
    program: LinkedProgram,
    argv: Vec<String>,
    env: Vec<env::EnvVar>,
    fs: GuestFs,
    workdir: String,
    limits: EffectiveLimits,
    phases: Phases,
    tmp: tempfile::TempDir,
    _rootfs: Option<Rootfs>,
    /// Whether the process exits once the run ends.
    exiting: bool,
}

/// Where a run's time goes, phase by phase, for `--verbose`.
struct Phases {
    last: std::time::Instant,
    done: Vec<(&'static str, std::time::Duration)>,
}

impl Phases {
    fn start() -> Self {
        Self {
            last: std::time::Instant::now(),
            done: Vec::new(),
        }
    }

    /// Ends the phase called `name`.
    fn mark(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.done.push((name, now - self.last));
        self.last = now;
    }

    fn report(&self) {
        let parts: Vec<String> = self
            .done
            .iter()
            .map(|(name, took)| format!("{name} {:.2}ms", took.as_secs_f64() * 1000.0))
            .collect();
        crate::verbose!("timing: {}", parts.join(", "));
    }
}

/// Store data for modules: the preview 1 context and the memory limiter.
pub struct ModuleState {
    wasi: WasiP1Ctx,
    limiter: GuestLimiter,
}

impl ModuleState {
    fn new(wasi: WasiP1Ctx, memory: u64) -> Self {
        Self {
            wasi,
            limiter: GuestLimiter::new(memory),
        }
    }
}

/// Store data for components: the WASI context, its resource table and
/// the memory limiter.
pub struct ComponentState {
    ctx: WasiCtx,
    table: ResourceTable,
    limiter: GuestLimiter,
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

impl PreparedRun<'_> {
    /// The limits in force for this run.
    pub fn limits(&self) -> &EffectiveLimits {
        &self.limits
    }

    /// The argument vector the guest will see.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// The host directory that is the guest's `/tmp`, removed when the run
    /// ends (for a caller that ends the process itself, see
    /// [`TimeoutBy::Caller`]).
    pub fn scratch_dir(&self) -> &std::path::Path {
        self.tmp.path()
    }

    /// Things the user should know about this run's filesystem.
    pub fn warnings(&self) -> &[String] {
        self.fs.warnings()
    }

    /// Says that the process exits once the run ends, as the `wharf`
    /// command does: the guest's instance and memory are then left to the
    /// operating system rather than taken apart page by page, which for a
    /// large snapshot is a good part of a short run. A process that goes on
    /// (a server running plugins) must not set this: it would keep every
    /// run's memory.
    pub fn exiting(mut self) -> Self {
        self.exiting = true;
        self
    }

    /// Runs the guest to completion.
    pub fn start(mut self) -> Result<Exit> {
        self.phases.mark("prepare");
        let fired = Arc::new(AtomicBool::new(false));
        // Only an engine with epoch checks can be told to stop (see
        // `Runtime::engine_for`); otherwise the caller enforces the timeout.
        let ticker = self
            .limits
            .timeout
            .filter(|_| self.engine.checks().interrupt)
            .map(|limit| Ticker::start(self.engine.engine(), limit, fired.clone()));
        let mut phases = std::mem::replace(&mut self.phases, Phases::start());
        // On a thread of its own, whose native stack is sure to hold the
        // guest's Wasm stack (a main thread's may not: 1 MiB on Windows).
        let result = std::thread::scope(|scope| {
            let guest = std::thread::Builder::new()
                .name("wharf-guest".into())
                .stack_size(GUEST_THREAD_STACK)
                .spawn_scoped(scope, || self.execute(&mut phases, &fired))
                .context("cannot start the guest's thread")?;
            guest
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        phases.mark("guest");
        phases.report();
        let timed_out = ticker.as_ref().is_some_and(Ticker::fired);
        drop(ticker);
        let limits = self.limits;
        result.map(|exit| match exit {
            Exit::Trap(_) if timed_out => Exit::Limit(LimitHit::Timeout {
                limit: limits.timeout.unwrap_or_default(),
            }),
            other => other,
        })
    }

    fn wasi(&self) -> Result<WasiCtxBuilder> {
        wasi_context(&self.argv, &self.env, &self.fs, &self.workdir)
    }

    /// Sets a store's limits: memory through the limiter, time through
    /// the epoch deadline (on an engine with epoch checks), fuel through
    /// the budget.
    fn limit<T>(&self, store: &mut WasmStore<T>, fired: &Arc<AtomicBool>) -> Result<()> {
        if self.engine.checks().interrupt {
            // Runs share their engine's epoch: a bump (some run's time
            // being up) makes every running guest ask here, and only the
            // one whose own time is up stops.
            let fired = fired.clone();
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(move |_| {
                Ok(if fired.load(Ordering::SeqCst) {
                    UpdateDeadline::Interrupt
                } else {
                    UpdateDeadline::Continue(1)
                })
            });
        }
        if let Some(fuel) = self.limits.fuel {
            store.set_fuel(fuel)?;
        }
        Ok(())
    }

    fn execute(&self, phases: &mut Phases, fired: &Arc<AtomicBool>) -> Result<Exit> {
        let limits = self.limits;
        match &self.program {
            LinkedProgram::Module(pre, start) => {
                let state = ModuleState::new(self.wasi()?.build_p1(), limits.memory);
                let mut store = WasmStore::new(self.engine.engine(), state);
                store.limiter(|state| &mut state.limiter);
                let exit = self
                    .limit(&mut store, fired)
                    .and_then(|()| self.run_module(&mut store, pre, start, phases));
                self.dispose(store);
                exit
            }
            LinkedProgram::Component(pre) => {
                let state = ComponentState {
                    ctx: self.wasi()?.build(),
                    table: ResourceTable::new(),
                    limiter: GuestLimiter::new(limits.memory),
                };
                let mut store = WasmStore::new(self.engine.engine(), state);
                store.limiter(|state| &mut state.limiter);
                let exit = self
                    .limit(&mut store, fired)
                    .and_then(|()| self.run_component(&mut store, pre, phases));
                self.dispose(store);
                exit
            }
        }
    }

    /// Drops a guest's store, or leaves it to the operating system when
    /// the process exits after the run (see [`PreparedRun::exiting`]).
    fn dispose<T>(&self, store: WasmStore<T>) {
        if self.exiting {
            std::mem::forget(store);
        }
    }

    fn not_runnable(&self, reason: String) -> RunError {
        RunError::NotRunnable {
            what: self.argv[0].clone(),
            reason,
        }
    }

    /// Instantiates a core module in `store` and starts it.
    fn run_module(
        &self,
        store: &mut WasmStore<ModuleState>,
        pre: &InstancePre<ModuleState>,
        start: &Start,
        phases: &mut Phases,
    ) -> Result<Exit> {
        let limits = self.limits;
        let not_runnable = |reason: String| self.not_runnable(reason);
        let instance = match pre.instantiate(&mut *store) {
            Ok(instance) => instance,
            Err(e) => return instantiation_failure(e, &limits, not_runnable),
        };
        // `link` checked every export's type: these lookups hold.
        let func = |store: &mut WasmStore<ModuleState>, name: &str| {
            instance
                .get_func(&mut *store, name)
                .ok_or_else(|| not_runnable(format!("it has no `{name}` export")))
        };
        phases.mark("instantiate");
        advise_memory_image(&mut *store, &instance);
        let init: &[String] = match start {
            Start::Command => &[],
            Start::Request { init, .. } | Start::Reactor { init, .. } => init,
        };
        for name in init {
            let init = func(&mut *store, name)?.typed::<(), ()>(&*store)?;
            if let Err(e) = init.call(&mut *store, ()) {
                return Ok(outcome(Err(e), &limits));
            }
        }
        match start {
            Start::Command => {
                let start = func(&mut *store, "_start")?.typed::<(), ()>(&*store)?;
                Ok(outcome(start.call(&mut *store, ()), &limits))
            }
            Start::Request {
                alloc,
                call,
                define,
                request,
                ..
            } => {
                if let Some(define) = define {
                    match call_with_request(&mut *store, &instance, alloc, call, define.as_bytes())
                    {
                        Ok(0) => {}
                        Ok(status) => return Ok(Exit::Code(status)),
                        Err(e) => return Ok(outcome(Err(e), &limits)),
                    }
                }
                let env: serde_json::Map<String, serde_json::Value> = self
                    .env
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
                    .collect();
                let request = crate::launch::render(
                    request,
                    &[
                        ("argv", serde_json::json!(self.argv)),
                        ("env", serde_json::Value::Object(env)),
                    ],
                );
                match call_with_request(&mut *store, &instance, alloc, call, request.as_bytes()) {
                    Ok(status) => Ok(Exit::Code(status)),
                    Err(e) => Ok(outcome(Err(e), &limits)),
                }
            }
            Start::Reactor {
                entry,
                returns_status,
                ..
            } => {
                let entry = func(&mut *store, entry)?;
                if *returns_status {
                    match entry.typed::<(), i32>(&*store)?.call(&mut *store, ()) {
                        Ok(status) => Ok(Exit::Code(status)),
                        Err(e) => Ok(outcome(Err(e), &limits)),
                    }
                } else {
                    let entry = entry.typed::<(), ()>(&*store)?;
                    Ok(outcome(entry.call(&mut *store, ()), &limits))
                }
            }
        }
    }

    /// Instantiates a command component in `store` and runs it.
    fn run_component(
        &self,
        store: &mut WasmStore<ComponentState>,
        pre: &CommandPre<ComponentState>,
        phases: &mut Phases,
    ) -> Result<Exit> {
        let limits = self.limits;
        let command = pre.instantiate(&mut *store);
        let command = match command {
            Ok(command) => command,
            Err(e) => return instantiation_failure(e, &limits, |r| self.not_runnable(r)),
        };
        phases.mark("instantiate");
        match command.wasi_cli_run().call_run(&mut *store) {
            Ok(Ok(())) => Ok(Exit::Code(0)),
            Ok(Err(())) => Ok(Exit::Code(1)),
            Err(e) => Ok(outcome(Err(e), &limits)),
        }
    }
}

/// The WASI context a guest gets: stdio, exactly these arguments and
/// variables, and the preopens of `fs`.
fn wasi_context(
    argv: &[String],
    env: &[env::EnvVar],
    fs: &GuestFs,
    workdir: &str,
) -> Result<WasiCtxBuilder> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .inherit_stdio()
        .allow_blocking_current_thread(true)
        .args(argv)
        .initial_cwd(workdir);
    for (key, value) in env {
        builder.env(key, value);
    }
    for (index, preopen) in fs.preopens().iter().enumerate() {
        let perms = if preopen.read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        builder
            .preopened_dir(fs.preopen_path(index), &preopen.guest, perms)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "cannot open {} for the guest's {}",
                    preopen.host.display(),
                    preopen.guest
                )
            })?;
    }
    Ok(builder)
}

/// Passes `request` to a reactor through its `alloc` and `call` exports
/// (the convention of `[launch.snapshot]`); returns the status `call`
/// returned.
fn call_with_request(
    store: &mut WasmStore<ModuleState>,
    instance: &wasmtime::Instance,
    alloc: &str,
    call: &str,
    request: &[u8],
) -> wasmtime::Result<i32> {
    let alloc = instance.get_typed_func::<i32, i32>(&mut *store, alloc)?;
    let call = instance.get_typed_func::<(i32, i32), i32>(&mut *store, call)?;
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| wasmtime::format_err!("the module exports no `memory`"))?;
    let len = i32::try_from(request.len())
        .map_err(|_| wasmtime::format_err!("a request of {} bytes is too long", request.len()))?;
    let at = alloc.call(&mut *store, len)?;
    // 0: the guest had no memory for it, and says so itself when called.
    if at != 0 {
        memory.write(&mut *store, at as u32 as usize, request)?;
    }
    call.call(&mut *store, (at, len))
}

/// An instantiation that failed: the guest's own start code trapped,
/// exited or hit a limit (an outcome like any other), or the program
/// cannot be run.
fn instantiation_failure(
    error: wasmtime::Error,
    limits: &EffectiveLimits,
    not_runnable: impl Fn(String) -> RunError,
) -> Result<Exit> {
    let guest_ended = error.downcast_ref::<MemoryLimitExceeded>().is_some()
        || error.downcast_ref::<I32Exit>().is_some()
        || error.downcast_ref::<wasmtime::Trap>().is_some();
    if guest_ended {
        return Ok(outcome(Err(error), limits));
    }
    Err(not_runnable(format!("{error:#}")).into())
}

/// Reads how a call into the guest ended.
fn outcome(result: wasmtime::Result<()>, limits: &EffectiveLimits) -> Exit {
    let Err(error) = result else {
        return Exit::Code(0);
    };
    if let Some(I32Exit(code)) = error.downcast_ref::<I32Exit>() {
        return Exit::Code(*code);
    }
    if error.downcast_ref::<MemoryLimitExceeded>().is_some() {
        return Exit::Limit(LimitHit::Memory {
            limit: limits.memory,
        });
    }
    let trap = error.downcast_ref::<wasmtime::Trap>();
    if let (Some(wasmtime::Trap::OutOfFuel), Some(limit)) = (trap, limits.fuel) {
        return Exit::Limit(LimitHit::Fuel { limit });
    }
    let what = match trap {
        Some(trap) => trap.to_string(),
        None => error.root_cause().to_string(),
    };
    match error.downcast_ref::<wasmtime::WasmBacktrace>() {
        Some(backtrace) => Exit::Trap(format!("{what}\n{backtrace}")),
        None => Exit::Trap(what),
    }
}

/// Asks the kernel to read `instance`'s memory image back in large pieces
/// (see [`large_folios`]), when its memory is large enough to gain from
/// them: a snapshot's heap, not a small program's data.
fn advise_memory_image<T>(store: &mut WasmStore<T>, instance: &wasmtime::Instance) {
    const WORTH_IT: usize = 8 << 20;
    let Some(memory) = instance.get_memory(&mut *store, "memory") else {
        return;
    };
    let size = memory.data_size(&*store);
    if size >= WORTH_IT {
        let start = memory.data_ptr(&*store).cast_const();
        // SAFETY: the `size` bytes from `data_ptr` are the memory's.
        let end = unsafe { start.add(size) };
        large_folios::advise_memory_image(start..end);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A module whose `_start` counts down from `n` and returns.
    fn countdown(dir: &std::path::Path, n: u32) -> PathBuf {
        let path = dir.join(format!("countdown-{n}.wasm"));
        let text = format!(
            r#"(module (func (export "_start") (local $n i32)
                 (local.set $n (i32.const {n}))
                 (loop $again
                   (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                   (br_if $again (local.get $n)))))"#
        );
        std::fs::write(&path, wat::parse_str(text).unwrap()).unwrap();
        path
    }

    fn spec(module: PathBuf, timeout: Duration, timeout_by: TimeoutBy) -> RunSpec {
        let mut spec = RunSpec::new(Program::Module(module));
        spec.limits.timeout = Some(timeout);
        spec.timeout_by = timeout_by;
        spec
    }

    #[test]
    fn a_guest_past_its_deadline_is_stopped_and_the_runtime_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::without_store().unwrap();
        // u32::MAX iterations: far longer than the timeout.
        let endless = countdown(dir.path(), u32::MAX);
        let limit = Duration::from_millis(100);
        let exit = runtime
            .prepare(&spec(endless, limit, TimeoutBy::Guest))
            .unwrap()
            .start()
            .unwrap();
        assert_eq!(exit, Exit::Limit(LimitHit::Timeout { limit }));
        let quick = countdown(dir.path(), 10);
        let exit = runtime
            .prepare(&spec(quick, Duration::from_secs(3600), TimeoutBy::Guest))
            .unwrap()
            .start()
            .unwrap();
        assert_eq!(exit, Exit::Code(0));
    }

    #[test]
    fn a_timeout_the_caller_enforces_is_left_to_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::without_store().unwrap();
        // Hundreds of millions of iterations take far longer than 1 ms,
        // and the run still ends on its own.
        let long = countdown(dir.path(), 300_000_000);
        let prepared = runtime
            .prepare(&spec(long, Duration::from_millis(1), TimeoutBy::Caller))
            .unwrap();
        assert!(!prepared.engine.checks().interrupt);
        assert!(prepared.scratch_dir().is_dir());
        assert_eq!(prepared.start().unwrap(), Exit::Code(0));
    }
}
