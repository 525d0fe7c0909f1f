//! Executing a prepared call: a fresh store and instance for the guest,
//! its limits set, its start sequence run, and how it ended read back.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use wasmtime::Store as WasmStore;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use super::app::App;
use super::call::{CancelHandle, Exit, Outcome, Output, Stdin, Usage};
use super::env::EnvVar;
use super::filesystem::GuestFs;
use super::limits::{EffectiveLimits, GuestLimiter, LimitHit, MemoryLimitExceeded};
use super::link::{LinkedModule, Program, Start};
use super::state::{ComponentState, ModuleState, Stop, Stopped};
use super::stdio::{self, Sink};
use super::tree::TreeCtx;

/// A call's stdio, as its [`super::Call`] asked.
pub(super) struct Stdio {
    pub(super) stdin: Stdin,
    pub(super) stdout: Output,
    pub(super) stderr: Output,
}

/// A call, ready to start: its program compiled and linked, its
/// filesystem, arguments, environment and limits decided.
///
/// What it holds is boxed: the call's future, which holds it while the
/// guest runs, is moved as it is made and awaited, and copying a pointer
/// costs less than copying the plan.
pub struct PreparedCall(pub(super) Box<Prepared>);

impl PreparedCall {
    pub(super) fn new(prepared: Prepared) -> Self {
        Self(Box::new(prepared))
    }
}

/// What a [`PreparedCall`] holds.
pub(crate) struct Prepared {
    pub(super) app: App,
    pub(super) runs: Runs,
    pub(super) env: Vec<EnvVar>,
    pub(super) fs: GuestFs,
    /// The guest's working directory (`/`, unless the call or image says).
    pub(super) workdir: std::borrow::Cow<'static, str>,
    pub(super) limits: EffectiveLimits,
    pub(super) timeout_by: super::TimeoutBy,
    /// Taken when the call runs; behind a lock so that a call (whose
    /// writers need only be `Send`) can be awaited from any task.
    pub(super) stdio: std::sync::Mutex<Option<Stdio>>,
    pub(super) cancel: Option<CancelHandle>,
    pub(super) tmp: Option<super::scratch::Scratch>,
    /// Behind a lock for the same reason as `stdio`; none when nobody
    /// listens (so that no lock is taken at every phase).
    pub(super) phases: Option<std::sync::Mutex<Phases>>,
    /// Whether the process exits once the call ends.
    pub(super) exiting: bool,
}

/// What a call runs.
pub(super) enum Runs {
    /// Its app's own program, with its app's argument vector: a bare
    /// module called without arguments (the plugin call a server makes
    /// most), which then copies and counts nothing.
    AppsOwn,
    /// A program and an argument vector of its own.
    Own {
        program: Program,
        argv: std::sync::Arc<[String]>,
    },
}

impl PreparedCall {
    /// The program the call runs.
    pub(super) fn program(&self) -> &Program {
        match &self.0.runs {
            Runs::AppsOwn => self.0.app.bare().0,
            Runs::Own { program, .. } => program,
        }
    }

    /// The limits in force for this call: the call's over the image's
    /// over wharf's defaults.
    pub fn limits(&self) -> &EffectiveLimits {
        &self.0.limits
    }

    /// The argument vector the guest will see.
    pub fn argv(&self) -> &[String] {
        match &self.0.runs {
            Runs::AppsOwn => self.0.app.bare().1,
            Runs::Own { argv, .. } => argv,
        }
    }

    /// Things the caller should tell the user about this call's
    /// filesystem (a mount that shadows part of the image…).
    pub fn warnings(&self) -> &[String] {
        self.0.fs.warnings()
    }

    /// The host directory that is the guest's `/tmp` (none when the call
    /// asked for no `/tmp`), removed when the call ends; for a caller that
    /// ends the process itself ([`super::TimeoutBy::Caller`]) to remove
    /// first.
    pub fn scratch_dir(&self) -> Option<&Path> {
        self.0.tmp.as_ref().map(super::scratch::Scratch::path)
    }

    /// Says that the process exits once the call ends, as the `wharf`
    /// command does: the guest's instance and memory are then left to the
    /// operating system rather than taken apart page by page, which for a
    /// large snapshot is a good part of a short run. A process that goes on
    /// (a server calling plugins) must not say so: it would keep every
    /// call's memory, and in a pool, the call's sandbox would never come
    /// free.
    pub fn exiting(mut self) -> Self {
        self.0.exiting = true;
        if let Some(tmp) = &mut self.0.tmp {
            tmp.remove_when_done();
        }
        self
    }

