//! `wharf convert`: a Dockerfile translated into a wharf.toml that builds
//! and runs, what cannot be translated reported with its line and kept as
//! a comment, and the files around it handled with care.

use std::path::Path;

use crate::support::{Outcome, Wharf, context, python_store, repo, wat_file};

/// `wharf convert ARGS…` run in `dir`.
fn convert_in(wharf: &Wharf, dir: &Path, args: &[&str]) -> Outcome {
    let mut command = wharf.command(["convert"].iter().chain(args));
    command.current_dir(dir);
    Outcome::from_output(command.output().unwrap())
}

/// A context holding the seed's Dockerfile and app.
/// A context holding the seed's Dockerfile (exactly the walkthrough's) and
/// app.
fn seed_context() -> tempfile::TempDir {
    let ctx = context(&[]);
    for name in ["Dockerfile", "app.py"] {
        std::fs::copy(
            repo().join("guest-examples/python-app").join(name),
            ctx.path().join(name),
        )
        .unwrap();
    }
    ctx
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn the_seed_dockerfile_converts_builds_and_runs_as_the_seed_does() {
    let wharf = python_store();
    let ctx = seed_context();
    let dockerfile = ctx.path().join("Dockerfile");
    let out = wharf.run(["convert".as_ref(), dockerfile.as_os_str()]).ok();
    out.stderr_has(&[
        &format!(
            "{}:2: note: `python:3.11-slim` becomes `python:3.12`: wharf's Python base is CPython 3.12 compiled for WASI",
            dockerfile.display()
        ),
        "wharf: wrote",
        "wharf build -t NAME",
    ]);
    assert!(!out.stderr.contains("unsupported"), "{out}");
    let manifest = std::fs::read_to_string(ctx.path().join("wharf.toml")).unwrap();
    assert!(manifest.contains("from = \"python:3.12\"\n"), "{manifest}");
    assert!(
        manifest.contains("cmd = [\"python\", \"app.py\"]\n"),
        "{manifest}"
    );

    wharf.build("converted-seed", ctx.path());
    let converted = wharf.run(["run", "converted-seed"]).ok();
    // What the hand-written manifest's image prints (walkthrough.rs checks
    // that line by line), from the same base.
    let seed = wharf.run(["run", "my-first-image"]).ok();
    assert_eq!(converted.stdout, seed.stdout);
    converted.stdout_has(&["Custom Environment Variable: Production"]);

    let staging = wharf
        .run(["run", "-e", "APP_ENV=Staging", "converted-seed"])
        .ok();
    assert_eq!(staging.lines()[2], "Custom Environment Variable: Staging");
}

#[test]
fn what_cannot_be_translated_is_reported_by_line_and_kept_as_comments() {
    let wharf = Wharf::new();
    let dockerfile = "\
FROM scratch
RUN apt-get update && apt-get install -y curl
USER nobody
COPY hello.wasm /hello.wasm
CMD cd / && /hello.wasm --verbose
";
    let ctx = context(&[("Dockerfile", dockerfile)]);
    wat_file(
        ctx.path(),
        "hello.wasm",
        "(module (func (export \"_start\")))",
    );
    let out = convert_in(&wharf, ctx.path(), &[]).code(2);
    out.stderr_has(&[
        "Dockerfile:2: unsupported: RUN `apt-get update`, `apt-get install -y curl`: system packages are native Linux programs",
        "Dockerfile:3: warning: USER is left out: the sandbox has no users",
        "Dockerfile:5: unsupported: CMD `cd / && /hello.wasm --verbose`: it needs a shell for `&&`",
        "wharf: wrote ./wharf.toml, with 2 instructions it could not translate kept as comments",
    ]);
    let manifest = std::fs::read_to_string(ctx.path().join("wharf.toml")).unwrap();
    for kept in [
        "#     RUN apt-get update && apt-get install -y curl\n",
        "#     USER nobody\n",
        "#     CMD cd / && /hello.wasm --verbose\n",
        "# Line 2, unsupported:",
    ] {
        assert!(manifest.contains(kept), "{kept:?} missing:\n{manifest}");
    }
    // What was translated builds.
    wharf.build("partly", ctx.path());
}

#[test]
fn an_existing_manifest_is_kept_unless_forced() {
    let wharf = Wharf::new();
    let ctx = context(&[
        ("Dockerfile", "FROM scratch\nENV A=1\n"),
        ("wharf.toml", "# mine\n"),
    ]);
    convert_in(&wharf, ctx.path(), &[])
        .code(1)
        .stderr_has(&["wharf: error: ./wharf.toml exists already: --force replaces it"]);
    let manifest = ctx.path().join("wharf.toml");
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), "# mine\n");

    convert_in(&wharf, ctx.path(), &["--force"]).ok();
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("from = \"scratch\""), "{text}");

    // -o elsewhere: the hint builds the Dockerfile's directory with -f.
    let out = convert_in(&wharf, ctx.path(), &["-o", "other.toml"]).ok();
    out.stderr_has(&["wharf build -t NAME -f other.toml ."]);
    assert!(ctx.path().join("other.toml").is_file());
}

