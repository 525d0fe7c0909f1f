//! Limits: a guest that computes, sleeps or allocates without end, or
//! floods its output, is stopped with a message naming the limit and a
//! distinct exit status, and the host stays well.

use std::io::Read;
use std::process::Stdio;

use crate::support::{Wharf, hello_context, hello_store, python_store, wat_file};

const TRAP: i32 = if cfg!(windows) { 3 } else { 134 };

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_timeout_stops_a_computing_guest_with_124() {
    hello_store()
        .run(["run", "--timeout", "300ms", "hello-c", "--quiet", "--spin"])
        .code(124)
        .stderr_has(&["exceeded its timeout of 300ms", "--timeout"]);
}

/// The engine directories of a store's artifact cache: one per
/// configuration of checks compiled into guest code.
fn artifact_engines(wharf: &Wharf) -> Vec<String> {
    let mut engines: Vec<String> = std::fs::read_dir(wharf.home().join("artifacts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    engines.sort();
    engines
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_timeout_on_the_command_line_runs_the_code_compiled_at_build() {
    let wharf = hello_store();
    let built = artifact_engines(&wharf);
    assert_eq!(built.len(), 1, "the build compiled one variant: {built:?}");
    wharf
        .run(["run", "--timeout", "300ms", "hello-c", "--quiet", "--spin"])
        .code(124);
    wharf
        .run([
            "run",
            "--timeout",
            "1h",
            "hello-c",
            "--quiet",
            "--exit",
            "3",
        ])
        .code(3);
    // Neither run compiled the program again with interruption checks.
    assert_eq!(artifact_engines(&wharf), built);
    // A fuel budget changes the code: that variant is compiled on first use.
    wharf
        .run(["run", "--fuel", "100000000", "hello-c", "--quiet"])
        .ok();
    assert_eq!(artifact_engines(&wharf).len(), 2);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_timed_out_run_leaves_nothing_in_the_store() {
    let wharf = hello_store();
    let leftovers = || {
        std::fs::read_dir(wharf.home().join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(leftovers(), Vec::<String>::new());
    wharf
        .run([
            "run",
            "--timeout",
            "300ms",
            "hello-c",
            "--quiet",
            "--write",
            "/tmp/kept",
            "data",
            "--sleep",
            "600",
        ])
        .code(124);
    assert_eq!(leftovers(), Vec::<String>::new(), "the run's /tmp was left");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_timeout_stops_a_guest_blocked_in_a_host_call() {
    hello_store()
        .run([
            "run",
            "--timeout",
            "200ms",
            "hello-c",
            "--quiet",
            "--sleep",
            "600",
        ])
        .code(124)
        .stderr_has(&["exceeded its timeout of 200ms"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_memory_limit_stops_an_allocating_guest_with_137() {
    let wharf = hello_store();
    wharf
        .run([
            "run", "--memory", "64MiB", "hello-c", "--quiet", "--alloc", "32",
        ])
        .ok()
        .stdout_has(&["allocated 32 MiB"]);
    wharf
        .run(["run", "-m", "64MiB", "hello-c", "--quiet", "--alloc", "100"])
        .code(137)
        .stderr_has(&["exceeded its memory limit of 64MiB", "--memory"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn python_is_held_to_its_memory_limit() {
    let wharf = python_store();
    wharf
        .run([
            "run",
            "-m",
            "48MiB",
            "my-first-image",
            "python",
            "-c",
            "x = bytearray(200 * 1024 * 1024)",
        ])
        .code(137)
        .stderr_has(&["memory limit of 48MiB"]);
    wharf
        .run([
            "run",
            "-m",
            "512MiB",
            "my-first-image",
            "python",
            "-c",
            "x = bytearray(200 * 1024 * 1024); print(len(x))",
        ])
        .ok()
        .stdout_has(&["209715200"]);
}

#[test]
fn memory_a_module_asks_for_up_front_counts_too() {
    let dir = tempfile::tempdir().unwrap();
    let module = wat_file(
        dir.path(),
        "big.wasm",
        r#"(module (memory 1024) (func (export "_start")))"#,
    );
    let wharf = Wharf::new();
    wharf
        .run(["run", "-m", "16MiB", module.to_str().unwrap()])
        .code(137);
    wharf
        .run(["run", "-m", "80MiB", module.to_str().unwrap()])
        .ok();
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn fuel_stops_a_guest_deterministically_with_152() {
    let wharf = hello_store();
    wharf
        .run(["run", "--fuel", "5000000", "hello-c", "--quiet", "--spin"])
        .code(152)
        .stderr_has(&["used up its fuel of 5000000"]);
    wharf
        .run([
            "run", "--fuel", "5000000", "hello-c", "--quiet", "--exit", "4",
        ])
        .code(4);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn the_manifest_limits_are_defaults_that_flags_override() {
    let wharf = hello_store();
    let ctx =
        hello_context("from = \"hello-c\"\n[limits]\nmemory = \"32MiB\"\ntimeout = \"250ms\"\n");
    wharf.build("limited", ctx.path());
    wharf
        .run(["run", "limited", "--quiet", "--alloc", "48"])
        .code(137)
        .stderr_has(&["32MiB"]);
    wharf
        .run(["run", "-m", "128MiB", "limited", "--quiet", "--alloc", "48"])
        .ok();
    wharf
        .run(["run", "limited", "--quiet", "--spin"])
        .code(124)
        .stderr_has(&["250ms"]);
    // An image built on it inherits them.
    let child = hello_context("from = \"limited\"\n");
    wharf.build("child", child.path());
    wharf
        .run(["run", "child", "--quiet", "--alloc", "48"])
        .code(137);
}

/// A module that grows its memory by 2.5 GiB without touching it (cheap
/// on any host) and exits 12 if the growth fails.
const GROW_PAST_2_GIB: &str = r#"(module
     (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
     (memory 1)
     (func (export "_start")
       (if (i32.eq (memory.grow (i32.const 40960)) (i32.const -1))
         (then (call $exit (i32.const 12))))))"#;

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn zero_on_the_command_line_is_no_limit() {
    let dir = tempfile::tempdir().unwrap();
    let module = wat_file(dir.path(), "grow.wasm", GROW_PAST_2_GIB);
    let module = module.to_str().unwrap();
    let wharf = Wharf::new();
    // The default stops it at 2 GiB; `-m 0` lets it have what it asks.
    wharf
        .run(["run", module])
        .code(137)
        .stderr_has(&["memory limit of 2GiB"]);
    wharf.run(["run", "-m", "0", module]).ok();
    wharf.run(["run", "--memory=0b", module]).ok();

    let wharf = hello_store();
    // A timeout of 0s is none: the guest sleeps and exits on its own.
    wharf
        .run([
            "run",
            "--timeout",
            "0s",
            "hello-c",
            "--quiet",
            "--sleep",
            "1",
            "--exit",
            "3",
        ])
        .code(3);
    // Fuel 0 is no budget.
    wharf
        .run(["run", "--fuel", "0", "hello-c", "--quiet", "--exit", "4"])
        .code(4);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn zero_in_the_manifest_is_no_limit_and_overrides_the_base() {
    let wharf = hello_store();
    let limited = hello_context(
        "from = \"hello-c\"\n[limits]\nmemory = \"32MiB\"\ntimeout = \"250ms\"\nfuel = 1000\n",
    );
    wharf.build("limited", limited.path());
    let unlimited =
        hello_context("from = \"limited\"\n[limits]\nmemory = \"0\"\ntimeout = \"0s\"\nfuel = 0\n");
    wharf.build("unlimited", unlimited.path());
    let out = wharf.run(["inspect", "unlimited"]).ok();
    let inspected: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        inspected[0]["Config"]["Limits"],
        serde_json::json!({"memory": 0, "timeout": 0, "fuel": 0}),
        "0 is stored, as docker inspect shows Memory 0 for no limit"
    );
    wharf
        .run([
            "run",
            "unlimited",
            "--quiet",
            "--alloc",
            "48",
            "--sleep",
            "1",
            "--exit",
            "5",
        ])
        .code(5);
    // A flag still sets a limit over the image's 0.
    wharf
        .run([
            "run",
            "-m",
            "32MiB",
            "unlimited",
            "--quiet",
            "--alloc",
            "48",
        ])
        .code(137);
}

#[test]
fn a_stack_overflow_is_a_trap_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let module = wat_file(
        dir.path(),
        "recurse.wasm",
        r#"(module
             (func $down (param i64) (result i64) (call $down (i64.add (local.get 0) (i64.const 1))))
             (func (export "_start") (drop (call $down (i64.const 0)))))"#,
    );
    Wharf::new()
        .run(["run", module.to_str().unwrap()])
        .code(TRAP)
        .stderr_has(&["the guest trapped", "call stack exhausted"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn bad_limit_values_are_refused() {
    let wharf = hello_store();
    wharf
        .run(["run", "-m", "lots", "hello-c"])
        .code(125)
        .stderr_has(&["invalid size 'lots'"]);
    wharf
        .run(["run", "--timeout", "soon", "hello-c"])
        .code(125)
        .stderr_has(&["invalid duration 'soon'"]);
    wharf.run(["run", "--fuel", "-1", "hello-c"]).code(125);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_guest_flooding_stdout_does_not_grow_the_host() {
    let wharf = hello_store();
    // 512 MiB of output, then a pause to look at wharf's peak memory.
    let mut child = wharf
        .command([
            "run", "hello-c", "--quiet", "--flood", "512", "--sleep", "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut total = 0u64;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = stdout.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
        #[cfg(target_os = "linux")]
        if total == 512 << 20 {
            let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
            let peak_kib: u64 = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap();
            assert!(
                peak_kib < 128 * 1024,
                "wharf's peak memory grew to {peak_kib} KiB"
            );
        }
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(total, 512 << 20);
}
