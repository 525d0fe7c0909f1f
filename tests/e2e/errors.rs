//! Bad input of every kind ends in a clear message and a distinct exit
//! status, never a panic, and leaves the store as it was.

use crate::support::{Wharf, context, hello_context, hello_store, wat_file};

/// Builds a context holding only `manifest` and expects failure.
fn build_fails(manifest: &str, parts: &[&str]) {
    let wharf = Wharf::new();
    let ctx = context(&[("wharf.toml", manifest)]);
    wharf
        .run(["build", "-t", "broken", ctx.path().to_str().unwrap()])
        .code(1)
        .stderr_has(parts);
    assert_eq!(
        wharf.run(["images", "-q"]).ok().stdout,
        "",
        "a failed build stored something"
    );
}

#[test]
fn an_unknown_manifest_key_names_file_line_column_and_the_valid_keys() {
    build_fails(
        "from = \"scratch\"\n\nwrokdir = \"/app\"\n",
        &[
            "wharf.toml:3:1",
            "unknown field `wrokdir`",
            "`workdir`",
            "`entrypoint`",
            "`copy`",
        ],
    );
    build_fails(
        "from = \"scratch\"\n[[copy]]\nsrc = \"a\"\ndst = \"/\"\n",
        &["wharf.toml:4:1", "unknown field `dst`", "`dest`"],
    );
}

#[test]
fn a_wrong_type_is_reported_where_it_is() {
    build_fails(
        "from = \"scratch\"\ncmd = \"python app.py\"\n",
        &["wharf.toml:2:7", "array of strings", "no shell"],
    );
    build_fails(
        "from = \"scratch\"\n[env]\nA = [1]\n",
        &["wharf.toml:3:5", "string, number or boolean"],
    );
    build_fails(
        "from = \"scratch\"\nlabels = 3\n",
        &["wharf.toml:2:10", "invalid type"],
    );
}

#[test]
fn malformed_toml_is_reported_with_its_position() {
    build_fails("from = \"scratch\nworkdir = 1\n", &["wharf.toml:1:"]);
}

#[test]
fn a_dockerfile_is_named_for_what_it_is() {
    let wharf = Wharf::new();
    let dockerfile = "# syntax=docker/dockerfile:1\nFROM python:3.12\nCOPY app.py .\n";
    let ctx = context(&[
        ("Dockerfile", dockerfile),
        ("web.Dockerfile", "FROM python:3.12\n"),
        ("build.conf", "ARG V=3.12\nFROM python:$V\n"),
        ("app.py", "print('hi')\n"),
    ]);
    let dir = ctx.path().to_str().unwrap();
    let path = |name: &str| ctx.path().join(name).to_str().unwrap().to_owned();
    let reads_wharf_toml = [
        "wharf builds from a wharf.toml manifest",
        "docs/manifest.md",
        "docs/docker.md",
    ];
    // A context with a Dockerfile and no wharf.toml.
    let out = wharf.run(["build", dir]).code(1);
    out.stderr_has(&["has a Dockerfile and no wharf.toml"])
        .stderr_has(&reads_wharf_toml);
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
    // A Dockerfile given with -f, known by its name or its first line.
    for file in ["Dockerfile", "web.Dockerfile", "build.conf"] {
        let out = wharf.run(["build", "-f", &path(file), dir]).code(1);
        out.stderr_has(&[&format!("{file}: this is a Dockerfile")])
            .stderr_has(&reads_wharf_toml);
        assert!(!out.stderr.contains("expected `=`"), "{out}");
    }
    // A manifest with a mistake stays a TOML error, even one that starts
    // like a Dockerfile's line.
    build_fails("from python:3.12\n", &["wharf.toml:1:", "expected `=`"]);
    // A context with both builds from wharf.toml.
    std::fs::write(ctx.path().join("wharf.toml"), "from = \"scratch\"\n").unwrap();
    wharf.run(["build", "-q", dir]).ok();
}

#[test]
fn a_missing_copy_source_is_named() {
    build_fails(
        "from = \"scratch\"\n[[copy]]\nsrc = \"app.py\"\ndest = \"/app/\"\n",
        &[
            "wharf.toml:3:7",
            "COPY source 'app.py' not found in the build context",
        ],
    );
}

#[test]
fn copy_sources_outside_the_context_are_refused() {
    build_fails(
        "from = \"scratch\"\n[[copy]]\nsrc = \"../secret\"\ndest = \"/\"\n",
        &["wharf.toml:3:7", "'../secret' is outside the build context"],
    );
    #[cfg(unix)]
    {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "host secret").unwrap();
        let wharf = Wharf::new();
        let ctx = context(&[(
            "wharf.toml",
            "from = \"scratch\"\n[[copy]]\nsrc = \"link\"\ndest = \"/x\"\n",
        )]);
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), ctx.path().join("link"))
            .unwrap();
        wharf
            .run(["build", ctx.path().to_str().unwrap()])
            .code(1)
            .stderr_has(&["'link' leads outside the build context"]);
    }
}

