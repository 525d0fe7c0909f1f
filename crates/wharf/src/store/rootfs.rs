//! Unpacked image file trees: the read-only `/` a guest sees.
//!
//! A tree is named by the chain ID of its layer stack, so images that share
//! layers share a tree. A new tree starts as a hard-linked copy of the
//! longest already-unpacked prefix of its stack, then gets the remaining
//! layers applied; it appears by an atomic rename. Each tree has a lock
//! file that running guests hold shared, so garbage collection never pulls
//! a tree from under a guest.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result, bail, ensure};
use cap_std::fs::Dir;
use flate2::read::GzDecoder;
use oci_spec::image::{Descriptor, Digest, MediaType};

use super::lock::{self, LockGuard, LockKind};
use super::{Store, StoreWriter};
use crate::digest::{self, HashingReader};
use crate::image::{Image, chain_ids};
use crate::layer::{DirTimes, ModuleIndex, apply_layer, set_dir_times};

const TREE: &str = "tree";
const MODULES: &str = "modules.json";
const IN_USE: &str = "lock";

/// An unpacked image tree, held for the lifetime of a run.
#[derive(Debug)]
pub struct Rootfs {
    tree: PathBuf,
    modules: ModuleIndex,
    _in_use: LockGuard,
}

impl Rootfs {
    /// The directory holding the image's `/`.
    pub fn tree(&self) -> &Path {
        &self.tree
    }

    /// The digest of the Wasm binary at `guest_path`, recorded at unpack
    /// time, so that a run need not hash it again.
    pub fn module_digest(&self, guest_path: &str) -> Option<&Digest> {
        self.modules.get(guest_path)
    }

    /// Every Wasm binary in the tree: guest path and digest.
    pub fn modules(&self) -> impl Iterator<Item = (&str, &Digest)> {
        self.modules
            .iter()
            .map(|(path, digest)| (path.as_str(), digest))
    }
}

impl Store {
    /// Opens an image's file tree for a run, unpacking it first if needed.
    /// The tree stays on disk at least as long as the returned handle.
    pub fn open_rootfs(&self, image: &Image) -> Result<Rootfs> {
        let dir = self
            .root()
            .join("rootfs")
            .join(tree_name(image.chain_id()?.as_ref()));
        {
            let _shared = self.lock(LockKind::Shared)?;
            if dir.is_dir()
                && let Ok(rootfs) = open(&dir)
            {
                return Ok(rootfs);
            }
        }
        let writer = self.write()?;
        // A tree whose index cannot be read (a crash at the wrong moment)
        // is unpacked again rather than failing every run.
        if dir.is_dir()
            && open(&dir).is_err()
            && let Some(guard) = lock::try_lock_exclusive(&dir.join(IN_USE))?
        {
            drop(guard);
            fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove the damaged tree {}", dir.display()))?;
        }
        writer.unpack(image)?;
        open(&dir)
    }
}

fn open(dir: &Path) -> Result<Rootfs> {
    let in_use = lock::lock(&dir.join(IN_USE), LockKind::Shared)?;
    let modules_path = dir.join(MODULES);
    let modules = serde_json::from_slice(
        &fs::read(&modules_path)
            .with_context(|| format!("cannot read {}", modules_path.display()))?,
    )
    .with_context(|| format!("{} is corrupt", modules_path.display()))?;
    Ok(Rootfs {
        tree: dir.join(TREE),
        modules,
        _in_use: in_use,
    })
}

/// The directory name of the tree for a layer stack.
pub(super) fn tree_name(chain_id: Option<&Digest>) -> String {
    chain_id.map_or_else(|| "empty".to_owned(), |d| digest::hex(d).to_owned())
}

/// Unpacks `image`'s tree unless it exists. Needs the exclusive lock, which
/// the writer holds.
///
/// An image a wharf build made ends with its labels layer, which an image
/// built on it leaves out ([`Image::base_layers`]): the two share every
/// layer but that one, so neither tree would be a prefix of the other. The
/// tree of the layers below the labels is therefore unpacked first, as a
/// tree of its own (kept while the image is, see `prune::Live`), and the
/// image's tree is that one hard-linked with the labels layer applied; an
/// image built on this one then starts from the same tree, and all of them
/// share the base's files rather than each holding a copy.
pub(super) fn materialize(store: &Store, image: &Image) -> Result<()> {
    let diff_ids = image.diff_ids()?;
    let layers = image.layers();
    ensure!(
        diff_ids.len() == layers.len(),
        "image {} is inconsistent: {} layers but {} diff IDs",
        image.id,
        layers.len(),
        diff_ids.len()
    );
    let below = image.base_layers().len();
    if below > 0 && below < layers.len() {
        materialize_stack(store, &layers[..below], &diff_ids[..below])?;
    }
    materialize_stack(store, layers, &diff_ids)
}

