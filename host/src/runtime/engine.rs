//! The wasmtime engine guests run on, and the cache of modules compiled
//! ahead of time for it.
//!
//! Compiling CPython takes seconds; loading its compiled artifact takes a
//! millisecond. Artifacts live in the store under
//! `artifacts/<engine>/<module digest>.cwasm`, where `<engine>` hashes
//! wasmtime's own compatibility key (its version and every setting that
//! changes generated code): an artifact from another wharf build or engine
//! configuration is never even looked at.
//!
//! Mapping an artifact runs its machine code, so one is only loaded when
//! wharf can vouch for it: beside each artifact, a record (`.json`) holds
//! the SHA-256 of the bytes wharf wrote. The first load hashes the artifact
//! and compares; later loads trust it while its size and modification time
//! are those it had when it was last verified, and hash it again when they
//! are not. An artifact that is missing its record, truncated or damaged is
//! compiled again (and `--verbose` says why). The record guards against
//! accidents, not against someone who can write the store: like the images
//! in it, the store is trusted, and runs refuse mounts that would hand it
//! to a guest. A module is compiled only from bytes that hash to the
//! digest it is cached under.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use oci_spec::image::Digest;
use serde::{Deserialize, Serialize};
use wasmtime::component::Component;
use wasmtime::{
    Config, Engine, ExternType, ImportType, InstancePre, Linker, Module, ModuleVersionStrategy,
    Store, Val, ValType,
};
use wasmtime_wasi::p2::bindings::sync::CommandPre;
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

use super::{ComponentState, ModuleState, RunError};
use crate::digest;
use crate::launch::Launch;

/// A program compiled for the engine: a core module (WASI preview 1) or a
/// component (WASI preview 2).
#[derive(Clone)]
pub enum Compiled {
    /// A core WebAssembly module.
    Module(Module),
    /// A WebAssembly component.
    Component(Component),
}

/// A program linked against WASI and ready to instantiate: what a run
/// starts from. Cheap to clone.
#[derive(Clone)]
pub enum Program {
    /// A preview 1 module, and how it is started.
    Module(InstancePre<ModuleState>, Start),
    /// A preview 2 command component.
    Component(CommandPre<ComponentState>),
}

/// How a linked core module is started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// A WASI command: call `_start`.
    Command,
    /// A reactor, as its image's [`Launch`] says: call the `init` exports
    /// it has, then `entry`.
    Reactor {
        /// Initialisers the module exports, in order.
        init: Vec<String>,
        /// The entry function.
        entry: String,
        /// Whether `entry` returns the exit status (`() -> i32`) rather
        /// than nothing.
        returns_status: bool,
    },
    /// A reactor driven by requests, as its image's `[launch.snapshot]`
    /// says: call the `init` exports it has (none for a snapshot, which ran
    /// them at build time), then write the run's request into guest memory
    /// from `alloc` and pass it to `call`. Snapshots and fresh starts of
    /// such an image run the same request, so that they behave the same.
    Request {
        /// Initialisers the module exports, in order.
        init: Vec<String>,
        /// Export `(len) -> ptr`.
        alloc: String,
        /// Export `(ptr, len) -> status`.
        call: String,
        /// The `define` request to make first, on a fresh start (a snapshot
        /// made it at build time).
        define: Option<String>,
        /// The request template, with `{argv}` and `{env}`.
        request: String,
    },
}

/// The checks compiled into a guest's code. Each costs the guest
/// instructions on every function call and loop iteration, so a run gets
/// only those its limits need, and each combination is an engine (and a
/// set of compiled artifacts) of its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Checks {
    /// Epoch checks at every function entry and loop back-edge, through
    /// which a deadline stops a guest that computes without ending the
    /// process (wasmtime's `Config::epoch_interruption`).
    pub interrupt: bool,
    /// Fuel counting: a deterministic budget of about one unit per Wasm
    /// instruction (wasmtime's `Config::consume_fuel`).
    pub fuel: bool,
}

impl Checks {
    /// Every combination, the one without checks first.
    pub const ALL: [Checks; 4] = [
        Checks {
            interrupt: false,
            fuel: false,
        },
        Checks {
            interrupt: true,
            fuel: false,
        },
        Checks {
            interrupt: false,
            fuel: true,
        },
        Checks {
            interrupt: true,
            fuel: true,
        },
    ];

    /// Its place in [`Checks::ALL`].
    pub fn index(self) -> usize {
        usize::from(self.interrupt) + 2 * usize::from(self.fuel)
    }
}

/// The Wasm stack a guest may use: 8 MiB, a native process's usual main
/// stack (wasmtime's default is 512 KiB). CPython 3.15 needs this much to
/// turn deep recursion into a Python `RecursionError` rather than a trap.
pub const WASM_STACK: usize = 8 << 20;

