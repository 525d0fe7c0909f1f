//! `[snapshot]`: an image whose program is pre-initialised at build time.
//!
//! The build stores the image as it would without the snapshot (pinned,
//! untagged), hands it to a [`BuildRuntime`] (the runtime), which runs the
//! program up to the preload and writes its state out as a new module, and
//! adds that module as one more layer, over the one it was taken from. The
//! image config records it (label `dev.wharf.snapshot`), so that a run knows
//! to resume the snapshot rather than start the program afresh.
//!
//! Taking a snapshot of CPython with pandas takes about a minute, so the
//! layer is cached in the store under a key made of everything the
//! snapshot depends on: the intermediate image's config (its layers,
//! environment, command and launch convention) and the preload list. A
//! rebuild with the same inputs reuses it; any change takes a new one.

use std::fs;
use std::io::{BufWriter, Write};
use std::sync::Arc;

use anyhow::{Context, Result};
use oci_spec::image::{Digest, ImageConfiguration, ImageManifest};
use serde::{Deserialize, Serialize};

use super::step::BuildRuntime;
use crate::digest;
use crate::guest_path;
use crate::image::Image;
use crate::launch::{SNAPSHOT_LABEL, SnapshotRecord};
use crate::layer::{FileSource, LayerContents, WrittenLayer};
use crate::store::Store;

/// Bumped when the way snapshots are taken changes, so that cached layers
/// from an older wharf are not reused.
const FORMAT: u32 = 1;

/// The label with which a base image says that a snapshot of an image
/// built on it may be taken before the app's own files are added
/// ([`APP_FILES_AFTER`]): its preload keeps nothing of what it saw of the
/// working directory (CPython's cached directory listings), so that files
/// added after the snapshot are found at run time. Without it, a snapshot
/// is taken over the whole image.
pub const APP_FILES_LABEL: &str = "dev.wharf.snapshot.app-files";

/// The value of [`APP_FILES_LABEL`] that allows it.
pub const APP_FILES_AFTER: &str = "after";

/// How a snapshot layer's history entry begins (`SNAPSHOT preload …`),
/// by which `wharf history` and `system df` tell snapshots from other
/// layers.
pub const SNAPSHOT_STEP: &str = "SNAPSHOT";

/// The store directory that maps snapshot keys to cached layers.
pub const CACHE_DIR: &str = "snapshots";

/// A snapshot taken.
#[derive(Debug)]
pub struct Snapshot {
    /// Guest path of the module it replaces.
    pub module: String,
    /// Digest of that module.
    pub source: Digest,
    /// The pre-initialised module.
    pub bytes: Vec<u8>,
    /// What the program wrote (stdout, then stderr) while it preloaded.
    pub output: String,
}

/// A snapshot layer in the store, as the cache records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedLayer {
    digest: String,
    size: u64,
    diff_id: String,
    record: SnapshotRecord,
}

/// A snapshot as a layer.
pub(super) struct SnapshotLayer {
    /// The layer file in the store's staging area; `None` when the layer
    /// came from the cache and its blob is in the store already.
    pub staged: Option<tempfile::NamedTempFile>,
    /// The layer.
    pub layer: WrittenLayer,
    /// What the image config records about it.
    pub record: SnapshotRecord,
}

/// The snapshot layer for `image` and `preload` if the same inputs were
/// snapshotted before and the layer is still in the store.
pub(super) fn cached(
    store: &Store,
    image: &Image,
    preload: &[String],
) -> Result<Option<SnapshotLayer>> {
    let cached = fs::read(record_path(store, &cache_key(image, preload)?))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<CachedLayer>(&bytes).ok());
    let Some(cached) = cached else {
        return Ok(None);
    };
    let (Ok(digest), Ok(diff_id)) = (
        digest::parse_sha256(&cached.digest),
        digest::parse_sha256(&cached.diff_id),
    ) else {
        return Ok(None);
    };
    if !store.has_blob(&digest) {
        return Ok(None);
    }
    Ok(Some(SnapshotLayer {
        staged: None,
        layer: WrittenLayer {
            digest,
            size: cached.size,
            diff_id,
        },
        record: cached.record,
    }))
}