    /// Runs the call to completion, blocking the calling thread: from a
    /// plain thread (on a small tokio runtime of the [`super::Runtime`]'s own,
    /// made on first use), or from a task or blocking thread of a
    /// multi-threaded tokio runtime (through `block_in_place`). A
    /// current-thread tokio runtime, or a `LocalSet`, cannot be blocked:
    /// use [`PreparedCall::run_async`] there (inside a `LocalSet`, tokio's
    /// `block_in_place` panics).
    ///
    /// # Errors
    ///
    /// When the guest cannot be started (see [`App::call`]); how it ended
    /// is the `Ok` outcome.
    pub fn run(self) -> Result<Outcome> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| handle.block_on(Box::pin(self.run_async())))
            }
            Ok(_) => Err(anyhow!(
                "a call cannot block a current-thread tokio runtime: use App::call_async (or PreparedCall::run_async) there"
            )),
            Err(_) => {
                let tokio = self.0.app.runtime().tokio()?.clone();
                tokio.block_on(Box::pin(self.run_async()))
            }
        }
    }

    /// Runs the call to completion. The guest runs on a stack wasmtime
    /// allocates for it (its Wasm stack and room for host calls, whatever
    /// the task's thread has), and waits for stdin, sleeps and a pool slot
    /// without blocking the thread. Needs a tokio runtime with its time
    /// and I/O drivers (`enable_all`), as wasmtime-wasi does. Loading the
    /// program (a compile, the first time a call of an image runs a
    /// program its app has not run yet) happens in [`App::prepare`], on the
    /// calling task.
    ///
    /// # Errors
    ///
    /// As [`PreparedCall::run`].
    pub fn run_async(self) -> impl Future<Output = Result<Outcome>> + Send + 'static {
        use futures_util::future::{Either, ready};
        // Each kind of program has a future of its own: a module's call,
        // the one plugins make thousands of times a second, is not as large
        // as a component's (which is boxed: its instantiation costs far
        // more than the allocation).
        match self.program() {
            Program::Module(_) => Either::Left(self.run_module_call()),
            Program::Component(_) => Either::Right(Either::Left(Box::pin(self.run_component_call()))),
            Program::Proxy(_) => Either::Right(Either::Right(ready(Err(self
                .not_runnable(
                    "it is a wasi:http/proxy component: it answers HTTP requests (`wharf serve`) and has no command to run"
                        .into(),
                )
                .into())))),
        }
    }

    /// What a call starts with: the time it starts, its stdio, the
    /// deadline wharf enforces and what stops it.
    fn begin(&mut self) -> (Instant, Stdio, Option<Duration>, Stop) {
        self.mark("prepare");
        let started = Instant::now();
        let stdio = self
            .0
            .stdio
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("a call runs once");
        // wharf enforces the timeout only when the caller does not, and
        // only an interruptible app can be stopped (`App::prepare` refused
        // the rest).
        let deadline =
            self.0.limits.timeout.filter(|_| {
                self.0.timeout_by == super::TimeoutBy::Guest && self.0.app.interruptible()
            });
        let stop = Stop {
            deadline: deadline.map(|limit| (started + limit, limit)),
            cancel: self.0.cancel.clone(),
        };
        (started, stdio, deadline, stop)
    }

    /// How the call ended, with what its sinks captured.
    fn finish(
        &mut self,
        exit: Exit,
        usage: Usage,
        stdout: Option<Sink>,
        stderr: Option<Sink>,
    ) -> Outcome {
        self.mark("guest");
        if let Some(phases) = self.0.phases.as_mut() {
            phases.get_mut().unwrap_or_else(|e| e.into_inner()).report();
        }
        Outcome {
            exit,
            stdout: stdout.map(Sink::into_captured).unwrap_or_default(),
            stderr: stderr.map(Sink::into_captured).unwrap_or_default(),
            usage,
        }
    }

    /// [`PreparedCall::run_async`] of a core module.
    async fn run_module_call(mut self) -> Result<Outcome> {
        let (started, stdio, deadline, stop) = self.begin();
        let Program::Module(linked) = self.program() else {
            unreachable!("run_async dispatched a module")
        };
        // The pool's slot is held until the store is gone (it holds the
        // instance): declared first, it is dropped last, whether the call
        // ends, fails or its future is dropped. It is waited for inside the
        // race, where a deadline or a cancel ends the wait too.
        let mut slot = None;
        let (mut store, stdout, stderr) = self.module_store(stdio, stop)?;
        let exit = {
            let guest = std::pin::pin!(async {
                slot = self.0.app.runtime().sandbox_slot().await?;
                self.run_module(&mut store, linked).await
            });
            self.race(deadline, guest).await?
        };
        let usage = self.usage(&store, store.data().limiter.peak(), started);
        self.dispose(store);
        drop(slot);
        Ok(self.finish(exit, usage, stdout, stderr))
    }

    /// [`PreparedCall::run_async`] of a command component.
    async fn run_component_call(mut self) -> Result<Outcome> {
        let (started, stdio, deadline, stop) = self.begin();
        let Program::Component(pre) = self.program() else {
            unreachable!("run_async dispatched a component")
        };
        // As for a module: the slot outlives the store.
        let mut slot = None;
        let (mut store, stdout, stderr) = self.component_store(stdio, stop)?;
        let exit = {
            let guest = std::pin::pin!(async {
                slot = self.0.app.runtime().sandbox_slot().await?;
                self.run_component(&mut store, pre).await
            });
            self.race(deadline, guest).await?
        };
        let usage = self.usage(&store, store.data().limiter.peak(), started);
        self.dispose(store);
        drop(slot);
        Ok(self.finish(exit, usage, stdout, stderr))
    }

    /// A core module's store for this call: its WASI context, with stdio
    /// wired as `stdio` says, and its limits. Returns the store and the
    /// sinks of stdout and stderr. (Kept out of [`PreparedCall::run_async`]
    /// so that the WASI builder is not part of its future.)
    fn module_store(
        &self,
        stdio: Stdio,
        stop: Stop,
    ) -> Result<(WasmStore<ModuleState>, Option<Sink>, Option<Sink>)> {
        let mut builder = self.wasi()?;
        let (stdout, stderr) = stdio::wire(
            &mut builder,
            stdio.stdin,
            stdio.stdout,
            stdio.stderr,
            stdio::Wasi::Preview1,
        );
        let wasi = builder.build_p1();
        // The fresh builder `build_p1` leaves behind is freed now, before
        // the store is allocated, and not after: its small blocks are then
        // reused rather than left to the allocator to gather up (glibc's
        // consolidation, a few per cent of a plugin call, measured).
        drop(builder);
        // A guest handed directories sees them as one tree.
        let wasi = if self.0.fs.preopens().is_empty() {
            TreeCtx::plain(wasi)
        } else {
            TreeCtx::new(wasi, self.0.fs.table(), self.0.fs.dirs()?)
        };
        let mut state = ModuleState::new(wasi, self.0.limits.memory);
        state.stop = stop;
        let mut store = WasmStore::new(self.0.app.engine(), state);
        store.limiter(|state| &mut state.limiter);
        self.limit(&mut store)?;
        Ok((store, stdout, stderr))
    }

    /// [`PreparedCall::module_store`] for a component.
    pub(super) fn component_store(
        &self,
        stdio: Stdio,
        stop: Stop,
    ) -> Result<(WasmStore<ComponentState>, Option<Sink>, Option<Sink>)> {
        let mut builder = self.wasi()?;
        let (stdout, stderr) = stdio::wire(
            &mut builder,
            stdio.stdin,
            stdio.stdout,
            stdio.stderr,
            stdio::Wasi::Preview2,
        );
        let state = ComponentState {
            ctx: builder.build(),
            table: ResourceTable::new(),
            limiter: GuestLimiter::new(self.0.limits.memory),
            stop,
            http: Default::default(),
            hooks: Default::default(),
        };
        let mut store = WasmStore::new(self.0.app.engine(), state);
        store.limiter(|state| &mut state.limiter);
        self.limit(&mut store)?;
        Ok((store, stdout, stderr))
    }

    /// Runs `guest` until it ends, its deadline passes or its cancel handle
    /// is cancelled, whichever comes first. A guest that computes reaches
    /// an epoch check every tick and yields there, which lets the other two
    /// be noticed; one waiting in a host call is dropped where it waits.
    /// `guest` is pinned where the caller made it: wasmtime's futures make
    /// it a few KiB, which moving would copy on every call.
    pub(super) async fn race(
        &self,
        timeout: Option<Duration>,
        guest: std::pin::Pin<&mut impl Future<Output = Result<Exit>>>,
    ) -> Result<Exit> {
        if timeout.is_none() && self.0.cancel.is_none() {
            return guest.await;
        }
        let cancelled = async {
            match &self.0.cancel {
                Some(cancel) => cancel.cancelled().await,
                None => std::future::pending().await,
            }
        };
        let expired = async {
            match timeout {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = cancelled => Ok(Exit::Cancelled),
            () = expired => Ok(Exit::Limit(LimitHit::Timeout {
                limit: timeout.unwrap_or_default(),
            })),
            exit = guest => exit,
        }
    }

    /// Ends the phase called `name` of the call's timing.
    pub(super) fn mark(&self, name: &'static str) {
        if let Some(phases) = &self.0.phases {
            phases.lock().unwrap_or_else(|e| e.into_inner()).mark(name);
        }
    }

    pub(super) fn usage<T>(
        &self,
        store: &WasmStore<T>,
        peak_memory: u64,
        started: Instant,
    ) -> Usage {
        Usage {
            fuel: self
                .fuel_budget()
                .map(|budget| budget.saturating_sub(store.get_fuel().unwrap_or(budget))),
            peak_memory,
            wall_time: started.elapsed(),
        }
    }

    /// The fuel the store starts with: the call's budget, or all there is
    /// when the app counts fuel and the call set none.
    fn fuel_budget(&self) -> Option<u64> {
        self.0
            .app
            .metered()
            .then(|| self.0.limits.fuel.unwrap_or(u64::MAX))
    }

    fn wasi(&self) -> Result<WasiCtxBuilder> {
        wasi_context(self.argv(), &self.0.env, &self.0.fs, &self.0.workdir)
    }

    /// Sets a store's limits beyond memory: fuel through the budget, and
    /// on an interruptible engine, an epoch deadline at every tick, where
    /// the guest yields so that its deadline and cancellation are seen.
    pub(super) fn limit<T>(&self, store: &mut WasmStore<T>) -> Result<()> {
        if self.0.app.checks().interrupt {
            store.set_epoch_deadline(1);
            store.epoch_deadline_async_yield_and_update(1);
        }
        if let Some(fuel) = self.fuel_budget() {
            store
                .set_fuel(fuel)
                .map_err(|e| anyhow!("cannot set the guest's fuel: {e:#}"))?;
        }
        Ok(())
    }

    /// Drops a guest's store, or leaves it to the operating system when
    /// the process exits after the call (see [`PreparedCall::exiting`]).
    pub(super) fn dispose<T>(&self, store: WasmStore<T>) {
        if self.0.exiting {
            std::mem::forget(store);
        }
    }

    pub(super) fn not_runnable(&self, reason: String) -> super::RunError {
        super::RunError::NotRunnable {
            what: self.argv()[0].clone(),
            reason,
        }
    }

    /// Instantiates a core module in `store` and starts it.
    async fn run_module(
        &self,
        store: &mut WasmStore<ModuleState>,
        linked: &LinkedModule,
    ) -> Result<Exit> {
        let limits = self.0.limits;
        let instance = match linked.pre.instantiate_async(&mut *store).await {
            Ok(instance) => instance,
            Err(e) => return instantiation_failure(e, &limits, |r| self.not_runnable(r)),
        };
        self.mark("instantiate");
        #[cfg(feature = "large-folios")]
        if linked.large_memory {
            advise_memory_image(&mut *store, &instance);
        }
        let Start::Command = linked.start else {
            // Boxed: a command's future, the one plugin calls make, need
            // not be as large as the reactor conventions'.
            return Box::pin(self.start_reactor(store, instance, &linked.start)).await;
        };
        // `link` checked `_start`'s type: this lookup holds.
        let entry = match linked
            .command_entry
            .as_ref()
            .and_then(|export| instance.get_module_export(&mut *store, export))
            .and_then(wasmtime::Extern::into_func)
        {
            Some(entry) => entry,
            None => return Err(self.not_runnable("it has no `_start` export".into()).into()),
        };
        let entry = entry
            .typed::<(), ()>(&*store)
            .map_err(|e| anyhow!("{e:#}"))?;
        Ok(outcome(entry.call_async(&mut *store, ()).await, &limits))
    }

    /// Starts `instance` of a reactor the way its image's `[launch]` says:
    /// its `init` exports, then its entry, or the request of
    /// `[launch.snapshot]`.
    async fn start_reactor(
        &self,
        store: &mut WasmStore<ModuleState>,
        instance: wasmtime::Instance,
        start: &Start,
    ) -> Result<Exit> {
        let limits = self.0.limits;
        let not_runnable = |reason: String| self.not_runnable(reason);
        // `link` checked every export's type: these lookups hold.
        let func = |store: &mut WasmStore<ModuleState>, name: &str| {
            instance
                .get_func(&mut *store, name)
                .ok_or_else(|| not_runnable(format!("it has no `{name}` export")))
        };
        let init: &[String] = match start {
            Start::Command => &[],
            Start::Request { init, .. } | Start::Reactor { init, .. } => init,
        };
        for name in init {
            let init = func(&mut *store, name)?
                .typed::<(), ()>(&*store)
                .map_err(|e| anyhow!("{e:#}"))?;
            if let Err(e) = init.call_async(&mut *store, ()).await {
                return Ok(outcome(Err(e), &limits));
            }
        }
        match start {
            Start::Command => unreachable!("run_module starts commands"),
            Start::Request {
                alloc,
                call,
                define,
                request,
                ..
            } => {
                if let Some(define) = define {
                    match call_with_request(&mut *store, &instance, alloc, call, define.as_bytes())
                        .await
                    {
                        Ok(0) => {}
                        Ok(status) => return Ok(Exit::Code(status)),
                        Err(e) => return Ok(outcome(Err(e), &limits)),
                    }
                }
                let env: serde_json::Map<String, serde_json::Value> = self
                    .0
                    .env
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
                    .collect();
                let request = crate::launch::render(
                    request,
                    &[
                        ("argv", serde_json::json!(self.argv())),
                        ("env", serde_json::Value::Object(env)),
                    ],
                );
                match call_with_request(&mut *store, &instance, alloc, call, request.as_bytes())
                    .await
                {
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
                    let entry = entry
                        .typed::<(), i32>(&*store)
                        .map_err(|e| anyhow!("{e:#}"))?;
                    match entry.call_async(&mut *store, ()).await {
                        Ok(status) => Ok(Exit::Code(status)),
                        Err(e) => Ok(outcome(Err(e), &limits)),
                    }
                } else {
                    let entry = entry
                        .typed::<(), ()>(&*store)
                        .map_err(|e| anyhow!("{e:#}"))?;
                    Ok(outcome(entry.call_async(&mut *store, ()).await, &limits))
                }
            }
        }
    }

    /// Instantiates a command component in `store` and runs it.
    async fn run_component(
        &self,
        store: &mut WasmStore<ComponentState>,
        pre: &CommandPre<ComponentState>,
    ) -> Result<Exit> {
        let limits = self.0.limits;
        let command = match pre.instantiate_async(&mut *store).await {
            Ok(command) => command,
            Err(e) => return instantiation_failure(e, &limits, |r| self.not_runnable(r)),
        };
        self.mark("instantiate");
        match command.wasi_cli_run().call_run(&mut *store).await {
            Ok(Ok(())) => Ok(Exit::Code(0)),
            Ok(Err(())) => Ok(Exit::Code(1)),
            Err(e) => Ok(outcome(Err(e), &limits)),
        }
    }
}