/// The native stack of the thread a guest runs on: its Wasm stack, plus
/// room for wasmtime and the WASI calls it makes.
pub const GUEST_THREAD_STACK: usize = WASM_STACK + (4 << 20);

/// The engine, with its artifact cache, its WASI linkers and the programs
/// it has linked so far (so that an embedder running the same program
/// again only instantiates it).
pub struct GuestEngine {
    engine: Engine,
    checks: Checks,
    cache: Option<ArtifactCache>,
    // Made on first use: a run needs one of the two, never both.
    modules: OnceLock<ModuleLinker>,
    components: OnceLock<wasmtime::component::Linker<ComponentState>>,
    programs: Mutex<HashMap<ProgramKey, Program>>,
    /// Whether modules loaded from the cache stay mapped until the process
    /// exits (see [`GuestEngine::pin_loaded_modules`]).
    pinning: bool,
}

/// What makes a linked program: the module's digest, how it is launched,
/// and whether it resumes a snapshot.
type ProgramKey = (Digest, Option<Launch>, bool);

/// Everything a preview 1 linker provides, as (module, name) pairs.
pub(super) type Provided = HashSet<(String, String)>;

/// The preview 1 linker and the names of everything it provides.
struct ModuleLinker {
    linker: Linker<ModuleState>,
    provided: Provided,
}

/// Compiled modules on disk, for one engine configuration.
#[derive(Clone, Debug)]
struct ArtifactCache {
    dir: PathBuf,
    staging: PathBuf,
}

/// What wharf records about an artifact it wrote.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct ArtifactRecord {
    /// A module or a component.
    component: bool,
    /// SHA-256 of the artifact's bytes.
    sha256: String,
    /// Its length.
    size: u64,
    /// The file's length and modification time (ns since the epoch) when
    /// its bytes were last checked against `sha256`.
    verified: Option<(u64, u128)>,
}

/// Why a cached artifact was not used.
#[derive(Debug, PartialEq, Eq)]
enum Rejection {
    Missing,
    Unrecorded,
    Truncated { expected: u64, actual: u64 },
    Changed,
    Unloadable(String),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::Missing => write!(f, "not compiled yet"),
            Rejection::Unrecorded => write!(f, "wharf has no record of writing it"),
            Rejection::Truncated { expected, actual } => {
                write!(f, "it is truncated ({actual} of {expected} bytes)")
            }
            Rejection::Changed => write!(f, "its bytes changed since wharf wrote them"),
            Rejection::Unloadable(why) => write!(f, "wasmtime refused it: {why}"),
        }
    }
}

impl GuestEngine {
    /// An engine whose code has the `checks` given, with its artifacts
    /// cached under `store_root` (no cache when `None`).
    pub fn new(store_root: Option<&Path>, checks: Checks) -> Result<Self> {
        let engine = Engine::new(&engine_config(checks)).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let cache = store_root.map(|root| ArtifactCache {
            dir: root.join("artifacts").join(engine_key(&engine)),
            staging: root.join("tmp"),
        });

        Ok(Self {
            engine,
            checks,
            cache,
            modules: OnceLock::new(),
            components: OnceLock::new(),
            programs: Mutex::new(HashMap::new()),
            pinning: false,
        })
    }

    /// The checks compiled into this engine's code.
    pub fn checks(&self) -> Checks {
        self.checks
    }

    /// Keeps every module loaded from now on from the artifact cache mapped
    /// until the process exits, so that its per-function tables are read
    /// where they lie in the artifact instead of being copied into memory of
    /// their own (1.6 MB, in 400 fresh pages, for a CPython with its
    /// scientific stack compiled in). For a process that runs a guest and
    /// exits; a long-lived embedder that loads many modules should not.
    pub fn pin_loaded_modules(&mut self) {
        self.pinning = true;
    }

    /// Whether [`GuestEngine::pin_loaded_modules`] was called.
    pub fn pins_loaded_modules(&self) -> bool {
        self.pinning
    }

    fn module_linker(&self) -> Result<&ModuleLinker> {
        if let Some(linker) = self.modules.get() {
            return Ok(linker);
        }
        let (linker, provided) = wasi_linker(&self.engine)?;
        Ok(self
            .modules
            .get_or_init(|| ModuleLinker { linker, provided }))
    }

