//! The guest examples, each built by its own script, and both kinds of
//! WASI program: preview 1 modules and preview 2 components.

use crate::support::{Wharf, hello_c, hello_rust, repo};

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs Debian's rustc for wasm32-wasi (tests/install-deps.sh)"
)]
#[test]
fn the_rust_guest_reads_relative_paths_from_its_workdir() {
    hello_rust();
    let wharf = Wharf::new();
    wharf.build("hello-rust", &repo().join("guest-examples/hello-rust"));
    let out = wharf
        .run([
            "run",
            "-e",
            "APP_USER=tester",
            "hello-rust",
            "--cat",
            "greeting.txt",
        ])
        .ok();
    assert_eq!(
        out.lines(),
        [
            "Hello from Rust in a wharf sandbox!",
            "argv[0]=/usr/local/bin/hello-rust.wasm",
            "argv[1]=--cat",
            "argv[2]=greeting.txt",
            "env APP_MODE=demo",
            "env APP_USER=tester",
            "Greetings, read through a relative path from /srv.",
        ]
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn the_c_guest_lists_a_mounted_directory_and_writes_there() {
    let wharf = Wharf::new();
    wharf.build("hello-c", &repo().join("guest-examples/hello-c"));
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("a.txt"), "").unwrap();
    let out = wharf
        .run([
            "run",
            "-v",
            &format!("{}:/data", data.path().display()),
            "hello-c",
            "--ls",
            "/data",
            "--write",
            "/data/b.txt",
            "written",
        ])
        .ok();
    out.stdout_has(&[
        "Hello from C in a wharf sandbox!",
        "argv[1]=--ls",
        "env GREETING=from the image",
        "/data:\n  a.txt\n",
    ]);
    assert_eq!(
        std::fs::read_to_string(data.path().join("b.txt")).unwrap(),
        "written\n"
    );
}

/// The C guest as a preview 2 component, made with the standard preview 1
/// adapter (as `wasm-tools component new` does).
fn hello_component(dir: &std::path::Path) -> std::path::PathBuf {
    let module = std::fs::read(hello_c()).unwrap();
    let adapter = wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER;
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .adapter("wasi_snapshot_preview1", adapter)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap();
    let path = dir.join("hello-component.wasm");
    std::fs::write(&path, component).unwrap();
    path
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_preview2_component_runs_with_the_same_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let component = hello_component(dir.path());
    assert_eq!(
        &std::fs::read(&component).unwrap()[4..8],
        &[0x0d, 0x00, 0x01, 0x00],
        "a component"
    );
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("in.txt"), "component input\n").unwrap();
    let wharf = Wharf::new();
    let out = wharf
        .run([
            "run",
            "-e",
            "WHO=component",
            "-v",
            &format!("{}:/data", data.path().display()),
            component.to_str().unwrap(),
            "--cat",
            "/data/in.txt",
            "--write",
            "/data/out.txt",
            "p2",
            "--exit",
            "6",
        ])
        // The standard adapter turns every non-zero `exit(n)` into
        // `wasi:cli/exit.exit(err)`: status 1.
        .code(1);
    out.stdout_has(&["env WHO=component", "component input"]);
    assert_eq!(
        std::fs::read_to_string(data.path().join("out.txt")).unwrap(),
        "p2\n"
    );

    // In an image, too.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy(&component, ctx.path().join("app.wasm")).unwrap();
    std::fs::write(
        ctx.path().join("wharf.toml"),
        "from = \"scratch\"\nentrypoint = [\"app\"]\n[[copy]]\nsrc = \"app.wasm\"\ndest = \"/usr/bin/\"\n",
    )
    .unwrap();
    wharf.build("component", ctx.path());
    wharf
        .run(["run", "component", "--quiet", "--ls", "/usr/bin"])
        .ok()
        .stdout_has(&["app.wasm"]);
    wharf
        .run(["run", "component", "--quiet", "--exit", "0"])
        .ok();
    wharf
        .run(["run", "component", "--quiet", "--trap"])
        .code(if cfg!(windows) { 3 } else { 134 });
}
