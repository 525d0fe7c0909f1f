//! wharf's benchmark through its library, as a server embedding it would
//! use it.
//!
//! ```text
//! bench-api run-interruptible [-e KEY=VALUE]… IMAGE [ARGS…]
//!     a run through the library whose deadline the guest's own code checks
//! bench-api calls FILE.wasm N [POOL]
//!     N calls of a plugin through App::call_async, one after another
//! bench-api raw FILE.wasm N [POOL]
//!     N instantiate-and-call rounds on wasmtime itself, with the engine
//!     (configuration, pool) wharf uses for the same plugin
//! bench-api raw-async FILE.wasm N [POOL]
//!     the same with wasmtime's async calls, on a fiber, as wharf makes them
//! bench-api raw-async-equal FILE.wasm N [POOL]
//!     raw-async, also doing by hand what a wharf call gives its guest
//!     (an argument, captured stdout and stderr, a memory limit, a yield
//!     at every epoch tick)
//! bench-api image-calls IMAGE N [ARGS…]
//!     N calls of an image of the store WHARF_HOME names
//! bench-api idle FILE.wasm N
//!     N calls at once, each blocked reading its stdin; the resident
//!     memory they add
//! bench-api wasm FILE.wat OUT.wasm
//!     the binary of a text module, for peers that take only binaries
//! bench-api component REACTOR.wasm OUT.wasm
//!     a preview 1 reactor (with its component type embedded, as
//!     wit-bindgen's C bindings do) made a component with the standard
//!     reactor adapter, as `wasm-tools component new --adapt` does
//! ```
//!
//! POOL is a number of sandboxes for the pool (wharf's default otherwise;
//! valgrind needs a small one). `calls`, `raw…` and `image-calls` print one JSON object: calls per
//! second, and the 50th and 99th percentile latency in microseconds;
//! `idle` prints the resident memory before and with the sandboxes.

use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wharf::runtime::{Call, Checks, LoadOptions, Output, Runtime, Source, Stdin, WASM_STACK};
use wharf::store::Store;

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("bench-api: {e:#}");
            ExitCode::from(125)
        }
    }
}

fn run() -> Result<i32> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("run-interruptible") => run_interruptible(&args[1..]),
        Some("calls") => {
            let (plugin, count, pool) = plugin_and_count(&args[1..])?;
            report(&calls(&plugin, count, pool)?);
            Ok(0)
        }
        Some("raw") => {
            let (plugin, count, pool) = plugin_and_count(&args[1..])?;
            report(&raw(&plugin, count, pool)?);
            Ok(0)
        }
        Some("raw-async") => {
            let (plugin, count, pool) = plugin_and_count(&args[1..])?;
            report(&raw_async(&plugin, count, pool)?);
            Ok(0)
        }
        Some("raw-async-equal") => {
            let (plugin, count, pool) = plugin_and_count(&args[1..])?;
            report(&raw_async_equal(&plugin, count, pool)?);
            Ok(0)
        }
        Some("image-calls") => {
            let image = args.get(1).context("image-calls IMAGE N [ARGS…]")?;
            let count = args.get(2).context("image-calls IMAGE N")?.parse()?;
            report(&image_calls(image, count, &args[3..])?);
            Ok(0)
        }
        Some("wasm") => {
            let (input, output) = (
                args.get(1).context("wasm FILE.wat OUT.wasm")?,
                args.get(2).context("wasm FILE.wat OUT.wasm")?,
            );
            std::fs::write(output, wat::parse_file(input)?)?;
            Ok(0)
        }
        Some("component") => {
            let usage = "component REACTOR.wasm OUT.wasm";
            let (input, output) = (args.get(1).context(usage)?, args.get(2).context(usage)?);
            let module = std::fs::read(input).with_context(|| format!("cannot read {input}"))?;
            let adapter =
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;
            let component = wit_component::ComponentEncoder::default()
                .module(&module)?
                .adapter("wasi_snapshot_preview1", adapter)?
                .validate(true)
                .encode()?;
            std::fs::write(output, component)?;
            Ok(0)
        }
        Some("idle") => {
            let (plugin, count, _) = plugin_and_count(&args[1..])?;
            idle(&plugin, count)?;
            Ok(0)
        }
        _ => bail!(
            "usage: bench-api run-interruptible|calls|raw|raw-async|raw-async-equal|image-calls|idle|wasm …"
        ),
    }
}