    fn component_linker(&self) -> Result<&wasmtime::component::Linker<ComponentState>> {
        if let Some(linker) = self.components.get() {
            return Ok(linker);
        }
        let mut linker = wasmtime::component::Linker::<ComponentState>::new(&self.engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        Ok(self.components.get_or_init(|| linker))
    }

    /// The program with digest `digest`, linked and ready to instantiate:
    /// from this engine's memory, its artifact cache, or compiled from
    /// `bytes()`. `launch` is its image's launch convention (none: a
    /// command). `what` names the program in errors.
    pub fn program(
        &self,
        what: &str,
        digest: &Digest,
        launch: Option<&Launch>,
        bytes: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<Program> {
        self.program_marked(what, digest, launch, false, bytes, &mut |_| {})
    }

    /// [`GuestEngine::program`], for a snapshot to resume when `resume`,
    /// calling `mark("load")` once the compiled program is in memory and
    /// `mark("link")` once it is linked.
    pub(crate) fn program_marked(
        &self,
        what: &str,
        digest: &Digest,
        launch: Option<&Launch>,
        resume: bool,
        bytes: impl FnOnce() -> Result<Vec<u8>>,
        mark: &mut dyn FnMut(&'static str),
    ) -> Result<Program> {
        let key = (digest.clone(), launch.cloned(), resume);
        if let Some(program) = self.programs.lock().expect("program cache").get(&key) {
            return Ok(program.clone());
        }
        let compiled = self.load(what, digest, bytes)?;
        mark("load");
        let program = self.link(what, compiled, launch, resume)?;
        mark("link");
        self.programs
            .lock()
            .expect("program cache")
            .insert(key, program.clone());
        Ok(program)
    }

    /// Links a compiled program against WASI (and the answers its launch
    /// convention gives), naming every import wharf does not provide and
    /// checking that it can be started the way its image says.
    fn link(
        &self,
        what: &str,
        compiled: Compiled,
        launch: Option<&Launch>,
        resume: bool,
    ) -> Result<Program> {
        let not_runnable = |reason: String| RunError::NotRunnable {
            what: what.to_owned(),
            reason,
        };
        match compiled {
            Compiled::Module(module) => {
                let linker = self.module_linker()?;
                let mut answered = Vec::new();
                let mut missing = Vec::new();
                for import in module.imports() {
                    let key = (import.module().to_owned(), import.name().to_owned());
                    if linker.provided.contains(&key) {
                        continue;
                    }
                    match launch.and_then(|l| l.answer_for(import.module(), import.name())) {
                        Some(value) => answered.push((import, value)),
                        None => missing.push(format!("{}::{}", import.module(), import.name())),
                    }
                }
                if !missing.is_empty() {
                    return Err(not_runnable(format!(
                        "it imports {}, which wharf does not provide (wharf provides WASI preview 1 and preview 2)",
                        missing.join(", ")
                    ))
                    .into());
                }
                let start = match launch {
                    Some(launch) if launch.snapshot.is_some() => {
                        request_of(&module, launch, resume).map_err(not_runnable)?
                    }
                    _ if resume => {
                        return Err(not_runnable(
                            "it is a snapshot, but its image's [launch] does not say how to resume one"
                                .into(),
                        )
                        .into());
                    }
                    _ => start_of(&module, launch).map_err(not_runnable)?,
                };
                let pre = if answered.is_empty() {
                    linker.linker.instantiate_pre(&module)
                } else {
                    let mut answering = linker.linker.clone();
                    for (import, value) in answered {
                        answer(&mut answering, &import, value).map_err(not_runnable)?;
                    }
                    answering.instantiate_pre(&module)
                }
                .map_err(|e| not_runnable(format!("{e:#}")))?;
                Ok(Program::Module(pre, start))
            }
            Compiled::Component(component) => {
                if launch.is_some() {
                    return Err(not_runnable(
                        "it is a component, and its image's [launch] convention applies to core modules only"
                            .into(),
                    )
                    .into());
                }
                let pre = self
                    .component_linker()?
                    .instantiate_pre(&component)
                    .and_then(CommandPre::new)
                    .map_err(|e| not_runnable(format!("{e:#}")))?;
                Ok(Program::Component(pre))
            }
        }
    }

    /// The name of this engine's artifact directory: a hash of wasmtime's
    /// compatibility key.
    pub fn key(&self) -> String {
        engine_key(&self.engine)
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads the compiled program with digest `digest` from the artifact
    /// cache, or compiles `bytes()` and caches the result.
    pub fn load(
        &self,
        what: &str,
        digest: &Digest,
        bytes: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<Compiled> {
        if let Some(cache) = &self.cache {
            match cache.load(&self.engine, digest, self.pinning) {
                Ok(compiled) => return Ok(compiled),
                Err(Rejection::Missing) => {}
                Err(why) => crate::verbose!(
                    "compiling {what} again: the cached artifact is unusable: {why}"
                ),
            }
        }
        let bytes = bytes()?;
        // Never cache (or run) bytes under a digest they do not have.
        let actual = digest::sha256(&bytes);
        if actual != *digest {
            anyhow::bail!("{what} changed: expected {digest}, read bytes hashing to {actual}");
        }
        let compiled = self.compile(what, &bytes)?;
        if let Some(cache) = &self.cache
            && let Err(e) = cache.save(digest, &compiled)
        {
            crate::verbose!("cannot cache the compiled {what}: {e:#}");
        }
        Ok(compiled)
    }

    /// Whether a usable compiled artifact for `digest` is in the cache.
    pub fn is_cached(&self, digest: &Digest) -> bool {
        self.cache
            .as_ref()
            .is_some_and(|cache| cache.check(digest).is_ok())
    }

    /// Compiles a module or component.
    pub fn compile(&self, what: &str, bytes: &[u8]) -> Result<Compiled> {
        let not_runnable = |reason: String| RunError::NotRunnable {
            what: what.to_owned(),
            reason,
        };
        if !bytes.starts_with(crate::layer::WASM_MAGIC) {
            let shown: String = bytes
                .iter()
                .take(4)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ");
            return Err(not_runnable(format!(
                "it is not a WebAssembly binary (it starts with bytes {shown}, not 00 61 73 6d)"
            ))
            .into());
        }
        let result = if wasmparser::Parser::is_component(bytes) {
            Component::new(&self.engine, bytes).map(Compiled::Component)
        } else {
            Module::new(&self.engine, bytes).map(Compiled::Module)
        };
        result.map_err(|e| {
            not_runnable(format!("it is not a valid WebAssembly program: {e:#}")).into()
        })
    }
}

/// The engine configuration guests run with: wasmtime's defaults (whose
/// memory reservations and guard pages let the code skip explicit bounds
/// checks on 64-bit hosts), a larger Wasm stack, wharf's artifact version,
/// and the `checks` asked for, nothing else that changes generated code.
pub(super) fn engine_config(checks: Checks) -> Config {
    let mut config = Config::new();
    config.parallel_compilation(true);
    config.epoch_interruption(checks.interrupt);
    config.consume_fuel(checks.fuel);
    // wasmtime refuses a Wasm stack larger than the stack it would give
    // async calls (which wharf does not make).
    config.async_stack_size(WASM_STACK + (1 << 20));
    config.max_wasm_stack(WASM_STACK);
    // Artifacts are written in the patched wasmtime-environ's format, which
    // an upstream wasmtime must not read (nor this one an upstream
    // artifact); the version is also part of the engine's cache key.
    config
        .module_version(ModuleVersionStrategy::Custom(
            wasmtime_environ::ARTIFACT_VERSION.to_owned(),
        ))
        .expect("the artifact version is shorter than 255 bytes");
    config
}

/// A preview 1 linker for `engine`, and the names of everything it
/// provides.
pub(super) fn wasi_linker(engine: &Engine) -> Result<(Linker<ModuleState>, Provided)> {
    let mut linker: Linker<ModuleState> = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state| &mut state.wasi)?;
    // wasmtime-wasi refuses exit statuses from 126 up; Docker passes every
    // status through, and so does wharf.
    linker.allow_shadowing(true);
    linker.func_wrap(
        "wasi_snapshot_preview1",
        "proc_exit",
        |status: i32| -> wasmtime::Result<()> { Err(I32Exit(status).into()) },
    )?;
    let mut scratch = Store::new(
        engine,
        ModuleState::new(WasiCtxBuilder::new().build_p1(), u64::MAX),
    );
    let provided = linker
        .iter(&mut scratch)
        .map(|(module, name, _)| (module.to_owned(), name.to_owned()))
        .collect();
    Ok((linker, provided))
}

/// How `module` is started: `_start` for a command, or the exports its
/// launch convention names, checked against their types.
fn start_of(module: &Module, launch: Option<&Launch>) -> Result<Start, String> {
    let Some(launch) = launch else {
        return match module.get_export("_start") {
            Some(ExternType::Func(f)) if f.params().len() == 0 && f.results().len() == 0 => {
                Ok(Start::Command)
            }
            Some(_) => Err("its `_start` export is not a command entry point (`() -> ()`)".into()),
            None => Err(
                "it has no `_start` export: it is a library (reactor), not a command; an image can say how to start it with [launch]"
                    .into(),
            ),
        };
    };
    let init = init_exports(module, launch)?;
    let entry = &launch.entry;
    let returns_status = match module.get_export(entry) {
        Some(ExternType::Func(f)) if f.params().len() == 0 => {
            let results: Vec<ValType> = f.results().collect();
            match results.as_slice() {
                [] => false,
                [ValType::I32] => true,
                _ => {
                    return Err(format!(
                        "its `{entry}` export, the [launch] entry, must be `() -> i32` or `() -> ()`"
                    ));
                }
            }
        }
        Some(_) => {
            return Err(format!(
                "its `{entry}` export, the [launch] entry, must be `() -> i32` or `() -> ()`"
            ));
        }
        None => {
            return Err(format!(
                "it has no `{entry}` export, which its image's [launch] names as the entry"
            ));
        }
    };
    Ok(Start::Reactor {
        init,
        entry: entry.clone(),
        returns_status,
    })
}

/// The `init` exports of `launch` that `module` has, checked to be
/// `() -> ()`.
fn init_exports(module: &Module, launch: &Launch) -> Result<Vec<String>, String> {
    let mut init = Vec::new();
    for name in &launch.init {
        match module.get_export(name) {
            None => {}
            Some(ExternType::Func(f)) if f.params().len() == 0 && f.results().len() == 0 => {
                init.push(name.clone());
            }
            Some(_) => {
                return Err(format!(
                    "its `{name}` export, named by [launch] init, is not a function `() -> ()`"
                ));
            }
        }
    }
    Ok(init)
}

/// How a module of an image with `[launch.snapshot]` is run, from its
/// snapshot (`snapshot`) or afresh, checked against its exports.
fn request_of(module: &Module, launch: &Launch, snapshot: bool) -> Result<Start, String> {
    let Some(convention) = launch.snapshot.as_ref() else {
        return Err("its image's [launch] has no [launch.snapshot]".into());
    };
    let has = |name: &str, params: &[ValType], results: &[ValType]| match module.get_export(name) {
        Some(ExternType::Func(f)) => {
            f.params()
                .map(|p| p.to_string())
                .eq(params.iter().map(|p| p.to_string()))
                && f.results()
                    .map(|r| r.to_string())
                    .eq(results.iter().map(|r| r.to_string()))
        }
        _ => false,
    };
    if !has(&convention.alloc, &[ValType::I32], &[ValType::I32]) {
        return Err(format!(
            "its `{}` export, the [launch.snapshot] alloc, must be `(i32) -> i32`",
            convention.alloc
        ));
    }
    if !has(
        &convention.call,
        &[ValType::I32, ValType::I32],
        &[ValType::I32],
    ) {
        return Err(format!(
            "its `{}` export, the [launch.snapshot] call, must be `(i32, i32) -> i32`",
            convention.call
        ));
    }
    if !matches!(module.get_export("memory"), Some(ExternType::Memory(_))) {
        return Err("it exports no `memory` to write a request into".into());
    }
    Ok(Start::Request {
        init: if snapshot {
            Vec::new()
        } else {
            init_exports(module, launch)?
        },
        alloc: convention.alloc.clone(),
        call: convention.call.clone(),
        define: (!snapshot && !convention.define.is_empty()).then(|| convention.define.clone()),
        request: convention.resume.clone(),
    })
}

/// Defines import `import` as a function that returns `value` from every
/// call, whatever its arguments.
pub(super) fn answer(
    linker: &mut Linker<ModuleState>,
    import: &ImportType<'_>,
    value: i64,
) -> Result<(), String> {
    let ExternType::Func(ty) = import.ty() else {
        return Err(format!(
            "its import {}::{} is not a function, so [launch] answer cannot provide it",
            import.module(),
            import.name()
        ));
    };
    let mut results = Vec::new();
    for result in ty.results() {
        results.push(match result {
            ValType::I32 => Val::I32(value as i32),
            ValType::I64 => Val::I64(value),
            other => {
                return Err(format!(
                    "its import {}::{} returns {other}, and [launch] answer can only return integers",
                    import.module(),
                    import.name()
                ));
            }
        });
    }
    linker
        .func_new(
            import.module(),
            import.name(),
            ty.clone(),
            move |_, _, out| {
                out.clone_from_slice(&results);
                Ok(())
            },
        )
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}

impl ArtifactCache {
    fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!("{}.cwasm", digest::hex(digest)))
    }

    fn record_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!("{}.json", digest::hex(digest)))
    }

