//! The main error messages, pinned word for word as insta snapshots
//! (`tests/e2e/snapshots/`): what a user reads when something is wrong,
//! with its exit status. A change to one shows in review as a changed
//! snapshot (`INSTA_UPDATE=always` rewrites them; `cargo insta review`
//! shows the difference). Paths that differ from run to run read
//! `[STORE]` and `[DIR]`.

use crate::support::{Outcome, Wharf, context, wat_file};

/// What a user sees: the exit status and stderr, with the run's own
/// directories named for what they are.
fn seen(outcome: &Outcome, wharf: &Wharf, dir: &std::path::Path) -> String {
    let stderr = outcome
        .stderr
        .replace(wharf.home().to_str().unwrap(), "[STORE]")
        .replace(dir.to_str().unwrap(), "[DIR]");
    format!("exit status {}\n{stderr}", outcome.code)
}

/// Runs wharf in `dir` and snapshots what it says.
#[track_caller]
fn snapshot(name: &str, wharf: &Wharf, dir: &std::path::Path, args: &[&str]) {
    let outcome = Outcome::from_output(wharf.command(args).current_dir(dir).output().unwrap());
    assert!(!outcome.stderr.contains("panicked"), "{outcome}");
    assert_ne!(outcome.code, 0, "{outcome}");
    insta::assert_snapshot!(name, seen(&outcome, wharf, dir));
}

#[test]
fn manifest_errors_read_as_pinned() {
    let wharf = Wharf::new();
    let unknown = context(&[("wharf.toml", "from = \"scratch\"\n\nwrokdir = \"/app\"\n")]);
    snapshot(
        "manifest_unknown_key",
        &wharf,
        unknown.path(),
        &["build", "-t", "app", "."],
    );
    let wrong_type = context(&[(
        "wharf.toml",
        "from = \"scratch\"\ncmd = \"python app.py\"\n",
    )]);
    snapshot(
        "manifest_wrong_type",
        &wharf,
        wrong_type.path(),
        &["build", "-t", "app", "."],
    );
    let malformed = context(&[("wharf.toml", "from = \"scratch\nworkdir = 1\n")]);
    snapshot(
        "manifest_malformed_toml",
        &wharf,
        malformed.path(),
        &["build", "-t", "app", "."],
    );
    let dockerfile = context(&[("Dockerfile", "FROM python:3.12\nCOPY . .\n")]);
    snapshot(
        "build_of_a_dockerfile",
        &wharf,
        dockerfile.path(),
        &["build", "-t", "app", "."],
    );
    let missing = context(&[(
        "wharf.toml",
        "from = \"scratch\"\n[[copy]]\nsrc = \"app.py\"\ndest = \"/app/\"\n",
    )]);
    snapshot(
        "copy_source_missing",
        &wharf,
        missing.path(),
        &["build", "-t", "app", "."],
    );

    // A typo of a base the store has.
    let base = context(&[("wharf.toml", "from = \"scratch\"\n[env]\nA = \"1\"\n")]);
    wharf.build("python:3.12", base.path());
    let typo = context(&[("wharf.toml", "from = \"pyhton:3.12\"\n")]);
    snapshot(
        "base_image_typo",
        &wharf,
        typo.path(),
        &["build", "-t", "app", "."],
    );
    snapshot(
        "run_of_a_typo",
        &wharf,
        typo.path(),
        &["run", "pyhton:3.12"],
    );
    snapshot("rmi_of_a_typo", &wharf, typo.path(), &["rmi", "pyhton"]);
}