#[test]
fn dash_o_dash_prints_the_manifest_and_writes_nothing() {
    let wharf = Wharf::new();
    let ctx = seed_context();
    std::fs::write(ctx.path().join(".dockerignore"), ".git\n").unwrap();
    let out = convert_in(&wharf, ctx.path(), &["Dockerfile", "-o", "-"]).ok();
    assert!(out.stdout.contains("from = \"python:3.12\"\n"), "{out}");
    assert!(
        out.stdout.contains("[env]\nAPP_ENV = \"Production\"\n"),
        "{out}"
    );
    out.stderr_has(&[
        "Dockerfile:2: note:",
        "Dockerfile: note: wharf reads .wharfignore, not .dockerignore: copy it",
    ]);
    assert!(!out.stderr.contains("wharf: wrote"), "{out}");
    assert!(!ctx.path().join("wharf.toml").exists());
    assert!(!ctx.path().join(".wharfignore").exists());
}

/// Converts the seed with these ignore files; returns the outcome and
/// `.wharfignore` afterwards.
fn convert_with_ignore_files(dockerignore: &str, wharfignore: Option<&str>) -> (Outcome, String) {
    let ctx = seed_context();
    std::fs::write(ctx.path().join(".dockerignore"), dockerignore).unwrap();
    if let Some(rules) = wharfignore {
        std::fs::write(ctx.path().join(".wharfignore"), rules).unwrap();
    }
    let out = convert_in(&Wharf::new(), ctx.path(), &[]).ok();
    let rules = std::fs::read_to_string(ctx.path().join(".wharfignore")).unwrap();
    (out, rules)
}

#[test]
fn a_dockerignore_becomes_a_wharfignore_but_never_replaces_one() {
    let (out, rules) = convert_with_ignore_files(".git\n*.log\n", None);
    out.stderr_has(&["Dockerfile: note: wrote .wharfignore, a copy of .dockerignore"]);
    assert_eq!(rules, ".git\n*.log\n");

    let (out, rules) = convert_with_ignore_files(".git\n", Some("secrets/\n"));
    out.stderr_has(&["Dockerfile: warning: .dockerignore is not copied to .wharfignore"]);
    assert_eq!(rules, "secrets/\n");
}

#[test]
fn a_dockerfile_docker_would_not_read_is_an_error_with_its_line() {
    let wharf = Wharf::new();
    let ctx = context(&[("Dockerfile", "FROM scratch\n\nFORM python:3.12\n")]);
    convert_in(&wharf, ctx.path(), &[]).code(1).stderr_has(&[
        "wharf: error: Dockerfile:3: unknown instruction `FORM` (did you mean FROM?)",
    ]);
    assert!(!ctx.path().join("wharf.toml").exists());

    let empty = tempfile::tempdir().unwrap();
    convert_in(&wharf, empty.path(), &[])
        .code(1)
        .stderr_has(&["wharf: error: cannot read Dockerfile"]);
}

#[test]
fn build_args_and_target_work_as_in_docker_build() {
    let wharf = Wharf::new();
    let dockerfile = "\
ARG VERSION=3.11
FROM python:${VERSION}-slim AS app
ARG MODE=production
ENV MODE=$MODE
CMD [\"python\", \"app.py\"]

FROM app AS test
CMD [\"python\", \"-m\", \"unittest\"]
";
    let ctx = context(&[("Dockerfile", dockerfile)]);
    let out = convert_in(
        &wharf,
        ctx.path(),
        &[
            "--build-arg",
            "VERSION=3.10",
            "--build-arg",
            "MODE=debug",
            "--target",
            "app",
            "-o",
            "-",
        ],
    )
    .ok();
    out.stderr_has(&[
        "Dockerfile:2: note: `python:3.10-slim` becomes `python:3.12`",
        "Dockerfile:7: note: stage `test` (lines 7-8) is a build stage",
    ]);
    assert!(out.stdout.contains("MODE = \"debug\""), "{out}");
    assert!(
        out.stdout.contains("cmd = [\"python\", \"app.py\"]"),
        "{out}"
    );
    convert_in(&wharf, ctx.path(), &["--target", "nope"])
        .code(1)
        .stderr_has(&["the Dockerfile has no stage named `nope` (its stages: app, test)"]);

    // `--build-arg NAME` takes the host's value, as in Docker.
    let mut command = wharf.command(["convert", "--build-arg", "MODE", "-o", "-"]);
    command.current_dir(ctx.path()).env("MODE", "from-host");
    let out = Outcome::from_output(command.output().unwrap()).ok();
    assert!(out.stdout.contains("MODE = \"from-host\""), "{out}");
    assert!(
        out.stdout
            .contains("cmd = [\"python\", \"-m\", \"unittest\"]"),
        "{out}"
    );
}
