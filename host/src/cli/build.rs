//! The module that implements the `wharf build` command.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::build::{BuildOptions, build};
use crate::reference::ImageRef;
use crate::runtime::Runtime;

/// Build an image from a wharf.toml and a build context.
#[derive(Debug, Args)]
pub struct BuildCommand {
    /// Name and optionally a tag (NAME[:TAG]); repeat for several.
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    tags: Vec<ImageRef>,

    /// The manifest (default: CONTEXT/wharf.toml).
    #[arg(short = 'f', long = "file", value_name = "MANIFEST")]
    file: Option<PathBuf>,

    /// Print nothing but the image ID.
    #[arg(short, long)]
    quiet: bool,

    /// The build context: the directory COPY sources are read from.
    #[arg(value_name = "CONTEXT")]
    context: PathBuf,
}

impl BuildCommand {
    pub fn execute(self) -> Result<()> {
        let store = super::open_store()?;
        let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(text) if !text.is_empty() => Some(text.parse::<u64>().with_context(|| {
                format!("SOURCE_DATE_EPOCH must be a number of seconds, not '{text}'")
            })?),
            _ => None,
        };
        let options = BuildOptions {
            context: self.context,
            manifest: self.file,
            tags: self.tags,
            source_date_epoch,
        };
        let quiet = self.quiet;
        let output = build(&store, &options, &mut |line| {
            if !quiet {
                eprintln!("{line}");
            }
        })?;
        // Compile what the image runs now, so that its first run is fast.
        let runtime = Runtime::new(&store)?;
        let started = std::time::Instant::now();
        match runtime.precompile(&output.image) {
            Ok(true) if !quiet => eprintln!(
                "compiled the image's program ahead of time in {:.1}s",
                started.elapsed().as_secs_f64()
            ),
            Ok(_) => {}
            Err(e) => crate::verbose!("not precompiled: {e:#}"),
        }
        if !quiet {
            for tag in &output.tags {
                eprintln!("Successfully tagged {tag}");
            }
        }
        println!("{}", output.id);
        Ok(())
    }
}
