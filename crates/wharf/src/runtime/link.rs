//! Linking a compiled program: against WASI (preview 1 for core modules,
//! preview 2 for components), the constants its image's `[launch]`
//! answers, and the host functions its app was given; and checking that it
//! can be started the way its image says.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use anyhow::Result;
use wasmtime::component::Component;
use wasmtime::{
    Engine, ExternType, FuncType, ImportType, InstancePre, Linker, Module, ModuleExport, Store,
    Val, ValType,
};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::RunError;
use super::engine::Compiled;
use super::host::{ComponentHostFunction, HostCall, HostFunction};
use super::state::{ComponentState, ModuleState, Stopped};
use crate::launch::Launch;

/// A program linked and ready to instantiate: what a call starts from.
/// Cheap to clone.
#[derive(Clone)]
pub(crate) enum Program {
    /// A core module, and how it is started.
    Module(Arc<LinkedModule>),
    /// A preview 2 command component.
    Component(CommandPre<ComponentState>),
    /// A `wasi:http/proxy` component: it answers HTTP requests
    /// ([`super::PreparedCall::run_http`]) and has no command to run.
    Proxy(ProxyPre<ComponentState>),
}

/// The interface a `wasi:http/proxy` component exports, whatever its 0.2
/// minor version (wasmtime links any 0.2.x against its own).
const INCOMING_HANDLER: &str = "wasi:http/incoming-handler@0.2.";

/// Whether `component` answers HTTP: it exports `wasi:http/incoming-handler`
/// 0.2.
pub(super) fn is_http_proxy(engine: &Engine, component: &Component) -> bool {
    component
        .component_type()
        .exports(engine)
        .any(|(name, _)| name.starts_with(INCOMING_HANDLER))
}

/// A core module linked and ready to instantiate, with what its calls
/// look up in every instance found once.
pub(crate) struct LinkedModule {
    pub(super) pre: InstancePre<ModuleState>,
    pub(super) start: Start,
    /// A command's `_start`, by index: an instance's export is then found
    /// without hashing its name on every call.
    pub(super) command_entry: Option<ModuleExport>,
    /// Whether its memory starts large enough to be read back in large
    /// pieces (a snapshot's heap, see [`super::large_folios`]).
    #[cfg(feature = "large-folios")]
    pub(super) large_memory: bool,
}

impl LinkedModule {
    fn new(pre: InstancePre<ModuleState>, start: Start) -> Self {
        let module = pre.module();
        let command_entry = match start {
            Start::Command => module.get_export_index("_start"),
            _ => None,
        };
        #[cfg(feature = "large-folios")]
        let large_memory = match module.get_export("memory") {
            Some(ExternType::Memory(memory)) => {
                memory.minimum().saturating_mul(memory.page_size())
                    >= super::large_folios::WORTH_IT as u64
            }
            _ => false,
        };
        Self {
            command_entry,
            #[cfg(feature = "large-folios")]
            large_memory,
            pre,
            start,
        }
    }
}

/// How a linked core module is started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Start {
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

/// Everything a preview 1 linker provides, as (module, name) pairs.
pub(super) type Provided = HashSet<(String, String)>;

/// The linkers of one engine with one app's host functions, each made on
/// first use: a run needs one of the two, never both.
pub(super) struct Linkers {
    engine: Engine,
    host: Vec<HostFunction>,
    component_host: Vec<ComponentHostFunction>,
    modules: OnceLock<(Linker<ModuleState>, Provided)>,
    components: OnceLock<wasmtime::component::Linker<ComponentState>>,
    proxies: OnceLock<wasmtime::component::Linker<ComponentState>>,
}

impl Linkers {
    pub(super) fn new(
        engine: &Engine,
        host: Vec<HostFunction>,
        component_host: Vec<ComponentHostFunction>,
    ) -> Self {
        Self {
            engine: engine.clone(),
            host,
            component_host,
            modules: OnceLock::new(),
            components: OnceLock::new(),
            proxies: OnceLock::new(),
        }
    }

