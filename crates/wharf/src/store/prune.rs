//! What the store keeps and what it may remove: garbage collection (after
//! `rmi`, `tag`, a build or a pull), `system prune`, and the rules both
//! share with [`Store::disk_usage`](super::Store::disk_usage), which counts
//! what a prune would free without removing it. The rules are here once so
//! that `system df` can never promise what `system prune` does not do.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use oci_spec::image::{Digest, ImageManifest};

use super::{Store, StoreWriter, pin, rootfs};
use crate::digest;

/// How old a staging leftover must be before garbage collection removes
/// it: a day, in case a slow write in another process still owns it.
pub(super) const GC_LEFTOVER_AGE: Duration = Duration::from_secs(24 * 3600);
/// How old a staging leftover must be before `system prune` removes it.
pub(super) const PRUNE_LEFTOVER_AGE: Duration = Duration::from_secs(3600);

/// Which images `system prune` removes, besides everything no image
/// needs. An image a running guest is using always stays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PruneImages {
    /// None: only what no image needs goes.
    None,
    /// Images kept without a tag (built without `-t`): Docker's dangling
    /// images, which `docker system prune` removes.
    #[default]
    Untagged,
    /// Every image, as `docker system prune --all` removes every image no
    /// container uses.
    All,
}

/// What `system prune` removed.
#[derive(Debug, Default)]
pub struct PruneReport {
    /// Images removed (their IDs), and the tags they had.
    pub images: Vec<(Digest, Vec<String>)>,
    /// Blobs deleted.
    pub blobs: usize,
    /// Unpacked trees deleted.
    pub trees: usize,
    /// Compiled artifacts deleted.
    pub artifacts: usize,
    /// Staging leftovers deleted.
    pub leftovers: usize,
    /// Cached installs of `[python] requirements` deleted (the build cache
    /// `docker system prune` clears too; a build installs them again).
    pub pip_installs: usize,
    /// Bytes freed in all.
    pub bytes: u64,
}

/// What a garbage collection removed.
#[derive(Debug, Default)]
pub struct GcReport {
    /// Blobs deleted.
    pub blobs: Vec<Digest>,
    /// Bytes those blobs took.
    pub bytes: u64,
    /// Unpacked trees deleted.
    pub trees: usize,
    /// Bytes freed by deleting those trees: their files that no tree
    /// left behind links (on Unix; elsewhere, all their files).
    pub tree_bytes: u64,
    /// Staging leftovers deleted, and the bytes they held.
    pub leftovers: usize,
    /// The bytes those leftovers held.
    pub leftover_bytes: u64,
}

/// What the store's tags and pins keep: blob file names (hex digests) and
/// unpacked tree names.
pub(super) struct Live {
    pub blobs: HashSet<String>,
    pub trees: HashSet<String>,
}

impl Live {
    /// Walks every tagged, untagged-but-kept and pinned image but those in
    /// `leaving`: its manifest, config and layers stay, and so does its
    /// unpacked tree.
    pub(super) fn of(store: &Store, leaving: &[Digest]) -> Result<Live> {
        let mut live = Live {
            blobs: HashSet::new(),
            trees: HashSet::new(),
        };
        let mut roots: Vec<Digest> = store.tags()?.into_iter().map(|t| t.id).collect();
        roots.retain(|id| !leaving.contains(id));
        roots.extend(pin::held(store)?);
        for id in roots {
            live.blobs.insert(digest::hex(&id).to_owned());
            // Keep what the manifest names even when the image cannot be
            // read whole (`system check` reports that): damage is never
            // made permanent by collecting it.
            let Ok(manifest) = store
                .read_blob(&id)
                .and_then(|b| Ok(serde_json::from_slice::<ImageManifest>(&b)?))
            else {
                continue;
            };
            live.blobs
                .insert(digest::hex(manifest.config().digest()).to_owned());
            for layer in manifest.layers() {
                live.blobs.insert(digest::hex(layer.digest()).to_owned());
            }
            if let Ok(image) = store.load_image(&id)
                && let Ok(chain) = image.chain_id()
            {
                live.trees.insert(rootfs::tree_name(chain.as_ref()));
                // The tree below the labels layer, which the image's own
                // shares its files with (see rootfs::materialize).
                if let Ok(Some(base)) = image.base_chain_id() {
                    live.trees.insert(rootfs::tree_name(Some(&base)));
                }
            }
        }
        Ok(live)
    }
}

