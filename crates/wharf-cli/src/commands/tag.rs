//! The module that implements the `wharf tag` command.

use anyhow::{Context, Result};
use clap::Args;
use oci_spec::image::MediaType;

use wharf::image;
use wharf::reference::ImageRef;

/// Give an image another name: `wharf tag SOURCE TARGET`.
#[derive(Debug, Args)]
pub struct TagCommand {
    /// The image to tag (name, digest or ID).
    #[arg(value_name = "SOURCE")]
    source: String,

    /// The new name, NAME[:TAG].
    #[arg(value_name = "TARGET")]
    target: ImageRef,
}

impl TagCommand {
    pub fn execute(self) -> Result<()> {
        let store = super::open_store()?;
        let name = self
            .target
            .tagged_name()
            .with_context(|| format!("cannot tag with a digest reference: {}", self.target))?;
        let writer = store.write()?;
        let id = store
            .resolve_id(&self.source)
            .map_err(|e| super::transfer::suggest_names(e, &self.source, &store))?;
        let size = std::fs::metadata(store.blob_path(&id))
            .with_context(|| format!("image {id} is damaged: its manifest is missing"))?
            .len();
        writer.tag(
            &name,
            &image::descriptor(MediaType::ImageManifest, id, size),
        )?;
        writer.collect_garbage()?;
        Ok(())
    }
}
