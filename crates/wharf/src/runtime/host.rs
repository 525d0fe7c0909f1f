//! Host functions: imports an embedder gives the plugins it runs, as
//! closures, beside WASI.
//!
//! A host function runs inside the guest's call, on its stack, under its
//! limits: the time it takes counts against the call's deadline, and a
//! cancel or a deadline that passes meanwhile stops the guest as soon as
//! the function returns (a host function blocks its call's thread while it
//! runs: nothing stops it halfway). It sees the guest's exported memory (to read the
//! arguments a guest passes by pointer and write results back), nothing
//! else of the guest.

use std::fmt;
use std::sync::Arc;

use anyhow::{Result, bail};
use wasmtime::component::Val as ComponentVal;
use wasmtime::{Caller, Extern, Val, ValType};

use super::state::ModuleState;

/// The closure behind a [`HostFunction`]: `(caller, arguments, results)`,
/// with `results` sized as the function's type says.
type ModuleClosure = dyn Fn(&mut HostCall<'_, '_>, &[Val], &mut [Val]) -> Result<()> + Send + Sync;

/// The closure behind a [`ComponentHostFunction`].
type ComponentClosure = dyn Fn(&[ComponentVal], &mut [ComponentVal]) -> Result<()> + Send + Sync;

/// A function a core module may import as `module::name`, with the given
/// parameter and result types (Wasm value types: `i32`, `i64`, `f32`,
/// `f64`…).
///
/// ```
/// use wharf::runtime::{HostFunction, ValType, Val};
///
/// // `env::add(i32, i32) -> i32`
/// let add = HostFunction::new("env", "add", [ValType::I32, ValType::I32], [ValType::I32],
///     |_call, args, results| {
///         results[0] = Val::I32(args[0].unwrap_i32() + args[1].unwrap_i32());
///         Ok(())
///     });
/// assert_eq!(add.name(), "env::add");
/// ```
#[derive(Clone)]
pub struct HostFunction {
    pub(super) module: String,
    pub(super) name: String,
    pub(super) params: Vec<ValType>,
    pub(super) results: Vec<ValType>,
    pub(super) func: Arc<ModuleClosure>,
}

impl HostFunction {
    /// The function `module::name` of type `params -> results`, which runs
    /// `func`. An error `func` returns traps the guest, whose call then
    /// ends in [`super::Exit::Trap`] with the error's message.
    pub fn new(
        module: impl Into<String>,
        name: impl Into<String>,
        params: impl IntoIterator<Item = ValType>,
        results: impl IntoIterator<Item = ValType>,
        func: impl Fn(&mut HostCall<'_, '_>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        Self {
            module: module.into(),
            name: name.into(),
            params: params.into_iter().collect(),
            results: results.into_iter().collect(),
            func: Arc::new(func),
        }
    }

    /// `module::name`, as errors name it.
    pub fn name(&self) -> String {
        format!("{}::{}", self.module, self.name)
    }
}

impl fmt::Debug for HostFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostFunction")
            .field("module", &self.module)
            .field("name", &self.name)
            .field("params", &self.params)
            .field("results", &self.results)
            .finish_non_exhaustive()
    }
}

/// A function a component may import: `name` in the interface
/// `instance` (`"my:plugin/host"`), or at the component's root when
/// `instance` is empty. Its values are the component model's
/// ([`ComponentVal`]: strings, lists, records…), checked against the
/// component's import when it is linked.
#[derive(Clone)]
pub struct ComponentHostFunction {
    pub(super) instance: String,
    pub(super) name: String,
    pub(super) func: Arc<ComponentClosure>,
}

impl ComponentHostFunction {
    /// The function `name` of `instance`, which runs `func`; an error it
    /// returns traps the guest.
    pub fn new(
        instance: impl Into<String>,
        name: impl Into<String>,
        func: impl Fn(&[ComponentVal], &mut [ComponentVal]) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        Self {
            instance: instance.into(),
            name: name.into(),
            func: Arc::new(func),
        }
    }
}

impl fmt::Debug for ComponentHostFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentHostFunction")
            .field("instance", &self.instance)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a [`HostFunction`] sees of the guest calling it: its exported
/// linear memory.
pub struct HostCall<'a, 'b> {
    pub(super) caller: &'a mut Caller<'b, ModuleState>,
}

impl HostCall<'_, '_> {
    /// `len` bytes of the guest's memory (its export `memory`) from
    /// `offset`.
    ///
    /// # Errors
    ///
    /// When the guest exports no memory or the range lies outside it.
    pub fn read(&mut self, offset: u32, len: u32) -> Result<Vec<u8>> {
        let memory = self.memory()?;
        // The range is checked before anything is allocated for it: the
        // guest chooses `len`.
        let data = memory.data(&*self.caller);
        let start = offset as usize;
        match data.get(start..start.saturating_add(len as usize)) {
            Some(bytes) => Ok(bytes.to_vec()),
            None => bail!("{len} bytes at {offset} lie outside the guest's memory"),
        }
    }

    /// Writes `bytes` into the guest's memory from `offset`.
    ///
    /// # Errors
    ///
    /// When the guest exports no memory or the range lies outside it.
    pub fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<()> {
        let memory = self.memory()?;
        memory
            .write(&mut *self.caller, offset as usize, bytes)
            .map_err(|_| {
                anyhow::anyhow!(
                    "{} bytes at {offset} lie outside the guest's memory",
                    bytes.len()
                )
            })
    }

    fn memory(&mut self) -> Result<wasmtime::Memory> {
        match self.caller.get_export("memory") {
            Some(Extern::Memory(memory)) => Ok(memory),
            _ => bail!("the guest exports no memory"),
        }
    }
}