    /// Checks an artifact against its record, hashing it when its size or
    /// time changed since it was last verified. Returns its path and
    /// whether it is a component.
    fn check(&self, digest: &Digest) -> Result<(PathBuf, bool), Rejection> {
        let path = self.path(digest);
        let meta = std::fs::metadata(&path).map_err(|_| Rejection::Missing)?;
        let record_path = self.record_path(digest);
        let record: ArtifactRecord = std::fs::read(&record_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(Rejection::Unrecorded)?;
        if meta.len() != record.size {
            return Err(Rejection::Truncated {
                expected: record.size,
                actual: meta.len(),
            });
        }
        let stamp = stamp(&meta);
        if record.verified == Some(stamp) {
            return Ok((path, record.component));
        }
        let actual = std::fs::File::open(&path)
            .map(BufReader::new)
            .and_then(digest::sha256_reader)
            .map_err(|_| Rejection::Missing)?;
        if actual.to_string() != record.sha256 {
            return Err(Rejection::Changed);
        }
        // Remember the check; failing to is only a slower next start.
        let component = record.component;
        let verified = ArtifactRecord {
            verified: Some(stamp),
            ..record
        };
        let _ = self.write_record(digest, &verified);
        Ok((path, component))
    }

    /// Loads the artifact of `digest`; a `pinned` one is never unmapped.
    fn load(&self, engine: &Engine, digest: &Digest, pinned: bool) -> Result<Compiled, Rejection> {
        let (path, component) = self.check(digest)?;
        // SAFETY: `deserialize_file` trusts its input to be an artifact this
        // engine produced. `check` has just matched the file against the
        // SHA-256 wharf recorded when it wrote it (or against the size and
        // time it had at the last such match), it lives in a directory keyed
        // by this engine's compatibility hash, and wasmtime checks its
        // header and settings again before mapping it.
        // Loading writes every byte of the tables it decodes.
        let deserialize = || {
            super::alloc::populating(|| unsafe {
                if component {
                    Component::deserialize_file(engine, &path).map(Compiled::Component)
                } else {
                    Module::deserialize_file(engine, &path).map(Compiled::Module)
                }
            })
        };
        let loaded = if pinned {
            // SAFETY: the clone forgotten below keeps the artifact's mapping
            // alive until the process exits, as reading tables in place
            // requires, and wharf never writes an artifact in place (`save`
            // renames a new file over an old one), so the mapped file stays
            // as it was: what `deserialize_file` itself relies on.
            let loaded = unsafe { wasmtime_environ::borrow_tables_from_artifacts(deserialize) };
            if let Ok(compiled) = &loaded {
                std::mem::forget(compiled.clone());
            }
            loaded
        } else {
            deserialize()
        };
        let loaded = loaded.map_err(|e| Rejection::Unloadable(format!("{e:#}")))?;
        super::large_folios::advise_module(match &loaded {
            Compiled::Module(m) => m.image_range(),
            Compiled::Component(c) => c.image_range(),
        });
        Ok(loaded)
    }

    fn save(&self, digest: &Digest, compiled: &Compiled) -> Result<()> {
        let bytes = match compiled {
            Compiled::Module(m) => m.serialize(),
            Compiled::Component(c) => c.serialize(),
        }
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let mut temp = self.temp()?;
        temp.write_all(&bytes)?;
        temp.as_file().sync_all()?;
        let path = self.path(digest);
        temp.persist(&path)?;
        let meta = std::fs::metadata(&path)?;
        self.write_record(
            digest,
            &ArtifactRecord {
                component: matches!(compiled, Compiled::Component(_)),
                sha256: digest::sha256(&bytes).to_string(),
                size: bytes.len() as u64,
                verified: Some(stamp(&meta)),
            },
        )
    }

    fn write_record(&self, digest: &Digest, record: &ArtifactRecord) -> Result<()> {
        let mut temp = self.temp()?;
        temp.write_all(&serde_json::to_vec(record)?)?;
        temp.persist(self.record_path(digest))?;
        Ok(())
    }

    fn temp(&self) -> Result<tempfile::NamedTempFile> {
        tempfile::NamedTempFile::new_in(&self.staging)
            .or_else(|_| tempfile::NamedTempFile::new_in(&self.dir))
            .context("cannot create a temporary file for a compiled artifact")
    }
}

/// A file's length and modification time, which change when it is written.
fn stamp(meta: &std::fs::Metadata) -> (u64, u128) {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    (meta.len(), modified)
}

/// A short, stable name for the engine's compatibility key.
fn engine_key(engine: &Engine) -> String {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &str = r#"(module (func (export "_start")))"#;

    fn setup() -> (tempfile::TempDir, GuestEngine, Digest, Vec<u8>) {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("tmp")).unwrap();
        let engine = GuestEngine::new(Some(root.path()), Checks::default()).unwrap();
        let bytes = wat::parse_str(MODULE).unwrap();
        let digest = digest::sha256(&bytes);
        (root, engine, digest, bytes)
    }

