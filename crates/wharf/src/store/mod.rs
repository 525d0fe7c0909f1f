//! The local image store: an OCI image layout on disk, plus the unpacked
//! file trees and compiled modules derived from it.
//!
//! ```text
//! $WHARF_HOME/
//!   oci-layout            the OCI layout marker
//!   index.json            one descriptor per tag (annotation org.opencontainers.image.ref.name)
//!   blobs/sha256/<hex>    manifests, configs and layers, named by digest
//!   rootfs/<chain>/       unpacked file trees (tree/), their Wasm index, a lock
//!   artifacts/<engine>/   modules compiled ahead of time
//!   tmp/                  staging area: everything is written here, then renamed
//!   pins/                 images a build is still working on (kept by GC)
//!   lock                  one writer at a time
//! ```
//!
//! Blobs and trees appear only by rename from `tmp/`, and a tag only after
//! everything it points to is in place: a crash never leaves a half-written
//! image visible. Writers hold the exclusive lock; lookups hold the shared
//! one.

mod check;
mod index;
mod lock;
mod pin;
mod prune;
mod rootfs;
mod usage;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use oci_spec::image::{Descriptor, Digest, ImageManifest};
use tempfile::NamedTempFile;

pub use check::CheckReport;
pub use index::ImageEntry;
pub use lock::{LockGuard, LockKind};
pub use pin::Pin;
pub use prune::{GcReport, PruneImages, PruneReport, run_owner_gone};
pub use rootfs::Rootfs;
pub use usage::{DiskUsage, Usage};

use crate::digest;
use crate::image::Image;
use crate::reference::ImageRef;

/// The environment variable that chooses the store directory.
pub const HOME_ENV: &str = "WHARF_HOME";

/// An image lookup that found nothing, or too much.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// Nothing matches the reference.
    #[error("no such image: {0}")]
    NotFound(String),
    /// An ID prefix matches several images.
    #[error("image ID prefix '{0}' is ambiguous: it matches {1} images")]
    Ambiguous(String, usize),
}