/// The WASI context a guest gets: exactly these arguments and variables,
/// its working directory, and the preopens of `fs`. Its stdio is none
/// until wired.
pub(super) fn wasi_context(
    argv: &[String],
    env: &[EnvVar],
    fs: &GuestFs,
    workdir: &str,
) -> Result<WasiCtxBuilder> {
    let mut builder = WasiCtxBuilder::new();
    builder.allow_blocking_current_thread(true).args(argv);
    // Unset, a guest's working directory is `/` already.
    if workdir != "/" {
        builder.initial_cwd(workdir);
    }
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

/// The exports a reactor takes requests through (the convention of
/// `[launch.snapshot]`): `alloc`, `call` and its memory, and the length of
/// `request` as the guest takes it.
pub(super) type RequestExports = (
    wasmtime::TypedFunc<i32, i32>,
    wasmtime::TypedFunc<(i32, i32), i32>,
    wasmtime::Memory,
    i32,
);

/// Finds the exports `request` is passed through.
pub(super) fn request_exports(
    store: &mut WasmStore<ModuleState>,
    instance: &wasmtime::Instance,
    alloc: &str,
    call: &str,
    request: &[u8],
) -> wasmtime::Result<RequestExports> {
    let alloc = instance.get_typed_func::<i32, i32>(&mut *store, alloc)?;
    let call = instance.get_typed_func::<(i32, i32), i32>(&mut *store, call)?;
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| wasmtime::format_err!("the module exports no `memory`"))?;
    let len = i32::try_from(request.len())
        .map_err(|_| wasmtime::format_err!("a request of {} bytes is too long", request.len()))?;
    Ok((alloc, call, memory, len))
}