/// The images a prune removes: those `which` names that no running guest
/// is using, by ID (each once).
pub(super) fn prunable_images(store: &Store, which: PruneImages) -> Result<Vec<Digest>> {
    let mut ids: Vec<Digest> = match which {
        PruneImages::None => return Ok(Vec::new()),
        PruneImages::All => store.tags()?.into_iter().map(|t| t.id).collect(),
        PruneImages::Untagged => {
            let entries = store.tags()?;
            let tagged: HashSet<&Digest> = entries
                .iter()
                .filter(|t| t.name.is_some())
                .map(|t| &t.id)
                .collect();
            entries
                .iter()
                .filter(|t| !tagged.contains(&t.id))
                .map(|t| t.id.clone())
                .collect()
        }
    };
    ids.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
    ids.dedup();
    let mut prunable = Vec::new();
    for id in ids {
        let in_use = match store.load_image(&id) {
            Ok(image) => rootfs::in_use(store, &image)?,
            Err(_) => false,
        };
        if !in_use {
            prunable.push(id);
        }
    }
    Ok(prunable)
}

/// The modules (hex digests) that the unpacked trees in `rootfs/` need
/// compiled, leaving out the trees named in `leaving`.
pub(super) fn needed_modules(store: &Store, leaving: &HashSet<String>) -> HashSet<String> {
    let mut needed = HashSet::new();
    let trees = store.root().join("rootfs");
    for entry in fs::read_dir(&trees).into_iter().flatten().flatten() {
        if leaving.contains(&*entry.file_name().to_string_lossy()) {
            continue;
        }
        if let Ok(bytes) = fs::read(entry.path().join("modules.json"))
            && let Ok(modules) = serde_json::from_slice::<crate::layer::ModuleIndex>(&bytes)
        {
            needed.extend(modules.values().map(|d| digest::hex(d).to_owned()));
        }
    }
    needed
}

/// Whether `system prune` removes the compiled artifact `file_name`
/// (`<module hex>.<suffix>`): its engine is not one of this wharf's, or no
/// unpacked tree that stays needs its module.
pub(super) fn artifact_unneeded(
    engine_kept: bool,
    file_name: &str,
    needed: &HashSet<String>,
) -> bool {
    let module = file_name.split('.').next().unwrap_or_default();
    !(engine_kept && needed.contains(module))
}

/// Which leftovers of the staging area `tmp/` go.
#[derive(Clone, Copy)]
pub(super) struct Leftovers {
    /// Anything older than this that is not the scratch directory of a run
    /// still going (a server keeps its calls' empty `/tmp` for later
    /// calls, however old).
    pub age: Duration,
    /// Also the scratch directories of runs whose process is gone, at
    /// once: `system prune` only, since a store shared across PID
    /// namespaces could take a live run for a dead one.
    pub orphans: bool,
}

/// What garbage collection removes from `tmp/`: what is a day old.
pub(super) const GC_LEFTOVERS: Leftovers = Leftovers {
    age: GC_LEFTOVER_AGE,
    orphans: false,
};
/// What `system prune` removes from `tmp/`.
pub(super) const PRUNE_LEFTOVERS: Leftovers = Leftovers {
    age: PRUNE_LEFTOVER_AGE,
    orphans: true,
};

/// Whether an entry of the staging area `tmp/` is a leftover that `rule`
/// removes.
pub(super) fn is_leftover(entry: &fs::DirEntry, rule: Leftovers) -> bool {
    let name = entry.file_name().to_string_lossy().into_owned();
    if rule.orphans && run_owner_gone(&name) {
        return true;
    }
    if cfg!(target_os = "linux") && name.starts_with("run-") {
        return false;
    }
    entry
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|elapsed| elapsed > rule.age)
}

