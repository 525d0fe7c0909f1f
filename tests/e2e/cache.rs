//! The compile cache: programs are compiled at build, never again; an
//! artifact that is truncated, changed, or not written by wharf is noticed,
//! reported at --verbose and compiled again, never loaded.

use std::path::PathBuf;

use crate::support::{Wharf, hello_c, hello_store};

/// The artifacts in a store (excluding their records).
fn artifacts(wharf: &Wharf) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for engine in std::fs::read_dir(wharf.home().join("artifacts")).unwrap() {
        for file in std::fs::read_dir(engine.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "cwasm") {
                found.push(path);
            }
        }
    }
    found
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn build_compiles_ahead_of_time_and_runs_only_load() {
    let wharf = hello_store();
    assert_eq!(
        artifacts(&wharf).len(),
        1,
        "the build compiled the entrypoint"
    );
    let out = wharf.run(["--verbose", "run", "hello-c", "--quiet"]).ok();
    assert!(!out.stderr.contains("compiling"), "{out}");
    out.stderr_has(&["timing: resolve", "load", "instantiate", "guest"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_bare_module_is_compiled_once_on_first_use() {
    let wharf = Wharf::new();
    wharf
        .run(["run", hello_c().to_str().unwrap(), "--quiet"])
        .ok();
    assert_eq!(artifacts(&wharf).len(), 1);
    let before = std::fs::metadata(&artifacts(&wharf)[0])
        .unwrap()
        .modified()
        .unwrap();
    wharf
        .run(["run", hello_c().to_str().unwrap(), "--quiet"])
        .ok();
    let after = std::fs::metadata(&artifacts(&wharf)[0])
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after, "the artifact was written again");
}

fn damaged_then_recompiled(damage: impl Fn(&PathBuf), reason: &str) {
    let wharf = hello_store();
    let artifact = artifacts(&wharf).pop().unwrap();
    damage(&artifact);
    let out = wharf
        .run(["--verbose", "run", "hello-c", "--quiet", "--exit", "3"])
        .code(3);
    out.stderr_has(&[
        "compiling hello again: the cached artifact is unusable",
        reason,
    ]);
    // It was replaced by a good one: the next run loads it silently.
    let out = wharf.run(["--verbose", "run", "hello-c", "--quiet"]).ok();
    assert!(!out.stderr.contains("compiling"), "{out}");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_truncated_artifact_is_compiled_again() {
    damaged_then_recompiled(
        |path| {
            let bytes = std::fs::read(path).unwrap();
            std::fs::write(path, &bytes[..bytes.len() / 3]).unwrap();
        },
        "truncated",
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_corrupted_artifact_is_compiled_again() {
    damaged_then_recompiled(
        |path| {
            let mut bytes = std::fs::read(path).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x5a;
            std::fs::write(path, bytes).unwrap();
        },
        "its bytes changed since wharf wrote them",
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_foreign_artifact_is_compiled_again() {
    damaged_then_recompiled(
        |path| {
            std::fs::remove_file(path.with_extension("json")).unwrap();
            std::fs::write(path, b"not an artifact wharf wrote").unwrap();
        },
        "wharf has no record of writing it",
    );
}
