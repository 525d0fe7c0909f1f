//! `save` and `load`: images as OCI archives, an OCI image layout in a tar
//! file, the format skopeo's `oci-archive:` transport reads and writes.
//!
//! Each image is a descriptor in the archive's `index.json`, named by the
//! `io.containerd.image.name` annotation (the full reference, as containerd
//! and Docker write it) and `org.opencontainers.image.ref.name` (its tag).
//! Loading reads either, verifies every blob against its digest, and adds
//! nothing to the store until all of an archive's images are complete.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Component, Path};

use anyhow::{Context, Result, bail};
use oci_spec::image::{
    ANNOTATION_REF_NAME, Descriptor, Digest, ImageIndex, ImageIndexBuilder, ImageManifest,
    MediaType,
};
use tempfile::NamedTempFile;

use crate::digest::{self, HashingWriter};
use crate::image::{self, Image};
use crate::reference::ImageRef;
use crate::store::{LockKind, Store};

/// The annotation containerd and Docker use for an image's full name.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// An image read from an archive.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// Its ID.
    pub id: Digest,
    /// The name it was saved under, if the archive gave one.
    pub name: Option<String>,
}

/// Writes `images` (with the names to record) to an OCI archive at `path`,
/// as `docker save -o` does:
///
/// - a regular file, or nothing yet: the archive is written to a temporary
///   file beside it and renamed into place, so the file appears complete or
///   not at all, and a failed save leaves what was there untouched. A
///   symbolic link is followed to its final target, which is replaced; the
///   link stays a link. A new file gets the usual permissions (0666 less the
///   umask on Unix), a replaced one keeps its own;
/// - anything else (a named pipe, a character device such as `/dev/stdout`
///   or `/dev/null`): it is opened and written into, never replaced.
///
/// # Errors
///
/// [`ToTerminal`] when `path` is a terminal (an archive is binary; `docker
/// save` refuses one too); a directory; a blob missing from the store; any
/// I/O error.
pub fn save(store: &Store, images: &[(Image, Option<ImageRef>)], path: &Path) -> Result<()> {
    save_reporting(store, images, path, &mut |_| {})
}

/// [`save`], telling `progress` how many more bytes of the archive were
/// written, write by write (for a progress display; [`archive_size`] gives
/// about how many there will be).
///
/// # Errors
///
/// As [`save`].
pub fn save_reporting(
    store: &Store,
    images: &[(Image, Option<ImageRef>)],
    path: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => bail!("{} is a directory", path.display()),
        Ok(meta) if !meta.is_file() => return save_into_device(store, images, path, progress),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot use {}", path.display())),
    }
    let target = final_target(path)?;
    let existing = match std::fs::symlink_metadata(&target) {
        Ok(meta) if meta.is_file() => Some(meta.permissions()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        // A link whose text is not a path (a Linux /proc/self/fd/N link
        // to a file that was deleted): write through it, in place.
        _ => return save_into_device(store, images, path, progress),
    };
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".wharf-save-");
    #[cfg(unix)]
    if existing.is_none() {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let temp = builder
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    write(
        store,
        images,
        Reporting(BufWriter::new(temp.as_file()), progress),
    )?;
    temp.as_file().sync_all()?;
    if let Some(permissions) = existing {
        std::fs::set_permissions(temp.path(), permissions)
            .with_context(|| format!("cannot give {} its permissions back", target.display()))?;
    }
    temp.persist(&target)
        .with_context(|| format!("cannot write {}", target.display()))?;
    Ok(())
}

/// The archive would have gone to a terminal: refused, as `docker save`
/// refuses, since an archive is binary. Callers that write to their own
/// standard output check for a terminal themselves
/// ([`std::io::IsTerminal`]) before calling [`write()`].
#[derive(Debug, thiserror::Error)]
#[error("{} is a terminal: an archive is binary; write it to a file or a pipe", .0.display())]
pub struct ToTerminal(pub std::path::PathBuf);

/// Writes into a file that is not a regular one (a pipe, a device).
fn save_into_device(
    store: &Store,
    images: &[(Image, Option<ImageRef>)],
    path: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    use std::io::IsTerminal;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    if file.is_terminal() {
        return Err(ToTerminal(path.to_owned()).into());
    }
    write(store, images, Reporting(BufWriter::new(file), progress))
}

/// A writer that tells its callback how many bytes each write took.
struct Reporting<'a, W>(W, &'a mut dyn FnMut(u64));

impl<W: Write> Write for Reporting<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.0.write(bytes)?;
        (self.1)(written as u64);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// About how many bytes an archive of `images` takes: their blobs, each
