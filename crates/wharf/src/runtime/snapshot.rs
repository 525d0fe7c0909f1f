//! Taking `[snapshot]`s at build time: the image's program runs up to its
//! preload under wasmtime-wizer's instrumentation, and its memory and
//! globals are written out as a new module.
//!
//! The guest runs as a run of the image would (its tree read-only at `/`,
//! a private `/tmp`, its environment and working directory, the image's
//! `[launch]`, its `[limits]`), with these differences: no mounts,
//! randomness drawn from a generator seeded by the snapshot's inputs,
//! clocks that start at 2000-01-01 and advance a microsecond each time they
//! are read (so that the same inputs take the same path), and a time limit
//! of [`SNAPSHOT_TIMEOUT`] unless the image sets one, so that a preload
//! that never ends cannot hang a build. Whatever the guest draws from the
//! generator at build time (CPython's `hash()` key) is the same in every
//! run of the image; state that must differ per run is the resume
//! request's job to refresh.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime::{Engine, Module, Store as WasmStore};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};
use wasmtime_wizer::{InstanceState, SnapshotVal, Wizer};

use super::app::read_guest_file;
use super::call::{Output, Stdin};
use super::engine::{Allocation, Checks, GUEST_THREAD_STACK, engine_config};
use super::execute::{request_exports, wasi_context};
use super::filesystem::GuestFs;
use super::link::{Wasi, answer, provided_by, wasi_linker};
use super::{ModuleState, Runtime, command, stdio};
use crate::build::Snapshot;
use crate::digest;
use crate::image::{DEFAULT_PATH, Image};
use crate::launch::{Launch, render};
use crate::runtime::limits::EffectiveLimits;

/// How long a preload may run when the image's `[limits]` set no timeout.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(10 * 60);

impl Runtime {
    /// [`crate::build::BuildRuntime::snapshot`].
    pub(super) fn take_snapshot(
        &self,
        image: &Image,
        preload: &[String],
        seed: [u8; 32],
    ) -> Result<Snapshot> {
        let store = self.store().context("taking a snapshot needs a store")?;
        let config = image.run_config();
        let launch = config.launch()?;
        let rootfs = store.open_rootfs(image)?;
        let tmp = store.temp_dir()?;
        let workdir = crate::guest_path::resolve("/", &config.workdir);
        let fs = GuestFs::plan(Some(rootfs.tree()), &[], Some(tmp.path()), &workdir)?;
        let argv = command::command_line(&config, None, &[])?;
        let mut env = config.env.clone();
        if !env.iter().any(|(k, _)| k == "PATH") {
            env.push(("PATH".into(), DEFAULT_PATH.into()));
        }
        // As for a run (app.rs): the preload starts in the working directory.
        if workdir != "/" && !env.iter().any(|(k, _)| k == "PWD") {
            env.push(("PWD".into(), workdir.clone()));
        }
        let path_var = config.env_var("PATH").unwrap_or(DEFAULT_PATH).to_owned();
        let located = command::locate(&fs, &argv[0], &path_var, &workdir)?;
        let module = fs.canonical(&located)?;
        let Some(launch) = launch.filter(|l| l.snapshot.is_some()) else {
            bail!(
                "{module} cannot be snapshotted: its image's [launch] does not say how to \
                 pre-initialise it and resume it. A WASI command such as CPython 3.12 \
                 (python:3.12) has no initialisation export, and a snapshot taken inside \
                 `_start` cannot be resumed; python:3.15-sci can be snapshotted"
            );
        };
        if config
            .snapshot()?
            .is_some_and(|record| record.module == module)
        {
            bail!("{module} is a snapshot already; build on the image it was taken from instead");
        }
        let bytes = read_guest_file(&fs, &module)?;
        let source = digest::sha256(&bytes);
        let limits = EffectiveLimits::resolve(&Default::default(), &config.limits()?);
        let request = render(
            &launch.snapshot.as_ref().expect("filtered above").preload,
            &[("modules", serde_json::json!(preload))],
        );
        let (bytes, output) = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("wharf-snapshot".into())
                .stack_size(GUEST_THREAD_STACK)
                .spawn_scoped(scope, || {
                    let bounds = Bounds {
                        memory: limits.memory,
                        timeout: limits.timeout.unwrap_or(SNAPSHOT_TIMEOUT),
                    };
                    take(&bytes, &launch, &request, seed, bounds, || {
                        wasi_context(&argv[..1], &env, &fs, &workdir)
                    })
                })
                .context("cannot start the snapshot's thread")?
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })?;
        Ok(Snapshot {
            module,
            source,
            bytes,
            output,
        })
    }
}

