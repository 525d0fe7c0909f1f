//! The per-call API, in-process: apps loaded once and called many times,
//! each call in a fresh sandbox, with its own input, captured output and
//! limits, from threads and from async tasks.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wharf::runtime::{
    Call, CancelHandle, Exit, HostFunction, LimitHit, LoadOptions, Output, RunError, Runtime,
    Source, Stdin, TimeoutBy, Val, ValType,
};

fn guest(name: &str) -> Source {
    let path = format!("{}/tests/guests/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    Source::bytes(name, wat::parse_str(text).unwrap())
}

fn runtime() -> Runtime {
    Runtime::builder().pool(8).build().unwrap()
}

fn run_error(error: &anyhow::Error) -> &RunError {
    error
        .chain()
        .find_map(|e| e.downcast_ref::<RunError>())
        .unwrap_or_else(|| panic!("not a RunError: {error:#}"))
}

#[test]
fn a_call_gets_its_arguments_environment_and_stdin_and_its_output_is_captured() {
    let app = runtime().load(guest("probe")).unwrap();
    let outcome = app
        .call(
            Call::new()
                .args(["one", "two words"])
                .env("COLOUR", "blue")
                .env("SIZE", "7")
                .stdin("from stdin\n"),
        )
        .unwrap();
    assert_eq!(outcome.exit, Exit::Code(0));
    assert_eq!(outcome.stdout.text(), "probe\none\ntwo words\nfrom stdin\n");
    assert_eq!(outcome.stderr.text(), "COLOUR=blue\nSIZE=7\n");
    assert!(!outcome.stdout.truncated);
}

#[test]
fn nothing_survives_from_one_call_to_the_next() {
    let runtime = runtime();
    let app = runtime.load(guest("counter")).unwrap();
    for _ in 0..5 {
        assert_eq!(app.call(Call::new()).unwrap().exit, Exit::Code(11));
    }
    // Nor between apps of one runtime loaded from the same module, whose
    // sandboxes come from the same pool.
    let other = runtime.load(guest("counter")).unwrap();
    for _ in 0..3 {
        assert_eq!(other.call(Call::new()).unwrap().exit, Exit::Code(11));
        assert_eq!(app.call(Call::new()).unwrap().exit, Exit::Code(11));
    }
}

#[test]
fn output_over_its_cap_is_cut_and_says_so() {
    let app = runtime().load(guest("flood")).unwrap();
    let outcome = app.call(Call::new().stdout(Output::capture(1000))).unwrap();
    assert!(outcome.exit.success());
    assert_eq!(outcome.stdout.bytes, vec![b'x'; 1000]);
    assert!(outcome.stdout.truncated);
    let all = app
        .call(Call::new().stdout(Output::capture(2 << 20)))
        .unwrap();
    assert_eq!(all.stdout.bytes.len(), 1 << 20);
    assert!(!all.stdout.truncated);
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn output_streams_through_to_a_writer_and_can_be_dropped() {
    let app = runtime().load(guest("probe")).unwrap();
    let out = Shared::default();
    let outcome = app
        .call(
            Call::new()
                .args(["streamed"])
                .stdout(Output::Writer(Box::new(out.clone())))
                .stderr(Output::Null),
        )
        .unwrap();
    assert!(outcome.exit.success());
    assert_eq!(*out.0.lock().unwrap(), b"probe\nstreamed\n");
    assert!(outcome.stdout.bytes.is_empty() && outcome.stderr.bytes.is_empty());
}

/// errno 64 of WASI preview 1: `pipe` (`EPIPE`).
const EPIPE: i32 = 64;

#[test]
fn a_reader_gone_away_is_epipe_for_the_guest() {
    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let app = runtime().load(guest("write_until_error")).unwrap();
    let outcome = app
        .call(Call::new().stdout(Output::Writer(Box::new(Closed))))
        .unwrap();
    assert_eq!(outcome.exit, Exit::Code(EPIPE));
    // A channel whose receiver was dropped, after taking a chunk.
    let (sender, mut receiver) = tokio::sync::mpsc::channel(1);
    let reader = std::thread::spawn(move || {
        receiver.blocking_recv().unwrap();
    });
    let outcome = app
        .call(Call::new().stdout(Output::Channel(sender)))
        .unwrap();
    reader.join().unwrap();
    assert_eq!(outcome.exit, Exit::Code(EPIPE));
}

#[test]
fn a_guest_that_loops_is_stopped_at_its_deadline_and_the_next_call_runs() {
    // A pool of one: the stopped call must give its sandbox back.
    let runtime = Runtime::builder()
        .pool(1)
        .queue_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let app = runtime.load(guest("hostile")).unwrap();
    let limit = Duration::from_millis(100);
    let outcome = app.call(Call::new().args(["1"]).timeout(limit)).unwrap();
    assert_eq!(outcome.exit, Exit::Limit(LimitHit::Timeout { limit }));
    assert_eq!(outcome.exit.code(), 124);
    assert!(outcome.usage.wall_time >= limit);
    // The same app, in the same pool: it traps, as its argument says.
    let next = app.call(Call::new().args(["333"])).unwrap();
    assert!(matches!(next.exit, Exit::Trap(_)), "{:?}", next.exit);
}

#[test]
fn a_timeout_the_caller_enforces_is_not_enforced_by_wharf() {
    let app = runtime().load(guest("counter")).unwrap();
    let mut call = Call::new().timeout(Duration::from_nanos(1));
    call.timeout_by = TimeoutBy::Caller;
    assert_eq!(app.call(call).unwrap().exit, Exit::Code(11));
}

#[test]
fn a_guest_that_allocates_without_end_is_held_to_its_memory_limit() {
    let app = runtime().load(guest("hostile")).unwrap();
    let outcome = app.call(Call::new().args(["22"]).memory(32 << 20)).unwrap();
    assert_eq!(
        outcome.exit,
        Exit::Limit(LimitHit::Memory { limit: 32 << 20 })
    );
    assert_eq!(outcome.exit.code(), 137);
    assert!(outcome.usage.peak_memory <= 32 << 20);
    assert!(outcome.usage.peak_memory > 16 << 20, "{:?}", outcome.usage);
}

#[test]
fn traps_and_stack_overflows_end_the_call_not_the_host() {
    let app = runtime().load(guest("hostile")).unwrap();
    let trapped = app.call(Call::new().args(["333"])).unwrap();
    match &trapped.exit {
        Exit::Trap(message) => assert!(message.contains("unreachable"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(trapped.exit.code(), if cfg!(windows) { 3 } else { 134 });
    // Deep recursion, from a thread whose own stack is small: the guest
    // runs on a stack wasmtime owns, and overflowing it is a trap.
    let overflowed = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || app.call(Call::new().args(["4444"])).unwrap())
        .unwrap()
        .join()
        .unwrap();
    match &overflowed.exit {
        Exit::Trap(message) => assert!(message.contains("call stack exhausted"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn fuel_is_a_deterministic_budget_and_its_use_is_reported() {
    let runtime = runtime();
    let app = runtime
        .load_with(guest("counter"), LoadOptions::new().fuel(true))
        .unwrap();
    let first = app.call(Call::new().fuel(1_000_000)).unwrap();
    let second = app.call(Call::new().fuel(1_000_000)).unwrap();
    assert_eq!(first.exit, Exit::Code(11));
    let used = first.usage.fuel.unwrap();
    assert!(used > 0 && used < 1_000_000, "{used}");
    assert_eq!(
        second.usage.fuel,
        Some(used),
        "the same work costs the same fuel"
    );
    let spin = runtime
        .load_with(guest("hostile"), LoadOptions::new().fuel(true))
        .unwrap();
    let outcome = spin.call(Call::new().args(["1"]).fuel(100_000)).unwrap();
    assert_eq!(outcome.exit, Exit::Limit(LimitHit::Fuel { limit: 100_000 }));
    assert_eq!(outcome.usage.fuel, Some(100_000));
}

#[test]
fn a_call_cannot_ask_for_checks_its_app_was_loaded_without() {
    let app = runtime()
        .load_with(guest("counter"), LoadOptions::new().interruptible(false))
        .unwrap();
    let error = app
        .call(Call::new().timeout(Duration::from_secs(1)))
        .unwrap_err();
    assert!(matches!(
        run_error(&error),
        RunError::NotInterruptible { .. }
    ));
    assert!(error.to_string().contains("TimeoutBy::Caller"), "{error}");
    let error = app
        .call(Call::new().cancel(&CancelHandle::new()))
        .unwrap_err();
    assert!(matches!(
        run_error(&error),
        RunError::NotInterruptible { .. }
    ));
    let error = app.call(Call::new().fuel(10)).unwrap_err();
    assert!(matches!(run_error(&error), RunError::NotMetered { .. }));
    // A timeout its caller enforces needs no checks.
    let mut call = Call::new().timeout(Duration::from_secs(1));
    call.timeout_by = TimeoutBy::Caller;
    assert_eq!(app.call(call).unwrap().exit, Exit::Code(11));
}

#[test]
fn a_cancel_stops_a_guest_that_computes_and_one_that_waits() {
    let runtime = runtime();
    let app = runtime.load(guest("hostile")).unwrap();
    let cancel = CancelHandle::new();
    let canceller = cancel.clone();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        canceller.cancel();
    });
    let outcome = app.call(Call::new().args(["1"]).cancel(&cancel)).unwrap();
    stopper.join().unwrap();
    assert_eq!(outcome.exit, Exit::Cancelled);
    assert_eq!(outcome.exit.code(), 143);

    // Waiting for stdin that never comes (the other end stays open).
    let probe = runtime.load(guest("probe")).unwrap();
    let (reader, _writer) = tokio::io::duplex(64);
    let cancel = CancelHandle::new();
    let canceller = cancel.clone();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        canceller.cancel();
    });
    let outcome = probe
        .call(
            Call::new()
                .stdin(Stdin::Reader(Box::new(reader)))
                .cancel(&cancel),
        )
        .unwrap();
    stopper.join().unwrap();
    assert_eq!(outcome.exit, Exit::Cancelled);
    // What it wrote before it was stopped is kept.
    assert_eq!(outcome.stdout.text(), "probe\n");

    // Cancelled before it starts: it does not start.
    let cancel = CancelHandle::new();
    cancel.cancel();
    let outcome = probe.call(Call::new().cancel(&cancel)).unwrap();
    assert_eq!(outcome.exit, Exit::Cancelled);
    assert_eq!(outcome.stdout.text(), "", "it ran");
}

#[test]
fn a_cancel_ends_the_wait_for_a_free_sandbox() {
    let runtime = Runtime::builder()
        .pool(1)
        .queue_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let probe = runtime.load(guest("probe")).unwrap();
    let (reader, _writer) = tokio::io::duplex(64);
    let (reading, read) = std::sync::mpsc::channel();
    let holder = CancelHandle::new();
    let busy = {
        let probe = probe.clone();
        let holder = holder.clone();
        std::thread::spawn(move || {
            let stdin = Signalling(Some(reading), reader);
            probe
                .call(
                    Call::new()
                        .stdin(Stdin::Reader(Box::new(stdin)))
                        .cancel(&holder),
                )
                .unwrap()
        })
    };
    read.recv().unwrap();
    let waiter = CancelHandle::new();
    let canceller = waiter.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        canceller.cancel();
    });
    let outcome = probe.call(Call::new().cancel(&waiter)).unwrap();
    assert_eq!(
        outcome.exit,
        Exit::Cancelled,
        "it waited for the pool instead"
    );
    holder.cancel();
    assert_eq!(busy.join().unwrap().exit, Exit::Cancelled);
}

#[test]
fn a_deadline_stops_a_guest_waiting_in_a_host_call() {
    let app = runtime().load(guest("probe")).unwrap();
    let (reader, _writer) = tokio::io::duplex(64);
    let limit = Duration::from_millis(80);
    let outcome = app
        .call(
            Call::new()
                .stdin(Stdin::Reader(Box::new(reader)))
                .timeout(limit),
        )
        .unwrap();
    assert_eq!(outcome.exit, Exit::Limit(LimitHit::Timeout { limit }));
}

#[test]
fn many_threads_call_one_app_and_each_gets_its_own_output() {
    let app = runtime().load(guest("probe")).unwrap();
    std::thread::scope(|scope| {
        for thread in 0..6 {
            let app = app.clone();
            scope.spawn(move || {
                for call in 0..15 {
                    let input = format!("thread {thread} call {call}\n");
                    let outcome = app
                        .call(Call::new().args([thread.to_string()]).stdin(input.as_str()))
                        .unwrap();
                    assert!(outcome.exit.success());
                    assert_eq!(outcome.stdout.text(), format!("probe\n{thread}\n{input}"));
                }
            });
        }
    });
}

#[test]
fn async_tasks_call_apps_concurrently() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = runtime().load(guest("probe")).unwrap();
    tokio.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..40 {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                let input = format!("task {task}\n");
                let outcome = app
                    .call_async(Call::new().stdin(input.as_str()))
                    .await
                    .unwrap();
                assert_eq!(outcome.stdout.text(), format!("probe\n{input}"));
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        // The blocking call works from a worker of a multi-threaded
        // runtime too.
        let app = app.clone();
        let exit = tokio::spawn(async move { app.call(Call::new()).unwrap().exit })
            .await
            .unwrap();
        assert_eq!(exit, Exit::Code(0));
    });
}

