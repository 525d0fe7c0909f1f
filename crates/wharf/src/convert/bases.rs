//! Which wharf base a Dockerfile's `FROM` becomes (the table in
//! docs/docker.md, "Migrating a Dockerfile").

/// The wharf base for Python apps: CPython 3.12 compiled for WASI.
pub(super) const PYTHON: &str = "python:3.12";
/// The wharf base with numpy, pandas, scipy… compiled in.
pub(super) const PYTHON_SCI: &str = "python:3.15-sci";

/// The environment of wharf's Python bases that a Dockerfile can refer
/// to (`ENV PATH=/app/bin:$PATH`), as `manifests/*/wharf.toml` set it.
const PYTHON_ENV: [(&str, &str); 1] = [("PATH", "/usr/local/bin:/usr/bin:/bin")];

/// What a `FROM` image becomes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Mapped {
    /// A wharf base, with what to tell the user about it (if anything) and
    /// whether that is a warning rather than a note.
    Base {
        from: &'static str,
        message: Option<String>,
        warning: bool,
    },
    /// No wharf equivalent: why, and what to do instead.
    Unsupported(String),
}

impl Mapped {
    fn note(from: &'static str, message: String) -> Self {
        Mapped::Base {
            from,
            message: Some(message),
            warning: false,
        }
    }
}

/// The environment of the wharf base `from` that later instructions see.
pub(super) fn environment(from: &str) -> &'static [(&'static str, &'static str)] {
    if from == PYTHON || from == PYTHON_SCI {
        &PYTHON_ENV
    } else {
        &[]
    }
}

/// Maps a Docker image reference (variables already replaced).
pub(super) fn map(image: &str) -> Mapped {
    let (name, tag) = split_reference(image);
    match name.as_str() {
        "scratch" => Mapped::Base {
            from: "scratch",
            message: None,
            warning: false,
        },
        "python" => python(image, tag),
        "pypy" => Mapped::Unsupported(format!(
            "`{image}`: wharf has no PyPy; its Python base is CPython 3.12 compiled for WASI: use FROM {PYTHON}"
        )),
        _ => Mapped::Unsupported(format!(
            "`{image}` is a Linux image, and wharf runs WebAssembly, not Linux programs: {}, then start FROM scratch and COPY the .wasm in",
            how_to_compile(&name)
        )),
    }
}

/// How to get a WebAssembly program from what the image was for.
fn how_to_compile(name: &str) -> &'static str {
    let last = name.rsplit('/').next().unwrap_or(name);
    match last {
        "rust" => "compile the program to WebAssembly (`cargo build --target wasm32-wasip1`)",
        "golang" | "go" => {
            "compile the program to WebAssembly (`GOOS=wasip1 GOARCH=wasm go build -o app.wasm`)"
        }
        "gcc" | "clang" => {
            "compile the program to WebAssembly (clang from wasi-sdk: `--target=wasm32-wasi`)"
        }
        "node" | "deno" | "bun" => {
            "JavaScript needs an engine compiled to WebAssembly, which wharf has no base for yet; compile the program to wasm32-wasi instead"
        }
        _ => {
            "compile the program to WebAssembly for WASI (Rust: `cargo build --target wasm32-wasip1`; Go: `GOOS=wasip1 GOARCH=wasm go build`; C: clang from wasi-sdk)"
        }
    }
}

/// `python[:TAG]`: Docker's Python images, all mapped to CPython 3.12 for
/// WASI.
fn python(image: &str, tag: &str) -> Mapped {
    if image == PYTHON || image == PYTHON_SCI {
        let from = if image == PYTHON { PYTHON } else { PYTHON_SCI };
        return Mapped::note(
            from,
            format!("`{from}` is wharf's own Python base, CPython compiled for WASI"),
        );
    }
    let version: Vec<u32> = tag
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .split('.')
        .map_while(|part| part.parse().ok())
        .collect();
    match version.as_slice() {
        [2, ..] => Mapped::Unsupported(format!(
            "`{image}` is Python 2, which wharf has no base for: port the app to Python 3 and use FROM {PYTHON}"
        )),
        [3, minor, ..] if *minor > 12 => Mapped::Base {
            from: PYTHON,
            message: Some(format!(
                "`{image}` becomes `{PYTHON}`: wharf's Python base is CPython 3.12 compiled for WASI, older than the 3.{minor} asked for (`{PYTHON_SCI}` is CPython 3.15, with numpy, pandas and scipy)"
            )),
            warning: true,
        },
        _ => Mapped::note(
            PYTHON,
            format!(
                "`{image}` becomes `{PYTHON}`: wharf's Python base is CPython 3.12 compiled for WASI"
            ),
        ),
    }
}

/// A reference's repository name (lowercase, without Docker Hub's
/// `docker.io/library/`) and tag (empty for none), digest dropped.
fn split_reference(image: &str) -> (String, &str) {
    let image = image.split('@').next().unwrap_or(image);
    let (name, tag) = match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, ""),
    };
    let mut name = name.to_ascii_lowercase();
    for prefix in ["docker.io/", "index.docker.io/", "registry-1.docker.io/"] {
        if let Some(rest) = name.strip_prefix(prefix) {
            name = rest.to_owned();
        }
    }
    if let Some(rest) = name.strip_prefix("library/") {
        name = rest.to_owned();
    }
    (name, tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(image: &str) -> &'static str {
        match map(image) {
            Mapped::Base { from, .. } => from,
            Mapped::Unsupported(why) => panic!("{image}: {why}"),
        }
    }

    #[test]
    fn every_python_3_image_becomes_the_wharf_python_base() {
        for image in [
            "python:3.11-slim",
            "python:3.9-alpine",
            "python:3.10.4-bookworm",
            "python:3",
            "python",
            "python:latest",
            "python:slim",
            "docker.io/library/python:3.11-slim",
            "library/python:3.8@sha256:0123",
            "python:3.12",
        ] {
            assert_eq!(from(image), PYTHON, "{image}");
        }
        assert_eq!(from("python:3.15-sci"), PYTHON_SCI);
        assert_eq!(from("scratch"), "scratch");
    }

    #[test]
    fn newer_pythons_are_warned_about_older_ones_noted() {
        let Mapped::Base {
            message, warning, ..
        } = map("python:3.13-slim")
        else {
            panic!()
        };
        assert!(warning);
        assert!(message.unwrap().contains("3.13"));
        let Mapped::Base {
            message, warning, ..
        } = map("python:3.11-slim")
        else {
            panic!()
        };
        assert!(!warning);
        assert!(message.unwrap().contains("CPython 3.12 compiled for WASI"));
    }

    #[test]
    fn linux_bases_are_unsupported_with_what_to_do() {
        for (image, hint) in [
            ("ubuntu:22.04", "wasm32-wasip1"),
            ("golang:1.22", "GOOS=wasip1"),
            ("rust:1.80-slim", "cargo build"),
            ("node:20", "JavaScript"),
            ("python:2.7", "Python 2"),
            ("registry.example.com:5000/team/app", "FROM scratch"),
        ] {
            let Mapped::Unsupported(why) = map(image) else {
                panic!("{image}")
            };
            assert!(why.contains(hint), "{image}: {why}");
        }
    }
}
