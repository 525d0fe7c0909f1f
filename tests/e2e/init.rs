//! `wharf init`: each template, compiled the way its own files say, then
//! built and run; a directory's own Python app packaged; and nothing ever
//! written over an existing file.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use crate::support::{Outcome, Wharf, python_store};

/// The files of `dir` and below, `/`-separated and sorted.
fn listing(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).unwrap();
                let parts: Vec<_> = relative.iter().map(|p| p.to_string_lossy()).collect();
                out.push(parts.join("/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    names.sort();
    names
}

/// `wharf init --template TEMPLATE DIR`.
fn init(wharf: &Wharf, template: &str, dir: &Path) -> Outcome {
    wharf.run([
        OsStr::new("init"),
        OsStr::new("--template"),
        OsStr::new(template),
        dir.as_os_str(),
    ])
}

/// Runs a host tool the template's own files name; panics with its output
/// when it fails.
#[track_caller]
fn host(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}",
        Outcome::from_output(output)
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn the_python_template_builds_and_runs_without_pip() {
    let wharf = python_store();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("init-python");
    let out = init(wharf, "python", &dir).ok();
    out.stdout_has(&[
        "Created ",
        "with the python template's hello app:",
        "  wharf.toml\n",
        "  .wharfignore\n",
        "  app.py\n",
        "  requirements.txt\n",
        "Next:\n",
        &format!("  wharf build -t init-python {}\n", dir.display()),
        "  wharf run init-python\n",
    ]);
    assert_eq!(
        listing(&dir),
        sorted(&["wharf.toml", ".wharfignore", "app.py", "requirements.txt"])
    );

    // The requirements file holds only comments: pip is not run (a host
    // Python that does not exist would fail the build if it were), and no
    // layer is added for it.
    let build = Outcome::from_output(
        wharf
            .command(["build", "-t", "init-python", dir.to_str().unwrap()])
            .env("WHARF_PYTHON", "/nonexistent/python3")
            .output()
            .unwrap(),
    )
    .ok();
    build.stderr_has(&[
        "PIP INSTALL -r requirements.txt (nothing to install)",
        "COPY . .",
        "COMPILE bytecode: 1 Python module",
    ]);
    let out = wharf.run(["run", "init-python"]).ok();
    assert_eq!(
        out.lines(),
        [
            "Hello from init-python in a wharf sandbox!",
            "Python 3.12.0",
            "APP_ENV: production",
        ]
    );
    let out = wharf
        .run(["run", "-e", "APP_ENV=staging", "init-python"])
        .ok();
    assert_eq!(out.lines()[2], "APP_ENV: staging");

    // The image holds the app, not wharf's own files, which .wharfignore
    // leaves out.
    let out = wharf
        .run([
            "run",
            "init-python",
            "python",
            "-c",
            "import os; print(sorted(f for f in os.listdir('/app') if f != '__pycache__'))",
        ])
        .ok();
    assert_eq!(out.stdout.trim(), "['app.py', 'requirements.txt']");
}

#[cfg_attr(not(feature = "toolchain-tests"), ignore = "needs make")]
#[test]
fn the_c_template_builds_after_its_makefile_and_runs() {
    let wharf = &Wharf::new();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("Hello C");
    let out = init(wharf, "c", &dir).ok();
    let quoted = format!("'{}'", dir.display());
    out.stdout_has(&[
        "  hello.c\n",
        "  Makefile\n",
        &format!("  make -C {quoted}\n"),
        &format!("  wharf build -t hello-c {quoted}\n"),
        "  wharf run hello-c\n",
    ]);

    // wharf build runs no compiler: before `make`, the build says which
    // file is missing, on the line that says how it is made.
    wharf
        .run(["build", "-t", "hello-c", dir.to_str().unwrap()])
        .code(1)
        .stderr_has(&[
            "COPY source 'hello.wasm' not found",
            "src = \"hello.wasm\"    # made by `make`: run it first",
        ]);

    let mut make = Command::new("make");
    make.arg("-C").arg(&dir);
    if let Ok(clang) = std::env::var("CLANG") {
        make.arg(format!("CC={clang}"));
    }
    host(&mut make);
    wharf.build("hello-c", &dir);
    let out = wharf.run(["run", "hello-c", "one", "two words"]).ok();
    assert_eq!(
        out.lines(),
        [
            "Hello from hello-c in a wharf sandbox!",
            "APP_ENV: production",
            "argument 1: one",
            "argument 2: two words",
        ]
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs Debian's rustc for wasm32-wasi (tests/install-deps.sh)"
)]
#[test]
fn the_rust_template_packs_what_cargo_builds_for_wasip1() {
    let wharf = &Wharf::new();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("My Rust.App");
    let out = init(wharf, "rust", &dir).ok();
    out.stdout_has(&[
        "  Cargo.toml\n",
        "  src/main.rs\n",
        &format!(
            "  cargo build --manifest-path '{}' --release --target wasm32-wasip1\n",
            dir.join("Cargo.toml").display()
        ),
        "  wharf run my-rust.app\n",
    ]);
    assert_eq!(
        listing(&dir),
        sorted(&["wharf.toml", ".wharfignore", "Cargo.toml", "src/main.rs"])
    );
    // Cargo takes no `.` in a package name.
    let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("name = \"my-rust-app\""), "{cargo}");

    // What `cargo build --release --target wasm32-wasip1` makes, compiled
    // with Debian's rustc (rustup has no wasm target here) as
    // guest-examples/hello-rust/build.sh does.
    let module = dir.join("target/wasm32-wasip1/release/my-rust-app.wasm");
    std::fs::create_dir_all(module.parent().unwrap()).unwrap();
    let rustc = std::env::var("DEBIAN_RUSTC").unwrap_or_else(|_| "/usr/bin/rustc".to_owned());
    host(
        Command::new(rustc)
            .args(["--edition", "2021", "--target", "wasm32-wasi", "-O", "-o"])
            .arg(&module)
            .arg(dir.join("src/main.rs")),
    );
    wharf.build("my-rust.app", &dir);
    let out = wharf
        .run(["run", "-e", "APP_ENV=test", "my-rust.app", "x"])
        .ok();
    assert_eq!(
        out.lines(),
        [
            "Hello from my-rust.app in a wharf sandbox!",
            "APP_ENV: test",
            "argument 1: x",
        ]
    );
}

