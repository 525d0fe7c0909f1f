//! Python bytecode at build time: every `.py` a build adds to an image
//! built on a Python base gets its `.pyc`, in the same layer, as `pip
//! install` leaves them in a Docker image.
//!
//! The image is read-only when it runs, so without bytecode in it every run
//! would compile every module it imports again (for `import requests`, half
//! of the start). The base image's own interpreter compiles the sources,
//! in the sandbox, so that the bytecode is that interpreter's (its magic
//! number and its `cache_tag`), into hash-based `.pyc` files that are
//! checked against their source ([PEP 552]'s `checked-hash`): no time
//! stamps, so the same sources give the same bytes and the same image ID,
//! and a source a run mounts over the image's is compiled afresh rather
//! than run from stale bytecode. Checking costs nothing measurable: the
//! source is hashed with SipHash as it is read.
//!
//! [PEP 552]: https://peps.python.org/pep-0552/

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use super::python::VERSION_LABEL;
use super::step::{BuildRuntime, Step};
use crate::guest_path;
use crate::image::Image;
use crate::layer::{FileSource, LayerContents};

/// The program the interpreter runs (`python -c`).
const SCRIPT: &str = include_str!("compile_bytecode.py");

/// Where the program sees the directory it writes to.
const OUTPUT_AT: &str = "/.wharf-bytecode";

/// The most a file the compiler writes may hold, in bytes.
const MAX_OUTPUT: u64 = 256 << 20;

/// What compiling a build's Python sources gave.
#[derive(Debug, Default)]
pub struct Compiled {
    /// Modules compiled.
    pub modules: usize,
    /// Sources the interpreter could not compile, as `PATH: why` (Python 2
    /// code, templates named `.py`): left as they are, as `pip` leaves them.
    pub failed: Vec<String>,
}

/// Whether images built on `base` get bytecode: whether it is a Python
/// image (it says which Python it carries in [`VERSION_LABEL`]).
pub fn applies(base: Option<&Image>) -> bool {
    base.is_some_and(|image| image.run_config().labels.contains_key(VERSION_LABEL))
}

