//! The baseline wharf is measured against: the least code that runs a WASI
//! preview 1 command under wasmtime, with none of wharf's image logic.
//!
//! ```text
//! embed [--config wharf|default] --artifact FILE.cwasm [--dir HOST::GUEST]… [--env K=V]… -- ARGS…
//! embed [--config wharf|default] --compile FILE.wasm   [--dir HOST::GUEST]… [--env K=V]… -- ARGS…
//! embed [--config wharf|default] --precompile FILE.wasm OUT.cwasm
//! ```
//!
//! A reactor started by a request, as an image's `[launch.snapshot]` says
//! (a snapshotted python:3.15-sci), takes `--request ALLOC CALL TEXT`
//! (write TEXT into guest memory from export ALLOC, pass it to export CALL,
//! exit with its status) and `--answer MODULE::NAME=VALUE` for each import
//! that only needs a constant.
//!
//! `--config wharf` (the default) is the configuration of wharf's engine
//! for a run without limits, so that wharf's own artifacts load;
//! `--config default` is wasmtime's `Config::new()`, what any embedding
//! gets unless it asks for more, and the yardstick for what the guest's
//! code costs. `--precompile` writes an artifact for `--artifact` to load.

use std::process::ExitCode;

use wasmtime::{Config, Engine, ExternType, Linker, Module, Store, Val};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("embed: {e:?}");
            ExitCode::from(125)
        }
    }
}

/// wharf's engine configuration for a run with no timeout and no fuel
/// (crates/wharf/src/runtime/engine.rs).
fn wharf_config() -> wasmtime::Result<Config> {
    let mut config = Config::new();
    config.parallel_compilation(true);
    config.async_stack_size((8 << 20) + (1 << 20));
    config.max_wasm_stack(8 << 20);
    #[cfg(feature = "packed-tables")]
    config.module_version(wasmtime::ModuleVersionStrategy::Custom(
        wasmtime_environ::ARTIFACT_VERSION.to_owned(),
    ))?;
    Ok(config)
}

fn run() -> wasmtime::Result<i32> {
    let mut args = std::env::args().skip(1).peekable();
    let config = if args.peek().map(String::as_str) == Some("--config") {
        args.next();
        match args.next().as_deref() {
            Some("wharf") => wharf_config()?,
            Some("default") => Config::new(),
            other => wasmtime::bail!("--config takes wharf or default, not {other:?}"),
        }
    } else {
        wharf_config()?
    };
    let engine = Engine::new(&config)?;
    let mut module = None;
    let mut answers = Vec::new();
    let mut request = None;
    let mut wasi = WasiCtxBuilder::new();
    wasi.inherit_stdio().allow_blocking_current_thread(true);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            // SAFETY: the benchmark hands over artifacts wharf, or this
            // program, wrote for this very engine configuration.
            "--artifact" => {
                module = Some(unsafe { Module::deserialize_file(&engine, args.next().unwrap())? })
            }
            "--compile" => module = Some(Module::from_file(&engine, args.next().unwrap())?),
            "--precompile" => {
                let (wasm, out) = (args.next().unwrap(), args.next().unwrap());
                let artifact = engine.precompile_module(&std::fs::read(wasm)?)?;
                std::fs::write(out, artifact)?;
                return Ok(0);
            }
            "--dir" => {
                let spec = args.next().unwrap();
                let (host, guest) = spec.split_once("::").unwrap();
                wasi.preopened_dir(host, guest, FsPerms::ReadOnly)?;
            }
            "--answer" => {
                let spec = args.next().unwrap();
                let (import, value) = spec.split_once('=').unwrap();
                let (module, name) = import.split_once("::").unwrap();
                answers.push((module.to_owned(), name.to_owned(), value.parse::<i64>()?));
            }
            "--request" => {
                let alloc = args.next().unwrap();
                let call = args.next().unwrap();
                request = Some((alloc, call, args.next().unwrap()));
            }
            "--env" => {
                let spec = args.next().unwrap();
                let (key, value) = spec.split_once('=').unwrap();
                wasi.env(key, value);
            }
            "--" => break,
            other => wasmtime::bail!("unknown flag {other}"),
        }
    }
    let argv: Vec<String> = args.collect();
    wasi.args(&argv);
    let module = module.ok_or_else(|| wasmtime::format_err!("no module"))?;
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |ctx| ctx)?;
    for (import, name, value) in answers {
        let ty = module
            .imports()
            .find(|i| i.module() == import && i.name() == name)
            .and_then(|i| match i.ty() {
                ExternType::Func(ty) => Some(ty),
                _ => None,
            })
            .ok_or_else(|| wasmtime::format_err!("no function import {import}::{name}"))?;
        linker.func_new(&import, &name, ty.clone(), move |_, _, results| {
            for (result, ty) in results.iter_mut().zip(ty.results()) {
                *result = match ty {
                    wasmtime::ValType::I64 => Val::I64(value),
                    _ => Val::I32(value as i32),
                };
            }
            Ok(())
        })?;
    }
    let mut store = Store::new(&engine, wasi.build_p1());
    let instance = linker.instantiate(&mut store, &module)?;
    if let Some((alloc, call, text)) = request {
        let alloc = instance.get_typed_func::<i32, i32>(&mut store, &alloc)?;
        let call = instance.get_typed_func::<(i32, i32), i32>(&mut store, &call)?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| wasmtime::format_err!("no memory export"))?;
        let result = alloc.call(&mut store, text.len() as i32).and_then(|at| {
            memory.write(&mut store, at as u32 as usize, text.as_bytes())?;
            call.call(&mut store, (at, text.len() as i32))
        });
        return match result {
            Ok(status) => Ok(status),
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(I32Exit(code)) => Ok(*code),
                None => Err(e),
            },
        };
    }
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
    match start.call(&mut store, ()) {
        Ok(()) => Ok(0),
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(I32Exit(code)) => Ok(*code),
            None => Err(e),
        },
    }
}
