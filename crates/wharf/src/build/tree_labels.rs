//! A copy of the image's labels in its own file tree.
//!
//! A container runtime that runs an image through a shim (containerd's
//! `containerd-shim-wharf-v1`) hands the shim the image's unpacked tree and
//! the command, environment and working directory of its config, but not
//! the config's labels, which hold what `[limits]`, `[launch]` and
//! `[snapshot]` said. Every build therefore ends with a small layer that
//! holds them at [`image::TREE_LABELS`], read-only like the rest of the
//! tree, much as Docker leaves `/.dockerenv` in its containers. An image
//! built on another leaves out its base's labels layer, whose file its own
//! replaces: each image has one, on top.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::sync::Arc;

use anyhow::{Context, Result};

use super::Staged;
use crate::guest_path;
use crate::image;
use crate::layer::{FileSource, LayerContents};
use crate::store::Store;

/// What the history says made the layer.
const CREATED_BY: &str = image::LABELS_LAYER_CREATED_BY;

/// Adds the labels layer on top of `staged`: its file holds the labels of
/// `staged`'s config, keys sorted, so that the same config gives the same
/// layer. `mtime` (seconds since the epoch) stamps its entries; `created`
/// (RFC 3339) dates its history entry.
///
/// # Errors
///
/// When the layer cannot be written to the store's staging area.
pub(super) fn append(
    store: &Store,
    mut staged: Staged,
    mtime: u64,
    created: Option<String>,
) -> Result<Staged> {
    let labels: BTreeMap<&String, &String> = staged
        .config
        .config()
        .as_ref()
        .and_then(|c| c.labels().as_ref())
        .into_iter()
        .flatten()
        .collect();
    let mut json = serde_json::to_vec_pretty(&labels)?;
    json.push(b'\n');
    let path = guest_path::relative(image::TREE_LABELS);
    let mut layer = LayerContents::new();
    let size = json.len() as u64;
    layer.add_file(path, FileSource::Bytes(Arc::from(json)), size);
    let temp = store.temp_file()?;
    let (out, written) = layer
        .write(BufWriter::new(temp.as_file()), mtime)
        .context("cannot write the layer that holds the image's labels")?;
    out.into_inner().map_err(|e| e.into_error())?.flush()?;
    super::append_layer(
        &mut staged.config,
        &mut staged.manifest,
        &written,
        CREATED_BY.to_owned(),
        created,
    )?;
    staged.layers.push((temp, written));
    Ok(staged)
}
