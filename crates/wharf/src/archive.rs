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
use crate::store::Store;

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

/// Writes `images` (with the names to record) to an OCI archive at `out`.
/// The file appears complete or not at all.
pub fn save(store: &Store, images: &[(Image, Option<ImageRef>)], out: &Path) -> Result<()> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp =
        NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    let mut tar = tar::Builder::new(BufWriter::new(temp.as_file()));

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

    append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    append_bytes(&mut tar, "index.json", &serde_json::to_vec(&index)?)?;
    append_dir(&mut tar, "blobs/")?;
    append_dir(&mut tar, "blobs/sha256/")?;
    for hex in &blobs {
        let path = store.root().join("blobs/sha256").join(hex);
        let file = File::open(&path)
            .with_context(|| format!("blob sha256:{hex} is missing from the store"))?;
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
    let writer = tar.into_inner()?;
    writer
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    temp.persist(out)
        .with_context(|| format!("cannot write {}", out.display()))?;
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
pub fn load(store: &Store, input: impl Read) -> Result<Vec<(LoadedImage, Image)>> {
    let mut input = BufReader::new(input);
    let gzip = {
        let head = input.fill_buf_peek()?;
        head.starts_with(&[0x1f, 0x8b])
    };
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

/// Peeking at the first bytes of a buffered reader.
trait PeekExt {
    fn fill_buf_peek(&mut self) -> io::Result<&[u8]>;
}

impl<R: Read> PeekExt for BufReader<R> {
    fn fill_buf_peek(&mut self) -> io::Result<&[u8]> {
        io::BufRead::fill_buf(self)
    }
}

#[cfg(test)]
mod tests {
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
}
