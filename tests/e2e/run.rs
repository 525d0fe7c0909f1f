//! `wharf run`: what the guest is handed (filesystem, environment,
//! arguments) and how its ending becomes wharf's exit status.

use crate::support::{Wharf, hello_c, hello_context, hello_store, python_store, wat_file};

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn the_image_root_is_read_only_and_tmp_is_private_to_each_run() {
    let wharf = hello_store();
    let out = wharf
        .run([
            "run",
            "hello-c",
            "--quiet",
            "--write",
            "/usr/bin/evil",
            "x",
            "--write",
            "/tmp/note",
            "kept",
            "--cat",
            "/tmp/note",
        ])
        .code(1);
    assert_eq!(out.stdout, "kept\n");
    out.stderr_has(&["cannot write /usr/bin/evil"]);
    // The next run starts with an empty /tmp.
    let out = wharf
        .run(["run", "hello-c", "--quiet", "--ls", "/tmp"])
        .ok();
    assert_eq!(out.stdout, "/tmp:\n");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn mounts_are_writable_or_read_only_as_asked() {
    let wharf = hello_store();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("input.txt"), "from the host\n").unwrap();
    let rw = format!("{}:/data", data.path().display());
    let out = wharf
        .run([
            "run",
            "-v",
            &rw,
            "hello-c",
            "--quiet",
            "--ls",
            "/data",
            "--cat",
            "/data/input.txt",
            "--write",
            "/data/out.txt",
            "from the guest",
        ])
        .ok();
    assert_eq!(out.stdout, "/data:\n  input.txt\nfrom the host\n");
    assert_eq!(
        std::fs::read_to_string(data.path().join("out.txt")).unwrap(),
        "from the guest\n"
    );

    let ro = format!("{}:/data:ro", data.path().display());
    let out = wharf
        .run([
            "run",
            "-v",
            &ro,
            "hello-c",
            "--quiet",
            "--cat",
            "/data/input.txt",
            "--write",
            "/data/out.txt",
            "again",
            "--rm",
            "/data/input.txt",
        ])
        .code(1);
    out.stderr_has(&[
        "cannot write /data/out.txt",
        "cannot remove /data/input.txt",
    ]);
    assert_eq!(
        std::fs::read_to_string(data.path().join("out.txt")).unwrap(),
        "from the guest\n"
    );
    assert!(data.path().join("input.txt").exists());
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn the_store_itself_cannot_be_mounted() {
    let wharf = hello_store();
    let inside = wharf.home().join("blobs");
    let parent = wharf.home().parent().unwrap().to_path_buf();
    for host in [wharf.home().to_path_buf(), inside, parent] {
        wharf
            .run([
                "run",
                "-v",
                &format!("{}:/data", host.display()),
                "hello-c",
                "--quiet",
            ])
            .code(125)
            .stderr_has(&[
                "cannot mount",
                "image store",
                "which a guest must not reach",
            ]);
    }
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_mount_over_the_entrypoint_runs_the_mounted_module() {
    let wharf = hello_store();
    let bin = tempfile::tempdir().unwrap();
    wat_file(
        bin.path(),
        "hello.wasm",
        r#"(module
             (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
             (memory (export "memory") 1)
             (func (export "_start") (call $exit (i32.const 42))))"#,
    );
    wharf
        .run([
            "run",
            "-v",
            &format!("{}:/usr/bin:ro", bin.path().display()),
            "hello-c",
        ])
        .code(42);
    // Without the mount the image's own module runs, from the same cache.
    wharf.run(["run", "hello-c", "--quiet"]).ok();
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn the_environment_is_exactly_image_then_env_file_then_flags() {
    let wharf = hello_store();
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("app.env");
    std::fs::write(
        &env_file,
        "# settings\nGREETING=from the file\nFILE_ONLY=1\nOVERRIDDEN=file\nFROM_HOST\n",
    )
    .unwrap();
    let out = wharf
        .command([
            "run",
            "--env-file",
            env_file.to_str().unwrap(),
            "-e",
            "OVERRIDDEN=flag",
            "-e",
            "HOST_VALUE",
            "-e",
            "UNSET_ON_HOST",
            "hello-c",
        ])
        .env("HOST_VALUE", "copied")
        .env("FROM_HOST", "via file")
        .env("SECRET_TOKEN", "must not leak")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let env: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("env "))
        .collect();
    assert_eq!(
        env,
        [
            "GREETING=from the file",
            "FILE_ONLY=1",
            "OVERRIDDEN=flag",
            "FROM_HOST=via file",
            "HOST_VALUE=copied",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn arguments_replace_cmd_and_entrypoint_can_be_overridden() {
    let wharf = hello_store();
    let out = wharf.run(["run", "hello-c", "one", "two words"]).ok();
    out.stdout_has(&["argv[0]=hello\n", "argv[1]=one\n", "argv[2]=two words\n"]);
    let out = wharf
        .run([
            "run",
            "--entrypoint",
            "/usr/bin/hello.wasm",
            "hello-c",
            "-x",
        ])
        .ok();
    out.stdout_has(&["argv[0]=/usr/bin/hello.wasm\n", "argv[1]=-x\n"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn guest_exit_status_passes_through() {
    let wharf = hello_store();
    for code in [0, 1, 3, 42, 255] {
        wharf
            .run(["run", "hello-c", "--quiet", "--exit", &code.to_string()])
            .code(code);
    }
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_trap_prints_the_wasm_backtrace_and_exits_134() {
    let wharf = hello_store();
    wharf
        .run(["run", "hello-c", "--quiet", "--trap"])
        .code(if cfg!(windows) { 3 } else { 134 })
        .stderr_has(&["the guest trapped", "unreachable", "wasm backtrace", "0:"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_bare_wasm_file_runs_without_an_image_and_gets_a_root_from_a_mount() {
    let wharf = Wharf::new();
    let hello = hello_c();
    let out = wharf.run([hello.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.code, 125, "a path is not a subcommand: {out}");
    let out = wharf
        .run(["run", hello.to_str().unwrap(), "a", "-e", "X=1"])
        .ok();
    out.stdout_has(&["argv[0]=hello.wasm\n", "argv[1]=a\n", "argv[2]=-e\n"]);
    assert!(
        !out.stdout.contains("env "),
        "no image, no environment: {out}"
    );

    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("file.txt"), "in the root\n").unwrap();
    let out = wharf
        .run([
            "run",
            "-e",
            "K=v",
            "-v",
            &format!("{}:/", root.path().display()),
            hello.to_str().unwrap(),
            "--cat",
            "file.txt",
            "--write",
            "new.txt",
            "made",
        ])
        .ok();
    out.stdout_has(&["env K=v\n", "in the root\n"]);
    assert_eq!(
        std::fs::read_to_string(root.path().join("new.txt")).unwrap(),
        "made\n"
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn workdir_is_named_in_pwd_and_relative_paths_resolve_from_it() {
    let wharf = hello_store();
    let ctx = hello_context(
        "from = \"hello-c\"\nworkdir = \"/work\"\n[[copy]]\nsrc = \"note.txt\"\ndest = \".\"\n",
    );
    std::fs::write(ctx.path().join("note.txt"), "relative\n").unwrap();
    wharf.build("wd", ctx.path());
    let out = wharf
        .run([
            "run",
            "wd",
            "--quiet",
            "--pwd",
            "--cat",
            "note.txt",
            "--cat",
            "/work/note.txt",
            "--ls",
            "/usr/bin",
        ])
        .ok();
    // hello.c changes to $PWD first, as the README shows a C guest does.
    assert_eq!(
        out.stdout,
        "/work\nrelative\nrelative\n/usr/bin:\n  hello.wasm\n"
    );
    wharf
        .run(["run", "wd"])
        .ok()
        .stdout_has(&["env PWD=/work\n"]);

    // -w overrides it, into a mount too.
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("here.txt"), "mounted\n").unwrap();
    let out = wharf
        .run([
            "run",
            "-v",
            &format!("{}:/data", data.path().display()),
            "-w",
            "/data",
            "wd",
            "--quiet",
            "--cat",
            "here.txt",
            "--write",
            "made.txt",
            "x",
        ])
        .ok();
    assert_eq!(out.stdout, "mounted\n");
    assert!(data.path().join("made.txt").exists());
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn python_resolves_through_path_and_runs_from_the_workdir() {
    let out = python_store()
        .run(["run", "my-first-image", "python", "-c", "import os,sys; print(sys.argv[0], sorted(os.listdir('.')), open('app.py').readline().strip())"])
        .ok();
    // app.py, and its bytecode, compiled by the build.
    assert_eq!(out.stdout.trim(), "-c ['__pycache__', 'app.py'] # app.py");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn python_sees_no_host_environment_and_cannot_write_the_image() {
    let out = python_store()
        .command([
            "run", "my-first-image", "python", "-c",
            "import os\nprint(sorted(os.environ))\ntry:\n    open('/app/x', 'w')\nexcept OSError as e:\n    print('refused', e.errno)\n",
        ])
        .env("HOST_SECRET", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "['APP_ENV', 'PATH', 'PWD', 'PYTHONDONTWRITEBYTECODE', 'PYTHONHOME']",
            "refused 63"
        ]
    );
}

/// Runs wharf with its stdout into a pipe that this test closes after
/// reading `keep` bytes, as `wharf run … | head -c KEEP` does; the
/// outcome's stdout is what was read.
fn run_into_a_closed_pipe(wharf: &Wharf, args: &[&str], keep: usize) -> crate::support::Outcome {
    use std::io::Read;
    let mut child = wharf
        .command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut read = vec![0; keep];
    child.stdout.take().unwrap().read_exact(&mut read).unwrap();
    // The read end is closed here, when the pipe is dropped.
    let mut outcome = crate::support::Outcome::from_output(child.wait_with_output().unwrap());
    outcome.stdout = String::from_utf8_lossy(&read).into_owned();
    outcome
}

#[test]
fn a_guest_writing_to_a_closed_pipe_gets_epipe() {
    let dir = tempfile::tempdir().unwrap();
    // The library's guest that writes until a write fails, then exits
    // with the errno it got.
    let text = std::fs::read_to_string(
        crate::support::repo().join("crates/wharf/tests/guests/write_until_error.wat"),
    )
    .unwrap();
    let module = wat_file(dir.path(), "flood.wasm", &text);
    // The guest exits with the errno its write got: 64, `pipe` in WASI
    // preview 1 (it was 29, `io`).
    run_into_a_closed_pipe(&Wharf::new(), &["run", module.to_str().unwrap()], 10).code(64);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn python_writing_to_a_closed_pipe_raises_broken_pipe_error() {
    let out = run_into_a_closed_pipe(
        python_store(),
        &[
            "run",
            "my-first-image",
            "python",
            "-c",
            "for i in range(10**7): print(i, flush=True)",
        ],
        2,
    );
    assert_eq!(out.stdout, "0\n");
    out.stderr_has(&["BrokenPipeError"]);
    assert!(!out.stderr.contains("I/O error"), "{out}");
    assert_ne!(out.code, 0, "{out}");
}