/// How much of what the program writes while it preloads is kept, for
/// each of stdout and stderr.
const OUTPUT_KEPT: usize = 64 << 10;

/// The last `count` lines of `text`.
fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// Passes `request` to a reactor through its `alloc` and `call` exports
/// (the convention of `[launch.snapshot]`), synchronously as wizer drives
/// it; returns the status `call` returned.
fn call_with_request(
    store: &mut WasmStore<ModuleState>,
    instance: &wasmtime::Instance,
    alloc: &str,
    call: &str,
    request: &[u8],
) -> wasmtime::Result<i32> {
    let (alloc, call, memory, len) = request_exports(store, instance, alloc, call, request)?;
    let at = alloc.call(&mut *store, len)?;
    // 0: the guest had no memory for it, and says so itself when called.
    if at != 0 {
        memory.write(&mut *store, at as u32 as usize, request)?;
    }
    call.call(&mut *store, (at, len))
}

/// What a preload may use.
struct Bounds {
    /// Bytes of linear memory and tables, if limited.
    memory: Option<u64>,
    /// Wall-clock time.
    timeout: Duration,
}

/// Instruments `wasm`, runs its initialisers and `request` within
/// `bounds`, and returns the snapshot.
fn take(
    wasm: &[u8],
    launch: &Launch,
    request: &str,
    seed: [u8; 32],
    bounds: Bounds,
    wasi: impl FnOnce() -> Result<wasmtime_wasi::WasiCtxBuilder>,
) -> Result<(Vec<u8>, String)> {
    let mut wizer = Wizer::new();
    // The initialiser must not run again on the snapshot: it leaves it.
    if let Some(first) = launch.init.first() {
        wizer.init_func(first.clone());
    }
    wizer.keep_init_func(false);
    let (context, instrumented) = wizer
        .instrument(wasm)
        .map_err(|e| anyhow::anyhow!("the module cannot be snapshotted: {e:#}"))?;

    // The instrumented module runs once: compiling it fast matters more
    // than running it fast.
    // Its preload's time limit must end the build cleanly, not the
    // process: epoch checks, which cost this one run little.
    let mut config = engine_config(
        Checks {
            interrupt: true,
            fuel: false,
        },
        Allocation::OnDemand,
    );
    config.cranelift_opt_level(wasmtime::OptLevel::None);
    let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let module = Module::new(&engine, &instrumented)
        .map_err(|e| anyhow::anyhow!("cannot compile the module to snapshot: {e:#}"))?;
    let mut linker = wasi_linker(&engine, Wasi::Sync)?;
    let provided = provided_by(&engine, &mut linker);
    for import in module.imports() {
        if provided.contains(&(import.module().to_owned(), import.name().to_owned())) {
            continue;
        }
        match launch.answer_for(import.module(), import.name()) {
            Some(value) => answer(&mut linker, &import, value).map_err(anyhow::Error::msg)?,
            None => bail!(
                "it imports {}::{}, which wharf does not provide",
                import.module(),
                import.name()
            ),
        }
    }

    let mut wasi = wasi()?;
    // What the program writes while it preloads is kept, and shown if the
    // preload fails.
    let (stdout, stderr) = stdio::wire(
        &mut wasi,
        Stdin::Null,
        Output::capture(OUTPUT_KEPT),
        Output::capture(OUTPUT_KEPT),
        stdio::Wasi::Preview1,
    );
    wasi.wall_clock(SteppingClock::default())
        .monotonic_clock(SteppingClock::default())
        .secure_random(StdRng::from_seed(seed))
        .insecure_random(StdRng::from_seed(seed))
        .insecure_random_seed(u128::from_le_bytes(
            seed[..16].try_into().expect("16 bytes"),
        ));
    let mut store = WasmStore::new(
        &engine,
        ModuleState::new(super::tree::TreeCtx::plain(wasi.build_p1()), bounds.memory),
    );
    store.limiter(|state| &mut state.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_trap();
    let timeout = bounds.timeout;
    let guest = |e: wasmtime::Error| -> anyhow::Error {
        if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            anyhow::anyhow!("the program exited with status {} while preloading", exit.0)
        } else if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
            anyhow::anyhow!(
                "preloading did not finish within {} (the image's [limits] timeout, or wharf's default for snapshots)",
                humantime::format_duration(timeout)
            )
        } else {
            anyhow::anyhow!("the program failed while preloading: {e:?}")
        }
    };
    // Ends the preload at its deadline; told to stand down when it is over.
    let (over, deadline) = mpsc::channel::<()>();
    let watchdog = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            if deadline.recv_timeout(timeout) == Err(RecvTimeoutError::Timeout) {
                engine.increment_epoch();
            }
        })
    };
    let preloaded = preload(&mut store, &linker, &module, launch, request, &guest);
    drop(over);
    let _ = watchdog.join();
    let written: String = [stdout, stderr]
        .iter()
        .flatten()
        .map(|sink| sink.take().text())
        .collect();
    let instance = preloaded.map_err(|e| {
        if written.trim().is_empty() {
            e
        } else {
            anyhow::anyhow!("{e:#}; the program wrote:\n{}", last_lines(&written, 20))
        }
    })?;
    let snapshot = block_on(wizer.snapshot(
        &context,
        &mut Instrumented {
            store: &mut store,
            instance,
        },
    ))
    .map_err(|e| anyhow::anyhow!("cannot write the snapshot: {e:#}"))?;
    Ok((without_names(&snapshot)?, written))
}