impl StoreWriter<'_> {
    /// Deletes blobs and unpacked trees that no tag reaches, and staging
    /// leftovers older than a day. Trees in use by a running guest are
    /// kept.
    pub fn collect_garbage(&self) -> Result<GcReport> {
        let mut report = GcReport::default();
        let live = Live::of(self.store, &[])?;
        let blobs = self.store.root.join("blobs/sha256");
        for entry in
            fs::read_dir(&blobs).with_context(|| format!("cannot list {}", blobs.display()))?
        {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if live.blobs.contains(&name) || !entry.file_type()?.is_file() {
                continue;
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            fs::remove_file(entry.path()).with_context(|| format!("cannot remove blob {name}"))?;
            if let Ok(d) = digest::parse_sha256(&format!("sha256:{name}")) {
                report.blobs.push(d);
            }
            report.bytes += size;
        }
        let unused = rootfs::unused(self.store, &live.trees)?;
        if !unused.is_empty() {
            report.tree_bytes = tree_bytes_freed(self.store, &unused);
        }
        for (_, path) in &unused {
            fs::remove_dir_all(path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
        report.trees = unused.len();
        (report.leftovers, report.leftover_bytes) =
            remove_leftovers(&self.store.root.join("tmp"), GC_LEFTOVERS);
        Ok(report)
    }

    /// Removes the images `images` names (but those a running guest is
    /// using), collects garbage, then also removes compiled artifacts that
    /// no unpacked tree needs or that belong to engines not in `engines`
    /// (the keys of the engines whose artifacts stay, as
    /// `Runtime::engine_keys` gives them), staging leftovers older than an
    /// hour or left by a run whose process is gone, and the cached installs
    /// of `[python] requirements`.
    ///
    /// # Errors
    ///
    /// When the index cannot be rewritten or a file cannot be removed;
    /// what was removed before stays removed, and the store stays
    /// consistent (a later prune finishes the work).
    pub fn prune(&self, engines: &[String], images: PruneImages) -> Result<PruneReport> {
        let mut removed = Vec::new();
        for id in prunable_images(self.store, images)? {
            let names = self.remove_image(&id)?;
            removed.push((id, names));
        }
        let gc = self.collect_garbage()?;
        let mut report = PruneReport {
            images: removed,
            blobs: gc.blobs.len(),
            trees: gc.trees,
            bytes: gc.bytes + gc.tree_bytes,
            ..PruneReport::default()
        };
        let needed = needed_modules(self.store, &HashSet::new());
        let artifacts = self.store.root.join("artifacts");
        for engine in fs::read_dir(&artifacts)?.flatten() {
            if !engine.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let keep_engine = engines.contains(&engine.file_name().to_string_lossy().into_owned());
            for artifact in fs::read_dir(engine.path())?.flatten() {
                let name = artifact.file_name().to_string_lossy().into_owned();
                if !artifact_unneeded(keep_engine, &name, &needed) {
                    continue;
                }
                report.bytes += artifact.metadata().map(|m| m.len()).unwrap_or(0);
                fs::remove_file(artifact.path())?;
                report.artifacts += 1;
            }
            if !keep_engine {
                let _ = fs::remove_dir(engine.path());
            }
        }
        let (leftovers, leftover_bytes) =
            remove_leftovers(&self.store.root.join("tmp"), PRUNE_LEFTOVERS);
        report.leftovers = gc.leftovers + leftovers;
        report.bytes += gc.leftover_bytes + leftover_bytes;
        let pip_cache = self.store.root.join(crate::build::python::CACHE_DIR);
        for entry in fs::read_dir(&pip_cache).into_iter().flatten().flatten() {
            let size = tree_size(&entry.path());
            if fs::remove_dir_all(entry.path()).is_ok() {
                report.pip_installs += 1;
                report.bytes += size;
            }
        }
        Ok(report)
    }
}

/// The bytes of the regular files under `dir` (symlinks not followed).
pub(super) fn tree_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => tree_size(&entry.path()),
            Ok(t) if t.is_file() => entry.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// Removes the leftovers (see [`is_leftover`]) in `dir`; returns how many,
/// and the bytes they held.
fn remove_leftovers(dir: &Path, rule: Leftovers) -> (usize, u64) {
    let (mut removed, mut bytes) = (0, 0);
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if !is_leftover(&entry, rule) {
            continue;
        }
        let size = entry_size(&entry);
        let path = entry.path();
        let result = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        if result.is_ok() {
            removed += 1;
            bytes += size;
        }
    }
    (removed, bytes)
}

/// The bytes of a file, or of the regular files under a directory.
pub(super) fn entry_size(entry: &fs::DirEntry) -> u64 {
    match entry.file_type() {
        Ok(t) if t.is_dir() => tree_size(&entry.path()),
        _ => entry.metadata().map_or(0, |m| m.len()),
    }
}

/// The bytes that removing the unpacked trees `leaving` frees: the files
/// no other tree links.
fn tree_bytes_freed(store: &Store, leaving: &[(String, std::path::PathBuf)]) -> u64 {
    let leaving: HashSet<&str> = leaving.iter().map(|(name, _)| name.as_str()).collect();
    let mut files = Files::default();
    for entry in fs::read_dir(store.root().join("rootfs"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            files.walk(
                &entry.path(),
                leaving.contains(&*entry.file_name().to_string_lossy()),
            );
        }
    }
    files.totals().1
}

/// Whether a run's scratch directory, named `run-PID-…`, belongs to a
/// process that is gone. A name of another form, or a process that may
/// still be running, is not gone.
pub fn run_owner_gone(name: &str) -> bool {
    name.strip_prefix("run-")
        .and_then(|rest| rest.split('-').next())
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_some_and(|pid| !process_alive(pid))
}

/// Whether process `pid` exists (Linux: `/proc/PID`).
#[cfg(target_os = "linux")]
fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Elsewhere a process is taken to be alive: its leftovers go by age.
#[cfg(not(target_os = "linux"))]
fn process_alive(_pid: u32) -> bool {
    true
}

/// The regular files of several trees, each file (inode) counted once
/// however many trees link it, and freed only when every link to it is in
/// a tree being removed.
#[derive(Default)]
pub(super) struct Files {
    /// By file identity: size, links it has, links seen in removable trees.
    seen: HashMap<FileId, (u64, u64, u64)>,
}

impl Files {
    /// Adds the regular files under `dir` (symlinks not followed).
    pub(super) fn walk(&mut self, dir: &Path, removable: bool) {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => self.walk(&entry.path(), removable),
                Ok(t) if t.is_file() => {
                    let Ok(meta) = entry.metadata() else {
                        continue;
                    };
                    let (id, links) = identity(&entry.path(), &meta);
                    let counts = self.seen.entry(id).or_insert((meta.len(), links, 0));
                    counts.2 += u64::from(removable);
                }
                _ => {}
            }
        }
    }

    /// The bytes of every file seen, and of those whose every link was in
    /// a removable tree.
    pub(super) fn totals(&self) -> (u64, u64) {
        self.seen
            .values()
            .fold((0, 0), |(all, freed), &(size, links, removable)| {
                (
                    all + size,
                    freed + if removable >= links { size } else { 0 },
                )
            })
    }
}