/// Compiles the `.py` files of `layers` with `interpreter`'s `python`, and
/// adds each one's `.pyc` to the layer that holds its source (in its
/// `__pycache__`, as the interpreter names it).
///
/// # Errors
/// When the interpreter cannot be run or fails (its message included), or
/// answers with bytecode for a path it was not asked about.
pub fn compile_layers(
    runtime: &dyn BuildRuntime,
    interpreter: &Image,
    layers: &mut [&mut LayerContents],
) -> Result<Compiled> {
    // (layer, path of the source in the image, its bytes)
    let mut sources: Vec<(usize, String, Vec<u8>)> = Vec::new();
    for (at, layer) in layers.iter().enumerate() {
        for (path, source, _) in layer.files() {
            // The list the interpreter reads is one path a line.
            if path.ends_with(".py") && !path.contains('\n') {
                sources.push((at, format!("/{path}"), source.read()?));
            }
        }
    }
    if sources.is_empty() {
        return Ok(Compiled::default());
    }
    let mut stdin = Vec::new();
    for (_, path, bytes) in &sources {
        write!(stdin, "{path}\n{}\n", bytes.len())?;
        stdin.extend_from_slice(bytes);
    }
    let output = tempfile::Builder::new()
        .prefix("wharf-bytecode-")
        .tempdir()?;
    let step = Step {
        argv: vec![
            "python".into(),
            "-c".into(),
            SCRIPT.into(),
            OUTPUT_AT.into(),
        ],
        // CPython's marshal writes a frozenset's items in an order of its
        // own since 3.11, whatever the string hash; a fixed seed keeps the
        // bytes the same on an older interpreter that reads it (an
        // isolated one, such as python:3.15-sci's, does not).
        env: vec![
            ("PYTHONHASHSEED".into(), "0".into()),
            ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ],
        stdin,
        output: output.path().to_owned(),
        output_at: OUTPUT_AT.into(),
        // Compiling ends: the interpreter runs on the code `wharf run`
        // uses, already compiled for the base image.
        timeout: None,
    };
    let outcome = runtime
        .run(interpreter, &step)
        .context("cannot run the base image's python to compile bytecode")?;
    if let Some(failure) = outcome.failure {
        bail!(
            "compiling bytecode with the base image's python failed: {failure}{}",
            last_lines(&outcome.stderr)
        );
    }
    // What the guest wrote is read through the directory's capability: a
    // symlink it made cannot lead the build to a host file.
    let written = cap_std::fs::Dir::open_ambient_dir(output.path(), cap_std::ambient_authority())?;
    let read = |name: &str| -> Result<Vec<u8>> {
        let file = written
            .open(name)
            .with_context(|| format!("the bytecode compiler wrote no {name} file"))?;
        let size = file.metadata()?.len();
        if size > MAX_OUTPUT {
            bail!("the bytecode compiler wrote {size} bytes into {name}, more than a build takes");
        }
        let mut bytes = Vec::with_capacity(size as usize);
        std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_OUTPUT), &mut bytes)?;
        Ok(bytes)
    };
    let index = String::from_utf8_lossy(&read("index")?).into_owned();
    let failed: Vec<String> = String::from_utf8_lossy(&read("failed")?)
        .lines()
        .map(|line| line.chars().filter(|c| !c.is_control()).collect())
        .collect();
    let mut modules = 0;
    for line in index.lines() {
        let (number, pyc) = line
            .split_once(' ')
            .with_context(|| format!("the bytecode compiler wrote a malformed line: {line}"))?;
        let number: usize = number
            .parse()
            .ok()
            .filter(|n| *n < sources.len())
            .with_context(|| format!("the bytecode compiler wrote a malformed line: {line}"))?;
        let (at, source, _) = &sources[number];
        let pyc_path = guest_path::resolve("/", pyc);
        if !is_cache_of(source, &pyc_path) {
            bail!(
                "the bytecode compiler put the bytecode of {source} at {pyc}, outside its __pycache__"
            );
        }
        let bytes =
            read(&number.to_string()).with_context(|| format!("no bytecode for {source}"))?;
        let size = bytes.len() as u64;
        layers[*at].add_file(
            guest_path::relative(&pyc_path),
            FileSource::Bytes(Arc::from(bytes)),
            size,
        );
        modules += 1;
    }
    Ok(Compiled { modules, failed })
}

/// Whether `pyc` is where Python looks for the bytecode of `source`:
/// `DIR/__pycache__/NAME.TAG.pyc` for `DIR/NAME.py` (PEP 3147).
fn is_cache_of(source: &str, pyc: &str) -> bool {
    let Some((dir, file)) = source.rsplit_once('/') else {
        return false;
    };
    let stem = file.strip_suffix(".py").unwrap_or(file);
    pyc.strip_prefix(dir)
        .and_then(|rest| rest.strip_prefix("/__pycache__/"))
        .and_then(|name| name.strip_prefix(stem))
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|rest| rest.ends_with(".pyc") && !rest.contains('/'))
}

/// The last lines of what a failed step wrote, on lines of their own.
fn last_lines(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    let kept = &lines[lines.len().saturating_sub(10)..];
    if kept.is_empty() {
        String::new()
    } else {
        format!(":\n{}", kept.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::is_cache_of;

    #[test]
    fn bytecode_belongs_in_the_sources_pycache() {
        assert!(is_cache_of(
            "/app/report.py",
            "/app/__pycache__/report.cpython-312.pyc"
        ));
        assert!(is_cache_of(
            "/app/report.py",
            "/app/__pycache__/report.cpython-312.opt-1.pyc"
        ));
        assert!(!is_cache_of(
            "/app/report.py",
            "/app/report.cpython-312.pyc"
        ));
        assert!(!is_cache_of(
            "/app/report.py",
            "/etc/__pycache__/report.cpython-312.pyc"
        ));
        assert!(!is_cache_of(
            "/app/report.py",
            "/app/__pycache__/other.cpython-312.pyc"
        ));
        assert!(!is_cache_of(
            "/app/report.py",
            "/app/__pycache__/report.x/../../etc.pyc"
        ));
    }
}
