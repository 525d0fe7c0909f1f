//! Python dependencies: the packages a manifest's `[python] requirements`
//! names, resolved with pip on the host, compiled to bytecode by the base
//! image's interpreter, and installed into the image's site-packages as one
//! layer.
//!
//! Only pure-Python wheels are taken (`--only-binary=:all: --platform
//! any`): native extensions cannot run in a WebAssembly sandbox. A
//! requirement that cannot be met is an error that names it, its line and
//! why (see `build::pip`). The base image says which Python it carries and
//! where its site-packages are, in two labels, and which distributions it
//! has already in a third (see [`super::provided`]).
//!
//! The installed tree is cached in the store ([`CACHE_DIR`]), as Docker
//! caches a `RUN pip install` layer: under a key made of the requirements
//! file (and the files its lines name), the base image's ID and what pip is
//! told (wharf's options and the `PIP_*` environment). A rebuild with the
//! same inputs runs no pip and needs no network; a changed input installs
//! afresh. As with Docker, an unpinned requirement stays at the version
//! cached until an input changes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest as _, Sha256};
use toml::Spanned;

use super::bytecode;
use super::context::{BuildContext, Source, SourceKind};
use super::pip::{self, Target};
use super::provided::{PROVIDES_LABEL, Provided};
use super::step::BuildRuntime;
use crate::image::Image;
use crate::layer::{FileSource, LayerContents};
use crate::manifest::Manifest;
use crate::store::Store;

pub use super::pip::PYTHON_ENV;

/// The label with the base image's Python version (`3.12`).
pub const VERSION_LABEL: &str = "dev.wharf.python.version";
/// The label with the base image's site-packages directory.
pub const SITE_PACKAGES_LABEL: &str = "dev.wharf.python.site-packages";
/// The store directory that holds installed requirements, by key.
pub const CACHE_DIR: &str = "pip-cache";

/// Bumped when what an install leaves changes, so that an older wharf's
/// cached trees are not reused.
const FORMAT: u32 = 1;

/// Packages installed for an image.
pub struct Installed {
    /// The layer that adds them to site-packages.
    pub layer: LayerContents,
    /// What the build reports, and the image's history records.
    pub description: String,
    /// Whether the install came from the cache.
    pub cached: bool,
}

/// Installs the requirements a manifest names; `None` when it names none.
/// With `runtime`, the packages' modules are compiled to bytecode by the
/// base image's interpreter. With `no_cache`, pip runs even when the cache
/// holds an install from the same inputs, and its install replaces that
/// one.
///
/// # Errors
/// When the base is not a Python image, the requirements file is missing
/// or outside the context, a requirement cannot be installed (each one
/// named with its line and why), or pip cannot run.
pub fn install(
    store: &Store,
    manifest: &Manifest,
    context: &BuildContext,
    base: Option<&Image>,
    runtime: Option<&dyn BuildRuntime>,
    no_cache: bool,
) -> Result<Option<Installed>> {
    let Some(requirements) = &manifest.python_requirements else {
        return Ok(None);
    };
    let file = requirements_file(manifest, context, requirements)?;
    let config = base.map(Image::run_config);
    let label = |name: &str| {
        config
            .as_ref()
            .and_then(|c| c.labels.get(name).cloned())
            .with_context(|| {
                manifest.error_at(
                    requirements.span(),
                    format!(
                        "`[python] requirements` needs a Python base image: `from` names an image without the label {name}"
                    ),
                )
            })
    };
    let version = label(VERSION_LABEL)?;
    let site_packages = label(SITE_PACKAGES_LABEL)?;
    let base = base.expect("labelled above");
    let provided = match config.as_ref().and_then(|c| c.labels.get(PROVIDES_LABEL)) {
        Some(list) => Provided::parse(list)
            .with_context(|| "the base image's label is malformed".to_owned())?,
        None => Provided::default(),
    };
    let site_packages =
        crate::guest_path::relative(&crate::guest_path::resolve("/", &site_packages)).to_owned();
    // A file of comments (as `wharf init` writes one) installs nothing,
    // and pip need not run: the build adds no layer for it.
    if names_nothing(&file)? {
        return Ok(Some(Installed {
            layer: LayerContents::new(),
            description: format!(
                "PIP INSTALL -r {} (nothing to install)",
                requirements.get_ref()
            ),
            cached: false,
        }));
    }
    let compiler = runtime.map(|r| (r, base));

    let root = store.root().join(CACHE_DIR);
    let key = cache_key(&file, base, compiler.is_some())?;
    let entry = root.join(&key);
    let cached = !no_cache && entry.join(COMPLETE).is_file();
    if !cached {
        std::fs::create_dir_all(&root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        // In the store's staging area: what an interrupted build leaves
        // there, `system prune` removes.
        let staging = store.temp_dir()?;
        let scratch = tempfile::Builder::new().prefix("wharf-pip-").tempdir()?;
        pip_install(
            manifest,
            requirements,
            &file,
            &version,
            &provided,
            staging.path(),
            scratch.path(),
        )?;
        let target = staging.path().join("site-packages");
        let whole = match compiler {
            Some((runtime, interpreter)) => {
                match compile(runtime, interpreter, &target, &site_packages) {
                    Ok(()) => true,
                    // The packages run without bytecode; the next build
                    // installs them again rather than reuse them so.
                    Err(e) => {
                        tracing::warn!(
                            "the installed requirements are not compiled to bytecode: {e:#}; the image runs, compiling what it imports at every start"
                        );
                        false
                    }
                }
            }
            None => true,
        };
        if whole {
            std::fs::write(staging.path().join(COMPLETE), "")?;
        }
        // Another build may have installed the same meanwhile: either
        // tree is right.
        let staged = staging.keep();
        if entry.exists() && (no_cache || !entry.join(COMPLETE).is_file()) {
            let _ = std::fs::remove_dir_all(&entry);
        }
        if std::fs::rename(&staged, &entry).is_err() {
            let _ = std::fs::remove_dir_all(&staged);
            if !entry.join(COMPLETE).is_file() {
                bail!(
                    "cannot move the installed requirements into {}",
                    entry.display()
                );
            }
        }
    }

    let target = entry.join("site-packages");
    let layer = tree_layer(&target, &site_packages)?;
    let mut packages: Vec<String> = std::fs::read_dir(&target)?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".dist-info")
                .map(|n| n.replacen('-', "==", 1))
        })
        .collect();
    packages.sort();
    Ok(Some(Installed {
        layer,
        description: format!(
            "PIP INSTALL -r {} ({})",
            requirements.get_ref(),
            packages.join(" ")
        ),
        cached,
    }))
}