/// `module` without its `name` section. wasmtime reads the name of every
/// function when it loads a module, on every run: for CPython with its
/// scientific stack (89,000 functions) that is a megabyte decoded per
/// start. A snapshot is for starting fast; a trap in one shows function
/// indices, and the module it was taken from (in the base image) keeps
/// the names.
fn without_names(module: &[u8]) -> Result<Vec<u8>> {
    let mut stripped = wasm_encoder::Module::new();
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        let payload = payload.context("the snapshot is not a valid module")?;
        if matches!(&payload, wasmparser::Payload::CustomSection(c) if c.name() == "name") {
            continue;
        }
        if let Some((id, range)) = payload.as_section() {
            stripped.section(&wasm_encoder::RawSection {
                id,
                data: &module[range],
            });
        }
    }
    Ok(stripped.finish())
}

/// Instantiates the instrumented module and runs its initialisers, the
/// preload request, the `define` request and the `finish` exports; `guest`
/// explains failures.
fn preload(
    store: &mut WasmStore<ModuleState>,
    linker: &wasmtime::Linker<ModuleState>,
    module: &Module,
    launch: &Launch,
    request: &str,
    guest: &dyn Fn(wasmtime::Error) -> anyhow::Error,
) -> Result<wasmtime::Instance> {
    let convention = launch.snapshot.as_ref().context("no snapshot convention")?;
    let instance = linker.instantiate(&mut *store, module).map_err(guest)?;
    for name in &launch.init {
        if let Some(init) = instance.get_func(&mut *store, name) {
            init.typed::<(), ()>(&*store)
                .and_then(|init| init.call(&mut *store, ()))
                .map_err(guest)?;
        }
    }
    let mut make = |request: &str| {
        call_with_request(
            &mut *store,
            &instance,
            &convention.alloc,
            &convention.call,
            request.as_bytes(),
        )
        .map_err(guest)
    };
    let status = make(request)?;
    if status != 0 {
        bail!("preloading failed with status {status}");
    }
    if !convention.define.is_empty() {
        let status = make(&convention.define)?;
        if status != 0 {
            bail!("the [launch.snapshot] define request failed with status {status}");
        }
    }
    for name in &convention.finish {
        let finish = instance.get_func(&mut *store, name).with_context(|| {
            format!("the module has no `{name}` export, which [launch.snapshot] finish names")
        })?;
        finish
            .typed::<(), ()>(&*store)
            .and_then(|finish| finish.call(&mut *store, ()))
            .map_err(guest)?;
    }
    Ok(instance)
}