/// A local image store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens the store at `root`, creating an empty one if needed.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let store = Store { root: root.into() };
        if !store.root.join(index::INDEX_FILE).exists() {
            store.initialise()?;
        }
        Ok(store)
    }

    /// Opens the store `WHARF_HOME` names, or the per-user data directory
    /// (`~/.local/share/wharf` on Linux, `~/Library/Application Support/…`
    /// on macOS, `%APPDATA%\…` on Windows).
    pub fn open_default() -> Result<Self> {
        Self::open(Self::default_root()?)
    }

    /// Where [`Store::open_default`] looks.
    pub fn default_root() -> Result<PathBuf> {
        if let Some(home) = std::env::var_os(HOME_ENV).filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(home));
        }
        let dirs = directories::ProjectDirs::from("dev", "wharf", "wharf")
            .context("cannot find a home directory for the image store; set WHARF_HOME")?;
        Ok(dirs.data_dir().to_owned())
    }

    fn initialise(&self) -> Result<()> {
        for dir in ["blobs/sha256", "rootfs", "artifacts", "tmp"] {
            let path = self.root.join(dir);
            fs::create_dir_all(&path)
                .with_context(|| format!("cannot create the image store at {}", path.display()))?;
        }
        let _lock = self.lock(LockKind::Exclusive)?;
        if !self.root.join(index::INDEX_FILE).exists() {
            self.write_atomically(
                Path::new("oci-layout"),
                br#"{"imageLayoutVersion":"1.0.0"}"#,
            )?;
            index::write(self, &index::empty())?;
        }
        Ok(())
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the store lock.
    pub fn lock(&self, kind: LockKind) -> Result<LockGuard> {
        lock::lock(&self.root.join("lock"), kind)
    }

    /// Starts a change: takes the exclusive lock until the writer is dropped.
    pub fn write(&self) -> Result<StoreWriter<'_>> {
        Ok(StoreWriter {
            store: self,
            _lock: self.lock(LockKind::Exclusive)?,
        })
    }

    /// A new temporary file in the store's staging area, on the same file
    /// system as the blobs so that it can be renamed into place.
    pub fn temp_file(&self) -> Result<NamedTempFile> {
        NamedTempFile::new_in(self.root.join("tmp"))
            .context("cannot create a file in the store's tmp/")
    }

    /// A new temporary directory in the staging area.
    pub fn temp_dir(&self) -> Result<tempfile::TempDir> {
        tempfile::tempdir_in(self.root.join("tmp"))
            .context("cannot create a directory in the store's tmp/")
    }

    /// The path of a blob.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest::hex(digest))
    }

    /// Whether a blob is present.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Reads a (small) blob and checks it against its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let bytes =
            fs::read(&path).with_context(|| format!("blob {digest} is missing from the store"))?;
        let actual = digest::sha256(&bytes);
        if actual != *digest {
            bail!("blob {digest} is corrupt: its content hashes to {actual}");
        }
        Ok(bytes)
    }

    /// Every tag in the store.
    pub fn tags(&self) -> Result<Vec<ImageEntry>> {
        index::read(self).map(|index| index::tagged_images(&index))
    }

    /// Finds an image by `name[:tag]`, `name@sha256:…`, or (a prefix of)
    /// its ID, as `docker run` does.
    pub fn resolve(&self, reference: &str) -> Result<Image> {
        let _lock = self.lock(LockKind::Shared)?;
        let id = self.resolve_id(reference)?;
        self.load_image(&id)
    }

    /// The image ID a reference names.
    pub fn resolve_id(&self, reference: &str) -> Result<Digest> {
        let tags = self.tags()?;
        if let Ok(parsed) = reference.parse::<ImageRef>() {
            let found = match (parsed.digest(), parsed.tagged_name()) {
                (Some(digest), _) => (tags.iter().any(|t| &t.id == digest)
                    || self.has_blob(digest))
                .then(|| digest.clone()),
                (None, Some(name)) => tags
                    .iter()
                    .find(|t| t.name.as_deref() == Some(name.as_str()))
                    .map(|t| t.id.clone()),
                (None, None) => None,
            };
            if let Some(id) = found {
                return Ok(id);
            }
        }
        // An image ID, or a prefix of one.
        let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
        if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hex = hex.to_ascii_lowercase();
            let mut ids: Vec<&Digest> = tags
                .iter()
                .map(|t| &t.id)
                .filter(|id| digest::hex(id).starts_with(&hex))
                .collect();
            ids.sort_by_key(|id| id.to_string());
            ids.dedup();
            match ids.len() {
                1 => return Ok(ids[0].clone()),
                0 => {}
                n => return Err(LookupError::Ambiguous(reference.to_owned(), n).into()),
            }
        }
        Err(LookupError::NotFound(reference.to_owned()).into())
    }

    /// Tags in the store whose name is close to `reference`, for a "did you
    /// mean" after [`LookupError::NotFound`], the likeliest first (three
    /// at most): the same repository's other tags (`python:3.12` for
    /// `python:3.13`), then repositories whose name is close by
    /// Jaro-Winkler similarity, which is forgiving of typos
    /// (`pyhton`) and of a name's missing end (`hello` for `hello-c`).
    /// None when nothing is close; `reference` need not be valid.
    ///
    /// # Errors
    ///
    /// The store's index cannot be read.
    pub fn similar_names(&self, reference: &str) -> Result<Vec<String>> {
        /// How close two repositories' names must be to be suggested.
        const CLOSE: f64 = 0.85;
        let (repository, wanted) = match reference.parse::<ImageRef>() {
            Ok(parsed) => (
                parsed.repository(),
                parsed.tagged_name().unwrap_or_else(|| parsed.repository()),
            ),
            Err(_) => (reference.to_owned(), reference.to_owned()),
        };
        let mut scored: Vec<(f64, f64, String)> = self
            .tags()?
            .into_iter()
            .filter_map(|entry| entry.name)
            .filter(|name| *name != wanted)
            .filter_map(|name| {
                let theirs = name.parse::<ImageRef>().ok()?.repository();
                let close = strsim::jaro_winkler(&repository, &theirs);
                (close >= CLOSE).then(|| (close, strsim::jaro_winkler(&wanted, &name), name))
            })
            .collect();
        scored.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then(b.1.total_cmp(&a.1))
                .then(a.2.cmp(&b.2))
        });
        Ok(scored
            .into_iter()
            .take(3)
            .map(|(_, _, name)| name)
            .collect())
    }

    /// The images that hold image `id`'s layers: the others whose layers
    /// start with all of `id`'s but its labels layer
    /// ([`Image::base_layers`]), as those of an image built `from` it do.
    /// While one is in the store, removing `id` frees none of those
    /// layers. (An image that adds no layer to its base has only the
    /// base's, so the base is among its dependents.) Docker refuses to
    /// remove an untagged parent ("image has dependent child images");
    /// `wharf rmi` removes the tag and names these. One entry per tag (or
    /// untagged image), in the index's order; none for an image without
    /// layers. Images whose manifest cannot be read are left out (`system
    /// check` reports them).
    ///
    /// # Errors
    ///
    /// The index, or `id`'s manifest, cannot be read.
    pub fn dependents(&self, id: &Digest) -> Result<Vec<ImageEntry>> {
        let layers = |layers: &[Descriptor]| -> Vec<Digest> {
            layers.iter().map(|l| l.digest().clone()).collect()
        };
        let base = layers(self.load_image(id)?.base_layers());
        if base.is_empty() {
            return Ok(Vec::new());
        }
        let mut built_on: HashMap<Digest, bool> = HashMap::new();
        let mut dependents = Vec::new();
        for entry in self.tags()? {
            if entry.id == *id {
                continue;
            }
            let holds = *built_on.entry(entry.id.clone()).or_insert_with(|| {
                self.load_image(&entry.id)
                    .is_ok_and(|image| layers(image.layers()).starts_with(&base))
            });
            if holds {
                dependents.push(entry);
            }
        }
        Ok(dependents)
    }

    /// Loads the image whose manifest has digest `id`.
    pub fn load_image(&self, id: &Digest) -> Result<Image> {
        let manifest_bytes = self.read_blob(id)?;
        let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes)
            .with_context(|| format!("manifest {id} is not a valid OCI image manifest"))?;
        let config_bytes = self.read_blob(manifest.config().digest())?;
        Image::from_parts(id, &manifest_bytes, &config_bytes)
    }

    /// Writes `bytes` to `relative` (inside the store) via a temporary file
    /// and a rename, so readers see the old or the new content, never a mix.
    fn write_atomically(&self, relative: &Path, bytes: &[u8]) -> Result<()> {
        let target = self.root.join(relative);
        let mut temp = self.temp_file()?;
        temp.write_all(bytes)?;
        temp.as_file().sync_all()?;
        temp.persist(&target)
            .with_context(|| format!("cannot replace {}", target.display()))?;
        sync_dir(target.parent().unwrap_or(&self.root));
        Ok(())
    }
}