/// once, without the tar headers and the index (a few KiB).
pub fn archive_size(images: &[(Image, Option<ImageRef>)]) -> u64 {
    let mut blobs: HashMap<&Digest, u64> = HashMap::new();
    for (image, _) in images {
        blobs.insert(&image.id, image.manifest_size);
        let config = image.manifest.config();
        blobs.insert(config.digest(), config.size());
        for layer in image.layers() {
            blobs.insert(layer.digest(), layer.size());
        }
    }
    blobs.values().sum()
}

/// Where a chain of symbolic links ends: `path` itself when it is not a
/// link, else what its links lead to (which may not exist yet).
fn final_target(path: &Path) -> Result<std::path::PathBuf> {
    let mut current = path.to_owned();
    // Linux's limit on links followed in one lookup (ELOOP).
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)
                    .with_context(|| format!("cannot read the link {}", current.display()))?;
                current = match current.parent() {
                    Some(parent) => parent.join(link),
                    None => link,
                };
            }
            _ => return Ok(current),
        }
    }
    bail!("{}: too many levels of symbolic links", path.display())
}

/// Writes `images` (with the names to record) as an OCI archive into
/// `out`, a stream: what `save` writes into a file, for a pipe or a
/// socket. What was written before an error stays written. The blobs are
/// opened first, under the store's shared lock: a build, removal or prune
/// that runs while the archive is written does not spoil it, nor waits
/// for it.
///
/// # Errors
///
/// A blob missing from the store; an error writing to `out`.
pub fn write(store: &Store, images: &[(Image, Option<ImageRef>)], out: impl Write) -> Result<()> {
    let mut tar = tar::Builder::new(out);

    let mut blobs: BTreeSet<String> = BTreeSet::new();
    let mut manifests = Vec::new();
    for (image, name) in images {
        blobs.insert(digest::hex(&image.id).to_owned());
        blobs.insert(digest::hex(image.manifest.config().digest()).to_owned());
        for layer in image.layers() {
            blobs.insert(digest::hex(layer.digest()).to_owned());
        }
        let mut descriptor = image::descriptor(
            MediaType::ImageManifest,
            image.id.clone(),
            image.manifest_size,
        );
        if let Some(name) = name {
            let tag = name.tag_or_default().unwrap_or("latest");
            descriptor.set_annotations(Some(HashMap::from([
                (ANNOTATION_CONTAINERD_NAME.to_owned(), qualified(name)),
                (ANNOTATION_REF_NAME.to_owned(), tag.to_owned()),
            ])));
        }
        manifests.push(descriptor);
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()?;

    // Every blob is opened before anything is written, under the store's
    // shared lock, which a build, a removal or a prune takes exclusively to
    // change the store: one of them running while the archive is written
    // may take a blob's name away, but not what an open file reads, so the
    // archive comes out whole, and the lock is not held while it is
    // written (a large archive through a slow pipe would hold up builds).
    let opened = {
        let _shared = store.lock(LockKind::Shared)?;
        blobs
            .iter()
            .map(|hex| {
                let path = store.root().join("blobs/sha256").join(hex);
                File::open(&path)
                    .map(|file| (hex, file))
                    .with_context(|| format!("blob sha256:{hex} is missing from the store"))
            })
            .collect::<Result<Vec<_>>>()?
    };

    append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    // Through a `Value`, whose maps are sorted: the same images give the
    // same archive, byte for byte (annotations are a `HashMap`).
    let index = serde_json::to_vec(&serde_json::to_value(&index)?)?;
    append_bytes(&mut tar, "index.json", &index)?;
    append_dir(&mut tar, "blobs/")?;
    append_dir(&mut tar, "blobs/sha256/")?;
    for (hex, file) in opened {
        // The real length: a descriptor's size is only what an image says.
        let mut header = header(tar::EntryType::Regular, 0o644);
        header.set_size(file.metadata()?.len());
        tar.append_data(
            &mut header,
            format!("blobs/sha256/{hex}"),
            BufReader::new(file),
        )
        .with_context(|| format!("cannot write blob sha256:{hex}"))?;
    }
    tar.into_inner()
        .context("cannot write the archive's end")?
        .flush()
        .context("cannot write the archive")?;
    Ok(())
}

/// An image found in an archive: its parts, its name, and the layers to copy.
type WantedImage = (Image, Option<String>, Vec<(Digest, u64)>);

/// The full name containerd records: registry and `library/` made
/// explicit for Docker Hub names.
fn qualified(name: &ImageRef) -> String {
    let tag = name.tag_or_default().unwrap_or("latest");
    match name.domain() {
        Some(_) => format!("{}:{tag}", name.repository()),
        None if name.path().contains('/') => format!("docker.io/{}:{tag}", name.path()),
        None => format!("docker.io/library/{}:{tag}", name.path()),
    }
}

/// The short name wharf shows for a full name from an archive.
fn shortened(full: &str) -> String {
    full.strip_prefix("docker.io/library/")
        .or_else(|| full.strip_prefix("docker.io/"))
        .unwrap_or(full)
        .to_owned()
}

fn header(kind: tar::EntryType, mode: u32) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_mtime(crate::layer::DEFAULT_MTIME);
    header.set_uid(0);
    header.set_gid(0);
    header
}