/// A clock that reads the same on every build: it starts at 2000-01-01
/// (wall) or 0 (monotonic) and moves a microsecond at each reading, so
/// that code waiting for time to pass still sees it pass.
#[derive(Default)]
struct SteppingClock {
    readings: AtomicU64,
}

impl SteppingClock {
    const STEP_NS: u64 = 1_000;

    fn tick(&self) -> u64 {
        self.readings.fetch_add(1, Ordering::Relaxed) * Self::STEP_NS
    }
}

impl HostWallClock for SteppingClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(Self::STEP_NS)
    }

    fn now(&self) -> Duration {
        Duration::from_secs(crate::layer::DEFAULT_MTIME) + Duration::from_nanos(self.tick())
    }
}

impl HostMonotonicClock for SteppingClock {
    fn resolution(&self) -> u64 {
        Self::STEP_NS
    }

    fn now(&self) -> u64 {
        self.tick()
    }
}

/// The instrumented instance, as wizer reads its state.
struct Instrumented<'a> {
    store: &'a mut WasmStore<ModuleState>,
    instance: wasmtime::Instance,
}

impl InstanceState for Instrumented<'_> {
    async fn global_get(&mut self, name: &str, _: wasmtime_wizer::ValType) -> SnapshotVal {
        let global = self
            .instance
            .get_global(&mut *self.store, name)
            .expect("wizer names the globals it exported");
        match global.get(&mut *self.store) {
            wasmtime::Val::I32(x) => SnapshotVal::I32(x),
            wasmtime::Val::I64(x) => SnapshotVal::I64(x),
            wasmtime::Val::F32(x) => SnapshotVal::F32(x),
            wasmtime::Val::F64(x) => SnapshotVal::F64(x),
            wasmtime::Val::V128(x) => SnapshotVal::V128(x.as_u128()),
            // Wizer's validation refuses mutable reference globals.
            other => unreachable!("a mutable global of type {other:?}"),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        let memory = self
            .instance
            .get_memory(&mut *self.store, name)
            .expect("wizer names the memories it exported");
        contents(memory.data(&*self.store));
    }
}

/// Runs a future that never waits (wizer's snapshot, over an instance in
/// memory) to completion on this thread.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = TaskContext::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_names_drops_only_the_name_section() {
        let named = wat::parse_str(
            r#"(module $m
                 (memory (export "memory") 1)
                 (data (i32.const 8) "kept")
                 (func $answer (export "answer") (result i32) i32.const 42))"#,
        )
        .unwrap();
        let has_names = |bytes: &[u8]| {
            wasmparser::Parser::new(0).parse_all(bytes).any(|p| {
                matches!(p.unwrap(), wasmparser::Payload::CustomSection(c) if c.name() == "name")
            })
        };
        assert!(has_names(&named));
        let stripped = without_names(&named).unwrap();
        assert!(!has_names(&stripped));
        assert!(stripped.len() < named.len());

        let engine = wasmtime::Engine::default();
        let module = Module::new(&engine, &stripped).unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        let answer = instance
            .get_typed_func::<(), i32>(&mut store, "answer")
            .unwrap();
        assert_eq!(answer.call(&mut store, ()).unwrap(), 42);
        let memory = instance.get_memory(&mut store, "memory").unwrap();
        assert_eq!(&memory.data(&store)[8..12], b"kept");
    }

    #[test]
    fn without_names_refuses_bytes_that_are_not_a_module() {
        assert!(without_names(b"\0asm\x01\0\0\0\x7f").is_err());
    }
}