/// A plugin file's bytes, a number of calls and, when given, the number
/// of sandboxes of the pool.
fn plugin_and_count(args: &[String]) -> Result<(Vec<u8>, usize, Option<u32>)> {
    let path = args.first().context("a plugin file")?;
    let count = args.get(1).context("a number of calls")?.parse()?;
    let pool = args.get(2).map(|p| p.parse()).transpose()?;
    let plugin = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
    Ok((plugin, count, pool))
}

/// The runtime plugin calls are made with: wharf's default pool, or one of
/// `pool` sandboxes (valgrind cannot reserve the address space of the
/// default one).
fn plugin_runtime(pool: Option<u32>) -> Result<Runtime> {
    match pool {
        Some(sandboxes) => Runtime::builder().pool(sandboxes).build(),
        None => Runtime::builder().build(),
    }
}

/// Latencies of calls, in the order they were made.
struct Latencies(Vec<Duration>, Duration);

fn report(latencies: &Latencies) {
    let Latencies(each, total) = latencies;
    let mut sorted = each.clone();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
    println!(
        "{{\"calls_per_s\": {:.1}, \"p50_us\": {:.2}, \"p99_us\": {:.2}, \"calls\": {}}}",
        each.len() as f64 / total.as_secs_f64(),
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        each.len()
    );
}

/// Times `count` rounds of `call`, after a tenth as many unmeasured.
fn timed(count: usize, mut call: impl FnMut() -> Result<()>) -> Result<Latencies> {
    for _ in 0..count / 10 {
        call()?;
    }
    let mut each = Vec::with_capacity(count);
    let start = Instant::now();
    for _ in 0..count {
        let before = Instant::now();
        call()?;
        each.push(before.elapsed());
    }
    Ok(Latencies(each, start.elapsed()))
}

/// A plugin called through the library, as a server would call it: a
/// fresh sandbox each time, no `/tmp`, output captured.
fn calls(plugin: &[u8], count: usize, pool: Option<u32>) -> Result<Latencies> {
    let runtime = plugin_runtime(pool)?;
    let app = runtime.load(Source::bytes("plugin", plugin.to_vec()))?;
    // The calls run in a tokio runtime, as a server's would.
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    timed(count, || {
        let outcome = tokio.block_on(app.call_async(Call::new().without_tmp()))?;
        anyhow::ensure!(
            outcome.exit.success(),
            "the plugin ended {:?}",
            outcome.exit
        );
        Ok(())
    })
}

/// wasmtime itself, set up for `plugin` with the engine wharf made for it
/// (epoch checks, the pool) and WASI linked for sync or async calls.
fn raw_setup(
    plugin: &[u8],
    asynchronous: bool,
    pool: Option<u32>,
) -> Result<(
    wasmtime::Engine,
    wasmtime::InstancePre<wasmtime_wasi::p1::WasiP1Ctx>,
)> {
    let (engine, module) = plugin_module(plugin, pool)?;
    let mut linker = wasmtime::Linker::new(&engine);
    if asynchronous {
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |ctx| ctx)
    } else {
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |ctx| ctx)
    }
    .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let pre = linker
        .instantiate_pre(&module)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    Ok((engine, pre))
}

/// The engine wharf makes for an interruptible plugin (epoch checks, the
/// pool), and `plugin` compiled by it.
fn plugin_module(plugin: &[u8], pool: Option<u32>) -> Result<(wasmtime::Engine, wasmtime::Module)> {
    let runtime = plugin_runtime(pool)?;
    let engine = runtime
        .engine(Checks {
            interrupt: true,
            fuel: false,
        })?
        .engine()
        .clone();
    let module = wasmtime::Module::new(&engine, plugin).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    Ok((engine, module))
}