    fn cache(engine: &GuestEngine) -> &ArtifactCache {
        engine.cache.as_ref().unwrap()
    }

    #[test]
    fn a_compiled_module_is_saved_with_its_record_and_loaded_back() {
        let (_root, engine, digest, bytes) = setup();
        assert!(!engine.is_cached(&digest));
        engine.load("m", &digest, || Ok(bytes.clone())).unwrap();
        assert!(engine.is_cached(&digest));
        // Loading again never needs the module's bytes.
        engine
            .load("m", &digest, || panic!("compiled again"))
            .unwrap();
    }

    #[test]
    fn artifacts_are_marked_with_the_packed_format_and_upstream_ones_refused() {
        let engine = Engine::new(&engine_config(Checks::default())).unwrap();
        let packed = Module::new(&engine, MODULE).unwrap().serialize().unwrap();
        let version = wasmtime_environ::ARTIFACT_VERSION.as_bytes();
        assert!(packed.windows(version.len()).any(|w| w == version));

        // An engine configured like wharf's but with wasmtime's own version
        // string writes artifacts as an upstream wasmtime would label them.
        let mut upstream_config = engine_config(Checks::default());
        upstream_config
            .module_version(ModuleVersionStrategy::WasmtimeVersion)
            .unwrap();
        let upstream = Engine::new(&upstream_config).unwrap();
        let foreign = Module::new(&upstream, MODULE).unwrap().serialize().unwrap();
        // SAFETY: both are artifacts of this wasmtime, and wasmtime is
        // expected to refuse the mislabelled one before mapping it.
        let refused = unsafe { Module::deserialize(&engine, &foreign) };
        let message = match refused {
            Ok(_) => panic!("an upstream artifact loaded"),
            Err(e) => format!("{e:#}"),
        };
        assert!(message.contains("version"), "{message}");
        // SAFETY: an artifact this very engine configuration wrote.
        assert!(unsafe { Module::deserialize(&engine, &packed) }.is_ok());
        assert_ne!(engine_key(&engine), engine_key(&upstream));
    }