/// Passes `request` to a reactor through its `alloc` and `call` exports;
/// returns the status `call` returned.
async fn call_with_request(
    store: &mut WasmStore<ModuleState>,
    instance: &wasmtime::Instance,
    alloc: &str,
    call: &str,
    request: &[u8],
) -> wasmtime::Result<i32> {
    let (alloc, call, memory, len) = request_exports(store, instance, alloc, call, request)?;
    let at = alloc.call_async(&mut *store, len).await?;
    // 0: the guest had no memory for it, and says so itself when called.
    if at != 0 {
        memory.write(&mut *store, at as u32 as usize, request)?;
    }
    call.call_async(&mut *store, (at, len)).await
}

/// An instantiation that failed: the guest's own start code trapped,
/// exited or hit a limit (an outcome like any other), or the program
/// cannot be run.
pub(super) fn instantiation_failure(
    error: wasmtime::Error,
    limits: &EffectiveLimits,
    not_runnable: impl Fn(String) -> super::RunError,
) -> Result<Exit> {
    let guest_ended = error.downcast_ref::<MemoryLimitExceeded>().is_some()
        || error.downcast_ref::<Stopped>().is_some()
        || error.downcast_ref::<I32Exit>().is_some()
        || error.downcast_ref::<wasmtime::Trap>().is_some();
    if guest_ended {
        return Ok(outcome(Err(error), limits));
    }
    Err(not_runnable(format!("{error:#}")).into())
}

