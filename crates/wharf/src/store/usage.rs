//! What the store occupies on disk, and how much of it `system prune`
//! would free: `wharf system df`, after `docker system df`.

use std::collections::HashSet;
use std::fs;

use anyhow::Result;
use serde::Serialize;

use super::prune::{self, Files, Live, PRUNE_LEFTOVERS};
use super::{LockKind, PruneImages, Store, rootfs};
use crate::digest;

/// How much room one kind of thing in the store takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Usage {
    /// How many there are.
    pub count: usize,
    /// The bytes their files hold; a file hard-linked into several
    /// unpacked trees is counted once (on Unix).
    pub bytes: u64,
    /// How many of them `system prune` would remove.
    pub reclaimable_count: usize,
    /// The bytes that removing them would free.
    pub reclaimable_bytes: u64,
}

/// The store's disk use, by kind. Images and the snapshots among their
/// layers share their bytes; the other kinds are apart from each other and
/// from the images.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiskUsage {
    /// Images the store keeps (tagged, kept untagged, or pinned by a build
    /// under way): their manifests, configs and layers, a layer shared by
    /// several counted once. Reclaimable: the images the prune removes,
    /// and the bytes only they hold.
    pub images: Usage,
    /// The build-time snapshots among the images' layers (part of
    /// `images`).
    pub snapshots: Usage,
    /// Blobs no image reaches (left by `rmi` in a store whose collection
    /// was interrupted, or by a failed pull).
    pub unreferenced_blobs: Usage,
    /// Unpacked file trees (`rootfs/`): reclaimable when no image has that
    /// stack of layers and no guest is running on it.
    pub unpacked_trees: Usage,
    /// Modules compiled ahead of time (`artifacts/`): reclaimable when no
    /// unpacked tree that stays needs them, or when compiled by an engine
    /// whose key is not among those given.
    pub compiled_artifacts: Usage,
    /// Cached installs of `[python] requirements` (`pip-cache/`), which
    /// prune clears as `docker system prune` clears the build cache.
    pub build_cache: Usage,
    /// Files in the staging area (`tmp/`): reclaimable when left by an
    /// interrupted write over an hour ago or by a run whose process is gone.
    pub staging: Usage,
}

impl DiskUsage {
    /// Every kind's bytes added up, images' snapshots counted once, and
    /// what prune would free in all.
    pub fn total(&self) -> Usage {
        let kinds = [
            self.images,
            self.unreferenced_blobs,
            self.unpacked_trees,
            self.compiled_artifacts,
            self.build_cache,
            self.staging,
        ];
        kinds.iter().fold(Usage::default(), |sum, kind| Usage {
            count: sum.count + kind.count,
            bytes: sum.bytes + kind.bytes,
            reclaimable_count: sum.reclaimable_count + kind.reclaimable_count,
            reclaimable_bytes: sum.reclaimable_bytes + kind.reclaimable_bytes,
        })
    }
}

impl Store {
    /// Measures the store, under its shared lock, with the rules
    /// [`StoreWriter::prune`](super::StoreWriter::prune) applies: what it
    /// reports as reclaimable is what a prune given the same `engines`
    /// (the keys of the engines whose artifacts stay, as
    /// `Runtime::engine_keys` gives them) and `images` would remove now.
    ///
    /// # Errors
    ///
    /// When the store's index or a directory of it cannot be read.
    pub fn disk_usage(&self, engines: &[String], images: PruneImages) -> Result<DiskUsage> {
        let _lock = self.lock(LockKind::Shared)?;
        let leaving = prune::prunable_images(self, images)?;
        let everything = Live::of(self, &[])?;
        let live = Live::of(self, &leaving)?;
        let mut usage = DiskUsage::default();
        usage.images.reclaimable_count = leaving.len();

        let mut ids: Vec<_> = self.tags()?.into_iter().map(|t| t.id).collect();
        ids.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
        ids.dedup();
        usage.images.count = ids.len();
        let mut snapshot_layers = HashSet::new();
        for id in &ids {
            let Ok(image) = self.load_image(id) else {
                continue;
            };
            for step in image.history() {
                if step.is_snapshot()
                    && let Some(layer) = &step.layer
                    && snapshot_layers.insert(digest::hex(layer.digest()).to_owned())
                {
                    usage.snapshots.count += 1;
                    usage.snapshots.bytes += layer.size();
                }
            }
        }
        let blobs = self.root().join("blobs/sha256");
        for entry in fs::read_dir(&blobs).into_iter().flatten().flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let size = entry.metadata().map_or(0, |m| m.len());
            let name = entry.file_name().to_string_lossy().into_owned();
            if !everything.blobs.contains(&name) {
                add(&mut usage.unreferenced_blobs, size, true);
                continue;
            }
            usage.images.bytes += size;
            if !live.blobs.contains(&name) {
                usage.images.reclaimable_bytes += size;
            }
        }

        let unused = rootfs::unused(self, &live.trees)?;
        let leaving: HashSet<String> = unused.iter().map(|(name, _)| name.clone()).collect();
        let mut files = Files::default();
        for entry in fs::read_dir(self.root().join("rootfs"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let removable = leaving.contains(&*entry.file_name().to_string_lossy());
            usage.unpacked_trees.count += 1;
            usage.unpacked_trees.reclaimable_count += usize::from(removable);
            files.walk(&entry.path(), removable);
        }
        (
            usage.unpacked_trees.bytes,
            usage.unpacked_trees.reclaimable_bytes,
        ) = files.totals();

        let needed = prune::needed_modules(self, &leaving);
        for engine in fs::read_dir(self.root().join("artifacts"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if !engine.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let kept = engines.contains(&engine.file_name().to_string_lossy().into_owned());
            for artifact in fs::read_dir(engine.path()).into_iter().flatten().flatten() {
                let name = artifact.file_name().to_string_lossy().into_owned();
                let size = artifact.metadata().map_or(0, |m| m.len());
                add(
                    &mut usage.compiled_artifacts,
                    size,
                    prune::artifact_unneeded(kept, &name, &needed),
                );
            }
        }

        let pip_cache = self.root().join(crate::build::python::CACHE_DIR);
        for entry in fs::read_dir(&pip_cache).into_iter().flatten().flatten() {
            add(
                &mut usage.build_cache,
                prune::tree_size(&entry.path()),
                true,
            );
        }

        for entry in fs::read_dir(self.root().join("tmp"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let size = prune::entry_size(&entry);
            let leftover = prune::is_leftover(&entry, PRUNE_LEFTOVERS);
            add(&mut usage.staging, size, leftover);
        }
        Ok(usage)
    }
}

/// Counts one more thing of `size` bytes, reclaimable or not.
fn add(usage: &mut Usage, size: u64, reclaimable: bool) {
    usage.count += 1;
    usage.bytes += size;
    if reclaimable {
        usage.reclaimable_count += 1;
        usage.reclaimable_bytes += size;
    }
}
