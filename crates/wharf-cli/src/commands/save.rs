//! The module that implements `wharf save` and `wharf load`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use wharf::archive;
use wharf::reference::ImageRef;

/// Write images to an OCI archive (a tar of an OCI image layout).
#[derive(Debug, Args)]
pub struct SaveCommand {
    /// The archive to write.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,

    /// Images to save (name, digest or ID).
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

impl SaveCommand {
    pub fn execute(self) -> Result<()> {
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
        archive::save(&store, &images, &self.output)
            .with_context(|| format!("cannot save to {}", self.output.display()))
    }
}

/// Read images from an OCI archive (from skopeo, docker save or wharf save).
#[derive(Debug, Args)]
pub struct LoadCommand {
    /// The archive to read (`-` for stdin).
    #[arg(short, long, value_name = "FILE")]
    input: PathBuf,

    /// Print only the image IDs.
    #[arg(short, long)]
    quiet: bool,
}

impl LoadCommand {
    pub fn execute(self) -> Result<()> {
        let store = super::open_store()?;
        let loaded = if self.input.as_os_str() == "-" {
            archive::load(&store, std::io::stdin().lock())
        } else {
            let file = std::fs::File::open(&self.input)
                .with_context(|| format!("cannot open {}", self.input.display()))?;
            archive::load(&store, file)
        }
        .with_context(|| format!("cannot load {}", self.input.display()))?;
        let runtime = super::runtime(&store)?;
        for (entry, image) in &loaded {
            let bar = super::build::CompileBar::new(self.quiet);
            let compiled = runtime.precompile(image, &bar);
            bar.done();
            if let Err(e) = compiled {
                eprintln!(
                    "wharf: warning: cannot compile {} ahead of time: {e:#}",
                    entry.id
                );
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
