//! Apps: a program loaded once (an image from the store, a manifest
//! directory built into one, a `.wasm` file or Wasm bytes), compiled and
//! linked, and called as many times as its embedder likes, each call in a
//! fresh sandbox.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use oci_spec::image::Digest;

use super::call::{Call, TimeoutBy};
use super::command;
use super::engine::Checks;
use super::env;
use super::execute::{Phases, Prepared, PreparedCall, Runs, Stdio};
use super::filesystem::{GuestFs, Mount};
use super::host::{ComponentHostFunction, HostFunction};
use super::limits::EffectiveLimits;
use super::link::{Linkers, Program};
use super::{RunError, Runtime};
use crate::build::{BuildOptions, build_with_runtime};
use crate::digest;
use crate::guest_path;
use crate::image::{DEFAULT_PATH, RunConfig};
use crate::launch::{Launch, SnapshotRecord};
use crate::manifest::Limits;
use crate::store::{Rootfs, Store};

/// Where an app comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An image of the runtime's store, by name (`NAME[:TAG]`), digest or
    /// ID (prefix). Calls run its entrypoint and cmd, or a command of their
    /// own from its tree, with its environment, working directory,
    /// `[limits]` and `[launch]`.
    Image(String),
    /// A build context with a `wharf.toml`, built into an untagged image of
    /// the runtime's store (cached like any build), then loaded as one.
    Context(PathBuf),
    /// An image's file tree that something else unpacked (a container
    /// runtime's root filesystem), and the config that says how to run it.
    /// Called as an image of the store is, with the tree as the guest's
    /// read-only `/`; its modules are hashed when first run, since no
    /// store recorded their digests. The runtime needs no store for it.
    Rootfs {
        /// The directory holding the image's `/`.
        path: PathBuf,
        /// Its command, environment, working directory and labels.
        config: RunConfig,
    },
    /// A `.wasm` file on the host: a module or component run without an
    /// image, as `wasmtime run FILE` runs it.
    File(PathBuf),
    /// Wasm bytes (or WAT text), named `name` in errors and as `argv[0]`.
    Bytes {
        /// What to call the program.
        name: String,
        /// Its bytes.
        bytes: Vec<u8>,
    },
}

impl Source {
    /// Wasm bytes named `name`.
    pub fn bytes(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        Source::Bytes {
            name: name.into(),
            bytes: bytes.into(),
        }
    }
}

/// How an app is loaded: what its calls may ask for, which decides the
/// code it is compiled to, and the host functions it is given.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    interruptible: bool,
    fuel: bool,
    host: Vec<HostFunction>,
    component_host: Vec<ComponentHostFunction>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            interruptible: true,
            fuel: false,
            host: Vec::new(),
            component_host: Vec::new(),
        }
    }
}

impl LoadOptions {
    /// Interruptible (the default), for plugins and servers: calls can be
    /// given deadlines and cancel handles. No fuel counting.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether calls can be stopped at a deadline or by a [`CancelHandle`]
    /// while the process goes on: the app's code then carries epoch checks
    /// at every function entry and loop back-edge, which cost about 1.5×
    /// the instructions on tight loops (docs/speed.md). Without them, a
    /// call with a timeout must be [`TimeoutBy::Caller`].
    ///
    /// [`CancelHandle`]: super::CancelHandle
    pub fn interruptible(mut self, on: bool) -> Self {
        self.interruptible = on;
        self
    }

    /// Whether calls count fuel (needed for [`Call::fuel`] budgets, and on
    /// for an image whose `[limits]` set fuel): the code then counts every
    /// basic block.
    pub fn fuel(mut self, on: bool) -> Self {
        self.fuel = on;
        self
    }

    /// Gives core modules the host function `function`.
    pub fn host_function(mut self, function: HostFunction) -> Self {
        self.host.push(function);
        self
    }

    /// Gives components the host function `function`.
    pub fn component_host_function(mut self, function: ComponentHostFunction) -> Self {
        self.component_host.push(function);
        self
    }
}

/// A loaded app: compiled, linked, and called as often as its embedder
/// likes, from any thread or task. Every call gets a fresh instance with
/// its own memory, arguments, environment, stdio, mounts and `/tmp`:
/// nothing survives from one call to the next. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