#[test]
fn a_blocking_call_in_a_current_thread_runtime_is_an_error_not_a_panic() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = runtime().load(guest("counter")).unwrap();
    let error = tokio.block_on(async { app.call(Call::new()).unwrap_err() });
    assert!(error.to_string().contains("call_async"), "{error}");
    // call_async works there.
    let exit = tokio.block_on(app.call_async(Call::new())).unwrap().exit;
    assert_eq!(exit, Exit::Code(11));
}

/// A reader that says when it is first read from.
struct Signalling(Option<std::sync::mpsc::Sender<()>>, tokio::io::DuplexStream);

impl tokio::io::AsyncRead for Signalling {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if let Some(reading) = self.0.take() {
            let _ = reading.send(());
        }
        std::pin::Pin::new(&mut self.1).poll_read(cx, buf)
    }
}

#[test]
fn a_full_pool_makes_a_call_wait_then_fail_clearly() {
    let runtime = Runtime::builder()
        .pool(1)
        .queue_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let probe = runtime.load(guest("probe")).unwrap();
    let (reader, writer) = tokio::io::duplex(64);
    let (reading, read) = std::sync::mpsc::channel();
    let busy = {
        let probe = probe.clone();
        std::thread::spawn(move || {
            let stdin = Signalling(Some(reading), reader);
            probe
                .call(Call::new().stdin(Stdin::Reader(Box::new(stdin))))
                .unwrap()
        })
    };
    // The busy call holds the pool's sandbox once its guest reads stdin.
    read.recv().unwrap();
    let error = probe.call(Call::new()).unwrap_err();
    assert!(
        matches!(run_error(&error), RunError::Busy { sandboxes: 1, .. }),
        "{error:#}"
    );
    assert!(
        error.to_string().contains("all 1 sandboxes are busy"),
        "{error}"
    );
    // The busy call ends when its stdin does; then the pool has room.
    drop(writer);
    assert!(busy.join().unwrap().exit.success());
    assert!(probe.call(Call::new()).unwrap().exit.success());
}