    /// The engine the linkers are made for.
    pub(super) fn engine(&self) -> &Engine {
        &self.engine
    }

    fn module_linker(&self) -> Result<&(Linker<ModuleState>, Provided)> {
        if let Some(linker) = self.modules.get() {
            return Ok(linker);
        }
        let mut linker = wasi_linker(&self.engine, Wasi::Async)?;
        for function in &self.host {
            define(&mut linker, &self.engine, function)?;
        }
        let provided = provided_by(&self.engine, &mut linker);
        Ok(self.modules.get_or_init(|| (linker, provided)))
    }

    /// The linker of components: WASI preview 2, `wasi:http` too for
    /// `http` (a proxy component, which may import `wasi:cli` as well, as
    /// componentize-py's do), and the app's host functions.
    fn component_linker(&self, http: bool) -> Result<&wasmtime::component::Linker<ComponentState>> {
        let cell = if http {
            &self.proxies
        } else {
            &self.components
        };
        if let Some(linker) = cell.get() {
            return Ok(linker);
        }
        let mut linker = wasmtime::component::Linker::<ComponentState>::new(&self.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        if http {
            wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        }
        for function in &self.component_host {
            let func = function.func.clone();
            let closure =
                move |store: wasmtime::StoreContextMut<'_, ComponentState>,
                      _: wasmtime::component::types::ComponentFunc,
                      args: &[wasmtime::component::Val],
                      results: &mut [wasmtime::component::Val]| {
                    func(args, results).map_err(wasmtime::Error::from_anyhow)?;
                    // As for modules: a deadline or cancel that came while
                    // it ran ends the call now.
                    match store.data().stop.due() {
                        Some(exit) => Err(Stopped(exit).into()),
                        None => Ok(()),
                    }
                };
            let defined = if function.instance.is_empty() {
                linker.root().func_new(&function.name, closure)
            } else {
                linker
                    .instance(&function.instance)
                    .and_then(|mut instance| instance.func_new(&function.name, closure))
            };
            defined.map_err(|e| {
                anyhow::anyhow!(
                    "cannot define the host function {}#{}: {e:#}",
                    function.instance,
                    function.name
                )
            })?;
        }
        Ok(cell.get_or_init(|| linker))
    }

    /// Links `compiled` against WASI, the answers `launch` gives and the
    /// host functions, naming every import nothing provides, and decides
    /// how it starts: as a snapshot to resume when `resume`. `what` names
    /// the program in errors.
    ///
    /// # Errors
    ///
    /// [`RunError::NotRunnable`] when an import is not provided, a host
    /// function's type differs from the import's, or the program cannot be
    /// started the way its image says.
    pub(super) fn link(
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
                let (linker, provided) = self.module_linker()?;
                let mut answered = Vec::new();
                let mut missing = Vec::new();
                for import in module.imports() {
                    let key = (import.module().to_owned(), import.name().to_owned());
                    if provided.contains(&key) {
                        continue;
                    }
                    match launch.and_then(|l| l.answer_for(import.module(), import.name())) {
                        Some(value) => answered.push((import, value)),
                        None => missing.push(format!("{}::{}", import.module(), import.name())),
                    }
                }
                if !missing.is_empty() {
                    return Err(not_runnable(format!(
                        "it imports {}, which wharf does not provide (wharf provides WASI preview 1 and preview 2{})",
                        missing.join(", "),
                        if self.host.is_empty() { "" } else { ", and the host functions it was given" }
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
                    linker.instantiate_pre(&module)
                } else {
                    let mut answering = linker.clone();
                    for (import, value) in answered {
                        answer(&mut answering, &import, value).map_err(not_runnable)?;
                    }
                    answering.instantiate_pre(&module)
                }
                .map_err(|e| not_runnable(format!("{e:#}")))?;
                Ok(Program::Module(Arc::new(LinkedModule::new(pre, start))))
            }
            Compiled::Component(component) => self.link_component(what, &component, launch),
        }
    }

    fn link_component(
        &self,
        what: &str,
        component: &Component,
        launch: Option<&Launch>,
    ) -> Result<Program> {
        let not_runnable = |reason: String| RunError::NotRunnable {
            what: what.to_owned(),
            reason,
        };
        if launch.is_some() {
            return Err(not_runnable(
                "it is a component, and its image's [launch] convention applies to core modules only"
                    .into(),
            )
            .into());
        }
        if is_http_proxy(&self.engine, component) {
            let pre = self
                .component_linker(true)?
                .instantiate_pre(component)
                .and_then(ProxyPre::new)
                .map_err(|e| not_runnable(format!("{e:#}")))?;
            return Ok(Program::Proxy(pre));
        }
        let pre = self
            .component_linker(false)?
            .instantiate_pre(component)
            .and_then(CommandPre::new)
            .map_err(|e| not_runnable(format!("{e:#}")))?;
        Ok(Program::Component(pre))
    }
}

/// How a linker's WASI functions are called: from async calls (every run
/// and call), or synchronously (the build-time snapshot, which wizer
/// drives).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Wasi {
    Async,
    Sync,
}

/// A preview 1 linker for `engine`, its WASI functions made for calls of
/// the kind `wasi` says.
pub(super) fn wasi_linker(engine: &Engine, wasi: Wasi) -> Result<Linker<ModuleState>> {
    let mut linker: Linker<ModuleState> = Linker::new(engine);
    match wasi {
        // Runs see one file tree (runtime/tree.rs); a build's snapshot sees
        // the image as it is being built.
        Wasi::Async => wasmtime_wasi::p1::wasi_snapshot_preview1::add_to_linker(
            &mut linker,
            |state: &mut ModuleState| &mut state.wasi,
        )?,
        Wasi::Sync => {
            wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state| &mut state.wasi.inner)?
        }
    }
    // wasmtime-wasi refuses exit statuses from 126 up; Docker passes every
    // status through, and so does wharf.
    linker.allow_shadowing(true);
    linker.func_wrap(
        "wasi_snapshot_preview1",
        "proc_exit",
        |status: i32| -> wasmtime::Result<()> { Err(I32Exit(status).into()) },
    )?;
    linker.allow_shadowing(false);
    Ok(linker)
}