struct AppInner {
    runtime: Runtime,
    checks: Checks,
    what: String,
    kind: Kind,
    linkers: Linkers,
    /// Programs linked so far: an image's calls may run several.
    programs: Mutex<HashMap<ProgramKey, Program>>,
}

/// What makes a linked program: the module's digest, and whether it
/// resumes a snapshot.
type ProgramKey = (Digest, bool);

enum Kind {
    Image(Box<ImageApp>),
    /// A module or component on its own, and the argument vector of a
    /// call that gives no arguments: `argv[0]` alone, the file name of what
    /// it was loaded from (shared, not copied, by such calls).
    Module(Program, Arc<[String]>),
}

/// What an app from an image keeps of it.
struct ImageApp {
    config: RunConfig,
    launch: Option<Launch>,
    limits: Limits,
    snapshot: Option<SnapshotRecord>,
    /// The directory holding the image's `/`.
    tree: PathBuf,
    /// The store's hold on it, and the digests it recorded, when the
    /// image is the store's.
    rootfs: Option<Rootfs>,
    store: Option<Store>,
}

impl App {
    pub(super) fn load(runtime: &Runtime, source: Source, options: LoadOptions) -> Result<Self> {
        let source = match source {
            Source::Context(context) => {
                let store = runtime.store().context("building an app needs a store")?;
                let built = build_with_runtime(
                    store,
                    &BuildOptions {
                        context,
                        manifest: None,
                        tags: Vec::new(),
                        source_date_epoch: None,
                        no_cache: false,
                    },
                    &mut |line| tracing::info!("{line}"),
                    Some(runtime),
                )?;
                Source::Image(built.id.to_string())
            }
            other => other,
        };
        match source {
            Source::Image(reference) => Self::load_image(runtime, &reference, options),
            Source::Rootfs { path, config } => {
                let what = path.display().to_string();
                Self::load_tree(runtime, what, config, path, None, options)
            }
            Source::File(path) => {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                Self::load_module(runtime, path.to_string_lossy().into_owned(), bytes, options)
            }
            Source::Bytes { name, bytes } => Self::load_module(runtime, name, bytes, options),
            Source::Context(_) => unreachable!("built above"),
        }
    }

    fn load_image(runtime: &Runtime, reference: &str, options: LoadOptions) -> Result<Self> {
        let store = runtime
            .store()
            .context("running an image needs a store")?
            .clone();
        let image = store.resolve(reference)?;
        image.check_platform()?;
        let rootfs = store.open_rootfs(&image)?;
        let tree = rootfs.tree().to_owned();
        Self::load_tree(
            runtime,
            reference.to_owned(),
            image.run_config(),
            tree,
            Some((rootfs, store)),
            options,
        )
    }

    /// An app of the image whose tree is `tree` and config `config`; `held`
    /// when the image is a store's.
    fn load_tree(
        runtime: &Runtime,
        what: String,
        config: RunConfig,
        tree: PathBuf,
        held: Option<(Rootfs, Store)>,
        options: LoadOptions,
    ) -> Result<Self> {
        let limits = config.limits()?;
        let checks = Checks {
            interrupt: options.interruptible,
            // `fuel = 0` is no budget: nothing to count.
            fuel: options.fuel || limits.fuel.is_some_and(|fuel| fuel != 0),
        };
        let engine = runtime.engine(checks)?;
        let (rootfs, store) = held.unzip();
        Ok(Self {
            inner: Arc::new(AppInner {
                runtime: runtime.clone(),
                checks,
                what,
                kind: Kind::Image(Box::new(ImageApp {
                    launch: config.launch()?,
                    snapshot: config.snapshot()?,
                    limits,
                    config,
                    tree,
                    rootfs,
                    store,
                })),
                linkers: Linkers::new(engine.engine(), options.host, options.component_host),
                programs: Mutex::new(HashMap::new()),
            }),
        })
    }

