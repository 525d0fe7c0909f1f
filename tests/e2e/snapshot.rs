//! `[snapshot]`: images whose program is pre-initialised at build time. A
//! run resumes the snapshot, and must still see its own environment,
//! arguments, working directory, mounts (see `python_sci`) and randomness,
//! never the build's.

use crate::launch::reactor_image;
use crate::support::{Wharf, context, pandas_report_id, python_sci_store, python_store, repo};

/// A reactor driven by requests: `P…` (the preload) sets its state to 42,
/// `D…` (a define) adds 100 to it, `F…` fails with status 5, `L…` never
/// returns, and any other request (a run's) exits with the state. Its `run` export, never used by
/// a run of an image with `[launch.snapshot]`, would exit 7.
const REQUEST_REACTOR: &str = r#"(module
  (memory (export "memory") 1)
  (global $state (mut i32) (i32.const 0))
  (func (export "_initialize"))
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "call") (param $at i32) (param $len i32) (result i32)
    (local $op i32)
    (local.set $op (i32.load8_u (local.get $at)))
    (if (i32.eq (local.get $op) (i32.const 76))
      (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $op) (i32.const 80))
      (then (global.set $state (i32.const 42)) (return (i32.const 0))))
    (if (i32.eq (local.get $op) (i32.const 70))
      (then (return (i32.const 5))))
    (if (i32.eq (local.get $op) (i32.const 68))
      (then
        (global.set $state (i32.add (global.get $state) (i32.const 100)))
        (return (i32.const 0))))
    (global.get $state))
  (func (export "run") (result i32) (i32.const 7)))"#;

/// Builds the request reactor as `tag`, with `preload` as its
/// `[launch.snapshot]` preload template and `extra` added to that table.
pub(crate) fn request_reactor(wharf: &Wharf, tag: &str, preload: &str, extra: &str) {
    let launch = format!(
        "[launch]\ninit = [\"_initialize\"]\nentry = \"run\"\n\
         [launch.snapshot]\nalloc = \"alloc\"\ncall = \"call\"\n\
         preload = \"{preload}\"\nresume = \"R{{argv}}{{env}}\"\n{extra}"
    );
    reactor_image(wharf, tag, REQUEST_REACTOR, &launch);
}

/// A build context for an image on `base` that asks for a snapshot.
pub(crate) fn snapshot_context(base: &str) -> tempfile::TempDir {
    let manifest = format!("from = \"{base}\"\n[snapshot]\npreload = [\"x\"]\n");
    context(&[("wharf.toml", &manifest)])
}

#[test]
fn a_snapshot_keeps_what_the_preload_did_and_a_fresh_start_makes_the_same_request() {
    let wharf = Wharf::new();
    request_reactor(&wharf, "reactor", "P{modules}", "");
    // Without a snapshot, a run makes the resume request after `_initialize`.
    wharf.run(["run", "reactor"]).code(0);
    wharf.build("snapped", snapshot_context("reactor").path());
    wharf.run(["run", "snapped"]).code(42);
    // Limits change the code a run executes, never where it starts: a
    // timeout runs the code compiled at build, fuel a variant compiled now,
    // and both resume the snapshot.
    wharf.run(["run", "--timeout", "1h", "snapped"]).code(42);
    wharf
        .run(["run", "--fuel", "1000000000", "snapped"])
        .code(42);
}

#[test]
fn a_program_the_app_copies_in_is_snapshotted_over_the_app() {
    // A reactor that is the app itself (no base): the snapshot is taken
    // over the image with the app's files, the only place the program is.
    let wharf = Wharf::new();
    let manifest = "from = \"scratch\"\nentrypoint = [\"reactor\"]\n[env]\nPATH = \"/bin\"\n\
                    [[copy]]\nsrc = \"reactor.wasm\"\ndest = \"/bin/\"\n\
                    [launch]\ninit = [\"_initialize\"]\nentry = \"run\"\n\
                    [launch.snapshot]\nalloc = \"alloc\"\ncall = \"call\"\n\
                    preload = \"P{modules}\"\nresume = \"R{argv}{env}\"\n\
                    [snapshot]\npreload = [\"x\"]\n";
    let ctx = context(&[("wharf.toml", manifest)]);
    crate::support::wat_file(ctx.path(), "reactor.wasm", REQUEST_REACTOR);
    wharf.build("self-snapped", ctx.path());
    wharf.run(["run", "self-snapped"]).code(42);
}

