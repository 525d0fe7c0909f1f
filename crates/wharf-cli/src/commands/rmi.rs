//! The module that implements the `wharf rmi` command.

use anyhow::{Result, bail};
use clap::Args;
use oci_spec::image::Digest;

use wharf::digest;
use wharf::reference::{DEFAULT_TAG, ImageRef};
use wharf::store::{ImageEntry, LookupError, Store, StoreWriter};

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
        let mut deleted = Vec::new();
        for image in &self.images {
            match remove(&writer, image, self.force) {
                Ok(Some(id)) => deleted.push((image, id)),
                Ok(None) => {}
                // One image asked for: its error is the command's, said once.
                Err(e) if self.images.len() == 1 => return Err(e),
                Err(e) => {
                    super::report(&e);
                    failures += 1;
                }
            }
        }
        // Once every image asked for is gone, say which of those deleted
        // still have their layers held by images built on them.
        for (image, id) in deleted {
            say_who_holds_the_layers(&store, image, &id);
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

/// Removes the tag or image `text` names; returns the image's ID when the
/// image itself is gone (no tag left).
fn remove(writer: &StoreWriter<'_>, text: &str, force: bool) -> Result<Option<Digest>> {
    let store = writer.store();
    let tags = store.tags()?;
    // A name (with or without tag) removes that tag only.
    if let Some(name) = text.parse::<ImageRef>().ok().and_then(|r| r.tagged_name())
        && let Some(id) = writer.untag(&name)?
    {
        println!("Untagged: {name}");
        if store.tags()?.iter().any(|t| t.id == id) {
            return Ok(None);
        }
        println!("Deleted: {id}");
        return Ok(Some(id));
    }
    let id = store
        .resolve_id(text)
        .map_err(|e| super::transfer::suggest_names(e, text, store))?;
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
    Ok(Some(id))
}

/// Says on stderr, in one line, that `image`'s layers stay in the store
/// while other images use them (those built on it), naming them: its tag
/// went, but the space comes back only once they go too. "Use" rather
/// than "were built on it": an image that added no layer to its base has
/// only the base's, which the base itself holds.
fn say_who_holds_the_layers(store: &Store, image: &str, id: &Digest) {
    let dependents = match store.dependents(id) {
        Ok(dependents) => dependents,
        Err(e) => {
            tracing::debug!("cannot tell which images were built on {image}: {e:#}");
            return;
        }
    };
    if dependents.is_empty() {
        return;
    }
    let names: Vec<String> = dependents.iter().map(display_name).collect();
    let verb = if names.len() == 1 { "uses" } else { "use" };
    eprintln!(
        "wharf: {image}'s layers stay in the store while {} {verb} them",
        names.join(", ")
    );
}

/// A name as a user would write it: `NAME` for `NAME:latest`, the short
/// ID for an untagged image.
fn display_name(entry: &ImageEntry) -> String {
    match &entry.name {
        Some(name) => name
            .strip_suffix(&format!(":{DEFAULT_TAG}"))
            .unwrap_or(name)
            .to_owned(),
        None => digest::short(&entry.id).to_owned(),
    }
}
