//! The image a build starts from: found in the store by the manifest's
//! `from`, checked against the digest it may pin, and recorded in the new
//! image as Docker's BuildKit records it (the OCI annotations
//! `org.opencontainers.image.base.name` and `.base.digest`, here as config
//! labels, and a `FROM` step in the history).

use anyhow::{Result, bail};
use oci_spec::image::{History, HistoryBuilder};

use crate::digest;
use crate::image::Image;
use crate::reference::{DEFAULT_TAG, ImageRef};
use crate::store::{LookupError, Store};

/// The label that names the base image as the manifest wrote it (OCI image
/// spec, pre-defined annotation keys).
pub const BASE_NAME_LABEL: &str = "org.opencontainers.image.base.name";
/// The label that holds the base image's ID (manifest digest).
pub const BASE_DIGEST_LABEL: &str = "org.opencontainers.image.base.digest";
/// How the history entry of the base begins: `FROM python:3.12@sha256:…`.
pub const FROM_STEP: &str = "FROM";

/// Finds the base `reference` names in `store`.
///
/// A reference that pins a digest (`python:3.12@sha256:…`) gets that image
/// and nothing else, as Docker does; when its tag names another image in
/// the store, a warning says so. A reference without a tag, or with
/// `latest`, gets a warning that the base is not pinned (the same name may
/// give another image tomorrow).
///
/// # Errors
///
/// When no image in the store matches, saying what the store holds under
/// that name when it holds something else; when the image is not for
/// `wasi/wasm`.
pub fn resolve(store: &Store, reference: &ImageRef) -> Result<Image> {
    let tagged = reference
        .tagged_name()
        .filter(|_| reference.tag().is_some() || reference.digest().is_none());
    let mut not_found = None;
    let tag_id = match &tagged {
        Some(name) => match store.resolve_id(name) {
            Ok(id) => Some(id),
            Err(e) if e.downcast_ref::<LookupError>().is_some() => {
                not_found = Some(e);
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    let image = match reference.digest() {
        Some(pinned) => {
            if !store.has_blob(pinned) {
                match (&tagged, &tag_id) {
                    (Some(name), Some(id)) => bail!(
                        "base image {reference} is not in the local store ({}): {name} is {} there; pull the pinned image, or pin the one you have (from = \"{name}@{id}\")",
                        store.root().display(),
                        digest::short(id),
                    ),
                    _ => bail!(
                        "base image {reference} is not in the local store ({}); build or pull it first",
                        store.root().display()
                    ),
                }
            }
            if let (Some(name), Some(id)) = (&tagged, &tag_id)
                && id != pinned
            {
                tracing::warn!(
                    "{name} is {} in the store; building on the pinned {}, as `from` says",
                    digest::short(id),
                    digest::short(pinned)
                );
            }
            store.load_image(pinned)?
        }
        None => {
            let Some(id) = tag_id else {
                let message = format!(
                    "base image {reference} is not in the local store ({}); build or pull it first",
                    store.root().display()
                );
                return Err(match not_found {
                    Some(e) => e.context(message),
                    None => anyhow::anyhow!(message),
                });
            };
            let image = store.load_image(&id)?;
            if reference.tag().is_none_or(|tag| tag == DEFAULT_TAG) {
                tracing::warn!(
                    "base image {reference} is not pinned: {} names whatever was tagged last; name a version, and pin it as {}@{} to build on this same base every time",
                    reference.tagged_name().unwrap_or_default(),
                    reference.repository(),
                    image.id
                );
            }
            image
        }
    };
    image.check_platform()?;
    Ok(image)
}

/// The history entry that marks where the base's steps end: `FROM
/// NAME@DIGEST`, with no layer of its own.
pub(super) fn history_entry(
    reference: &ImageRef,
    base: &Image,
    created: Option<&str>,
) -> Result<History> {
    let mut entry = HistoryBuilder::default()
        .created_by(format!("{FROM_STEP} {}", pinned_name(reference, base)))
        .comment("wharf build")
        .empty_layer(true);
    if let Some(created) = created {
        entry = entry.created(created.to_owned());
    }
    Ok(entry.build()?)
}

/// The labels that record the base: its name as written, its digest.
pub(super) fn labels(reference: &ImageRef, base: &Image) -> [(String, String); 2] {
    [
        (BASE_NAME_LABEL.to_owned(), reference.to_string()),
        (BASE_DIGEST_LABEL.to_owned(), base.id.to_string()),
    ]
}

/// `repository[:tag]@digest` for the base that was used.
fn pinned_name(reference: &ImageRef, base: &Image) -> String {
    match reference.tag() {
        Some(tag) => format!("{}:{tag}@{}", reference.repository(), base.id),
        None => format!("{}@{}", reference.repository(), base.id),
    }
}
