//! Python dependencies: the packages a manifest's `[python] requirements`
//! names, resolved with pip on the host and installed into the image's
//! site-packages as one layer.
//!
//! Only pure-Python wheels are taken (`--only-binary=:all: --platform
//! any`): native extensions cannot run in a WebAssembly sandbox. A
//! requirement without one is an error that names it. The base image says
//! which Python it carries and where its site-packages are, in two labels,
//! and which distributions it has already in a third (see [`super::provided`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use toml::Spanned;

use super::context::{BuildContext, Source, SourceKind};
use super::provided::{PROVIDES_LABEL, Provided};
use crate::image::RunConfig;
use crate::layer::LayerContents;
use crate::manifest::Manifest;

/// The label with the base image's Python version (`3.12`).
pub const VERSION_LABEL: &str = "dev.wharf.python.version";
/// The label with the base image's site-packages directory.
pub const SITE_PACKAGES_LABEL: &str = "dev.wharf.python.site-packages";
/// The host Python that runs pip (`python3` unless `WHARF_PYTHON` says).
pub const PYTHON_ENV: &str = "WHARF_PYTHON";

/// Packages installed for an image: the layer, and the directory its files
/// are read from while the layer is written.
pub struct Installed {
    /// The layer that adds them to site-packages.
    pub layer: LayerContents,
    /// What the build reports.
    pub description: String,
    _dir: tempfile::TempDir,
}

/// Installs the requirements a manifest names; `None` when it names none.
pub fn install(
    manifest: &Manifest,
    context: &BuildContext,
    base: &RunConfig,
) -> Result<Option<Installed>> {
    let Some(requirements) = &manifest.python_requirements else {
        return Ok(None);
    };
    let file = requirements_file(manifest, context, requirements)?;
    let label = |name: &str| {
        base.labels.get(name).cloned().with_context(|| {
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
    let provided = match base.labels.get(PROVIDES_LABEL) {
        Some(list) => Provided::parse(list)
            .with_context(|| "the base image's label is malformed".to_owned())?,
        None => Provided::default(),
    };

    let dir = tempfile::Builder::new().prefix("wharf-pip-").tempdir()?;
    let target = dir.path().join("site-packages");
    let stand_ins = if provided.is_empty() {
        None
    } else {
        let wheels = dir.path().join("provided");
        let constraints = provided.write_stand_ins(&wheels)?;
        Some((wheels, constraints))
    };
    let mut command = pip();
    command
        .arg("install")
        .arg("--no-compile")
        .arg("--target")
        .arg(&target)
        .arg("-r")
        .arg(&file);
    pure_only(&mut command, &version, stand_ins.as_ref());
    let output = command
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run {} -m pip: {e}; wharf build needs Python 3 with pip on the host to install `[python] requirements`", python()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let (native, conflicting) =
            unsatisfiable(&file, &version, &provided, stand_ins.as_ref(), dir.path())?;
        let mut problems = Vec::new();
        if !native.is_empty() {
            problems.push(format!(
                "no pure-Python wheel for {}: WebAssembly runs Python code only, not native extensions",
                native.join(", ")
            ));
        }
        if !conflicting.is_empty() {
            problems.push(format!(
                "the base image provides {}, and the requirements ask for another version",
                conflicting.join(", ")
            ));
        }
        if !problems.is_empty() {
            return Err(manifest
                .error_at(requirements.span(), problems.join("; "))
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
    // Console scripts start the host's Python: no use in the image.
    let _ = std::fs::remove_dir_all(target.join("bin"));
    provided.remove_from(&target)?;

    let installed = BuildContext::open(&target)?;
    let mut layer = LayerContents::new();
    let dest =
        crate::guest_path::relative(&crate::guest_path::resolve("/", &site_packages)).to_owned();
    installed.add_to_layer(
        &Source {
            path: String::new(),
            name: String::new(),
            kind: SourceKind::Dir,
        },
        &dest,
        &mut layer,
    )?;
    let packages: Vec<String> = std::fs::read_dir(&target)?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".dist-info")
                .map(|n| n.replacen('-', "==", 1))
        })
        .collect();
    Ok(Some(Installed {
        layer,
        description: format!("PIP INSTALL -r {} ({})", requirements.get_ref(), {
            let mut sorted = packages;
            sorted.sort();
            sorted.join(" ")
        }),
        _dir: dir,
    }))
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
        ] => Ok(context.path().join(path)),
        _ => Err(manifest
            .error_at(requirements.span(), "`requirements` must name one file")
            .into()),
    }
}

fn python() -> String {
    std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".to_owned())
}

/// `python -m pip` without prompts or version checks.
fn pip() -> Command {
    let mut command = Command::new(python());
    command
        .args(["-m", "pip"])
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .env("PIP_ROOT_USER_ACTION", "ignore");
    command
}

/// Restricts pip to pure-Python wheels for the image's Python, with the
/// base image's own distributions standing in where it has them.
fn pure_only(command: &mut Command, version: &str, stand_ins: Option<&(PathBuf, PathBuf)>) {
    if let Some((wheels, constraints)) = stand_ins {
        command
            .arg("--find-links")
            .arg(wheels)
            .arg("--constraint")
            .arg(constraints);
    }
    command.args([
        "--only-binary=:all:",
        "--platform",
        "any",
        "--implementation",
        "py",
        "--python-version",
        version,
        "--quiet",
    ]);
}

/// The requirements (top-level lines of the file) that cannot be met,
/// found one at a time: those with no pure-Python wheel, and the provided
/// distributions (as the base has them) that others ask to replace.
fn unsatisfiable(
    file: &Path,
    version: &str,
    provided: &Provided,
    stand_ins: Option<&(PathBuf, PathBuf)>,
    scratch: &Path,
) -> Result<(Vec<String>, Vec<String>)> {
    let text = std::fs::read_to_string(file)?;
    let (mut native, mut conflicting) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let requirement = line.split('#').next().unwrap_or("").trim();
        if requirement.is_empty() || requirement.starts_with('-') {
            continue;
        }
        let mut probe = pip();
        probe
            .args(["download", "--no-deps", "--dest"])
            .arg(scratch.join("probe"));
        pure_only(&mut probe, version, stand_ins);
        probe.arg(requirement);
        let status = probe.output()?.status;
        if !status.success() {
            let name = requirement
                .split(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
                .next()
                .unwrap_or(requirement);
            match provided.version_of(name) {
                Some(version) => conflicting.push(format!("{name}=={version}")),
                None => native.push(requirement.to_owned()),
            }
        }
    }
    Ok((native, conflicting))
}
