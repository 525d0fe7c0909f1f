//! wharf images under a real containerd, through `containerd-shim-wharf-v1`:
//! imported from `wharf save` archives or pulled from a registry, run with
//! `ctr run --runtime io.containerd.wharf.v1`, as a Kubernetes node runs
//! them (docs/kubernetes.md).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::containerd_support::{Containerd, RUNTIME};
use crate::registry_support::TestRegistry;
use crate::support::{Wharf, hello_context, hello_store, python_store};

/// `wharf save -o DIR/image.tar IMAGE`.
fn saved(wharf: &Wharf, image: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.tar");
    wharf
        .run([
            "save".as_ref(),
            "-o".as_ref(),
            archive.as_os_str(),
            image.as_ref(),
        ])
        .ok();
    (dir, archive)
}

/// The `.cwasm` artifacts in the shim's cache.
fn artifacts(cache: &Path) -> usize {
    let Ok(engines) = std::fs::read_dir(cache.join("artifacts")) else {
        return 0;
    };
    engines
        .flatten()
        .flat_map(|engine| std::fs::read_dir(engine.path()).into_iter().flatten())
        .flatten()
        .filter(|f| f.path().extension().is_some_and(|e| e == "cwasm"))
        .count()
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs containerd, runc and root (tests/install-deps.sh)"
)]
#[test]
fn an_image_runs_with_its_env_args_mounts_and_exit_status() {
    let wharf = hello_store();
    let (_dir, archive) = saved(&wharf, "hello-c");
    let containerd = Containerd::start();
    containerd.import(&archive);
    let image = "docker.io/library/hello-c:latest";

    // The image's entrypoint, its environment and the container's.
    let out = containerd
        .run(&["--env", "WHO=containerd"], image, "plain", &[])
        .ok();
    out.stdout_has(&[
        "Hello from C in a wharf sandbox!",
        "argv[0]=hello",
        "env GREETING=from the image",
        "env WHO=containerd",
    ]);

    // Arguments replace the process's whole command line, as ctr does.
    // The guest's `/` is the image's tree, its /tmp and the container's
    // mounts: not the kernel's filesystems containerd mounts for Linux.
    let out = containerd
        .run(&[], image, "listing", &["hello", "--quiet", "--ls", "/"])
        .ok();
    let listed: Vec<&str> = out.lines().iter().map(|l| l.trim()).collect();
    for present in [".wharf", "tmp", "usr"] {
        assert!(listed.contains(&present), "{present} missing:\n{out}");
    }
    for absent in ["proc", "sys", "dev"] {
        assert!(!listed.contains(&absent), "{absent} listed:\n{out}");
    }
    let out = containerd
        .run(
            &[],
            image,
            "labels",
            &["hello", "--quiet", "--cat", "/.wharf/labels.json"],
        )
        .ok();
    out.stdout_has(&["\"org.opencontainers.image.title\": \"hello-c\""]);

    // Mounts, with their rights; the image's tree stays read-only.
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("input.txt"), "from the host\n").unwrap();
    let rw = format!(
        "type=bind,src={},dst=/data,options=rbind:rw",
        data.path().display()
    );
    let out = containerd
        .run(
            &["--mount", &rw],
            image,
            "mounted",
            &[
                "hello",
                "--quiet",
                "--cat",
                "/data/input.txt",
                "--write",
                "/data/out.txt",
                "written in the guest",
            ],
        )
        .ok();
    out.stdout_has(&["from the host"]);
    assert_eq!(
        std::fs::read_to_string(data.path().join("out.txt")).unwrap(),
        "written in the guest\n"
    );
    let ro = format!(
        "type=bind,src={},dst=/data,options=rbind:ro",
        data.path().display()
    );
    let out = containerd.run(
        &["--mount", &ro],
        image,
        "read-only",
        &["hello", "--quiet", "--write", "/data/other.txt", "x"],
    );
    assert_ne!(out.code, 0, "{out}");
    assert!(!data.path().join("other.txt").exists());
    let out = containerd.run(
        &[],
        image,
        "image-tree",
        &["hello", "--quiet", "--write", "/usr/bin/planted", "x"],
    );
    assert_ne!(out.code, 0, "{out}");

    // The guest's exit status is the task's; wharf's own are `wharf run`'s.
    containerd
        .run(&[], image, "exit", &["hello", "--quiet", "--exit", "3"])
        .code(3);
    containerd
        .run(&[], image, "not-found", &["no-such-command"])
        .code(127)
        .stderr_has(&["no-such-command: command not found in the image"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs containerd, runc and root (tests/install-deps.sh)"
)]
#[test]
fn the_seed_app_prints_its_lines_with_app_env_both_ways() {
    let (_dir, archive) = saved(python_store(), "my-first-image");
    let containerd = Containerd::start();
    containerd.import(&archive);
    let image = "docker.io/library/my-first-image:latest";

    let out = containerd.run(&[], image, "seed", &[]).ok();
    let lines = out.lines();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "⚓ Hello from inside a secure wharf sandbox!");
    assert!(
        lines[1].starts_with("Python Version running: 3.12"),
        "{out}"
    );
    assert_eq!(lines[2], "Custom Environment Variable: Production");
    // CPython was compiled once, into the node's cache.
    let compiled = artifacts(&containerd.shim_cache());
    assert!(compiled >= 1, "nothing in the shim's cache");

    let out = containerd
        .run(&["--env", "APP_ENV=Staging"], image, "staging", &[])
        .ok();
    assert_eq!(
        out.lines()[2],
        "Custom Environment Variable: Staging",
        "{out}"
    );
    // The second run loaded what the first compiled.
    assert_eq!(artifacts(&containerd.shim_cache()), compiled);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs containerd, runc and root (tests/install-deps.sh)"
)]
#[test]
fn an_image_pulled_from_a_registry_runs() {
    let registry = TestRegistry::start();
    let wharf = hello_store();
    let name = format!("{}/tests/hello:1", registry.host());
    wharf.run(["tag", "hello-c", &name]).ok();
    wharf.run(["push", &name]).ok();

    let containerd = Containerd::start();
    containerd
        .ctr([
            "images",
            "pull",
            "--plain-http",
            "--platform",
            "wasi/wasm",
            &name,
        ])
        .ok();
    containerd
        .run(&[], &name, "pulled", &[])
        .ok()
        .stdout_has(&["Hello from C in a wharf sandbox!"]);
}