/// The (module, name) pairs `linker` provides.
pub(super) fn provided_by(engine: &Engine, linker: &mut Linker<ModuleState>) -> Provided {
    let mut scratch = Store::new(
        engine,
        ModuleState::new(
            super::tree::TreeCtx::plain(WasiCtxBuilder::new().build_p1()),
            None,
        ),
    );
    linker
        .iter(&mut scratch)
        .map(|(module, name, _)| (module.to_owned(), name.to_owned()))
        .collect()
}

/// Defines `function` in `linker`.
fn define(
    linker: &mut Linker<ModuleState>,
    engine: &Engine,
    function: &HostFunction,
) -> Result<()> {
    let ty = FuncType::new(engine, function.params.clone(), function.results.clone());
    let func = function.func.clone();
    linker
        .func_new(
            &function.module,
            &function.name,
            ty,
            move |mut caller, args, results| {
                let mut call = HostCall {
                    caller: &mut caller,
                };
                func(&mut call, args, results).map_err(wasmtime::Error::from_anyhow)?;
                // A deadline that passed, or a cancel that came, while the
                // function ran ends the call now: the guest may not reach
                // another epoch check before it finishes.
                match caller.data().stop.due() {
                    Some(exit) => Err(Stopped(exit).into()),
                    None => Ok(()),
                }
            },
        )
        .map(drop)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot define the host function {}: {e:#} (WASI's functions cannot be replaced)",
                function.name()
            )
        })
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
