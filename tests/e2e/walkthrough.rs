//! The seed walkthrough, step by step: the Python app built on
//! `python:3.12` and run with its defaults and with `-e`.

use crate::support::{python_store, repo};

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn seed_app_prints_the_expected_lines_with_its_default_environment() {
    let out = python_store().run(["run", "my-first-image"]).ok();
    let lines = out.lines();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "⚓ Hello from inside a secure wharf sandbox!");
    assert!(
        lines[1].starts_with("Python Version running: 3.12.0"),
        "{out}"
    );
    assert_eq!(lines[2], "Custom Environment Variable: Production");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn seed_app_sees_an_overridden_environment_variable() {
    let out = python_store()
        .run(["run", "-e", "APP_ENV=Staging", "my-first-image"])
        .ok();
    assert_eq!(out.lines()[2], "Custom Environment Variable: Staging");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn seed_app_image_is_tagged_latest_on_a_pinned_base() {
    let out = python_store().run(["images"]).ok();
    let rows: Vec<Vec<&str>> = out
        .lines()
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][..3], ["REPOSITORY", "TAG", "IMAGE"]);
    assert!(
        rows.iter().any(|r| r[..2] == ["my-first-image", "latest"]),
        "{out}"
    );
    assert!(rows.iter().any(|r| r[..2] == ["python", "3.12"]), "{out}");
}

#[test]
fn wharfignore_keeps_local_clutter_out_of_the_image() {
    // The walkthrough's .dockerignore advice, with the app's own ignore file.
    let wharf = crate::support::Wharf::new();
    let ctx = tempfile::tempdir().unwrap();
    let app = repo().join("guest-examples/python-app");
    for name in ["app.py", "wharf.toml", ".wharfignore"] {
        std::fs::copy(app.join(name), ctx.path().join(name)).unwrap();
    }
    std::fs::create_dir_all(ctx.path().join(".git")).unwrap();
    std::fs::write(ctx.path().join(".git/HEAD"), "ref").unwrap();
    std::fs::write(ctx.path().join(".env"), "SECRET=1").unwrap();
    // Copy everything, the way `COPY . .` would.
    let manifest = std::fs::read_to_string(ctx.path().join("wharf.toml"))
        .unwrap()
        .replace("src = \"app.py\"", "src = \".\"")
        .replace("from = \"python:3.12\"", "from = \"scratch\"");
    std::fs::write(ctx.path().join("wharf.toml"), manifest).unwrap();
    let id = wharf.build("clutter-test", ctx.path());
    let inspect = wharf.run(["inspect", &id]).ok();
    let json: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    let layer = json[0]["Layers"][0]["Digest"].as_str().unwrap().to_owned();
    let blob = wharf
        .home()
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    let names = crate::store::layer_paths(&blob);
    assert!(names.contains(&"app/app.py".to_owned()), "{names:?}");
    assert!(names.contains(&"app/wharf.toml".to_owned()), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.contains(".git") || n.contains(".env")),
        "{names:?}"
    );
}