/// What tells two directory entries for the same file apart from two
/// files: device and inode on Unix.
#[cfg(unix)]
type FileId = (u64, u64);

/// Where hard links are not told apart, each path is a file of its own.
#[cfg(not(unix))]
type FileId = std::path::PathBuf;

/// A file's identity and how many links it has.
#[cfg(unix)]
fn identity(_path: &Path, meta: &fs::Metadata) -> (FileId, u64) {
    use std::os::unix::fs::MetadataExt;
    ((meta.dev(), meta.ino()), meta.nlink())
}

/// A file's identity and how many links it has: its path, and one.
#[cfg(not(unix))]
fn identity(path: &Path, _meta: &fs::Metadata) -> (FileId, u64) {
    (path.to_owned(), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_directory_names_its_process() {
        let mine = format!("run-{}-abc123", std::process::id());
        assert!(!run_owner_gone(&mine), "this process is running");
        for other in ["run-abc", "run-", "layer-123-x", "run--1"] {
            assert!(!run_owner_gone(other), "{other} names no process");
        }
        #[cfg(target_os = "linux")]
        assert!(run_owner_gone("run-4000000000-x"), "no such process");
    }

    #[test]
    fn an_artifact_stays_while_a_tree_needs_it_on_this_engine() {
        let needed: HashSet<String> = ["ab12".to_owned()].into();
        assert!(!artifact_unneeded(true, "ab12.cwasm", &needed));
        assert!(
            artifact_unneeded(false, "ab12.cwasm", &needed),
            "foreign engine"
        );
        assert!(
            artifact_unneeded(true, "cd34.cwasm", &needed),
            "no tree needs it"
        );
    }
}