/// Whether a requirements file has nothing but blank lines and comments:
/// no requirement, and no option line (`-r`, `--index-url`…) either.
fn names_nothing(file: &Path) -> Result<bool> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the requirements file {}", file.display()))?;
    Ok(text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#')
    }))
}

/// The file that marks a cache entry as whole.
const COMPLETE: &str = "complete";

/// Runs pip into `staging/site-packages`; on failure, finds out why.
fn pip_install(
    manifest: &Manifest,
    requirements: &Spanned<String>,
    file: &Path,
    version: &str,
    provided: &Provided,
    staging: &Path,
    scratch: &Path,
) -> Result<()> {
    let target_dir = staging.join("site-packages");
    let stand_ins = if provided.is_empty() {
        None
    } else {
        let wheels = scratch.join("provided");
        let constraints = provided.write_stand_ins(&wheels)?;
        Some((wheels, constraints))
    };
    let target = Target {
        version,
        stand_ins: stand_ins.as_ref(),
    };
    let mut command = pip::pip();
    command
        .arg("install")
        .arg("--no-compile")
        .arg("--quiet")
        .arg("--target")
        .arg(&target_dir)
        .arg("-r")
        .arg(file)
        // Relative paths in the file mean the same as when pip is run
        // next to it.
        .current_dir(file.parent().unwrap_or(Path::new(".")));
    target.apply(&mut command);
    let output = command.output().map_err(|e| {
        anyhow::anyhow!(
            "cannot run {} -m pip: {e}; wharf build needs Python 3 with pip on the host to install `[python] requirements`",
            pip::python()
        )
    })?;
    if output.status.success() {
        // Console scripts start the host's Python: no use in the image.
        let _ = std::fs::remove_dir_all(target_dir.join("bin"));
        provided.remove_from(&target_dir)?;
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    tracing::debug!(
        "pip install -r {} said:\n{}",
        file.display(),
        stderr.trim_end()
    );
    let problems = pip::diagnose(file, &target, provided, &stderr, scratch)?;
    let name = requirements.get_ref();
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(|p| format!("{name}, {p}")).collect();
        return Err(manifest
            .error_at(
                requirements.span(),
                format!(
                    "cannot install the requirements (pip's own messages with --verbose):\n{}",
                    lines.join("\n")
                ),
            )
            .into());
    }
    bail!(
        "pip could not install {}:\n{}",
        file.display(),
        stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Compiles the modules installed in `target` (which the image has at
/// `site_packages`) and writes their bytecode next to them.
fn compile(
    runtime: &dyn BuildRuntime,
    interpreter: &Image,
    target: &Path,
    site_packages: &str,
) -> Result<()> {
    let mut layer = tree_layer(target, site_packages)?;
    let compiled = bytecode::compile_layers(runtime, interpreter, &mut [&mut layer])?;
    for failure in &compiled.failed {
        tracing::debug!("not compiled: {failure}");
    }
    let prefix = format!("{site_packages}/");
    for (path, source, _) in layer.files() {
        if let (FileSource::Bytes(bytes), Some(rel)) = (source, path.strip_prefix(&prefix)) {
            let dest = target.join(rel);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&dest, bytes)?;
        }
    }
    Ok(())
}

/// A layer of the tree in `dir`, at `dest` (relative) in the image.
fn tree_layer(dir: &Path, dest: &str) -> Result<LayerContents> {
    let mut layer = LayerContents::new();
    BuildContext::open(dir)?.add_to_layer(
        &Source {
            path: String::new(),
            name: String::new(),
            kind: SourceKind::Dir,
        },
        dest,
        &mut layer,
    )?;
    Ok(layer)
}

/// What an install depends on: the requirements file and the files and
/// directories its lines name (`-r`, `-c`, local wheels, `--find-links`),
/// the base image (its Python, its site-packages, what it provides),
/// whether bytecode is compiled, and the `PIP_*` environment. Not pip's
/// configuration files nor its version: after changing those, `--no-cache`
/// installs afresh. Hex SHA-256.
fn cache_key(file: &Path, base: &Image, bytecode: bool) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "{FORMAT} {} {} {bytecode}\n",
        env!("CARGO_PKG_VERSION"),
        base.id
    ));
    hash_requirements(&mut hasher, file, 0)?;
    let mut pip_env: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os()
        .filter(|(k, _)| k.as_encoded_bytes().starts_with(b"PIP_"))
        .collect();
    pip_env.sort();
    for (key, value) in pip_env {
        for part in [key, value] {
            let bytes = part.as_encoded_bytes();
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Hashes a requirements file and, following its `-r`/`-c` lines and the
/// paths its lines name, the files it takes in.
fn hash_requirements(hasher: &mut Sha256, file: &Path, depth: usize) -> Result<()> {
    let text = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    hasher.update((text.len() as u64).to_le_bytes());
    hasher.update(&text);
    if depth > 8 {
        return Ok(());
    }
    let dir = file.parent().unwrap_or(Path::new("."));
    for line in String::from_utf8_lossy(&text).lines() {
        for word in line.split_whitespace() {
            if word.starts_with('#') {
                break;
            }
            // `--find-links=./wheels`, `file:./pkg.whl`
            let word = word.rsplit('=').next().unwrap_or(word);
            let word = word.trim_start_matches("file:");
            let path: PathBuf = dir.join(word);
            if path.is_dir() {
                hash_tree(hasher, &path, depth + 1);
            } else if path.is_file() && path != file {
                hash_requirements(hasher, &path, depth + 1)?;
            }
        }
    }
    Ok(())
}

/// Hashes the names and contents of the files under `dir`, in order.
fn hash_tree(hasher: &mut Sha256, dir: &Path, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        hasher.update(entry.file_name().as_encoded_bytes());
        match entry.file_type() {
            Ok(t) if t.is_dir() && depth < 8 => hash_tree(hasher, &path, depth + 1),
            Ok(t) if t.is_file() => {
                if let Ok(bytes) = std::fs::read(&path) {
                    hasher.update((bytes.len() as u64).to_le_bytes());
                    hasher.update(&bytes);
                }
            }
            _ => {}
        }
    }
}

/// The requirements file, checked to lie inside the build context.
fn requirements_file(
    manifest: &Manifest,
    context: &BuildContext,
    requirements: &Spanned<String>,
) -> Result<PathBuf> {
    let resolved = context.resolve(requirements.get_ref()).map_err(|e| {
        manifest.error_at(
            requirements.span(),
            e.0.replace("COPY source", "requirements file"),
        )
    })?;
    match resolved.as_slice() {
        [
            Source {
                path,
                kind: SourceKind::File(_),
                ..
            },
            // Absolute: pip runs in the file's directory, so that relative
            // paths in it mean what they say.
        ] => std::path::absolute(context.path().join(path))
            .with_context(|| format!("cannot resolve the requirements file {path}")),
        _ => Err(manifest
            .error_at(requirements.span(), "`requirements` must name one file")
            .into()),
    }
}
