//! Images whose modules are reactors, started the way their manifest's
//! `[launch]` says: initialisers, an entry whose result is the exit status,
//! and imports answered with a constant.

use crate::support::{Wharf, context, wat_file};

/// A reactor that prints from its initialiser and its entry, asks its host
/// through `host::call`, and exits with what the host answered plus the
/// number of times `_initialize` ran.
pub(crate) const REACTOR: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "host" "call" (func $call (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $inits (mut i32) (i32.const 0))
  (data (i32.const 16) "init\n")
  (data (i32.const 32) "run\n")
  (func $print (param $at i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_initialize")
    (global.set $inits (i32.add (global.get $inits) (i32.const 1)))
    (call $print (i32.const 16) (i32.const 5)))
  (func (export "run") (result i32)
    (call $print (i32.const 32) (i32.const 4))
    (i32.add
      (call $call (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))
      (global.get $inits))))"#;

pub(crate) const LAUNCH: &str =
    "[launch]\ninit = [\"_initialize\"]\nentry = \"run\"\nanswer = { \"host::call\" = 40 }\n";

/// Builds `module` (WAT) as `tag`: an image whose entrypoint is the module,
/// with `launch` appended to its manifest.
pub(crate) fn reactor_image(wharf: &Wharf, tag: &str, module: &str, launch: &str) {
    let manifest = format!(
        "from = \"scratch\"\nentrypoint = [\"reactor\"]\n[env]\nPATH = \"/bin\"\n[[copy]]\nsrc = \"reactor.wasm\"\ndest = \"/bin/\"\n{launch}"
    );
    let ctx = context(&[("wharf.toml", &manifest)]);
    wat_file(ctx.path(), "reactor.wasm", module);
    wharf.build(tag, ctx.path());
}

#[test]
fn a_reactor_runs_its_initialiser_then_its_entry_whose_result_is_the_status() {
    let wharf = Wharf::new();
    reactor_image(&wharf, "reactor", REACTOR, LAUNCH);
    let out = wharf.run(["run", "reactor"]).code(41);
    assert_eq!(out.stdout, "init\nrun\n");
    // The convention is part of the image: what builds on it inherits it.
    let ctx = context(&[
        (
            "wharf.toml",
            "from = \"reactor\"\n[[copy]]\nsrc = \"note\"\ndest = \"/note\"\n",
        ),
        ("note", "x"),
    ]);
    wharf.build("derived", ctx.path());
    assert_eq!(wharf.run(["run", "derived"]).code(41).stdout, "init\nrun\n");
    let out = wharf.run(["inspect", "derived"]).ok();
    out.stdout_has(&["dev.wharf.launch", "host::call"]);
}

#[test]
fn an_initialiser_the_module_lacks_is_skipped_and_a_void_entry_exits_0() {
    let wharf = Wharf::new();
    let module = r#"(module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "main"))
      (func (export "quit") (call $exit (i32.const 9))))"#;
    reactor_image(
        &wharf,
        "snapshot-like",
        module,
        "[launch]\ninit = [\"_initialize\"]\nentry = \"main\"\n",
    );
    wharf.run(["run", "snapshot-like"]).ok();
    // proc_exit inside the entry is the exit status too.
    reactor_image(&wharf, "quits", module, "[launch]\nentry = \"quit\"\n");
    wharf.run(["run", "quits"]).code(9);
}

#[test]
fn a_reactor_without_launch_or_with_the_wrong_entry_is_named_as_such() {
    let wharf = Wharf::new();
    reactor_image(&wharf, "bare", REACTOR, "");
    wharf
        .run(["run", "bare"])
        .code(126)
        .stderr_has(&["imports host::call", "which wharf does not provide"]);

    let answered = "[launch]\nentry = \"start\"\nanswer = { \"host::call\" = 0 }\n";
    reactor_image(&wharf, "no-entry", REACTOR, answered);
    wharf
        .run(["run", "no-entry"])
        .code(126)
        .stderr_has(&["no `start` export", "[launch]"]);

    let wrong_type =
        "[launch]\ninit = [\"run\"]\nentry = \"run\"\nanswer = { \"host::call\" = 0 }\n";
    reactor_image(&wharf, "wrong-init", REACTOR, wrong_type);
    wharf
        .run(["run", "wrong-init"])
        .code(126)
        .stderr_has(&["`run` export", "not a function `() -> ()`"]);

    let module = r#"(module (memory (export "memory") 1) (func (export "_initialize")))"#;
    reactor_image(&wharf, "library", module, "");
    wharf
        .run(["run", "library"])
        .code(126)
        .stderr_has(&["no `_start` export", "[launch]"]);
}

#[test]
fn a_launch_cannot_answer_for_wasi_and_errors_name_the_line() {
    let wharf = Wharf::new();
    let ctx = context(&[(
        "wharf.toml",
        "from = \"scratch\"\n\n[launch]\nentry = \"run\"\nanswer = { \"wasi_snapshot_preview1::fd_write\" = 0 }\n",
    )]);
    wharf
        .run(["build", ctx.path().to_str().unwrap()])
        .code(1)
        .stderr_has(&[
            "wharf.toml:3:1",
            "wharf serves wasi_snapshot_preview1 itself",
        ]);
}
