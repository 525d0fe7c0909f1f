//! The module that implements `wharf save` and `wharf load`.

use std::io::{BufWriter, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use crate::exit::Refused;
use wharf::archive;
use wharf::reference::ImageRef;

/// Write images to an OCI archive (a tar of an OCI image layout), to a file
/// or to stdout.
#[derive(Debug, Args)]
pub struct SaveCommand {
    /// The archive to write (`-` or none: stdout). A file is replaced only
    /// once the archive is complete; a symlink is written through; a pipe
    /// or a device is written into.
    #[arg(short, long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    output: Option<PathBuf>,

    /// Images to save (name, digest or ID).
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

impl SaveCommand {
    pub fn execute(self) -> Result<()> {
        let output = self.output.filter(|path| !is_stdio(path));
        if output.is_none() && std::io::stdout().is_terminal() {
            return Err(Refused(
                "cowardly refusing to write an archive to a terminal; use -o FILE or redirect"
                    .into(),
            )
            .into());
        }
        let store = super::open_store()?;
        let tags = store.tags()?;
        let mut images = Vec::new();
        for reference in &self.images {
            let image = store.resolve(reference)?;
            // Record the name when the image was named by a tag (an ID or
            // a digest names no tag).
            let name = reference.parse::<ImageRef>().ok().filter(|r| {
                r.tagged_name()
                    .is_some_and(|n| tags.iter().any(|t| t.name.as_deref() == Some(n.as_str())))
            });
            images.push((image, name));
        }
        let bar = bytes_bar("Saving", Some(archive::archive_size(&images)), false);
        let saved = match output {
            Some(path) => archive::save_reporting(&store, &images, &path, &mut |n| bar.inc(n))
                .with_context(|| format!("cannot save to {}", path.display())),
            None => archive::write(
                &store,
                &images,
                bar.wrap_write(BufWriter::new(std::io::stdout().lock())),
            )
            .context("cannot write the archive to stdout"),
        };
        bar.finish_and_clear();
        saved
    }
}

/// A bar of bytes moved (`verb`, done/`total`, rate) on stderr when it is
/// a terminal; a spinner when the total is unknown; nothing otherwise.
fn bytes_bar(verb: &str, total: Option<u64>, quiet: bool) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(total) => (
            indicatif::ProgressBar::new(total),
            "{prefix} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            "{prefix} {spinner} {bytes} {bytes_per_sec}",
        ),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("a valid template"));
    bar.set_prefix(verb.to_owned());
    bar
}

/// `-`, which names stdin or stdout.
fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Read images from an OCI archive (from skopeo, docker save or wharf
/// save), from a file or from stdin.
#[derive(Debug, Args)]
pub struct LoadCommand {
    /// The archive to read (`-` or none: stdin).
    #[arg(short, long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    input: Option<PathBuf>,

    /// Print only the image IDs.
    #[arg(short, long)]
    quiet: bool,
}

impl LoadCommand {
    pub fn execute(self) -> Result<()> {
        let input = self.input.filter(|path| !is_stdio(path));
        if input.is_none() && std::io::stdin().is_terminal() {
            return Err(Refused(
                "cowardly refusing to read an archive from a terminal; use -i FILE or redirect"
                    .into(),
            )
            .into());
        }
        let store = super::open_store()?;
        let loaded = match &input {
            Some(path) => {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                let size = file
                    .metadata()
                    .ok()
                    .filter(|m| m.is_file())
                    .map(|m| m.len());
                let bar = bytes_bar("Loading", size, self.quiet);
                let loaded = archive::load(&store, bar.wrap_read(file))
                    .with_context(|| format!("cannot load {}", path.display()));
                bar.finish_and_clear();
                loaded
            }
            None => {
                let bar = bytes_bar("Loading", None, self.quiet);
                let loaded = archive::load(&store, bar.wrap_read(std::io::stdin().lock()))
                    .context("cannot load the archive from stdin");
                bar.finish_and_clear();
                loaded
            }
        }?;
        let runtime = super::runtime(&store)?;
        for (entry, image) in &loaded {
            let bar = super::build::CompileBar::new(self.quiet);
            let compiled = runtime.precompile(image, &bar);
            bar.done();
            if let Err(e) = compiled {
                super::style::warning(format_args!(
                    "cannot compile {} ahead of time: {e:#}",
                    entry.id
                ));
            }
            match (&entry.name, self.quiet) {
                (_, true) => println!("{}", entry.id),
                (Some(name), false) => println!("Loaded image: {name}"),
                (None, false) => println!("Loaded image ID: {}", entry.id),
            }
        }
        Ok(())
    }
}