/// Reads how a call into the guest ended.
pub(super) fn outcome(result: wasmtime::Result<()>, limits: &EffectiveLimits) -> Exit {
    let Err(error) = result else {
        return Exit::Code(0);
    };
    if let Some(Stopped(exit)) = error.downcast_ref::<Stopped>() {
        return exit.clone();
    }
    if let Some(I32Exit(code)) = error.downcast_ref::<I32Exit>() {
        return Exit::Code(*code);
    }
    if let Some(exceeded) = error.downcast_ref::<MemoryLimitExceeded>() {
        return Exit::Limit(LimitHit::Memory {
            limit: exceeded.limit,
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
/// (see [`super::large_folios`]), when its memory is large enough to gain
/// from them: a snapshot's heap, not a small program's data.
#[cfg(feature = "large-folios")]
fn advise_memory_image<T>(store: &mut WasmStore<T>, instance: &wasmtime::Instance) {
    use super::large_folios::WORTH_IT;
    let Some(memory) = instance.get_memory(&mut *store, "memory") else {
        return;
    };
    let size = memory.data_size(&*store);
    if size >= WORTH_IT {
        let start = memory.data_ptr(&*store).cast_const();
        // SAFETY: the `size` bytes from `data_ptr` are the memory's.
        let end = unsafe { start.add(size) };
        super::large_folios::advise_memory_image(start..end);
    }
}

/// Where a call's time goes, phase by phase, reported through `tracing`
/// (at debug level) when it ends; nothing is timed when nobody listens.
pub(super) struct Phases {
    last: Option<Instant>,
    done: Vec<(&'static str, Duration)>,
}

impl Phases {
    pub(super) fn start() -> Self {
        Self {
            last: tracing::enabled!(tracing::Level::DEBUG).then(Instant::now),
            done: Vec::new(),
        }
    }

    /// Whether anybody listens: phases are timed only then.
    pub(super) fn active(&self) -> bool {
        self.last.is_some()
    }

    /// Ends the phase called `name`.
    pub(super) fn mark(&mut self, name: &'static str) {
        if let Some(last) = self.last {
            let now = Instant::now();
            self.done.push((name, now - last));
            self.last = Some(now);
        }
    }

    fn report(&self) {
        if self.last.is_none() {
            return;
        }
        let parts: Vec<String> = self
            .done
            .iter()
            .map(|(name, took)| format!("{name} {:.2}ms", took.as_secs_f64() * 1000.0))
            .collect();
        tracing::debug!("timing: {}", parts.join(", "));
    }
}

impl std::fmt::Debug for PreparedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedCall")
            .field("argv", &self.argv())
            .field("limits", &self.0.limits)
            .finish_non_exhaustive()
    }
}