#[test]
fn command_line_errors_read_as_pinned() {
    let wharf = Wharf::new();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    snapshot("run_of_a_missing_image", &wharf, dir, &["run", "nosuch"]);
    snapshot(
        "run_with_docker_publish",
        &wharf,
        dir,
        &["run", "-p", "8080:80", "app"],
    );
    snapshot("run_detached", &wharf, dir, &["run", "-d", "app"]);
    snapshot("ps", &wharf, dir, &["ps"]);
    snapshot("unknown_command_typo", &wharf, dir, &["imagse"]);
    snapshot("unknown_command", &wharf, dir, &["bogus"]);
    snapshot("unknown_system_command", &wharf, dir, &["system", "prnue"]);
    snapshot("docker_container_verb", &wharf, dir, &["stop", "app"]);
    snapshot(
        "volume_without_a_guest_path",
        &wharf,
        dir,
        &["run", "-v", "data", "app"],
    );
    snapshot(
        "memory_limit_malformed",
        &wharf,
        dir,
        &["run", "-m", "lots", "app"],
    );
    snapshot(
        "push_of_an_untagged_image",
        &wharf,
        dir,
        &["push", "localhost:5000/me/app:1"],
    );
    std::fs::write(dir.join("not-an-archive.tar"), "hello").unwrap();
    snapshot(
        "load_of_a_file_that_is_no_archive",
        &wharf,
        dir,
        &["load", "-i", "not-an-archive.tar"],
    );
}

#[test]
fn guest_errors_read_as_pinned() {
    let wharf = Wharf::new();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    wat_file(
        dir,
        "needs-host.wasm",
        r#"(module
             (import "env" "launch_missiles" (func (param i32)))
             (func (export "_start")))"#,
    );
    snapshot(
        "module_with_an_unknown_import",
        &wharf,
        dir,
        &["run", "needs-host.wasm"],
    );
    std::fs::write(dir.join("truncated.wasm"), b"\0asm\x01\0\0\0\x01\x05").unwrap();
    snapshot("corrupt_module", &wharf, dir, &["run", "truncated.wasm"]);
    wat_file(
        dir,
        "greedy.wasm",
        r#"(module
             (memory 1)
             (func (export "_start")
               (loop $more
                 (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
               unreachable))"#,
    );
    snapshot(
        "memory_limit_reached",
        &wharf,
        dir,
        &["run", "-m", "4MiB", "greedy.wasm"],
    );
    wat_file(
        dir,
        "trap.wasm",
        r#"(module (func (export "_start") unreachable))"#,
    );
    snapshot("guest_trap", &wharf, dir, &["run", "trap.wasm"]);
    snapshot(
        "missing_module_file",
        &wharf,
        dir,
        &["run", "./nosuch.wasm"],
    );
}

#[test]
fn colours_follow_color_no_color_and_clicolor_force() {
    let wharf = Wharf::new();
    let coloured = |env: &[(&str, &str)], args: &[&str]| {
        let mut command = wharf.command(args);
        command.envs(env.iter().copied());
        let outcome = Outcome::from_output(command.output().unwrap());
        assert_eq!(outcome.code, 125, "{outcome}");
        assert!(outcome.stderr.contains("no such image"), "{outcome}");
        outcome.stderr.contains("\x1b[")
    };
    let run = ["run", "nosuch"];
    assert!(!coloured(&[], &run), "a pipe gets no colours by default");
    assert!(coloured(&[], &["--color", "always", "run", "nosuch"]));
    assert!(coloured(&[], &["run", "--color=always", "nosuch"]));
    assert!(coloured(&[("CLICOLOR_FORCE", "1")], &run));
    assert!(!coloured(
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
        &run
    ));
    assert!(!coloured(
        &[("CLICOLOR_FORCE", "1")],
        &["--color", "never", "run", "nosuch"]
    ));
    // An explicit `always` is the user's word over the environment's.
    assert!(coloured(
        &[("NO_COLOR", "1")],
        &["--color", "always", "run", "nosuch"]
    ));

    // A manifest's excerpt is coloured as rustc colours it, and reads the
    // same once the colours are taken out.
    let ctx = context(&[("wharf.toml", "from = \"scratch\"\n\nwrokdir = \"/app\"\n")]);
    let build = |color: &str| {
        let out = wharf
            .command(["--color", color, "build", "-t", "app", "."])
            .current_dir(ctx.path())
            .output()
            .unwrap();
        String::from_utf8(out.stderr).unwrap()
    };
    let (plain, styled) = (build("never"), build("always"));
    assert!(!plain.contains('\x1b'), "{plain}");
    let excerpt = styled.lines().nth(1).unwrap();
    assert!(
        excerpt.contains("\x1b["),
        "the excerpt's gutter is coloured: {styled:?}"
    );
    assert_eq!(anstream::adapter::strip_str(&styled).to_string(), plain);
}