fn append_bytes(tar: &mut tar::Builder<impl Write>, path: &str, bytes: &[u8]) -> Result<()> {
    let mut header = header(tar::EntryType::Regular, 0o644);
    header.set_size(bytes.len() as u64);
    tar.append_data(&mut header, path, bytes)?;
    Ok(())
}

fn append_dir(tar: &mut tar::Builder<impl Write>, path: &str) -> Result<()> {
    let mut header = header(tar::EntryType::Directory, 0o755);
    header.set_size(0);
    tar.append_data(&mut header, path, io::empty())?;
    Ok(())
}

/// Reads an OCI archive (plain or gzip-compressed tar) into the store.
/// Every blob is checked against its digest; a damaged or incomplete
/// archive adds nothing.
///
/// `input` is read once, from start to end, so it may be a pipe or a
/// socket: each blob goes to a file in the store's `tmp/` as it arrives.
pub fn load(store: &Store, input: impl Read) -> Result<Vec<(LoadedImage, Image)>> {
    let mut input = input;
    // gzip's magic number, read whole even when a pipe hands out one byte
    // at a time, then put back in front of the rest.
    let mut head = Vec::with_capacity(2);
    (&mut input)
        .take(2)
        .read_to_end(&mut head)
        .context("cannot read the archive")?;
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let input = BufReader::new(io::Cursor::new(head).chain(input));
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(input))
    } else {
        Box::new(input)
    };
    let mut archive = tar::Archive::new(reader);
    let mut blobs: HashMap<String, NamedTempFile> = HashMap::new();
    let mut index: Option<Vec<u8>> = None;
    for entry in archive.entries().context("not a tar archive")? {
        let mut entry = entry.context("the archive is damaged")?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .context("an entry of the archive has an unreadable path")?
            .into_owned();
        let parts: Vec<&str> = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(part) => part.to_str(),
                _ => None,
            })
            .collect();
        match parts.as_slice() {
            ["index.json"] => {
                let mut bytes = Vec::new();
                entry.by_ref().take(16 << 20).read_to_end(&mut bytes)?;
                index = Some(bytes);
            }
            ["blobs", "sha256", hex] => {
                let expected =
                    digest::parse_sha256(&format!("sha256:{hex}")).with_context(|| {
                        format!(
                            "the archive holds a blob with a bad name: {}",
                            path.display()
                        )
                    })?;
                let mut writer = HashingWriter::new(BufWriter::new(store.temp_file()?));
                io::copy(&mut entry, &mut writer)
                    .with_context(|| format!("cannot read blob {expected}"))?;
                let (out, actual, _) = writer.finish();
                if actual != expected {
                    bail!(
                        "blob {expected} in the archive is corrupt: its content hashes to {actual}"
                    );
                }
                let temp = out.into_inner().map_err(|e| e.into_error())?;
                blobs.insert(hex.to_string(), temp);
            }
            _ => {} // oci-layout, Docker's manifest.json and repositories
        }
    }
    let index: ImageIndex = serde_json::from_slice(
        &index.context("the archive has no index.json: not an OCI archive")?,
    )
    .context("the archive's index.json is not an OCI image index")?;

    let read_small = |digest: &Digest| -> Result<Vec<u8>> {
        let temp = blobs
            .get(digest::hex(digest))
            .with_context(|| format!("the archive lacks blob {digest}"))?;
        Ok(std::fs::read(temp.path())?)
    };
    let mut wanted: Vec<WantedImage> = Vec::new();
    for descriptor in index.manifests() {
        let name = descriptor.annotations().as_ref().and_then(|a| {
            a.get(ANNOTATION_CONTAINERD_NAME)
                .map(|n| shortened(n))
                .or_else(|| {
                    a.get(ANNOTATION_REF_NAME)
                        .filter(|n| n.contains(':') || n.contains('/'))
                        .cloned()
                })
        });
        let manifest_descriptor = match descriptor.media_type() {
            MediaType::ImageIndex => {
                let nested: ImageIndex = serde_json::from_slice(&read_small(descriptor.digest())?)?;
                crate::image::select_platform(&nested)?
            }
            _ => descriptor.clone(),
        };
        let manifest: ImageManifest = serde_json::from_slice(&read_small(
            manifest_descriptor.digest(),
        )?)
        .with_context(|| {
            format!(
                "{} is not an OCI image manifest",
                manifest_descriptor.digest()
            )
        })?;
        let mut needed = vec![(
            manifest_descriptor.digest().clone(),
            manifest_descriptor.size(),
        )];
        needed.push((manifest.config().digest().clone(), manifest.config().size()));
        needed.extend(
            manifest
                .layers()
                .iter()
                .map(|l| (l.digest().clone(), l.size())),
        );
        for (digest, size) in &needed {
            let length = match blobs.get(digest::hex(digest)) {
                Some(temp) => std::fs::metadata(temp.path())?.len(),
                None if store.has_blob(digest) => std::fs::metadata(store.blob_path(digest))?.len(),
                None => bail!(
                    "the archive lacks blob {digest} of image {}",
                    manifest_descriptor.digest()
                ),
            };
            if length != *size {
                bail!(
                    "blob {digest} holds {length} bytes, but the image says {size}: the archive is inconsistent"
                );
            }
        }
        let image = Image::from_parts(
            manifest_descriptor.digest(),
            &read_small(manifest_descriptor.digest())?,
            &match blobs.get(digest::hex(manifest.config().digest())) {
                Some(temp) => std::fs::read(temp.path())?,
                None => store.read_blob(manifest.config().digest())?,
            },
        )?;
        image.check_platform()?;
        let name = match name.as_deref().map(str::parse::<ImageRef>) {
            Some(Ok(reference)) => reference.tagged_name(),
            _ => None,
        };
        wanted.push((image, name, needed));
    }

    // Every image is complete and checked: store them all, or nothing.
    let writer = store.write()?;
    for (_, _, needed) in &wanted {
        for (digest, _) in needed {
            if let Some(temp) = blobs.remove(digest::hex(digest)) {
                writer.put_blob_file(temp, digest)?;
            }
        }
    }
    for (image, _, _) in &wanted {
        writer.ensure_complete(image)?;
        writer.unpack(image)?;
    }
    let descriptor = |image: &Image| {
        image::descriptor(
            MediaType::ImageManifest,
            image.id.clone(),
            image.manifest_size,
        )
    };
    let tags: Vec<(String, Descriptor)> = wanted
        .iter()
        .filter_map(|(image, name, _)| Some((name.clone()?, descriptor(image))))
        .collect();
    writer.tag_all(&tags)?;
    for (image, name, _) in &wanted {
        if name.is_none() {
            writer.keep_untagged(&descriptor(image))?;
        }
    }
    writer.collect_garbage()?;
    Ok(wanted
        .into_iter()
        .map(|(image, name, _)| {
            (
                LoadedImage {
                    id: image.id.clone(),
                    name,
                },
                image,
            )
        })
        .collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn names_are_qualified_for_containerd_and_shortened_back() {
        for (short, full) in [
            ("python:3.12", "docker.io/library/python:3.12"),
            ("me/app:1", "docker.io/me/app:1"),
            ("localhost:5000/me/app:2", "localhost:5000/me/app:2"),
            ("plain", "docker.io/library/plain:latest"),
        ] {
            let name: ImageRef = short.parse().unwrap();
            assert_eq!(qualified(&name), full);
            let back: ImageRef = shortened(full).parse().unwrap();
            assert_eq!(back.tagged_name(), name.tagged_name());
        }
    }

    /// A store holding one small image, tagged `app:1`.
    pub(crate) fn store_with_image() -> (tempfile::TempDir, Store, Image) {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let context = tempfile::tempdir().unwrap();
        std::fs::write(context.path().join("app.wasm"), b"\0asm\x01\0\0\0").unwrap();
        std::fs::write(
            context.path().join("wharf.toml"),
            "from = \"scratch\"\nentrypoint = [\"/app.wasm\"]\n\n[[copy]]\nsrc = \"app.wasm\"\ndest = \"/\"\n",
        )
        .unwrap();
        let options = crate::build::BuildOptions {
            context: context.path().into(),
            tags: vec!["app:1".parse().unwrap()],
            ..Default::default()
        };
        let built = crate::build::build(&store, &options, &mut |_| {}).unwrap();
        (home, store, built.image)
    }

    /// Hands out one byte per read, as a slow pipe may.
    struct Trickle(io::Cursor<Vec<u8>>);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn an_archive_loads_from_a_stream_read_once_plain_or_gzipped() {
        let (_home, store, image) = store_with_image();
        let mut bytes = Vec::new();
        write(
            &store,
            &[(image.clone(), Some("app:1".parse().unwrap()))],
            &mut bytes,
        )
        .unwrap();
        let mut again = Vec::new();
        write(
            &store,
            &[(image.clone(), Some("app:1".parse().unwrap()))],
            &mut again,
        )
        .unwrap();
        assert!(bytes == again, "the same images give the same archive");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        for input in [bytes.clone(), gz.finish().unwrap()] {
            let other_home = tempfile::tempdir().unwrap();
            let other = Store::open(other_home.path()).unwrap();
            let loaded = load(&other, Trickle(io::Cursor::new(input))).unwrap();
            assert_eq!(loaded.len(), 1);
            assert_eq!(loaded[0].0.id, image.id);
            assert_eq!(loaded[0].0.name.as_deref(), Some("app:1"));
        }
    }

    #[test]
    fn save_reporting_counts_every_byte_it_writes() {
        let (_dir, store, image) = store_with_image();
        let out = tempfile::tempdir().unwrap();
        let path = out.path().join("a.tar");
        let mut total = 0;
        let images = [(image, None)];
        save_reporting(&store, &images, &path, &mut |n| total += n).unwrap();
        let written = std::fs::metadata(&path).unwrap().len();
        assert_eq!(total, written);
        // The estimate is the blobs alone: below the archive, and close.
        let estimate = archive_size(&images);
        assert!(
            estimate < written && written - estimate < 64 * 1024,
            "{estimate} {written}"
        );
    }

    #[test]
    fn blobs_removed_while_the_archive_is_written_are_written_whole() {
        let (_home, store, image) = store_with_image();
        let mut expected = Vec::new();
        write(&store, &[(image.clone(), None)], &mut expected).unwrap();
        /// A writer that, at its first write, removes every blob of the
        /// store, as another process's prune could while a save runs.
        struct Pruning<'a> {
            store: &'a Store,
            out: Vec<u8>,
            pruned: bool,
        }
        impl Write for Pruning<'_> {
            fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
                if !self.pruned {
                    for blob in std::fs::read_dir(self.store.root().join("blobs/sha256"))? {
                        std::fs::remove_file(blob?.path())?;
                    }
                    self.pruned = true;
                }
                self.out.extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut pruning = Pruning {
            store: &store,
            out: Vec::new(),
            pruned: false,
        };
        write(&store, &[(image.clone(), None)], &mut pruning).unwrap();
        assert!(pruning.pruned);
        assert!(pruning.out == expected, "the archive differs");
        assert!(!store.has_blob(&image.id), "the blobs were not removed");
    }

    #[test]
    fn a_failed_save_leaves_the_file_that_was_there() {
        let (_home, store, image) = store_with_image();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("app.tar");
        std::fs::write(&out, "older").unwrap();
        std::fs::remove_file(store.blob_path(image.layers()[0].digest())).unwrap();
        let err = save(&store, &[(image, None)], &out).unwrap_err();
        assert!(
            format!("{err:#}").contains("is missing from the store"),
            "{err:#}"
        );
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "older");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn save_replaces_what_links_lead_to_and_keeps_the_links() {
        let (_home, store, image) = store_with_image();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/real.tar"), "older").unwrap();
        std::os::unix::fs::symlink("real.tar", dir.path().join("sub/middle.tar")).unwrap();
        std::os::unix::fs::symlink("sub/middle.tar", dir.path().join("link.tar")).unwrap();
        assert_eq!(
            final_target(&dir.path().join("link.tar")).unwrap(),
            dir.path().join("sub/real.tar")
        );
        save(
            &store,
            &[(image.clone(), None)],
            &dir.path().join("link.tar"),
        )
        .unwrap();
        assert!(
            dir.path()
                .join("link.tar")
                .symlink_metadata()
                .unwrap()
                .is_symlink()
        );
        let mut expected = Vec::new();
        write(&store, &[(image, None)], &mut expected).unwrap();
        assert!(std::fs::read(dir.path().join("sub/real.tar")).unwrap() == expected);
        // A loop of links is an error, not a hang.
        std::os::unix::fs::symlink("loop.tar", dir.path().join("loop.tar")).unwrap();
        assert!(final_target(&dir.path().join("loop.tar")).is_err());
    }
}
