//! The baseline wharf is measured against: the least code that runs a WASI
//! preview 1 command under wasmtime, with wharf's engine configuration and
//! none of its image logic.
//!
//! ```text
//! embed --artifact FILE.cwasm [--dir HOST::GUEST]… [--env K=V]… -- ARGS…   load a precompiled module
//! embed --compile FILE.wasm   [--dir HOST::GUEST]… [--env K=V]… -- ARGS…   compile it first, every time
//! ```

use std::process::ExitCode;

use wasmtime::{Config, Engine, Linker, Module, ModuleVersionStrategy, Store};
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

fn run() -> wasmtime::Result<i32> {
    let mut args = std::env::args().skip(1);
    let mut config = Config::new();
    // The same settings as wharf's engine, so that wharf's artifacts load.
    config.parallel_compilation(true);
    config.epoch_interruption(true);
    config.async_stack_size((8 << 20) + (1 << 20));
    config.max_wasm_stack(8 << 20);
    config.module_version(ModuleVersionStrategy::Custom(
        wasmtime_environ::ARTIFACT_VERSION.to_owned(),
    ))?;
    let engine = Engine::new(&config)?;
    let mut module = None;
    let mut wasi = WasiCtxBuilder::new();
    wasi.inherit_stdio().allow_blocking_current_thread(true);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            // SAFETY: the benchmark hands over artifacts wharf wrote for
            // this very engine configuration.
            "--artifact" => {
                module = Some(unsafe { Module::deserialize_file(&engine, args.next().unwrap())? })
            }
            "--compile" => module = Some(Module::from_file(&engine, args.next().unwrap())?),
            "--dir" => {
                let spec = args.next().unwrap();
                let (host, guest) = spec.split_once("::").unwrap();
                wasi.preopened_dir(host, guest, FsPerms::ReadOnly)?;
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
    let mut store = Store::new(&engine, wasi.build_p1());
    store.set_epoch_deadline(u64::MAX);
    let instance = linker.instantiate(&mut store, &module)?;
    let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
    match start.call(&mut store, ()) {
        Ok(()) => Ok(0),
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(I32Exit(code)) => Ok(*code),
            None => Err(e),
        },
    }
}
