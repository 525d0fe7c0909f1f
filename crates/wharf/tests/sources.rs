//! Where apps come from: images of a store (built from a context, or by
//! name), `.wasm` files, and components, each called through the same API
//! with the image's defaults and the call's own mounts.

use wharf::runtime::{
    Call, ComponentHostFunction, ComponentVal, Exit, LoadOptions, Mount, Runtime, Source,
};
use wharf::store::Store;

fn wat(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/guests/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    wat::parse_file(path).unwrap()
}

/// A build context with `probe.wasm` and a manifest that makes it an
/// image, with defaults a call can see.
fn probe_context() -> tempfile::TempDir {
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("probe.wasm"), wat("probe")).unwrap();
    std::fs::write(
        context.path().join("wharf.toml"),
        r#"from = "scratch"
entrypoint = ["probe"]
cmd = ["default", "arguments"]

[env]
GREETING = "from the image"

[[copy]]
src = "probe.wasm"
dest = "/usr/bin/"
"#,
    )
    .unwrap();
    context
}

#[test]
fn an_image_is_built_from_its_context_and_called_with_its_defaults() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let runtime = Runtime::builder().store(&store).pool(4).build().unwrap();
    let app = runtime
        .load(Source::Context(probe_context().path().into()))
        .unwrap();

    let defaults = app.call(Call::new()).unwrap();
    assert!(defaults.exit.success());
    assert_eq!(defaults.stdout.text(), "probe\ndefault\narguments\n");
    let env = defaults.stderr.text();
    assert!(env.lines().any(|l| l == "GREETING=from the image"), "{env}");
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");

    // A call's arguments replace the image's cmd, its variables go over
    // the image's.
    let own = app
        .call(Call::new().args(["mine"]).env("GREETING", "from the call"))
        .unwrap();
    assert_eq!(own.stdout.text(), "probe\nmine\n");
    assert!(own.stderr.text().contains("GREETING=from the call\n"));

    // The image is in the store, untagged, and loads by ID as well.
    let images = store.tags().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].name, None);
    let by_id = runtime
        .load(Source::Image(images[0].id.to_string()))
        .unwrap();
    assert_eq!(by_id.call(Call::new()).unwrap().stdout, defaults.stdout);
}

#[test]
fn a_call_reads_and_writes_the_directories_it_is_handed_and_nothing_else() {
    let runtime = Runtime::builder().pool(4).build().unwrap();
    let app = runtime.load(Source::bytes("cat", wat("cat"))).unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("input.txt"), "shared with the guest\n").unwrap();

    let writable = Mount {
        host: data.path().into(),
        guest: "/data".into(),
        read_only: false,
    };
    let outcome = app.call(Call::new().without_tmp().mount(writable)).unwrap();
    assert_eq!(outcome.exit, Exit::Code(0));
    assert_eq!(outcome.stdout.text(), "shared with the guest\n");
    assert_eq!(
        std::fs::read_to_string(data.path().join("output.txt")).unwrap(),
        "written"
    );

    // Read-only: it reads, and cannot create.
    std::fs::remove_file(data.path().join("output.txt")).unwrap();
    let read_only = Mount {
        host: data.path().into(),
        guest: "/data".into(),
        read_only: true,
    };
    let outcome = app
        .call(Call::new().without_tmp().mount(read_only))
        .unwrap();
    assert_eq!(outcome.exit, Exit::Code(2));
    assert!(!data.path().join("output.txt").exists());

    // Nothing handed over: nothing to open.
    let outcome = app.call(Call::new().without_tmp()).unwrap();
    assert_eq!(outcome.exit, Exit::Code(1));
}

#[test]
fn a_call_gets_a_private_tmp_that_no_later_call_sees_anything_in() {
    let runtime = Runtime::builder().pool(4).build().unwrap();
    let app = runtime.load(Source::bytes("cat", wat("cat"))).unwrap();
    // The first directory handed over is the call's own /tmp: empty, so
    // there is no input to read. (Only its metadata is looked at here:
    // listing a directory, as a guest might, counts as using it.)
    let prepared = app.prepare(Call::new()).unwrap();
    let tmp = prepared.scratch_dir().unwrap().to_owned();
    assert!(tmp.is_dir());
    assert_eq!(prepared.run().unwrap().exit, Exit::Code(1));
    // Untouched, it is kept for a later call.
    assert!(tmp.is_dir());
    let next = app.prepare(Call::new()).unwrap();
    assert_eq!(next.scratch_dir(), Some(tmp.as_path()));
    // One written to goes when its call does, with what is in it.
    std::fs::create_dir(tmp.join("left")).unwrap();
    std::fs::write(tmp.join("left/behind.txt"), "x").unwrap();
    drop(next);
    assert!(!tmp.exists(), "a /tmp with files in it outlived its call");
    // So does one that was only listed.
    let listed = app.prepare(Call::new()).unwrap();
    let listed_tmp = listed.scratch_dir().unwrap().to_owned();
    assert_ne!(listed_tmp, tmp);
    assert_eq!(std::fs::read_dir(&listed_tmp).unwrap().count(), 0);
    // Dropped, it is removed: the listing moved its access time. (A file
    // system mounted `noatime` keeps no trace of a listing, and may keep
    // the directory, which then shows nothing of it either: not asserted.)
    drop(listed);
    // The kept ones go with the runtime.
    let kept = app.prepare(Call::new()).unwrap();
    let kept_tmp = kept.scratch_dir().unwrap().to_owned();
    drop(kept);
    assert_eq!(kept_tmp.is_dir(), cfg!(unix), "kept on Unix only");
    drop(app);
    drop(runtime);
    assert!(!kept_tmp.exists(), "a kept /tmp outlived its runtime");
}