#[test]
fn no_cache_takes_the_snapshot_again() {
    let wharf = Wharf::new();
    request_reactor(&wharf, "reactor", "P{modules}", "");
    let ctx = snapshot_context("reactor");
    let build = |flags: &[&str]| {
        let mut args = vec!["build", "-t", "snapped"];
        args.extend(flags);
        args.push(ctx.path().to_str().unwrap());
        wharf.run(args).ok()
    };
    let first = build(&[]);
    assert!(!first.stderr.contains("(cached)"), "{first}");
    build(&[]).stderr_has(&["SNAPSHOT preload x (cached)"]);
    let fresh = build(&["--no-cache"]);
    fresh.stderr_has(&["SNAPSHOT preload x\n"]);
    assert_eq!(fresh.stdout, first.stdout);
    wharf.run(["run", "snapped"]).code(42);
}

#[test]
fn the_define_request_is_made_once_after_the_preload_or_before_a_fresh_resume() {
    let wharf = Wharf::new();
    request_reactor(&wharf, "defining", "P{modules}", "define = \"D\"\n");
    // A fresh start: `_initialize`, the define (0 + 100), the resume.
    wharf.run(["run", "defining"]).code(100);
    wharf.build("defined", snapshot_context("defining").path());
    // The preload (42) and the define (+100) ran at build time; a run of the
    // snapshot makes only the resume request, every time.
    wharf.run(["run", "defined"]).code(142);
    wharf.run(["run", "defined"]).code(142);

    // A define that fails: a fresh start ends with its status, before the
    // resume; a snapshot is not taken.
    request_reactor(&wharf, "failing", "P{modules}", "define = \"F\"\n");
    wharf.run(["run", "failing"]).code(5);
    let ctx = snapshot_context("failing");
    wharf
        .run(["build", "-t", "never", ctx.path().to_str().unwrap()])
        .code(1)
        .stderr_has(&["define request failed with status 5"]);
    wharf.run(["inspect", "never"]).code(1);

    // A define with a placeholder is refused where the manifest says it.
    let ctx = context(&[(
        "wharf.toml",
        "from = \"scratch\"\n[launch]\nentry = \"run\"\n\
         [launch.snapshot]\nalloc = \"a\"\ncall = \"c\"\npreload = \"{modules}\"\n\
         resume = \"{argv}{env}\"\ndefine = \"{argv}\"\n",
    )]);
    wharf
        .run(["build", "-t", "bad", ctx.path().to_str().unwrap()])
        .code(1)
        .stderr_has(&["wharf.toml:2:1", "cannot use {argv}"]);
}

#[test]
fn a_preload_that_never_ends_is_stopped_at_the_time_limit() {
    let wharf = Wharf::new();
    request_reactor(&wharf, "looping", "L{modules}", "");
    let blobs = || {
        std::fs::read_dir(wharf.home().join("blobs/sha256"))
            .unwrap()
            .count()
    };
    let before = blobs();
    let ctx = context(&[(
        "wharf.toml",
        "from = \"looping\"\n[limits]\ntimeout = \"1s\"\n[snapshot]\npreload = [\"x\"]\n",
    )]);
    wharf
        .run(["build", "-t", "never", ctx.path().to_str().unwrap()])
        .code(1)
        .stderr_has(&["wharf.toml:5", "preloading did not finish within 1s"]);
    wharf.run(["inspect", "never"]).code(1);
    assert_eq!(blobs(), before, "the failed build left blobs behind");
}