#[test]
fn an_unknown_base_image_is_named() {
    build_fails(
        "from = \"python:9.99\"\n",
        &[
            "wharf.toml:1:8: base image python:9.99 is not in the local store",
            "build or pull it first",
        ],
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_base_image_typo_is_shown_where_it_is_with_the_names_it_is_close_to() {
    let wharf = hello_store();
    wharf.run(["tag", "hello-c", "python:3.12"]).ok();
    let ctx = context(&[(
        "wharf.toml",
        "# my app\n\nfrom = \"pyhton:3.12\"\ncmd = [\"hello\"]\n",
    )]);
    let out = wharf
        .run(["build", "-t", "app", ctx.path().to_str().unwrap()])
        .code(1);
    out.stderr_has(&[
        "wharf.toml:3:8: base image pyhton:3.12 is not in the local store",
        "did you mean python:3.12?",
        "3 | from = \"pyhton:3.12\"",
        "  |        ^^^^^^^^^^^^^",
    ]);
    assert!(!out.stderr.contains("build or pull"), "{out}");
    // A tag the repository lacks: its other tags.
    let ctx = context(&[("wharf.toml", "from = \"hello-c:2\"\n")]);
    wharf
        .run(["build", ctx.path().to_str().unwrap()])
        .code(1)
        .stderr_has(&["wharf.toml:1:8", "did you mean hello-c:latest?"]);
}

#[test]
fn running_a_missing_image_is_a_wharf_error() {
    Wharf::new()
        .run(["run", "no-such-image"])
        .code(125)
        .stderr_has(&["no such image: no-such-image"]);
}

#[test]
fn bad_flags_are_wharf_errors() {
    let wharf = Wharf::new();
    wharf
        .run(["run", "--no-such-flag", "x"])
        .code(125)
        .stderr_has(&["--no-such-flag"]);
    wharf.run(["frobnicate"]).code(125);
    wharf.run(["build"]).code(125).stderr_has(&["CONTEXT"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn docker_run_flags_wharf_lacks_say_what_to_do_instead() {
    let wharf = hello_store();
    for (args, says) in [
        (&["-p", "8080:80"][..], "`wharf serve -p"),
        (&["--publish=8080:80"], "`wharf serve -p"),
        (&["-P"], "no port to publish"),
        (&["-d"], "your shell's `&`"),
        (&["-dit"], "no detached containers"),
        (&["--name", "web"], "no container to name"),
        (&["--network", "host"], "no network yet"),
        (&["--net=none"], "no network yet"),
        (&["-u", "1000:1000"], "no users or uids"),
        (&["--user", "root"], "no users or uids"),
        (&["-h", "myhost"], "no hostname"),
        (&["--hostname", "myhost"], "no hostname"),
    ] {
        let mut command = vec!["run"];
        command.extend_from_slice(args);
        command.push("hello-c");
        let out = wharf.run(&command).code(125);
        out.stderr_has(&["wharf: error: ", says]);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {out}");
        assert!(out.stdout.is_empty(), "{args:?} ran the guest: {out}");
    }
    // Several at once: a line for each.
    let out = wharf
        .run(["run", "-d", "-p", "80", "--name", "x", "hello-c"])
        .code(125);
    assert_eq!(out.stderr.lines().count(), 3, "{out}");
    // After IMAGE, they are the guest's arguments.
    wharf
        .run([
            "run", "hello-c", "-p", "80", "-d", "--name", "x", "-h", "y", "-u", "1",
        ])
        .ok()
        .stdout_has(&["argv[1]=-p", "argv[3]=-d", "argv[6]=-h", "argv[8]=-u"]);
    // Help stays where it was.
    for help in [
        &["run", "-h"][..],
        &["run", "--help"],
        &["--verbose", "run", "-h"],
    ] {
        wharf
            .run(help)
            .ok()
            .stdout_has(&["Usage: wharf run [OPTIONS] IMAGE [ARGS]..."]);
    }
}

#[test]
fn ps_says_there_are_no_containers_to_list() {
    let wharf = Wharf::new();
    for args in [
        &["ps"][..],
        &["ps", "-a"],
        &["ps", "-q"],
        &["container", "ls"],
    ] {
        let out = wharf.run(args).code(125);
        out.stderr_has(&["no containers to list", "a process of its own"]);
        assert!(!out.stderr.contains("push"), "{out}");
        assert!(out.stdout.is_empty(), "{out}");
    }
    wharf
        .run(["container", "rm", "x"])
        .code(125)
        .stderr_has(&["no containers to manage"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn malformed_volumes_and_env_are_refused_before_anything_runs() {
    let wharf = hello_store();
    for (flag, value, message) in [
        ("-v", "/no/colon", "invalid volume '/no/colon'"),
        ("-v", "/tmp:relative", "invalid volume '/tmp:relative'"),
        ("-v", "/tmp:/data:rx", "unknown mode 'rx'"),
        (
            "-v",
            "/surely/missing/dir:/data",
            "cannot use /surely/missing/dir",
        ),
        ("-e", "=value", "the name is empty"),
        ("-e", "BAD KEY=1", "contains whitespace"),
    ] {
        wharf
            .run(["run", flag, value, "hello-c"])
            .code(125)
            .stderr_has(&[message]);
    }
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("bad.env");
    std::fs::write(&env_file, "OK=1\nNOT OK=2\n").unwrap();
    wharf
        .run(["run", "--env-file", env_file.to_str().unwrap(), "hello-c"])
        .code(125)
        .stderr_has(&["line 2", "contains whitespace"]);
}

#[test]
fn an_entrypoint_that_is_not_wasm_cannot_be_run() {
    let wharf = Wharf::new();
    let ctx = context(&[
        (
            "wharf.toml",
            "from = \"scratch\"\nentrypoint = [\"/bin/tool\"]\n[[copy]]\nsrc = \"tool\"\ndest = \"/bin/\"\n",
        ),
        ("tool", "#!/bin/sh\necho native\n"),
    ]);
    wharf.build("not-wasm", ctx.path());
    wharf.run(["run", "not-wasm"]).code(126).stderr_has(&[
        "cannot run /bin/tool",
        "not a WebAssembly binary",
        "23 21 2f 62",
    ]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_corrupt_module_cannot_be_run() {
    let wharf = Wharf::new();
    let ctx = hello_context(
        "from = \"scratch\"\nentrypoint = [\"/hello.wasm\"]\n[[copy]]\nsrc = \"hello.wasm\"\ndest = \"/\"\n",
    );
    let bytes = std::fs::read(ctx.path().join("hello.wasm")).unwrap();
    std::fs::write(ctx.path().join("hello.wasm"), &bytes[..bytes.len() / 2]).unwrap();
    wharf.build("truncated", ctx.path());
    wharf
        .run(["run", "truncated"])
        .code(126)
        .stderr_has(&["cannot run /hello.wasm", "not a valid WebAssembly program"]);
    // The same as a bare file.
    wharf
        .run(["run", ctx.path().join("hello.wasm").to_str().unwrap()])
        .code(126)
        .stderr_has(&["not a valid WebAssembly program"]);
}

#[test]
fn a_module_importing_what_wharf_lacks_names_the_import() {
    let dir = tempfile::tempdir().unwrap();
    let module = wat_file(
        dir.path(),
        "needs-host.wasm",
        r#"(module
             (import "env" "launch_missiles" (func (param i32)))
             (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
             (func (export "_start")))"#,
    );
    Wharf::new()
        .run(["run", module.to_str().unwrap()])
        .code(126)
        .stderr_has(&[
            "imports env::launch_missiles",
            "which wharf does not provide",
        ]);
}

#[test]
fn a_library_module_without_start_is_not_a_command() {
    let dir = tempfile::tempdir().unwrap();
    let module = wat_file(
        dir.path(),
        "lib.wasm",
        r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#,
    );
    Wharf::new()
        .run(["run", module.to_str().unwrap()])
        .code(126)
        .stderr_has(&["no `_start` export"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_command_missing_from_the_image_exits_127() {
    let wharf = hello_store();
    // Flags after the image belong to the guest, as with docker run.
    wharf
        .run(["run", "hello-c", "--help"])
        .ok()
        .stdout_has(&["argv[1]=--help"]);
    wharf
        .run(["run", "--entrypoint", "python", "hello-c"])
        .code(127)
        .stderr_has(&["python: command not found in the image"]);
}

#[test]
fn an_image_without_a_command_says_so() {
    let wharf = Wharf::new();
    let ctx = context(&[
        (
            "wharf.toml",
            "from = \"scratch\"\n[[copy]]\nsrc = \"f\"\ndest = \"/\"\n",
        ),
        ("f", "x"),
    ]);
    wharf.build("no-cmd", ctx.path());
    wharf
        .run(["run", "no-cmd"])
        .code(125)
        .stderr_has(&["no command specified"]);
}