/// Unpacks the tree of `layers` (with their `diff_ids`, as many) unless it
/// exists, starting from the longest prefix of them already unpacked.
fn materialize_stack(store: &Store, layers: &[Descriptor], diff_ids: &[Digest]) -> Result<()> {
    let chains = chain_ids(diff_ids);
    let rootfs = store.root().join("rootfs");
    let target = rootfs.join(tree_name(chains.last()));
    if target.is_dir() {
        return Ok(());
    }

    let staging = store.temp_dir()?;
    let tree_path = staging.path().join(TREE);
    fs::create_dir(&tree_path)?;
    let tree = Dir::open_ambient_dir(&tree_path, cap_std::ambient_authority())?;

    // Start from the longest prefix of the stack that is already unpacked
    // (one whose index cannot be read, after a crash, is passed over: its
    // layers are unpacked again instead).
    let base = (0..chains.len().saturating_sub(1)).rev().find_map(|k| {
        let source = rootfs.join(tree_name(Some(&chains[k])));
        let index = fs::read(source.join(MODULES)).ok()?;
        let modules: ModuleIndex = serde_json::from_slice(&index).ok()?;
        Some((k, source, modules))
    });
    let mut modules = ModuleIndex::new();
    let mut dir_times = DirTimes::new();
    if let Some((_, source, index)) = &base {
        let source_tree = Dir::open_ambient_dir(source.join(TREE), cap_std::ambient_authority())
            .with_context(|| format!("cannot open the unpacked tree {}", source.display()))?;
        clone_tree(&source_tree, &tree, Path::new(""), &mut dir_times)
            .with_context(|| format!("cannot copy the unpacked tree {}", source.display()))?;
        modules = index.clone();
    }

    let first = base.as_ref().map_or(0, |(k, _, _)| k + 1);
    for (layer, diff_id) in layers.iter().zip(diff_ids).skip(first) {
        if layer.media_type().to_string() == crate::image::WASM_LAYER_MEDIA_TYPE {
            // A module layer is not compressed: its DiffID is its digest,
            // and nothing else may claim the tree it names.
            if diff_id != layer.digest() {
                bail!(
                    "layer {} is a Wasm module, but the image config names its content {diff_id}",
                    layer.digest()
                );
            }
            place_module(store, layer, &tree, &mut modules)?;
            continue;
        }
        let path = store.blob_path(layer.digest());
        let file = fs::File::open(&path)
            .with_context(|| format!("layer {} is missing from the store", layer.digest()))?;
        let mut compressed = HashingReader::new(io::BufReader::new(file));
        let uncompressed_digest = {
            let mut uncompressed: HashingReader<Box<dyn Read + '_>> = match layer.media_type() {
                MediaType::ImageLayer => HashingReader::new(Box::new(&mut compressed)),
                _ => HashingReader::new(Box::new(GzDecoder::new(&mut compressed))),
            };
            // An upper layer's time for a directory wins over a lower one's.
            dir_times.extend(
                apply_layer(&mut uncompressed, &tree, &mut modules)
                    .with_context(|| format!("cannot unpack layer {}", layer.digest()))?,
            );
            io::copy(&mut uncompressed, &mut io::sink())
                .with_context(|| format!("layer {} is corrupt", layer.digest()))?;
            uncompressed.finish().0
        };
        io::copy(&mut compressed, &mut io::sink())?;
        let (actual, _) = compressed.finish();
        if &actual != layer.digest() {
            bail!(
                "layer {} is corrupt: its content hashes to {actual}",
                layer.digest()
            );
        }
        if &uncompressed_digest != diff_id {
            bail!(
                "layer {} does not match the image config: it unpacks to {uncompressed_digest}, not {diff_id}",
                layer.digest()
            );
        }
    }

    set_dir_times(&tree, &dir_times)?;
    let mut index = fs::File::create(staging.path().join(MODULES))?;
    io::Write::write_all(&mut index, &serde_json::to_vec(&modules)?)?;
    index.sync_all()?;
    fs::File::create(staging.path().join(IN_USE))?;
    drop(tree);
    let staged = staging.keep();
    if let Err(e) = fs::rename(&staged, &target) {
        let _ = fs::remove_dir_all(&staged);
        return Err(e)
            .with_context(|| format!("cannot move the unpacked tree to {}", target.display()));
    }
    Ok(())
}