#[test]
fn init_never_overwrites_and_then_writes_nothing() {
    let wharf = &Wharf::new();
    let dir = tempfile::tempdir().unwrap();
    let mine = "# my own manifest\nfrom = \"scratch\"\n";
    std::fs::write(dir.path().join("wharf.toml"), mine).unwrap();
    for args in [
        vec!["init", "--template", "python"],
        vec!["init", "--template", "rust"],
        vec!["init"],
    ] {
        let mut args = args;
        args.push(dir.path().to_str().unwrap());
        wharf.run(&args).code(125).stderr_has(&[
            "has wharf.toml already: wharf init writes nothing rather than overwrite a file (move it away",
        ]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("wharf.toml")).unwrap(),
            mine
        );
        assert_eq!(listing(dir.path()), ["wharf.toml"]);
    }

    // Any file of the template counts, and every one is named.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.c"), "int main(void) { return 7; }\n").unwrap();
    std::fs::write(dir.path().join("Makefile"), "all:\n").unwrap();
    let out = init(wharf, "c", dir.path()).code(125);
    out.stderr_has(&["has hello.c, Makefile already", "(move them away"]);
    assert_eq!(listing(dir.path()), ["Makefile", "hello.c"]);

    // Where a template's files are free, it writes beside what is there.
    let out = init(wharf, "python", dir.path()).ok();
    out.stdout_has(&["Wrote the python template's hello app in "]);
    assert_eq!(
        listing(dir.path()),
        sorted(&[
            "Makefile",
            "hello.c",
            "wharf.toml",
            ".wharfignore",
            "app.py",
            "requirements.txt"
        ])
    );

    // A file is not a directory to init.
    let file = dir.path().join("hello.c");
    wharf
        .run(["init", file.to_str().unwrap()])
        .code(125)
        .stderr_has(&["is not a directory"]);
}