/// Waits until task `id` has stopped.
fn wait_stopped(containerd: &Containerd, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let tasks = containerd.ctr(["tasks", "list"]).ok();
        let stopped = tasks
            .lines()
            .iter()
            .any(|l| l.split_whitespace().next() == Some(id) && l.contains("STOPPED"));
        if stopped {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("task {id} did not stop");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs containerd, runc and root (tests/install-deps.sh)"
)]
#[test]
fn a_detached_task_is_killed_and_deleted() {
    let wharf = hello_store();
    let (_dir, archive) = saved(&wharf, "hello-c");
    let containerd = Containerd::start();
    containerd.import(&archive);
    let image = "docker.io/library/hello-c:latest";

    containerd
        .ctr([
            "run",
            "-d",
            "--runtime",
            RUNTIME,
            image,
            "sleeper",
            "hello",
            "--quiet",
            "--sleep",
            "300",
        ])
        .ok();
    let tasks = containerd.ctr(["tasks", "list"]).ok();
    assert!(
        tasks
            .lines()
            .iter()
            .any(|l| l.starts_with("sleeper") && l.contains("RUNNING")),
        "{tasks}"
    );
    // SIGTERM, as `ctr task kill` sends it, ends the guest (the container's
    // PID 1) with 128 + 15.
    containerd.ctr(["tasks", "kill", "sleeper"]).ok();
    wait_stopped(&containerd, "sleeper");
    let out = containerd.ctr(["tasks", "delete", "sleeper"]).ok();
    assert!(
        out.stdout.contains("143") || out.stderr.contains("143"),
        "exit status not reported:\n{out}"
    );
    containerd.ctr(["containers", "delete", "sleeper"]).ok();
    assert!(
        containerd
            .ctr(["tasks", "list", "--quiet"])
            .ok()
            .stdout
            .is_empty()
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs containerd, runc and root (tests/install-deps.sh)"
)]
#[test]
fn guests_are_stopped_by_their_limits() {
    let wharf = Wharf::new();
    let context = hello_context(
        "from = \"scratch\"\nentrypoint = [\"/hello.wasm\"]\n\
         [[copy]]\nsrc = \"hello.wasm\"\ndest = \"/\"\n\
         [limits]\ntimeout = \"1s\"\nmemory = \"0\"\n",
    );
    wharf.build("limited", context.path());
    let (_dir, archive) = saved(&wharf, "limited");
    let containerd = Containerd::start();
    containerd.import(&archive);
    let image = "docker.io/library/limited:latest";

    // The image's [limits] reach the shim through its tree.
    containerd
        .run(&[], image, "spin", &["/hello.wasm", "--quiet", "--spin"])
        .code(124)
        .stderr_has(&["the guest exceeded its timeout of 1s"]);

    // The container's memory limit caps the guest's memory, even when
    // the image sets none (`memory = "0"`).
    containerd
        .run(
            &["--memory-limit", &(64u64 << 20).to_string()],
            image,
            "alloc",
            &["/hello.wasm", "--quiet", "--alloc", "256"],
        )
        .code(137)
        .stderr_has(&[
            "the guest exceeded its memory limit",
            "the container's memory limit of 64MiB",
        ]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs containerd, runc and root (tests/install-deps.sh)"
)]
#[test]
fn reactors_start_as_their_launch_says_and_snapshots_resume() {
    let wharf = Wharf::new();
    crate::launch::reactor_image(
        &wharf,
        "reactor",
        crate::launch::REACTOR,
        crate::launch::LAUNCH,
    );
    crate::snapshot::request_reactor(&wharf, "requests", "P{modules}", "");
    wharf.build(
        "snapped",
        crate::snapshot::snapshot_context("requests").path(),
    );
    let containerd = Containerd::start();
    for image in ["reactor", "snapped"] {
        let (_dir, archive) = saved(&wharf, image);
        containerd.import(&archive);
    }

    // `[launch]`: the initialiser, then the entry, whose result is the
    // status; the import it answers is answered.
    let out = containerd
        .run(&[], "docker.io/library/reactor:latest", "reactor", &[])
        .code(41);
    assert_eq!(out.stdout, "init\nrun\n");
    // The snapshot taken at build time: the preload's state is there.
    containerd
        .run(&[], "docker.io/library/snapped:latest", "snapped", &[])
        .code(42);
}
