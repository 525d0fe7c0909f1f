//! Python apps with dependencies: `[python] requirements` installs
//! pure-Python wheels from PyPI into the image at build time.

use crate::support::{Wharf, context, python_store, repo};

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
            "no pure-Python wheel for numpy==2.1.0, markupsafe==3.0.2",
        ]);
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