/// The value of `label` in the config of `image`, parsed as JSON.
fn label(wharf: &crate::support::Wharf, image: &str, label: &str) -> serde_json::Value {
    let out = wharf.run(["inspect", image]).ok();
    let inspect: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let text = inspect[0]["Config"]["Labels"][label]
        .as_str()
        .unwrap_or_else(|| panic!("{image} has no label {label}:\n{out}"));
    serde_json::from_str(text).unwrap()
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.15 for WASI from PyPI"
)]
#[test]
fn a_run_sees_its_own_environment_arguments_and_working_directory() {
    let wharf = python_sci_store();
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("run.env");
    std::fs::write(&env_file, "FROM_FILE=file\nREPORT_TITLE=from the file\n").unwrap();
    // Relative paths resolve from the run's working directory: the resume
    // request changes to it (docs/sandbox.md).
    let probe = "import os, sys; open('made-here', 'w').close(); \
                 print('pandas' in sys.modules, sys.argv[1:], os.path.exists('/tmp/made-here'), \
                 os.environ['REPORT_TITLE'], os.environ['FROM_FILE'], os.environ['ONLY_HERE'])";
    let out = wharf
        .run([
            "run",
            "--env-file",
            env_file.to_str().unwrap(),
            "-e",
            "REPORT_TITLE=Q3",
            "-e",
            "ONLY_HERE=yes",
            "-w",
            "/tmp",
            "pandas-report",
            "python",
            "-c",
            probe,
            "a",
            "b c",
        ])
        .ok();
    // pandas is already imported: the run resumed the snapshot.
    assert_eq!(out.lines(), ["True ['a', 'b c'] True Q3 file yes"]);

    // Without flags, the image's own defaults, and relative paths resolve
    // from its working directory.
    let out = wharf
        .run([
            "run",
            "pandas-report",
            "python",
            "-c",
            "import os; print(sorted(os.environ.items())); \
             print(open('report.py').readline().strip())",
        ])
        .ok();
    assert_eq!(
        out.lines(),
        [
            "[('HOME', '/tmp'), ('PATH', '/usr/local/bin:/usr/bin:/bin'), ('PWD', '/app'), \
             ('PYTHONTZPATH', ''), ('REPORT_TITLE', 'all regions'), ('TMPDIR', '/tmp')]",
            "\"\"\"Sales report: reads a CSV, sums revenue per region and month with pandas,",
        ]
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.15 for WASI from PyPI"
)]
#[test]
fn every_run_draws_fresh_randomness_while_hash_stays_fixed() {
    let wharf = python_sci_store();
    let probe = "import os, random, uuid, numpy; \
                 print(random.random(), os.urandom(8).hex(), uuid.uuid4(), \
                 numpy.random.default_rng().integers(1 << 62), numpy.random.random(), \
                 numpy.random.normal(), hash('wharf'), \
                 numpy.random.seed(1) or numpy.random.random())";
    let runs: Vec<Vec<String>> = (0..2)
        .map(|_| {
            let out = wharf
                .run(["run", "pandas-report", "python", "-c", probe])
                .ok();
            out.stdout.split_whitespace().map(str::to_owned).collect()
        })
        .collect();
    assert_eq!(runs[0].len(), 8, "{runs:?}");
    for (what, i) in [
        ("random", 0),
        ("urandom", 1),
        ("uuid4", 2),
        ("numpy's default_rng", 3),
        ("numpy's global generator", 4),
        ("numpy's normal", 5),
    ] {
        assert_ne!(runs[0][i], runs[1][i], "{what} repeated across runs");
    }
    // String hashing is seeded once, when the snapshot is taken (documented).
    assert_eq!(runs[0][6], runs[1][6]);
    // A program's own seeding still makes numpy repeat itself.
    for run in &runs {
        assert_eq!(
            run[7], "0.417022004702574",
            "numpy.random.seed(1) in {run:?}"
        );
    }
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.15 for WASI from PyPI"
)]
#[test]
fn the_snapshot_is_part_of_the_image_and_reused_while_its_inputs_stay_the_same() {
    let wharf = python_sci_store();
    let record = label(wharf, "pandas-report", "dev.wharf.snapshot");
    assert_eq!(record["module"], "/usr/local/bin/python.wasm");
    assert_eq!(record["preload"], serde_json::json!(["pandas", "numpy"]));
    let base = label(wharf, "python:3.15-sci", "dev.wharf.launch");
    assert!(base.get("snapshot").is_some(), "{base}");

    let out = wharf
        .run([
            "build",
            "-t",
            "pandas-report:again",
            repo()
                .join("guest-examples/pandas-report")
                .to_str()
                .unwrap(),
        ])
        .ok();
    out.stderr_has(&["SNAPSHOT preload pandas, numpy (cached)"]);
    assert_eq!(out.stdout.trim(), pandas_report_id());
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.15 for WASI from PyPI"
)]
#[test]
fn editing_the_app_keeps_the_snapshot_of_its_dependencies() {
    let wharf = python_sci_store();
    // pandas-report, with its report edited: the preload (pandas, numpy)
    // ran over the base alone, so the edit reuses the snapshot.
    let ctx = tempfile::tempdir().unwrap();
    let example = repo().join("guest-examples/pandas-report");
    for name in ["wharf.toml", "report.py"] {
        std::fs::copy(example.join(name), ctx.path().join(name)).unwrap();
    }
    // The edit adds a module of the app's own that the report imports:
    // the snapshot, taken before the app's files were there, finds it.
    let report = std::fs::read_to_string(ctx.path().join("report.py")).unwrap();
    std::fs::write(
        ctx.path().join("report.py"),
        report
            .replace(
                "import pandas as pd\n",
                "import pandas as pd\n\nimport wording\n",
            )
            .replace("top region", "{wording.TOP} region"),
    )
    .unwrap();
    std::fs::write(ctx.path().join("wording.py"), "TOP = 'leading'\n").unwrap();
    let manifest = std::fs::read_to_string(ctx.path().join("wharf.toml")).unwrap();
    std::fs::write(
        ctx.path().join("wharf.toml"),
        manifest.replace(
            "src = \"report.py\"",
            "src = [\"report.py\", \"wording.py\"]",
        ),
    )
    .unwrap();
    let out = wharf
        .run([
            "build",
            "-t",
            "pandas-report:edited",
            ctx.path().to_str().unwrap(),
        ])
        .ok();
    out.stderr_has(&["SNAPSHOT preload pandas, numpy (cached)"]);
    assert!(!out.stderr.contains("taken over the app's files"), "{out}");
    assert_ne!(out.stdout.trim(), pandas_report_id());
    assert_eq!(
        label(wharf, "pandas-report:edited", "dev.wharf.snapshot"),
        label(wharf, "pandas-report", "dev.wharf.snapshot")
    );

    let data = repo().join("guest-examples/pandas-report/data");
    let output = tempfile::tempdir().unwrap();
    let out = wharf
        .run([
            "run",
            "-v",
            &format!("{}:/input:ro", data.display()),
            "-v",
            &format!("{}:/output", output.path().display()),
            "pandas-report:edited",
        ])
        .ok();
    assert_eq!(
        out.stdout,
        "wrote /output/report.md: 12 orders, leading region North (438.30)\n"
    );
    // Started from the snapshot: pandas was imported before the run began.
    let out = wharf
        .run([
            "run",
            "pandas-report:edited",
            "python",
            "-c",
            "import sys; print('pandas' in sys.modules)",
        ])
        .ok();
    assert_eq!(out.stdout, "True\n");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.15 for WASI from PyPI"
)]
#[test]
fn a_changed_input_takes_a_new_snapshot() {
    let wharf = python_sci_store();
    // The app's own module, beside it in the working directory, can be
    // preloaded too.
    let manifest = "from = \"python:3.15-sci\"\nworkdir = \"/app\"\n\
                    cmd = [\"python\", \"app.py\"]\n\
                    [[copy]]\nsrc = [\"app.py\", \"helper.py\"]\ndest = \".\"\n\
                    [snapshot]\npreload = [\"json\", \"helper\"]\n";
    let build = |app: &str| {
        let ctx = context(&[
            ("wharf.toml", manifest),
            ("app.py", app),
            (
                "helper.py",
                "import sys\nprint('helper ran', file=sys.stderr)\n",
            ),
        ]);
        wharf
            .run(["build", "-t", "json-app", ctx.path().to_str().unwrap()])
            .ok()
    };
    let app = "import sys; print('json' in sys.modules, 'pandas' in sys.modules, \
               'helper' in sys.modules, {})";
    let first = build(&app.replace("{}", "1"));
    // The preload ran the helper's top level at build time, over the app's
    // files, as the build says.
    first.stderr_has(&[
        "SNAPSHOT preload json, helper",
        "the preload imports the app's own helper: the snapshot is taken over the app's files, and again whenever they change",
        "helper ran",
    ]);
    assert!(!first.stderr.contains("(cached)"), "{first}");
    assert_eq!(
        wharf.run(["run", "json-app"]).ok().lines(),
        ["True False True 1"]
    );

    // The app changed, so the image the snapshot is taken from changed.
    let second = build(&app.replace("{}", "2"));
    assert!(!second.stderr.contains("(cached)"), "{second}");
    assert_ne!(first.stdout, second.stdout);
    assert_eq!(
        wharf.run(["run", "json-app"]).ok().lines(),
        ["True False True 2"]
    );
    assert_eq!(
        label(wharf, "json-app", "dev.wharf.snapshot")["preload"],
        serde_json::json!(["json", "helper"])
    );
    // Not run again: it was imported at build time.
    assert!(
        !wharf
            .run(["run", "json-app"])
            .ok()
            .stderr
            .contains("helper ran"),
        "the preloaded module ran again"
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn python_3_12_says_it_cannot_be_snapshotted() {
    let wharf = python_store();
    let ctx = context(&[(
        "wharf.toml",
        "from = \"python:3.12\"\n\n[snapshot]\npreload = [\"json\"]\n",
    )]);
    wharf
        .run(["build", "-t", "py312-snap", ctx.path().to_str().unwrap()])
        .code(1)
        .stderr_has(&["wharf.toml:4", "cannot be snapshotted", "python:3.12"]);
    wharf.run(["inspect", "py312-snap"]).code(1);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.15 for WASI from PyPI"
)]
#[test]
fn a_resumed_run_starts_in_its_working_directory() {
    let wharf = python_sci_store();
    let out = wharf
        .run([
            "run",
            "pandas-report",
            "python",
            "-c",
            "import os, pathlib; print(os.getcwd(), pathlib.Path.cwd(), os.path.abspath('report.py'))",
        ])
        .ok();
    assert_eq!(out.lines(), ["/app /app /app/report.py"]);
    let out = wharf
        .run([
            "run",
            "-w",
            "/tmp",
            "pandas-report",
            "python",
            "-c",
            "import os; print(os.getcwd())",
        ])
        .ok();
    assert_eq!(out.lines(), ["/tmp"]);
}