/// A change in progress: holds the store's exclusive lock.
pub struct StoreWriter<'s> {
    store: &'s Store,
    _lock: LockGuard,
}

impl StoreWriter<'_> {
    /// The store being changed.
    pub fn store(&self) -> &Store {
        self.store
    }

    /// Adds a blob from memory; returns its digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = digest::sha256(bytes);
        if !self.store.has_blob(&digest) {
            let mut temp = self.store.temp_file()?;
            temp.write_all(bytes)?;
            self.put_blob_file(temp, &digest)?;
        }
        Ok(digest)
    }

    /// Moves a finished temporary file into place as blob `digest`. The
    /// caller computed the digest while writing the file.
    pub fn put_blob_file(&self, temp: NamedTempFile, digest: &Digest) -> Result<()> {
        let target = self.store.blob_path(digest);
        if target.is_file() {
            return Ok(()); // content-addressed: the same bytes are there
        }
        temp.as_file().sync_all()?;
        temp.persist(&target)
            .with_context(|| format!("cannot store blob {digest}"))?;
        sync_dir(target.parent().unwrap_or(self.store.root()));
        Ok(())
    }

    /// Checks, under the lock, that every blob of `image` is in the store:
    /// another process may have removed a base between a build's start and
    /// its end.
    pub fn ensure_complete(&self, image: &Image) -> Result<()> {
        let mut needed = vec![image.id.clone(), image.manifest.config().digest().clone()];
        needed.extend(image.layers().iter().map(|l| l.digest().clone()));
        for digest in needed {
            if !self.store.has_blob(&digest) {
                bail!(
                    "blob {digest} of image {} was removed while the image was being stored (by `rmi` in another process?); nothing was tagged",
                    digest::short(&image.id)
                );
            }
        }
        Ok(())
    }

    /// Points several tags at images with one update of the index.
    pub fn tag_all(&self, tags: &[(String, Descriptor)]) -> Result<()> {
        let mut index = index::read(self.store)?;
        let now = SystemTime::now();
        for (name, manifest) in tags {
            index::set_tag(&mut index, name, manifest, now);
        }
        index::write(self.store, &index)
    }

    /// Points tag `name` (`repository:tag`) at image `manifest`.
    pub fn tag(&self, name: &str, manifest: &Descriptor) -> Result<()> {
        let mut index = index::read(self.store)?;
        index::set_tag(&mut index, name, manifest, SystemTime::now());
        index::write(self.store, &index)
    }

    /// Keeps image `id` from garbage collection, in this and every other
    /// process, until the pin is dropped, without tagging it.
    pub fn pin(&self, id: &Digest) -> Result<Pin> {
        pin::pin(self.store, id)
    }

    /// Keeps an image that has no tag (built without `-t`).
    pub fn keep_untagged(&self, manifest: &Descriptor) -> Result<()> {
        let mut index = index::read(self.store)?;
        index::keep_untagged(&mut index, manifest, SystemTime::now());
        index::write(self.store, &index)
    }

    /// Forgets image `id` and all its tags; returns the tags it had.
    pub fn remove_image(&self, id: &Digest) -> Result<Vec<String>> {
        let mut index = index::read(self.store)?;
        let names = index::remove_image(&mut index, id);
        index::write(self.store, &index)?;
        Ok(names)
    }

    /// Removes tag `name`; returns the image it pointed at.
    pub fn untag(&self, name: &str) -> Result<Option<Digest>> {
        let mut index = index::read(self.store)?;
        let removed = index::remove_tag(&mut index, name);
        if removed.is_some() {
            index::write(self.store, &index)?;
        }
        Ok(removed)
    }

    /// Unpacks an image's file tree if it is not unpacked yet.
    pub fn unpack(&self, image: &Image) -> Result<()> {
        rootfs::materialize(self.store, image)
    }
}