#[test]
fn a_wasm_file_loads_like_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe.wasm");
    std::fs::write(&path, wat("probe")).unwrap();
    let runtime = Runtime::builder().pool(2).build().unwrap();
    let app = runtime.load(Source::File(path)).unwrap();
    let outcome = app.call(Call::new().args(["x"])).unwrap();
    assert_eq!(outcome.stdout.text(), "probe.wasm\nx\n");
    let missing = runtime
        .load(Source::File(dir.path().join("missing.wasm")))
        .unwrap_err();
    assert!(missing.to_string().contains("cannot read"), "{missing}");
}

/// `probe` as a preview 2 component, made with the standard preview 1
/// adapter, as `wasm-tools component new` does.
fn probe_component() -> Vec<u8> {
    wit_component::ComponentEncoder::default()
        .module(&wat("probe"))
        .unwrap()
        .adapter(
            "wasi_snapshot_preview1",
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        )
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

#[test]
fn a_component_is_called_with_the_same_inputs_and_captured_output() {
    let runtime = Runtime::builder().pool(2).build().unwrap();
    let app = runtime
        .load(Source::bytes("probe-component", probe_component()))
        .unwrap();
    for round in 0..2 {
        let outcome = app
            .call(
                Call::new()
                    .args([format!("round {round}")])
                    .env("WHO", "component")
                    .stdin("through wasi:cli/stdin\n"),
            )
            .unwrap();
        assert!(outcome.exit.success(), "{:?}", outcome.exit);
        assert_eq!(
            outcome.stdout.text(),
            format!("probe-component\nround {round}\nthrough wasi:cli/stdin\n")
        );
        assert_eq!(outcome.stderr.text(), "WHO=component\n");
    }
}

/// A command component that imports `double` from `host:test/math` and
/// succeeds when it doubles 21 into 42.
const DOUBLING_COMPONENT: &str = r#"(component
  (import "host:test/math" (instance $math
    (export "double" (func (param "x" u32) (result u32)))))
  (core module $m
    (import "host" "double" (func $double (param i32) (result i32)))
    (func (export "run") (result i32)
      (if (result i32) (i32.eq (call $double (i32.const 21)) (i32.const 42))
        (then (i32.const 0))
        (else (i32.const 1)))))
  (core func $double (canon lower (func $math "double")))
  (core instance $host (export "double" (func $double)))
  (core instance $i (instantiate $m (with "host" (instance $host))))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $cli (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $cli)))"#;

#[test]
fn a_component_imports_a_host_function_of_its_own() {
    let runtime = Runtime::builder().pool(2).build().unwrap();
    let double = |factor: u32| {
        ComponentHostFunction::new("host:test/math", "double", move |args, results| {
            let ComponentVal::U32(x) = args[0] else {
                anyhow::bail!("expected a u32, got {:?}", args[0]);
            };
            results[0] = ComponentVal::U32(x * factor);
            Ok(())
        })
    };
    let load = |factor| {
        runtime.load_with(
            Source::bytes("doubling", DOUBLING_COMPONENT),
            LoadOptions::new().component_host_function(double(factor)),
        )
    };
    let right = load(2).unwrap();
    assert_eq!(right.call(Call::new()).unwrap().exit, Exit::Code(0));
    let wrong = load(3).unwrap();
    assert_eq!(wrong.call(Call::new()).unwrap().exit, Exit::Code(1));
    // A host function of a component runs under its call's deadline too.
    let slow = ComponentHostFunction::new("host:test/math", "double", |args, results| {
        std::thread::sleep(std::time::Duration::from_millis(150));
        results[0] = args[0].clone();
        Ok(())
    });
    let slow = runtime
        .load_with(
            Source::bytes("doubling", DOUBLING_COMPONENT),
            LoadOptions::new().component_host_function(slow),
        )
        .unwrap();
    let limit = std::time::Duration::from_millis(50);
    assert_eq!(
        slow.call(Call::new().timeout(limit)).unwrap().exit,
        Exit::Limit(wharf::runtime::LimitHit::Timeout { limit })
    );
    // Without it, the component does not link, and says what it lacks.
    let error = runtime
        .load(Source::bytes("doubling", DOUBLING_COMPONENT))
        .unwrap_err();
    assert!(format!("{error:#}").contains("host:test/math"), "{error:#}");
}
