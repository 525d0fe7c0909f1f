//! The module that implements `wharf convert`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use wharf::convert::{self, ConvertError, ConvertOptions, Note, Severity};

use crate::exit;

/// Translate a Dockerfile into a wharf.toml.
///
/// Prints a note for every instruction worth one on stderr, as
/// `Dockerfile:LINE: note|warning|unsupported: message`, and keeps what it
/// could not translate as comments in the manifest. Exits 0 when everything
/// was translated, 2 when something was not (the manifest is written all
/// the same), 1 on an error.
#[derive(Debug, Args)]
pub struct ConvertCommand {
    /// The Dockerfile.
    #[arg(
        value_name = "DOCKERFILE",
        default_value = "Dockerfile",
        value_hint = clap::ValueHint::FilePath
    )]
    dockerfile: PathBuf,

    /// Where to write the manifest, `-` for stdout [default: wharf.toml
    /// beside the Dockerfile].
    #[arg(short, long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    output: Option<PathBuf>,

    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,

    /// A value for an ARG, as `docker build --build-arg` (NAME alone takes
    /// the host's value).
    #[arg(long = "build-arg", value_name = "NAME=VALUE")]
    build_args: Vec<String>,

    /// The stage to translate, as `docker build --target` [default: the
    /// last].
    #[arg(long, value_name = "STAGE")]
    target: Option<String>,
}

impl ConvertCommand {
    /// Runs the command; returns the exit status.
    pub fn execute(self) -> i32 {
        match self.convert() {
            Ok(status) => status,
            Err(e) => {
                super::report(&e);
                exit::FAILURE
            }
        }
    }

    fn convert(&self) -> Result<i32> {
        let dockerfile = &self.dockerfile;
        let context = match dockerfile.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let to_stdout = self.output.as_deref() == Some(Path::new("-"));
        let output = self
            .output
            .clone()
            .unwrap_or_else(|| context.join("wharf.toml"));
        if !to_stdout && !self.force && output.exists() {
            bail!(
                "{} exists already: --force replaces it, -o FILE writes elsewhere",
                output.display()
            );
        }
        let text = std::fs::read_to_string(dockerfile).with_context(|| {
            format!(
                "cannot read {} (name the Dockerfile: wharf convert PATH)",
                dockerfile.display()
            )
        })?;
        let options = ConvertOptions {
            build_args: self.build_args()?,
            target: self.target.clone(),
            context: Some(context.clone()),
        };
        let conversion = convert::convert(&text, &options).map_err(|e| match &e {
            ConvertError::Parse {
                line: Some(line), ..
            } => anyhow::anyhow!("{}:{line}: {e}", dockerfile.display()),
            ConvertError::Parse { line: None, .. } => {
                anyhow::anyhow!("{}: {e}", dockerfile.display())
            }
            _ => anyhow::anyhow!("{e}"),
        })?;
        let mut notes = conversion.notes.clone();
        let ignore = convert::adopt_dockerignore(&context, dockerfile, !to_stdout)
            .with_context(|| format!("cannot copy the .dockerignore in {}", context.display()))?;
        notes.extend(ignore);
        for note in &notes {
            print_note(dockerfile, note);
        }

        if to_stdout {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(conversion.manifest.as_bytes())
                .and_then(|()| stdout.flush())
                .context("cannot write the manifest to stdout")?;
        } else {
            write(&output, &conversion.manifest, self.force)
                .with_context(|| format!("cannot write {}", output.display()))?;
            let build = if output == context.join("wharf.toml") {
                format!("wharf build -t NAME {}", context.display())
            } else {
                format!(
                    "wharf build -t NAME -f {} {}",
                    output.display(),
                    context.display()
                )
            };
            let left: std::collections::BTreeSet<_> = conversion
                .notes
                .iter()
                .filter(|n| n.severity == Severity::Unsupported)
                .map(|n| n.line)
                .collect();
            if left.is_empty() {
                eprintln!("wharf: wrote {}; build it with `{build}`", output.display());
            } else {
                eprintln!(
                    "wharf: wrote {}, with {} instruction{} it could not translate kept as comments at its top; build it with `{build}`",
                    output.display(),
                    left.len(),
                    if left.len() == 1 { "" } else { "s" }
                );
            }
        }
        Ok(if conversion.is_complete() {
            0
        } else {
            exit::INCOMPLETE
        })
    }

    /// `--build-arg NAME=VALUE`, or `NAME` for the host's value (skipped
    /// when the host has none, as Docker does).
    fn build_args(&self) -> Result<BTreeMap<String, String>> {
        let mut args = BTreeMap::new();
        for arg in &self.build_args {
            match arg.split_once('=') {
                Some(("", _)) => bail!("--build-arg {arg}: the name is missing (NAME=VALUE)"),
                Some((name, value)) => {
                    args.insert(name.to_owned(), value.to_owned());
                }
                None => {
                    if let Ok(value) = std::env::var(arg) {
                        args.insert(arg.clone(), value);
                    }
                }
            }
        }
        Ok(args)
    }
}

/// `Dockerfile:LINE: severity: message`, the severity coloured as a
/// compiler colours it.
fn print_note(dockerfile: &Path, note: &Note) {
    use super::style::{ERROR, NOTE, WARNING};
    let style = match note.severity {
        Severity::Note => NOTE,
        Severity::Warning => WARNING,
        Severity::Unsupported => ERROR,
    };
    let place = match note.line {
        Some(line) => format!("{}:{line}", dockerfile.display()),
        None => dockerfile.display().to_string(),
    };
    anstream::eprintln!(
        "{place}: {style}{}:{style:#} {}",
        note.severity,
        note.message
    );
}

/// Writes the manifest; without `force`, never over an existing file.
fn write(path: &Path, text: &str, force: bool) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .create_new(!force)
        .open(path)?;
    file.write_all(text.as_bytes())
}