/// A fresh store for a raw round: an empty WASI context, and an epoch
/// deadline the ticking epoch never reaches.
fn raw_store(engine: &wasmtime::Engine) -> wasmtime::Store<wasmtime_wasi::p1::WasiP1Ctx> {
    let mut store = wasmtime::Store::new(engine, wasmtime_wasi::WasiCtxBuilder::new().build_p1());
    store.set_epoch_deadline(u64::MAX / 2);
    store
}

/// The same plugin on wasmtime itself, with the engine wharf made for it:
/// per round, a store with an empty WASI context, an instance from the
/// pre-instantiated module, and a synchronous call of `_start`.
fn raw(plugin: &[u8], count: usize, pool: Option<u32>) -> Result<Latencies> {
    let (engine, pre) = raw_setup(plugin, false, pool)?;
    // On a thread whose stack holds the guest's Wasm stack, as a sync
    // embedding must arrange.
    std::thread::Builder::new()
        .stack_size(WASM_STACK + (4 << 20))
        .spawn(move || {
            timed(count, || {
                let mut store = raw_store(&engine);
                let instance = pre
                    .instantiate(&mut store)
                    .map_err(|e| anyhow::anyhow!("{e:#}"))?;
                let start = instance
                    .get_typed_func::<(), ()>(&mut store, "_start")
                    .map_err(|e| anyhow::anyhow!("{e:#}"))?;
                start
                    .call(&mut store, ())
                    .map_err(|e| anyhow::anyhow!("{e:#}"))
            })
        })?
        .join()
        .map_err(|_| anyhow::anyhow!("the raw loop panicked"))?
}

/// [`raw`], with wasmtime's async calls in a tokio runtime, as wharf
/// makes them.
fn raw_async(plugin: &[u8], count: usize, pool: Option<u32>) -> Result<Latencies> {
    let (engine, pre) = raw_setup(plugin, true, pool)?;
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    timed(count, || {
        tokio.block_on(async {
            let mut store = raw_store(&engine);
            start_async(&mut store, &pre).await
        })
    })
}

/// Instantiates `pre` in `store` and calls its `_start`, asynchronously.
async fn start_async<T: Send + 'static>(
    store: &mut wasmtime::Store<T>,
    pre: &wasmtime::InstancePre<T>,
) -> Result<()> {
    let instance = pre
        .instantiate_async(&mut *store)
        .await
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let start = instance
        .get_typed_func::<(), ()>(&mut *store, "_start")
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    start
        .call_async(&mut *store, ())
        .await
        .map_err(|e| anyhow::anyhow!("{e:#}"))
}

/// State of [`raw_async_equal`]'s stores: WASI and a memory limit.
struct EqualState {
    wasi: wasmtime_wasi::p1::WasiP1Ctx,
    limits: wasmtime::StoreLimits,
}

/// [`raw_async`], doing by hand what a wharf call gives its guest: the
/// plugin's name as its argument, stdout and stderr captured into 1 MiB
/// buffers and read back, a memory limit, and a yield at every epoch tick
/// (where a deadline or a cancel would be noticed).
fn raw_async_equal(plugin: &[u8], count: usize, pool: Option<u32>) -> Result<Latencies> {
    use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
    let (engine, module) = plugin_module(plugin, pool)?;
    let mut linker = wasmtime::Linker::<EqualState>::new(&engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state| &mut state.wasi)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let pre = linker
        .instantiate_pre(&module)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    timed(count, || {
        tokio.block_on(async {
            let stdout = MemoryOutputPipe::new(wharf::runtime::DEFAULT_CAPTURE);
            let stderr = MemoryOutputPipe::new(wharf::runtime::DEFAULT_CAPTURE);
            let wasi = wasmtime_wasi::WasiCtxBuilder::new()
                .args(&["plugin"])
                .stdout(stdout.clone())
                .stderr(stderr.clone())
                .build_p1();
            let limits = wasmtime::StoreLimitsBuilder::new()
                .memory_size(wharf::runtime::DEFAULT_MEMORY as usize)
                .build();
            let mut store = wasmtime::Store::new(&engine, EqualState { wasi, limits });
            store.limiter(|state| &mut state.limits);
            store.set_epoch_deadline(1);
            store.epoch_deadline_async_yield_and_update(1);
            start_async(&mut store, &pre).await?;
            drop(store);
            let (_out, _err) = (stdout.contents(), stderr.contents());
            Ok(())
        })
    })
}