/// Where the cache records the layer for a key.
fn record_path(store: &Store, key: &[u8; 32]) -> std::path::PathBuf {
    store
        .root()
        .join(CACHE_DIR)
        .join(format!("{}.json", hex::encode(key)))
}

/// Takes the snapshot of `image` after `preload` with `runtime`, writes
/// it as a layer to the store's staging area, and remembers it in the cache.
/// Returns the layer and what the program wrote while it preloaded.
pub(super) fn take(
    store: &Store,
    image: &Image,
    preload: &[String],
    runtime: &dyn BuildRuntime,
    mtime: u64,
) -> Result<(SnapshotLayer, String)> {
    let key = cache_key(image, preload)?;
    let record_path = record_path(store, &key);
    let snapshot = runtime.snapshot(image, preload, key)?;
    let record = SnapshotRecord {
        module: snapshot.module.clone(),
        digest: digest::sha256(&snapshot.bytes).to_string(),
        source: snapshot.source.to_string(),
        preload: preload.to_vec(),
    };
    let size = snapshot.bytes.len() as u64;
    let mut contents = LayerContents::new();
    contents.add_file(
        guest_path::relative(&snapshot.module),
        FileSource::Bytes(Arc::from(snapshot.bytes)),
        size,
    );
    let temp = store.temp_file()?;
    let (out, layer) = contents
        .write(BufWriter::new(temp.as_file()), mtime)
        .context("cannot write the snapshot layer")?;
    out.into_inner().map_err(|e| e.into_error())?.flush()?;

    // Remembering it is only an optimisation: failing to is not an error.
    let cached = CachedLayer {
        digest: layer.digest.to_string(),
        size: layer.size,
        diff_id: layer.diff_id.to_string(),
        record: record.clone(),
    };
    let _ = fs::create_dir_all(record_path.parent().unwrap_or(store.root()))
        .and_then(|()| fs::write(&record_path, serde_json::to_vec(&cached)?));
    Ok((
        SnapshotLayer {
            staged: Some(temp),
            layer,
            record,
        },
        snapshot.output,
    ))
}

/// What a snapshot depends on: the intermediate image's config (which
/// names its layers by content, its environment, command, working
/// directory and launch convention) and what is preloaded.
fn cache_key(image: &Image, preload: &[String]) -> Result<[u8; 32]> {
    use sha2::{Digest as _, Sha256};
    let config = image.manifest.config().digest().to_string();
    let inputs = serde_json::to_vec(&(FORMAT, env!("CARGO_PKG_VERSION"), config, preload))?;
    Ok(Sha256::digest(&inputs).into())
}

/// The image of `config` and `manifest` plus the snapshot layer, recorded
/// in its config.
pub(super) fn derive(
    config: &ImageConfiguration,
    manifest: &ImageManifest,
    layer: &WrittenLayer,
    record: &SnapshotRecord,
    created: Option<String>,
) -> Result<(ImageConfiguration, ImageManifest)> {
    let mut config = config.clone();
    let mut exec = config.config().clone().unwrap_or_default();
    let mut labels = exec.labels().clone().unwrap_or_default();
    labels.insert(SNAPSHOT_LABEL.to_owned(), serde_json::to_string(record)?);
    exec.set_labels(Some(labels));
    config.set_config(Some(exec));

    let mut manifest = manifest.clone();
    super::append_layer(
        &mut config,
        &mut manifest,
        layer,
        format!("{SNAPSHOT_STEP} preload {}", record.preload.join(" ")),
        created,
    )?;
    Ok((config, manifest))
}

/// Forgets cached snapshot layers whose blob is gone; returns how many.
pub fn forget_collected(store: &Store) -> usize {
    let Ok(entries) = fs::read_dir(store.root().join(CACHE_DIR)) else {
        return 0;
    };
    let mut forgotten = 0;
    for entry in entries.flatten() {
        let live = fs::read(entry.path())
            .ok()
            .and_then(|bytes| serde_json::from_slice::<CachedLayer>(&bytes).ok())
            .and_then(|cached| digest::parse_sha256(&cached.digest).ok())
            .is_some_and(|d| store.has_blob(&d));
        if !live && fs::remove_file(entry.path()).is_ok() {
            forgotten += 1;
        }
    }
    forgotten
}
