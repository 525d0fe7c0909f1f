//! `python:3.15-sci`: CPython 3.15 with the scientific stack, a reactor
//! module started through its image's `[launch]`, and the pandas example
//! built on it.

use crate::support::{context, python_sci_store, repo};

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.15 for WASI from PyPI"
)]
#[test]
fn the_scientific_stack_imports_and_computes() {
    let out = python_sci_store()
        .run([
            "run",
            "python:3.15-sci",
            "python",
            "-c",
            "import sys, numpy, pandas, scipy.linalg, sklearn; \
             print(sys.version_info[:2], numpy.__version__, pandas.__version__); \
             print(int(numpy.linalg.det(numpy.array([[2, 0], [0, 3]])))); \
             print(pandas.DataFrame({'x': [1, 2, 3]}).x.mean())",
        ])
        .ok();
    assert_eq!(out.lines(), ["(3, 15) 2.5.2 3.0.6", "6", "2.0"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.15 for WASI from PyPI"
)]
#[test]
fn exit_statuses_exceptions_and_environment_pass_through() {
    let wharf = python_sci_store();
    wharf
        .run([
            "run",
            "python:3.15-sci",
            "python",
            "-c",
            "import sys; sys.exit(7)",
        ])
        .code(7);
    wharf
        .run([
            "run",
            "python:3.15-sci",
            "python",
            "-c",
            "import os; os._exit(9)",
        ])
        .code(9);
    wharf
        .run(["run", "python:3.15-sci", "python", "-c", "1/0"])
        .code(1)
        .stderr_has(&["Traceback", "ZeroDivisionError"]);
    let out = wharf
        .run([
            "run",
            "-e",
            "APP_ENV=Staging",
            "python:3.15-sci",
            "python",
            "-c",
            "import os, tempfile; print(sorted(os.environ.items())); \
             f = tempfile.NamedTemporaryFile(); print(f.name.startswith('/tmp/'))",
        ])
        .ok();
    assert_eq!(
        out.lines(),
        [
            "[('APP_ENV', 'Staging'), ('HOME', '/tmp'), ('PATH', '/usr/local/bin:/usr/bin:/bin'), ('PYTHONTZPATH', ''), ('TMPDIR', '/tmp')]",
            "True",
        ]
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.15 for WASI from PyPI"
)]
#[test]
fn the_pandas_report_reads_a_read_only_mount_and_writes_a_writable_one() {
    let wharf = python_sci_store();
    let data = repo().join("guest-examples/pandas-report/data");
    let output = tempfile::tempdir().unwrap();
    let input_mount = format!("{}:/input:ro", data.display());
    let output_mount = format!("{}:/output", output.path().display());
    let out = wharf
        .run([
            "run",
            "-v",
            &input_mount,
            "-v",
            &output_mount,
            "-e",
            "REPORT_TITLE=Q1",
            "pandas-report",
        ])
        .ok();
    assert_eq!(
        out.stdout,
        "wrote /output/report.md: 12 orders, top region North (438.30)\n"
    );
    let report = std::fs::read_to_string(output.path().join("report.md")).unwrap();
    assert!(report.starts_with("# Sales report (Q1)\n"), "{report}");
    for line in [
        "12 orders, 78 units, revenue 1186.40",
        "| North | 438.30 |",
        "| West | 192.40 |",
        "| 2026-02 | 444.50 |",
    ] {
        assert!(report.contains(line), "missing {line:?} in:\n{report}");
    }

    // The input mount is read-only to the app.
    let out = wharf
        .run([
            "run",
            "-v",
            &input_mount,
            "pandas-report",
            "python",
            "-c",
            "open('/input/sales.csv', 'a').write('x')",
        ])
        .code(1);
    out.stderr_has(&["PermissionError"]);
    assert_eq!(
        std::fs::read_to_string(data.join("sales.csv"))
            .unwrap()
            .lines()
            .count(),
        13
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.15 for WASI from PyPI"
)]
#[test]
fn python_dash_m_runs_the_apps_module_through_the_snapshot_with_its_bytecode() {
    let wharf = python_sci_store();
    // From the working directory, as `python -m` does: runpy finds
    // /app/report.py, whose argv[0] is the file's path.
    let out = wharf
        .run(["run", "pandas-report", "python", "-m", "report"])
        .code(2);
    assert_eq!(
        out.stderr, "usage: /app/report.py INPUT.csv OUTPUT.md\n",
        "{out}"
    );
    // The build compiled the app with the image's interpreter: where the
    // import system looks, bytecode whose hash matches the source (PEP
    // 552), which an import reads rather than compiling the source.
    let out = wharf
        .run([
            "run",
            "pandas-report",
            "python",
            "-c",
            "import importlib.util as u, report\n\
             pyc = open(report.__spec__.cached, 'rb').read(16)\n\
             source = open(report.__file__, 'rb').read()\n\
             print(report.__spec__.cached, pyc[8:] == u.source_hash(source))",
        ])
        .ok();
    assert_eq!(out.stdout, "/app/__pycache__/report.cpython-315.pyc True\n");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.15 for WASI from PyPI"
)]
#[test]
fn the_runtime_is_no_python_but_what_the_image_says() {
    // The image's [launch] is recorded in its config, where any image
    // built on it inherits it.
    let out = python_sci_store().run(["inspect", "pandas-report"]).ok();
    out.stdout_has(&["dev.wharf.launch", "_initialize", "host::call"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.15 for WASI from PyPI"
)]
#[test]
fn requirements_install_what_the_image_lacks_and_reuse_what_it_has() {
    let wharf = python_sci_store();
    let ctx = context(&[
        (
            "wharf.toml",
            "from = \"python:3.15-sci\"\nworkdir = \"/app\"\ncmd = [\"python\", \"app.py\"]\n\
             [python]\nrequirements = \"requirements.txt\"\n\
             [[copy]]\nsrc = [\"app.py\", \"helper.py\"]\ndest = \".\"\n",
        ),
        // numpy has native wheels only, and tabulate is in the image too:
        // neither is installed, neither is an error.
        (
            "requirements.txt",
            "numpy\ntabulate==0.10.0\nhumanize==4.12.1\n",
        ),
        ("helper.py", "WHERE = 'beside the script'\n"),
        (
            "app.py",
            "import os, humanize, numpy, tabulate, helper\n\
             print(humanize.intcomma(1234567), numpy.__version__, tabulate.__version__, helper.WHERE)\n\
             print(sorted(os.listdir('/usr/local/lib/python3.15/site-packages')))\n",
        ),
    ]);
    wharf
        .run(["build", "-t", "sci-deps", ctx.path().to_str().unwrap()])
        .ok()
        .stderr_has(&["PIP INSTALL -r requirements.txt (humanize==4.12.1)"]);
    assert_eq!(
        wharf.run(["run", "sci-deps"]).ok().lines(),
        [
            "1,234,567 2.5.2 0.10.0 beside the script",
            "['humanize', 'humanize-4.12.1.dist-info']",
        ]
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.15 for WASI from PyPI"
)]
#[test]
fn a_requirement_that_would_replace_what_the_image_has_is_named() {
    let wharf = python_sci_store();
    let ctx = context(&[
        (
            "wharf.toml",
            "from = \"python:3.15-sci\"\n[python]\nrequirements = \"requirements.txt\"\n",
        ),
        ("requirements.txt", "humanize==4.12.1\nnumpy<2\n"),
    ]);
    wharf
        .run(["build", "-t", "sci-conflict", ctx.path().to_str().unwrap()])
        .code(1)
        .stderr_has(&[
            "wharf.toml:3:16",
            "requirements.txt, line 2: numpy<2: the base image provides it at version 2.5.2, and this asks for another",
        ]);
}