/// Calls of an image of the store, with arguments `args`, output captured.
fn image_calls(image: &str, count: usize, args: &[String]) -> Result<Latencies> {
    let store = Store::open_default()?;
    let runtime = Runtime::builder().store(&store).build()?;
    let app = runtime.load_with(
        Source::Image(image.to_owned()),
        LoadOptions::new().interruptible(true),
    )?;
    timed(count, || {
        let mut call = Call::new().stdout(Output::capture(1 << 20));
        if !args.is_empty() {
            call = call.args(args.iter().cloned());
        }
        let outcome = app.call(call)?;
        anyhow::ensure!(
            outcome.exit.success(),
            "the image ended {:?}: {}",
            outcome.exit,
            outcome.stderr.text()
        );
        Ok(())
    })
}

/// A stdin that never has data: it counts the readers that reached it,
/// and keeps them waiting.
struct Never(Arc<AtomicUsize>, bool);

impl tokio::io::AsyncRead for Never {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.1 {
            self.1 = true;
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        Poll::Pending
    }
}

/// The resident memory of this process, in KiB.
fn resident_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/self/status")
}

/// `count` sandboxes at once, each instantiated and blocked reading its
/// stdin; prints the resident memory before and with them.
fn idle(plugin: &[u8], count: usize) -> Result<()> {
    let runtime = Runtime::builder().pool(u32::try_from(count)?).build()?;
    let app = runtime.load(Source::bytes("reader", plugin.to_vec()))?;
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // One call first, so that what every sandbox shares is in place.
    let warm = tokio.block_on(app.call_async(Call::new().without_tmp()))?;
    anyhow::ensure!(warm.exit.success(), "the plugin ended {:?}", warm.exit);
    let before = resident_kib()?;
    let waiting = Arc::new(AtomicUsize::new(0));
    let cancel = wharf::runtime::CancelHandle::new();
    tokio.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..count {
            let app = app.clone();
            let stdin = Stdin::Reader(Box::new(Never(waiting.clone(), false)));
            let call = Call::new().without_tmp().stdin(stdin).cancel(&cancel);
            tasks.push(tokio::spawn(async move { app.call_async(call).await }));
        }
        while waiting.load(Ordering::SeqCst) < count {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Every guest is instantiated and waits for its stdin by now; let
        // the last of them settle.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let with = resident_kib()?;
        println!(
            "{{\"sandboxes\": {count}, \"before_kib\": {before}, \"with_kib\": {with}, \"per_sandbox_kib\": {:.1}}}",
            (with.saturating_sub(before)) as f64 / count as f64
        );
        cancel.cancel();
        for task in tasks {
            task.await??;
        }
        anyhow::Ok(())
    })
}

fn run_interruptible(args: &[String]) -> Result<i32> {
    let mut args = args.iter().cloned();
    let mut env = Vec::new();
    let image = loop {
        match args.next() {
            Some(flag) if flag == "-e" => {
                let var = args.next().context("-e needs KEY=VALUE")?;
                let (key, value) = var.split_once('=').context("-e needs KEY=VALUE")?;
                env.push((key.to_owned(), value.to_owned()));
            }
            Some(image) => break image,
            None => bail!("no image given"),
        }
    };
    let store = Store::open_default()?;
    let runtime = Runtime::builder().store(&store).on_demand().build()?;
    let app = runtime.load_with(Source::Image(image), LoadOptions::new().interruptible(true))?;
    let args: Vec<String> = args.collect();
    let mut call = Call::new()
        .stdin(Stdin::Inherit)
        .stdout(Output::Inherit)
        .stderr(Output::Inherit)
        .timeout(Duration::from_secs(3600));
    if !args.is_empty() {
        call = call.args(args);
    }
    call.env = env;
    Ok(app.call(call)?.exit.code())
}