    fn load_module(
        runtime: &Runtime,
        name: String,
        bytes: Vec<u8>,
        options: LoadOptions,
    ) -> Result<Self> {
        let checks = Checks {
            interrupt: options.interruptible,
            fuel: options.fuel,
        };
        let engine = runtime.engine(checks)?;
        // WAT text is accepted where Wasm bytes are, as wasmtime does.
        let bytes = match wat::parse_bytes(&bytes) {
            Ok(std::borrow::Cow::Owned(wasm)) => wasm,
            Ok(std::borrow::Cow::Borrowed(_)) => bytes,
            Err(e) => {
                return Err(RunError::NotRunnable {
                    what: name,
                    reason: format!("it is neither WebAssembly nor valid WAT text: {e}"),
                }
                .into());
            }
        };
        let digest = digest::sha256(&bytes);
        let compiled = engine.load(&name, &digest, || Ok(bytes))?;
        let linkers = Linkers::new(engine.engine(), options.host, options.component_host);
        let program = linkers.link(&name, compiled, None, false)?;
        let argv0 = Path::new(&name)
            .file_name()
            .map_or_else(|| name.clone(), |n| n.to_string_lossy().into_owned());
        Ok(Self {
            inner: Arc::new(AppInner {
                runtime: runtime.clone(),
                checks,
                what: name,
                kind: Kind::Module(program, Arc::new([argv0])),
                linkers,
                programs: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Whether calls can be given deadlines and cancel handles
    /// ([`LoadOptions::interruptible`]).
    pub fn interruptible(&self) -> bool {
        self.inner.checks.interrupt
    }

    /// Whether calls count fuel ([`LoadOptions::fuel`]).
    pub fn metered(&self) -> bool {
        self.inner.checks.fuel
    }

    /// The limits the app's image sets (`[limits]`), which calls override.
    pub fn image_limits(&self) -> Limits {
        match &self.inner.kind {
            Kind::Image(image) => image.limits,
            Kind::Module(..) => Limits::default(),
        }
    }

    /// Runs one call to completion on the calling thread, and says how it
    /// ended. See [`PreparedCall::run`] for the threads it may be made from.
    ///
    /// # Errors
    ///
    /// When the call cannot be started: a [`RunError`] (no such command,
    /// not runnable, limits the app cannot enforce, a full pool), a bad
    /// mount, a store error. How the guest ended, a trap or a limit
    /// included, is the `Ok` [`super::Outcome`].
    pub fn call(&self, call: Call) -> Result<super::Outcome> {
        self.prepare(call)?.run()
    }

    /// [`App::call`], for async callers: the guest runs on a stack
    /// wasmtime owns, and waits (for stdin, a sleep, a pool slot) without
    /// blocking the task's thread.
    ///
    /// The call is prepared ([`App::prepare`]) when this is called, on the
    /// calling task, and the future returned runs it: it borrows nothing, so
    /// it can be spawned as it is. The first call of an image that runs a
    /// given program loads it (from the artifact cache, or by compiling
    /// it); a server that minds can make one call, or prepare one, on a
    /// blocking thread first. The future of a module's call is about
    /// 1.6 KiB (wasmtime's instantiation and call futures are in it, the
    /// prepared call is boxed; a component's call is boxed whole); it is not
    /// boxed itself, since boxing cost more per call than it saved, so a
    /// caller that keeps many at once may box them (`tokio::spawn` does).
    ///
    /// # Errors
    ///
    /// As [`App::call`]; an error of preparing the call is the future's.
    pub fn call_async(
        &self,
        call: Call,
    ) -> impl Future<Output = Result<super::Outcome>> + Send + 'static {
        use futures_util::future::{Either, ready};
        // Not an `async fn`: one would hold the call, and the prepared call
        // beside the future it moves into, for as long as the guest runs.
        match self.prepare(call) {
            Ok(prepared) => Either::Left(prepared.run_async()),
            Err(error) => Either::Right(ready(Err(error))),
        }
    }

    /// Resolves, compiles and checks everything a call needs without
    /// starting the guest, so that its limits and warnings can be read
    /// first.
    ///
    /// # Errors
    ///
    /// As [`App::call`].
    pub fn prepare(&self, call: Call) -> Result<PreparedCall> {
        let mut phases = Phases::start();
        let limits = EffectiveLimits::resolve(&call.limits, &self.image_limits());
        self.check_enforceable(&call, &limits)?;
        let store = match &self.inner.kind {
            Kind::Image(image) => image.store.as_ref().or(self.inner.runtime.store()),
            Kind::Module(..) => self.inner.runtime.store(),
        };
        if let Some(store) = store {
            refuse_store_mounts(store, &call.mounts)?;
        }
        let tmp = if call.no_tmp {
            None
        } else {
            Some(self.inner.runtime.scratch_dirs().take(store)?)
        };
        let tmp_path = tmp.as_ref().map(|t| t.path());
        let plan = match &self.inner.kind {
            Kind::Image(image) => self.plan_image(image, &call, tmp_path, &mut phases)?,
            Kind::Module(..) => self.plan_module(&call, tmp_path)?,
        };
        Ok(PreparedCall::new(Prepared {
            app: self.clone(),
            runs: plan.runs,
            env: plan.env,
            fs: plan.fs,
            workdir: plan.workdir,
            limits,
            timeout_by: call.timeout_by,
            stdio: std::sync::Mutex::new(Some(Stdio {
                stdin: call.stdin,
                stdout: call.stdout,
                stderr: call.stderr,
            })),
            cancel: call.cancel,
            tmp,
            phases: phases.active().then(|| std::sync::Mutex::new(phases)),
            exiting: false,
        }))
    }

    /// Refuses a call whose limits the app's code cannot enforce.
    fn check_enforceable(&self, call: &Call, limits: &EffectiveLimits) -> Result<()> {
        let what = || self.inner.what.clone();
        if !self.interruptible() {
            if let (Some(timeout), TimeoutBy::Guest) = (limits.timeout, call.timeout_by) {
                return Err(RunError::NotInterruptible {
                    what: what(),
                    why: format!(
                        "a timeout of {} (give it with TimeoutBy::Caller to enforce it yourself)",
                        humantime::format_duration(timeout)
                    ),
                }
                .into());
            }
            if call.cancel.is_some() {
                return Err(RunError::NotInterruptible {
                    what: what(),
                    why: "a cancel handle".into(),
                }
                .into());
            }
        }
        if limits.fuel.is_some() && !self.metered() {
            return Err(RunError::NotMetered { what: what() }.into());
        }
        Ok(())
    }

    /// What a call of an image runs: the command its arguments (or the
    /// image's entrypoint and cmd) name, found in the image's `PATH`,
    /// compiled and linked on first use, resuming the image's snapshot
    /// when that is what it runs.
    fn plan_image(
        &self,
        image: &ImageApp,
        call: &Call,
        tmp: Option<&Path>,
        phases: &mut Phases,
    ) -> Result<Plan> {
        let inner = &self.inner;
        let config = &image.config;
        let workdir = match &call.workdir {
            Some(w) => guest_path::resolve(&config.workdir, w),
            None => guest_path::resolve("/", &config.workdir),
        };
        phases.mark("resolve");
        let fs = GuestFs::plan_shared(
            Some(&image.tree),
            &call.mounts,
            tmp,
            &workdir,
            inner.runtime.empty_dirs(),
        )?;
        let mut argv = command::command_line(
            config,
            call.entrypoint.as_deref(),
            call.args.as_deref().unwrap_or(&[]),
        )?;
        let mut env = env::merge(&config.env, &call.env);
        let path_var = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map_or(DEFAULT_PATH, |(_, v)| v.as_str())
            .to_owned();
        let located = command::locate(&fs, &argv[0], &path_var, &workdir)?;
        let file = program_file(&fs, image.rootfs.as_ref(), &located)?;
        // The image's snapshot, when that is what runs (a mount over it
        // runs what the mount holds).
        let resume = image.snapshot.as_ref().is_some_and(|record| {
            record.digest == file.digest.to_string()
                && fs.canonical(&located).ok().as_deref() == Some(&record.module)
        });
        phases.mark("plan");
        // Programs of the image are kept linked; one a mount serves is
        // linked for this call only (mounts change between calls).
        let served_by_image = file.bytes.is_none();
        let key = (file.digest.clone(), resume);
        let cached = inner
            .programs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        let program = match cached {
            Some(program) => program,
            None => {
                let engine = inner.runtime.engine(inner.checks)?;
                let compiled = engine.load(&argv[0], &file.digest, || match file.bytes {
                    Some(bytes) => Ok(bytes),
                    None => read_guest_file(&fs, &located),
                })?;
                phases.mark("load");
                let program =
                    inner
                        .linkers
                        .link(&argv[0], compiled, image.launch.as_ref(), resume)?;
                phases.mark("link");
                if served_by_image {
                    inner
                        .programs
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key, program.clone());
                }
                program
            }
        };
        env.retain(|(k, _)| !call.unset.contains(k));
        if !env.iter().any(|(k, _)| k == "PATH") {
            env.push(("PATH".into(), DEFAULT_PATH.into()));
        }
        // A preview 1 guest starts in `/` whatever the host says (wasi-libc
        // has no hook for it): it is told its working directory in `PWD`,
        // as a shell tells a program, and can `chdir` there.
        if workdir != "/" && !env.iter().any(|(k, _)| k == "PWD") {
            env.push(("PWD".into(), workdir.clone()));
        }
        // CPython makes a relative script path absolute against `/`
        // before anything in the image can change directory: given
        // absolute, `__file__` and `sys.path[0]` are the workdir's, as in
        // Docker (the image's `site` hook then changes directory).
        let python_command = image.launch.is_none()
            && config
                .labels
                .contains_key(crate::build::python::VERSION_LABEL)
            && guest_path::file_name(&located).starts_with("python");
        if let Some(index) = command::python_script(&argv).filter(|_| python_command) {
            argv[index] = guest_path::resolve(&workdir, &argv[index]);
        }
        Ok(Plan {
            runs: Runs::Own {
                program,
                argv: argv.into(),
            },
            env,
            fs,
            workdir: Cow::Owned(workdir),
        })
    }

    /// What a call of a bare module runs: the module, with the call's
    /// arguments after its name.
    fn plan_module(&self, call: &Call, tmp: Option<&Path>) -> Result<Plan> {
        if call.entrypoint.is_some() {
            bail!("an entrypoint override needs an image; a .wasm file is its own entrypoint");
        }
        let workdir = match call.workdir.as_deref() {
            None | Some("/") => Cow::Borrowed("/"),
            Some(dir) => Cow::Owned(guest_path::resolve("/", dir)),
        };
        let fs = GuestFs::plan_shared(
            None,
            &call.mounts,
            tmp,
            &workdir,
            self.inner.runtime.empty_dirs(),
        )?;
        let runs = match call.args.as_deref() {
            None | Some([]) => Runs::AppsOwn,
            Some(args) => {
                let (program, bare) = self.bare();
                Runs::Own {
                    program: program.clone(),
                    argv: bare.iter().chain(args).cloned().collect(),
                }
            }
        };
        let mut env: Vec<env::EnvVar> = env::merge(&[], &call.env)
            .into_iter()
            .filter(|(k, _)| !call.unset.contains(k))
            .collect();
        if workdir != "/" && !env.iter().any(|(k, _)| k == "PWD") {
            env.push(("PWD".into(), workdir.to_string()));
        }
        Ok(Plan {
            runs,
            env,
            fs,
            workdir,
        })
    }

    pub(super) fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    pub(super) fn checks(&self) -> Checks {
        self.inner.checks
    }

    /// A bare module's program, and the argument vector of its calls
    /// that give no arguments.
    ///
    /// # Panics
    ///
    /// When the app is an image's: only a bare module's calls run the
    /// app's own program ([`Runs::AppsOwn`]).
    pub(super) fn bare(&self) -> (&Program, &[String]) {
        match &self.inner.kind {
            Kind::Module(program, argv) => (program, argv),
            Kind::Image(_) => unreachable!("an image's calls run programs of their own"),
        }
    }

    /// The engine the app's programs are compiled for.
    pub(super) fn engine(&self) -> &wasmtime::Engine {
        self.inner.linkers.engine()
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("what", &self.inner.what)
            .field("checks", &self.inner.checks)
            .finish_non_exhaustive()
    }
}

/// What a call runs, and in what.
struct Plan {
    runs: Runs,
    env: Vec<env::EnvVar>,
    fs: GuestFs,
    workdir: Cow<'static, str>,
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

/// The bytes of the file at guest path `program`.
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