/// Makes a rename durable on file systems that need it.
#[cfg(unix)]
fn sync_dir(dir: &Path) {
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}

/// Windows makes renames durable without syncing the directory.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_names_are_the_same_repository_then_close_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let writer = store.write().unwrap();
        let manifest = oci_spec::image::Descriptor::new(
            oci_spec::image::MediaType::ImageManifest,
            1,
            digest::sha256(b"m"),
        );
        for name in [
            "python:3.12",
            "python:3.15-sci",
            "hello-c:latest",
            "node:20",
        ] {
            writer.tag(name, &manifest).unwrap();
        }
        drop(writer);
        let similar = |reference: &str| store.similar_names(reference).unwrap();
        assert_eq!(similar("pyhton:3.12"), ["python:3.12", "python:3.15-sci"]);
        assert_eq!(similar("python:3.13"), ["python:3.12", "python:3.15-sci"]);
        assert_eq!(similar("python:3.12"), ["python:3.15-sci"]);
        assert_eq!(similar("hello"), ["hello-c:latest"]);
        assert!(similar("rust:1.80").is_empty());
        assert!(similar("Not A Reference").is_empty());
    }

    #[test]
    fn the_images_built_on_an_image_are_its_dependents() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let build = |tag: &str, manifest: &str| {
            let context = tempfile::tempdir().unwrap();
            fs::write(context.path().join("wharf.toml"), manifest).unwrap();
            fs::write(context.path().join(tag), tag).unwrap();
            let options = crate::build::BuildOptions {
                context: context.path().to_owned(),
                tags: vec![tag.parse().unwrap()],
                ..Default::default()
            };
            crate::build::build(&store, &options, &mut |_| {})
                .unwrap()
                .id
        };
        let copy = |from: &str, file: &str| {
            format!("from = \"{from}\"\n[[copy]]\nsrc = \"{file}\"\ndest = \"/\"\n")
        };
        let base = build("base", &copy("scratch", "base"));
        let child = build("child", &copy("base", "child"));
        // Only labels of its own: no layer but its labels layer.
        let relabelled = build("relabelled", "from = \"base\"\nlabels = { a = \"b\" }\n");
        let grandchild = build("grandchild", &copy("child", "grandchild"));
        let other = build("other", &copy("scratch", "other"));
        let names = |id: &Digest| -> Vec<String> {
            let dependents = store.dependents(id).unwrap();
            let mut names: Vec<String> = dependents.into_iter().filter_map(|e| e.name).collect();
            names.sort();
            names
        };
        assert_eq!(
            names(&base),
            ["child:latest", "grandchild:latest", "relabelled:latest"]
        );
        assert_eq!(names(&child), ["grandchild:latest"]);
        assert!(names(&grandchild).is_empty());
        assert!(names(&other).is_empty());
        // An image that adds no layer to its base has only the base's:
        // the base holds them too.
        assert_eq!(
            names(&relabelled),
            ["base:latest", "child:latest", "grandchild:latest"]
        );
    }
}