#[test]
fn bad_programs_are_refused_with_what_is_wrong() {
    let runtime = runtime();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "text",
            b"#!/bin/sh\necho hi\n".to_vec(),
            "neither WebAssembly nor valid WAT",
        ),
        (
            "cut",
            b"\0asm\x01\0\0\0\x01\x05".to_vec(),
            "not a valid WebAssembly program",
        ),
        (
            "needy",
            wat::parse_str(r#"(module (import "env" "secret" (func)) (func (export "_start")))"#)
                .unwrap(),
            "it imports env::secret, which wharf does not provide",
        ),
        (
            "library",
            wat::parse_str(r#"(module (func (export "add")))"#).unwrap(),
            "no `_start` export",
        ),
    ];
    for (name, bytes, expected) in cases {
        let error = runtime.load(Source::bytes(name, bytes)).unwrap_err();
        assert!(
            matches!(run_error(&error), RunError::NotRunnable { .. }),
            "{name}: {error:#}"
        );
        assert!(error.to_string().contains(expected), "{name}: {error}");
    }
}

/// A module that passes a string to `host::log` and exits with what
/// `host::add` makes of 40 and 2.
const HOST_USER: &str = r#"(module
  (import "host" "log" (func $log (param i32 i32)))
  (import "host" "add" (func $add (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "hello from the guest")
  (func (export "_start")
    (call $log (i32.const 64) (i32.const 20))
    (call $exit (call $add (i32.const 40) (i32.const 2)))))"#;

#[test]
fn host_functions_are_called_with_the_guests_memory() {
    let logged = Arc::new(Mutex::new(Vec::new()));
    let log = {
        let logged = logged.clone();
        HostFunction::new(
            "host",
            "log",
            [ValType::I32, ValType::I32],
            [],
            move |call, args, _| {
                let text = call.read(args[0].unwrap_i32() as u32, args[1].unwrap_i32() as u32)?;
                logged.lock().unwrap().push(String::from_utf8(text)?);
                Ok(())
            },
        )
    };
    let add = HostFunction::new(
        "host",
        "add",
        [ValType::I32, ValType::I32],
        [ValType::I32],
        |_, args, results| {
            results[0] = Val::I32(args[0].unwrap_i32() + args[1].unwrap_i32());
            Ok(())
        },
    );
    let app = runtime()
        .load_with(
            Source::bytes("host-user", HOST_USER),
            LoadOptions::new().host_function(log).host_function(add),
        )
        .unwrap();
    assert_eq!(app.call(Call::new()).unwrap().exit, Exit::Code(42));
    assert_eq!(*logged.lock().unwrap(), ["hello from the guest"]);
}

#[test]
fn a_host_function_error_traps_the_guest_and_a_wrong_type_is_refused() {
    let failing = HostFunction::new(
        "host",
        "add",
        [ValType::I32, ValType::I32],
        [ValType::I32],
        |_, _, _| anyhow::bail!("the host said no"),
    );
    let log = HostFunction::new(
        "host",
        "log",
        [ValType::I32, ValType::I32],
        [],
        |_, _, _| Ok(()),
    );
    let runtime = runtime();
    let app = runtime
        .load_with(
            Source::bytes("host-user", HOST_USER),
            LoadOptions::new()
                .host_function(failing)
                .host_function(log.clone()),
        )
        .unwrap();
    match app.call(Call::new()).unwrap().exit {
        Exit::Trap(message) => assert!(message.contains("the host said no"), "{message}"),
        other => panic!("{other:?}"),
    }
    let mistyped = HostFunction::new("host", "add", [ValType::I64], [ValType::I32], |_, _, _| {
        Ok(())
    });
    let error = runtime
        .load_with(
            Source::bytes("host-user", HOST_USER),
            LoadOptions::new()
                .host_function(mistyped)
                .host_function(log),
        )
        .unwrap_err();
    assert!(
        matches!(run_error(&error), RunError::NotRunnable { .. }),
        "{error:#}"
    );
    assert!(error.to_string().contains("host::add"), "{error}");
}

#[test]
fn host_functions_run_under_the_calls_deadline() {
    let slow = HostFunction::new(
        "host",
        "add",
        [ValType::I32, ValType::I32],
        [ValType::I32],
        |_, _, results| {
            std::thread::sleep(Duration::from_millis(150));
            results[0] = Val::I32(0);
            Ok(())
        },
    );
    let log = HostFunction::new(
        "host",
        "log",
        [ValType::I32, ValType::I32],
        [],
        |_, _, _| Ok(()),
    );
    let app = runtime()
        .load_with(
            Source::bytes("host-user", HOST_USER),
            LoadOptions::new().host_function(slow).host_function(log),
        )
        .unwrap();
    let limit = Duration::from_millis(50);
    let outcome = app.call(Call::new().timeout(limit)).unwrap();
    // The time the host function took counts, and the guest does not go
    // on once it returns.
    assert_eq!(outcome.exit, Exit::Limit(LimitHit::Timeout { limit }));
}

#[test]
fn a_host_function_cannot_replace_wasi() {
    let fake = HostFunction::new(
        "wasi_snapshot_preview1",
        "proc_exit",
        [ValType::I32],
        [],
        |_, _, _| Ok(()),
    );
    let error = runtime()
        .load_with(guest("counter"), LoadOptions::new().host_function(fake))
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("cannot define the host function"),
        "{error}"
    );
}