/// Places a Wasm artifact's module (an `application/wasm` layer) in the
/// tree as a file, checking it against its digest on the way.
fn place_module(
    store: &Store,
    layer: &Descriptor,
    tree: &Dir,
    modules: &mut ModuleIndex,
) -> Result<()> {
    let name = crate::image::artifact_file_name(layer);
    let mut source = HashingReader::new(io::BufReader::new(
        fs::File::open(store.blob_path(layer.digest()))
            .with_context(|| format!("layer {} is missing from the store", layer.digest()))?,
    ));
    let mut target = tree
        .open_with(
            &name,
            cap_std::fs::OpenOptions::new().write(true).create_new(true),
        )
        .with_context(|| format!("cannot create {name}"))?;
    io::copy(&mut source, &mut target).with_context(|| format!("cannot write {name}"))?;
    // An artifact records no time: give it the epoch, as tree directories
    // without one get.
    target
        .into_std()
        .set_modified(UNIX_EPOCH)
        .with_context(|| format!("cannot set the modification time of {name}"))?;
    let (actual, _) = source.finish();
    if &actual != layer.digest() {
        bail!(
            "layer {} is corrupt: its content hashes to {actual}",
            layer.digest()
        );
    }
    modules.insert(format!("/{name}"), actual);
    Ok(())
}

/// Copies a tree by hard-linking its files (copying where links fail) and
/// recreating its directories and symlinks, noting the directories' times
/// in `dir_times`. Never follows a symlink.
fn clone_tree(
    source: &Dir,
    target: &Dir,
    relative: &Path,
    dir_times: &mut DirTimes,
) -> io::Result<()> {
    let listing = if relative.as_os_str().is_empty() {
        source.entries()?
    } else {
        source.read_dir(relative)?
    };
    for entry in listing {
        let entry = entry?;
        let path = relative.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            target.create_dir(&path)?;
            let mtime = entry.metadata()?.modified()?.into_std();
            let seconds = mtime.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let key: Vec<_> = path.iter().map(|part| part.to_string_lossy()).collect();
            dir_times.insert(key.join("/"), seconds);
            clone_tree(source, target, &path, dir_times)?;
        } else if kind.is_symlink() {
            let link = source.read_link_contents(&path)?;
            crate::layer::make_symlink(target, &link.to_string_lossy(), &path.to_string_lossy())?;
        } else if source.hard_link(&path, target, &path).is_err() {
            let mut from = source.open(&path)?;
            let mut to = target.create(&path)?;
            io::copy(&mut from, &mut to)?;
            target.set_permissions(&path, source.metadata(&path)?.permissions())?;
        }
    }
    Ok(())
}

/// Whether a running guest is using the unpacked tree of `image`.
pub(super) fn in_use(store: &Store, image: &Image) -> Result<bool> {
    let tree = store
        .root()
        .join("rootfs")
        .join(tree_name(image.chain_id()?.as_ref()));
    if !tree.is_dir() {
        return Ok(false);
    }
    Ok(lock::try_lock_exclusive(&tree.join(IN_USE))?.is_none())
}

/// The unpacked trees (name and directory) that no tag reaches (`live`
/// holds the names of those it does) and no running guest holds.
pub(super) fn unused(store: &Store, live: &HashSet<String>) -> Result<Vec<(String, PathBuf)>> {
    let rootfs = store.root().join("rootfs");
    let mut unused = Vec::new();
    for entry in
        fs::read_dir(&rootfs).with_context(|| format!("cannot list {}", rootfs.display()))?
    {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if live.contains(&name) || !entry.file_type()?.is_dir() {
            continue;
        }
        let path = entry.path();
        // A running guest holds the lock shared: keep its tree for now. No
        // new run can start on it meanwhile when the caller holds the store
        // lock exclusively, since runs take it too.
        match lock::try_lock_exclusive(&path.join(IN_USE))? {
            Some(guard) => drop(guard),
            None => continue,
        }
        unused.push((name, path));
    }
    Ok(unused)
}

impl StoreWriter<'_> {
    /// Where the tree of `image` lives once unpacked.
    pub fn tree_path(&self, image: &Image) -> Result<PathBuf> {
        Ok(self
            .store()
            .root()
            .join("rootfs")
            .join(tree_name(image.chain_id()?.as_ref()))
            .join(TREE))
    }
}