    /// A module whose export `a` traps in `b`, which it calls through an
    /// exported table (so that it is not inlined).
    const TRAPPING: &str = r#"(module
        (type $t (func (param i32) (result i32)))
        (table (export "t") 1 funcref)
        (elem (i32.const 0) $b)
        (global $g (mut i32) (i32.const 0))
        (func $a (export "a")
            (global.set $g (call_indirect (type $t) (i32.const 7) (i32.const 0))))
        (func $b (param i32) (result i32)
            (global.set $g (i32.mul (local.get 0) (global.get $g)))
            (if (i32.eqz (global.get $g)) (then unreachable))
            (global.get $g)))"#;

    /// The frames (function name, offset in the module) of the trap that
    /// calling `a` ends in.
    fn trap_frames(engine: &Engine, module: &Module) -> Vec<(Option<String>, Option<usize>)> {
        let mut store = wasmtime::Store::new(engine, ());
        let instance = wasmtime::Instance::new(&mut store, module, &[]).unwrap();
        let a = instance.get_typed_func::<(), ()>(&mut store, "a").unwrap();
        let error = a.call(&mut store, ()).unwrap_err();
        let backtrace = error
            .downcast_ref::<wasmtime::WasmBacktrace>()
            .expect("a trap with a backtrace");
        backtrace
            .frames()
            .iter()
            .map(|f| (f.func_name().map(str::to_owned), f.module_offset()))
            .collect()
    }

    fn module(compiled: Compiled) -> Module {
        match compiled {
            Compiled::Module(module) => module,
            Compiled::Component(_) => panic!("a component"),
        }
    }

    #[test]
    fn a_pinned_module_reads_its_tables_in_place_and_still_places_its_frames() {
        let (root, engine, _, _) = setup();
        let bytes = wat::parse_str(TRAPPING).unwrap();
        let digest = digest::sha256(&bytes);
        let compiled = module(engine.load("m", &digest, || Ok(bytes.clone())).unwrap());
        let expected = trap_frames(engine.engine(), &compiled);
        let names: Vec<_> = expected.iter().map(|(name, _)| name.as_deref()).collect();
        assert_eq!(names, [Some("b"), Some("a")]);
        assert!(expected.iter().all(|(_, offset)| offset.is_some()));

        // Loaded back without pinning: every table is decoded.
        let before = wasmtime_environ::tables_read_in_place();
        let decoded = module(
            engine
                .load("m", &digest, || panic!("compiled again"))
                .unwrap(),
        );
        assert_eq!(wasmtime_environ::tables_read_in_place(), before);
        assert_eq!(trap_frames(engine.engine(), &decoded), expected);

        // Pinned: the function table's three per-function tables are read
        // where they lie in the artifact, and give the same frames.
        let mut pinning = GuestEngine::new(Some(root.path()), Checks::default()).unwrap();
        pinning.pin_loaded_modules();
        let pinned = module(
            pinning
                .load("m", &digest, || panic!("compiled again"))
                .unwrap(),
        );
        assert_eq!(wasmtime_environ::tables_read_in_place(), before + 3);
        assert_eq!(trap_frames(pinning.engine(), &pinned), expected);
    }

    #[test]
    fn a_truncated_artifact_is_compiled_again() {
        let (_root, engine, digest, bytes) = setup();
        engine.load("m", &digest, || Ok(bytes.clone())).unwrap();
        let path = cache(&engine).path(&digest);
        let artifact = std::fs::read(&path).unwrap();
        std::fs::write(&path, &artifact[..artifact.len() / 2]).unwrap();
        assert!(matches!(
            cache(&engine).check(&digest),
            Err(Rejection::Truncated { .. })
        ));
        let mut compiled = false;
        engine
            .load("m", &digest, || {
                compiled = true;
                Ok(bytes.clone())
            })
            .unwrap();
        assert!(compiled);
        assert!(
            cache(&engine).check(&digest).is_ok(),
            "the fresh artifact replaced it"
        );
    }

    #[test]
    fn a_changed_artifact_is_caught_by_its_hash() {
        let (_root, engine, digest, bytes) = setup();
        engine.load("m", &digest, || Ok(bytes.clone())).unwrap();
        let path = cache(&engine).path(&digest);
        let mut artifact = std::fs::read(&path).unwrap();
        let middle = artifact.len() / 2;
        artifact[middle] ^= 0xff;
        std::fs::write(&path, &artifact).unwrap();
        assert_eq!(cache(&engine).check(&digest), Err(Rejection::Changed));
    }

    #[test]
    fn a_foreign_artifact_without_a_record_is_not_loaded() {
        let (_root, engine, digest, bytes) = setup();
        let other = engine
            .compile("other", &wat::parse_str("(module)").unwrap())
            .unwrap();
        let Compiled::Module(other) = other else {
            unreachable!()
        };
        std::fs::create_dir_all(&cache(&engine).dir).unwrap();
        std::fs::write(cache(&engine).path(&digest), other.serialize().unwrap()).unwrap();
        assert_eq!(cache(&engine).check(&digest), Err(Rejection::Unrecorded));
        let mut compiled = false;
        engine
            .load("m", &digest, || {
                compiled = true;
                Ok(bytes.clone())
            })
            .unwrap();
        assert!(compiled);
    }

    #[test]
    fn engines_with_other_checks_use_other_directories() {
        let root = tempfile::tempdir().unwrap();
        let keys: HashSet<String> = Checks::ALL
            .iter()
            .map(|&checks| GuestEngine::new(Some(root.path()), checks).unwrap().key())
            .collect();
        assert_eq!(keys.len(), Checks::ALL.len());
        assert_eq!(
            GuestEngine::new(Some(root.path()), Checks::default())
                .unwrap()
                .key(),
            GuestEngine::new(None, Checks::default()).unwrap().key()
        );
        for (index, checks) in Checks::ALL.iter().enumerate() {
            assert_eq!(checks.index(), index);
        }
    }

    /// A module that counts down from its argument, calling a function at
    /// each step: work made of loop back-edges and function entries.
    const COUNTDOWN: &str = r#"(module
        (func $step (param i32) (result i32) (i32.sub (local.get 0) (i32.const 1)))
        (func (export "count") (param $n i32)
            (loop $again
                (local.set $n (call $step (local.get $n)))
                (br_if $again (local.get $n)))))"#;

    #[test]
    fn only_an_interruptible_engine_stops_a_guest_at_its_deadline() {
        for checks in Checks::ALL {
            let engine = GuestEngine::new(None, checks).unwrap();
            let Compiled::Module(module) = engine
                .compile("countdown", &wat::parse_str(COUNTDOWN).unwrap())
                .unwrap()
            else {
                unreachable!()
            };
            let mut store = wasmtime::Store::new(engine.engine(), ());
            if checks.fuel {
                store.set_fuel(u64::MAX).unwrap();
            }
            // A deadline that has passed already: an engine with epoch
            // checks traps at the first one, one without never looks.
            store.set_epoch_deadline(0);
            let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
            let count = instance
                .get_typed_func::<i32, ()>(&mut store, "count")
                .unwrap();
            let result = count.call(&mut store, 1000);
            if checks.interrupt {
                let error = result.unwrap_err();
                assert_eq!(
                    error.downcast_ref::<wasmtime::Trap>(),
                    Some(&wasmtime::Trap::Interrupt),
                    "{checks:?}"
                );
            } else {
                result.unwrap();
            }
            // Fuel is counted only where it is compiled in: a thousand
            // iterations cost more than a thousand units.
            assert_eq!(store.get_fuel().is_ok(), checks.fuel, "{checks:?}");
            if checks.fuel && !checks.interrupt {
                assert!(store.get_fuel().unwrap() < u64::MAX - 1000, "{checks:?}");
            }
        }
    }
}