#[test]
fn a_guest_cannot_make_a_host_function_allocate_what_it_names() {
    // The guest claims 4 GiB from address 16; the host function reads
    // what it was given, and the read refuses before allocating.
    let lying = r#"(module
      (import "host" "log" (func $log (param i32 i32)))
      (memory (export "memory") 1)
      (func (export "_start") (call $log (i32.const 16) (i32.const -1))))"#;
    let log = HostFunction::new(
        "host",
        "log",
        [ValType::I32, ValType::I32],
        [],
        |call, args, _| {
            call.read(args[0].unwrap_i32() as u32, args[1].unwrap_i32() as u32)?;
            Ok(())
        },
    );
    let app = runtime()
        .load_with(
            Source::bytes("lying", lying),
            LoadOptions::new().host_function(log),
        )
        .unwrap();
    match app.call(Call::new()).unwrap().exit {
        Exit::Trap(message) => assert!(
            message.contains("4294967295 bytes at 16 lie outside the guest's memory"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_async_calls_future_borrows_nothing_and_keeps_its_own_arguments() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = runtime().load(guest("probe")).unwrap();
    // Calls with and without arguments, one after the other: those without
    // share the app's argument vector, and neither sees the other's.
    let with_args = app.call_async(Call::new().args(["a", "b"]));
    let without = app.call_async(Call::new().stdin("in\n"));
    let refused = app.call_async(Call::new().fuel(10));
    // The futures hold what they need: the app can go before they run, and
    // one can be spawned as it is.
    drop(app);
    let spawned = tokio
        .block_on(async { tokio::spawn(with_args).await })
        .unwrap()
        .unwrap();
    assert_eq!(spawned.stdout.text(), "probe\na\nb\n");
    let outcome = tokio.block_on(without).unwrap();
    assert_eq!(outcome.stdout.text(), "probe\nin\n");
    // A call that cannot be prepared is its future's error.
    let error = tokio.block_on(refused).unwrap_err();
    assert!(matches!(run_error(&error), RunError::NotMetered { .. }));
}