#[test]
fn init_makes_nested_directories_and_defaults_to_the_current_one() {
    let wharf = &Wharf::new();
    let parent = tempfile::tempdir().unwrap();
    let nested = parent.path().join("a/b/new_app");
    init(wharf, "c", &nested)
        .ok()
        .stdout_has(&["  wharf run new_app\n"]);
    assert_eq!(
        listing(&parent.path().join("a")),
        sorted(&[
            "b/new_app/wharf.toml",
            "b/new_app/.wharfignore",
            "b/new_app/hello.c",
            "b/new_app/Makefile"
        ])
    );

    // Without DIR: the current directory, named `.` in the next commands.
    let here = parent.path().join("Here Now");
    std::fs::create_dir(&here).unwrap();
    let out = Outcome::from_output(
        wharf
            .command(["init", "--template", "rust"])
            .current_dir(&here)
            .output()
            .unwrap(),
    )
    .ok();
    out.stdout_has(&[
        "in the current directory:",
        "  cargo build --release --target wasm32-wasip1\n",
        "  wharf build -t here-now .\n",
        "  wharf run here-now\n",
    ]);
    assert!(here.join("src/main.rs").is_file());
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn bare_init_packages_the_python_app_a_directory_holds() {
    let wharf = python_store();
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("existing-app");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(
        app.join("main.py"),
        "import helper\nprint('main says', helper.WORD)\n",
    )
    .unwrap();
    std::fs::write(app.join("helper.py"), "WORD = 'hi'\n").unwrap();
    let out = wharf.run(["init", app.to_str().unwrap()]).ok();
    out.stdout_has(&[
        "Wrote wharf.toml and .wharfignore in ",
        "for its Python app: the image runs `python main.py`.",
        "  wharf build -t existing-app ",
    ]);
    // Only the manifest and the ignore file: the app's own files stay as
    // they were, and no requirements are asked for that the app lacks.
    assert_eq!(
        listing(&app),
        sorted(&["main.py", "helper.py", "wharf.toml", ".wharfignore"])
    );
    let manifest = std::fs::read_to_string(app.join("wharf.toml")).unwrap();
    assert!(
        manifest.contains("# [python]\n# requirements = \"requirements.txt\"\n"),
        "{manifest}"
    );
    wharf.build("existing-app", &app);
    let out = wharf.run(["run", "existing-app"]).ok();
    assert_eq!(out.stdout, "main says hi\n");
    // The template's variable is not the app's.
    let out = wharf.run(["inspect", "existing-app"]).ok();
    assert!(!out.stdout.contains("APP_ENV"), "{}", out.stdout);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs CPython 3.12 for WASI from PyPI"
)]
#[test]
fn bare_init_in_an_empty_directory_starts_the_python_app() {
    let wharf = python_store();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("bare-empty");
    std::fs::create_dir_all(dir.join(".git")).unwrap();
    let out = wharf.run(["init", dir.to_str().unwrap()]).ok();
    out.stdout_has(&[
        "Wrote the python template's hello app in ",
        "which was empty:",
        "(--template c or --template rust start a C or Rust app instead)",
    ]);
    wharf.build("bare-empty", &dir);
    let out = wharf.run(["run", "bare-empty"]).ok();
    assert_eq!(out.lines()[0], "Hello from bare-empty in a wharf sandbox!");
}

#[test]
fn bare_init_refuses_a_directory_whose_app_it_cannot_tell() {
    let wharf = &Wharf::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("server.py"), "print('serving')\n").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "").unwrap();
    wharf
        .run(["init", dir.path().to_str().unwrap()])
        .code(125)
        .stderr_has(&[
            "has files but no app.py or main.py: wharf init cannot tell what the image should run",
            "name the app's main Python file app.py or main.py, or start from a template: wharf init --template python|c|rust ",
        ]);
    assert_eq!(listing(dir.path()), ["notes.txt", "server.py"]);
}
