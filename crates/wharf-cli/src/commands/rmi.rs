//! The module that implements the `wharf rmi` command.

use anyhow::{Result, bail};
use clap::Args;

use wharf::reference::ImageRef;
use wharf::store::{LookupError, StoreWriter};

/// Remove images (or tags) from the local store.
#[derive(Debug, Args)]
pub struct RmiCommand {
    /// Remove an image named by ID even if several tags point at it.
    #[arg(short, long)]
    force: bool,

    /// Images to remove: NAME[:TAG] removes that tag, an ID removes the
    /// image.
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

impl RmiCommand {
    pub fn execute(self) -> Result<()> {
        let store = super::open_store()?;
        let writer = store.write()?;
        let mut failures = 0;
        for image in &self.images {
            if let Err(e) = remove(&writer, image, self.force) {
                super::report(&e);
                failures += 1;
            }
        }
        let report = writer.collect_garbage()?;
        for blob in &report.blobs {
            tracing::debug!("deleted blob {blob}");
        }
        if failures > 0 {
            bail!(
                "{failures} of {} images could not be removed",
                self.images.len()
            );
        }
        Ok(())
    }
}

fn remove(writer: &StoreWriter<'_>, text: &str, force: bool) -> Result<()> {
    let store = writer.store();
    let tags = store.tags()?;
    // A name (with or without tag) removes that tag only.
    if let Some(name) = text.parse::<ImageRef>().ok().and_then(|r| r.tagged_name())
        && let Some(id) = writer.untag(&name)?
    {
        println!("Untagged: {name}");
        if !store.tags()?.iter().any(|t| t.id == id) {
            println!("Deleted: {id}");
        }
        return Ok(());
    }
    let id = store.resolve_id(text)?;
    let names: Vec<&str> = tags
        .iter()
        .filter(|t| t.id == id)
        .filter_map(|t| t.name.as_deref())
        .collect();
    if names.len() > 1 && !force {
        bail!(
            "image {text} is tagged as {}; remove the tags one by one, or use -f",
            names.join(", ")
        );
    }
    if tags.iter().all(|t| t.id != id) {
        return Err(LookupError::NotFound(text.to_owned()).into());
    }
    for name in writer.remove_image(&id)? {
        println!("Untagged: {name}");
    }
    println!("Deleted: {id}");
    Ok(())
}
