//! Writes layers: deterministic tar+gzip archives whose bytes depend only on
//! the files they hold, so that the same build context always gives the same
//! digest.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use cap_std::fs::Dir;
use flate2::{Compression, GzBuilder};
use oci_spec::image::Digest;
use tar::{EntryType, Header};

use crate::digest::HashingWriter;

/// Modification time written into layers when `SOURCE_DATE_EPOCH` is unset:
/// 2000-01-01T00:00:00Z, late enough for every archive format (ZIP cannot
/// store times before 1980).
pub const DEFAULT_MTIME: u64 = 946_684_800;

/// Where a file's bytes come from.
#[derive(Clone)]
pub enum FileSource {
    /// A file inside a directory capability (the build context).
    Dir(Arc<Dir>, PathBuf),
    /// Bytes held in memory.
    Bytes(Arc<[u8]>),
}

impl FileSource {
    /// Reads the whole file.
    ///
    /// # Errors
    /// When the file cannot be opened or read.
    pub fn read(&self) -> Result<Vec<u8>> {
        match self {
            FileSource::Dir(dir, path) => dir
                .read(path)
                .with_context(|| format!("cannot read {}", path.display())),
            FileSource::Bytes(bytes) => Ok(bytes.to_vec()),
        }
    }
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileSource::Dir(_, path) => write!(f, "Dir({})", path.display()),
            FileSource::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
        }
    }
}

/// One entry of a layer.
#[derive(Clone, Debug)]
pub enum LayerEntry {
    /// A directory.
    Dir,
    /// A regular file of `size` bytes.
    File {
        /// Where its bytes are read from when the layer is written.
        source: FileSource,
        /// Its length, checked when it is read.
        size: u64,
    },
    /// A symbolic link with its target, stored verbatim.
    Symlink(String),
}

/// The contents of a layer, keyed by path inside the image (relative, `/`
/// separated, no leading or trailing slash).
#[derive(Clone, Debug, Default)]
pub struct LayerContents {
    entries: BTreeMap<String, LayerEntry>,
}

/// A layer written to disk.
#[derive(Clone, Debug)]
pub struct WrittenLayer {
    /// Digest of the compressed bytes: the blob's name.
    pub digest: Digest,
    /// Size of the compressed bytes.
    pub size: u64,
    /// Digest of the uncompressed tar: the layer's DiffID.
    pub diff_id: Digest,
}

impl LayerContents {
    /// An empty layer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry at `path`, if any.
    pub fn get(&self, path: &str) -> Option<&LayerEntry> {
        self.entries.get(path)
    }

    /// Every entry's path, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The regular files, as (path, source, size), sorted by path.
    pub fn files(&self) -> impl Iterator<Item = (&str, &FileSource, u64)> {
        self.entries.iter().filter_map(|(path, entry)| match entry {
            LayerEntry::File { source, size } => Some((path.as_str(), source, *size)),
            _ => None,
        })
    }

    /// Adds a directory and its ancestors.
    pub fn add_dir(&mut self, path: &str) {
        let mut prefix = String::new();
        for component in path.split('/').filter(|c| !c.is_empty()) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(component);
            match self.entries.get(&prefix) {
                Some(LayerEntry::Dir) => {}
                Some(_) => {
                    // A later COPY replaces a file with a directory.
                    self.remove_tree(&prefix);
                    self.entries.insert(prefix.clone(), LayerEntry::Dir);
                }
                None => {
                    self.entries.insert(prefix.clone(), LayerEntry::Dir);
                }
            }
        }
    }

    /// Adds a file (and its parent directories), replacing what was there.
    pub fn add_file(&mut self, path: &str, source: FileSource, size: u64) {
        self.add_leaf(path, LayerEntry::File { source, size });
    }

    /// Adds a symbolic link (and its parent directories).
    pub fn add_symlink(&mut self, path: &str, target: &str) {
        self.add_leaf(path, LayerEntry::Symlink(target.to_owned()));
    }

    fn add_leaf(&mut self, path: &str, entry: LayerEntry) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.add_dir(parent);
        }
        self.remove_tree(path);
        self.entries.insert(path.to_owned(), entry);
    }

    fn remove_tree(&mut self, path: &str) {
        self.entries.remove(path);
        let prefix = format!("{path}/");
        let below: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for key in below {
            self.entries.remove(&key);
        }
    }

    /// Writes the layer as tar+gzip into `out`, entries sorted by path, with
    /// owner 0:0, modes 0755 (directories) and 0644 (files), and `mtime` on
    /// every entry.
    pub fn write<W: Write>(&self, out: W, mtime: u64) -> Result<(W, WrittenLayer)> {
        let compressed = HashingWriter::new(out);
        let gzip = GzBuilder::new().write(compressed, Compression::new(6));
        let mut tar = tar::Builder::new(HashingWriter::new(gzip));
        for (path, entry) in &self.entries {
            let mut header = Header::new_gnu();
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(mtime);
            match entry {
                LayerEntry::Dir => {
                    header.set_entry_type(EntryType::Directory);
                    header.set_mode(0o755);
                    header.set_size(0);
                    tar.append_data(&mut header, format!("{path}/"), io::empty())
                        .with_context(|| format!("cannot write directory {path} into the layer"))?;
                }
                LayerEntry::File { source, size } => {
                    header.set_entry_type(EntryType::Regular);
                    header.set_mode(0o644);
                    header.set_size(*size);
                    let reader: Box<dyn Read> = match source {
                        FileSource::Dir(dir, rel) => Box::new(
                            dir.open(rel)
                                .with_context(|| format!("cannot open {}", rel.display()))?,
                        ),
                        FileSource::Bytes(bytes) => Box::new(io::Cursor::new(bytes.clone())),
                    };
                    // A file that changes size while the layer is written
                    // would corrupt the archive: read exactly `size` bytes
                    // and fail if fewer arrive.
                    let mut exact = ExactReader {
                        inner: reader.take(*size),
                        remaining: *size,
                        path,
                    };
                    tar.append_data(&mut header, path, &mut exact)
                        .with_context(|| format!("cannot write {path} into the layer"))?;
                }
                LayerEntry::Symlink(target) => {
                    header.set_entry_type(EntryType::Symlink);
                    header.set_mode(0o777);
                    header.set_size(0);
                    tar.append_link(&mut header, path, target)
                        .with_context(|| format!("cannot write symlink {path} into the layer"))?;
                }
            }
        }
        let uncompressed = tar
            .into_inner()
            .context("cannot finish the layer archive")?;
        let (gzip, diff_id, _) = uncompressed.finish();
        let compressed = gzip
            .finish()
            .context("cannot finish compressing the layer")?;
        let (out, digest, size) = compressed.finish();
        Ok((
            out,
            WrittenLayer {
                digest,
                size,
                diff_id,
            },
        ))
    }
}

struct ExactReader<'a, R> {
    inner: R,
    remaining: u64,
    path: &'a str,
}

impl<R: Read> Read for ExactReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.remaining > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} shrank while the layer was being written", self.path),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(text: &str) -> FileSource {
        FileSource::Bytes(Arc::from(text.as_bytes()))
    }

    fn listing(archive: &[u8]) -> Vec<(String, u32, u64)> {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
        tar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn entries_are_sorted_with_parents_and_normalised_metadata() {
        let mut layer = LayerContents::new();
        layer.add_file("app/z.py", bytes("z"), 1);
        layer.add_file("app/a.py", bytes("a"), 1);
        layer.add_symlink("app/link", "a.py");
        let (out, written) = layer.write(Vec::new(), DEFAULT_MTIME).unwrap();
        assert_eq!(written.size, out.len() as u64);
        assert_eq!(
            listing(&out),
            vec![
                ("app/".into(), 0o755, DEFAULT_MTIME),
                ("app/a.py".into(), 0o644, DEFAULT_MTIME),
                ("app/link".into(), 0o777, DEFAULT_MTIME),
                ("app/z.py".into(), 0o644, DEFAULT_MTIME),
            ]
        );
    }

    #[test]
    fn the_same_contents_give_the_same_digests() {
        let build = || {
            let mut layer = LayerContents::new();
            layer.add_file("a/b/c.txt", bytes("hello"), 5);
            layer.write(Vec::new(), DEFAULT_MTIME).unwrap().1
        };
        let (one, two) = (build(), build());
        assert_eq!(one.digest, two.digest);
        assert_eq!(one.diff_id, two.diff_id);
        assert_ne!(one.digest, one.diff_id);
    }

    #[test]
    fn a_file_shorter_than_announced_is_an_error() {
        let mut layer = LayerContents::new();
        layer.add_file("short", bytes("abc"), 10);
        let err = layer.write(Vec::new(), DEFAULT_MTIME).unwrap_err();
        assert!(format!("{err:#}").contains("shrank"), "{err:#}");
    }

    #[test]
    fn a_later_file_replaces_a_directory_tree() {
        let mut layer = LayerContents::new();
        layer.add_file("x/inner", bytes("1"), 1);
        layer.add_file("x", bytes("2"), 1);
        assert!(matches!(layer.get("x"), Some(LayerEntry::File { .. })));
        assert!(layer.get("x/inner").is_none());
    }

    #[test]
    fn long_paths_survive() {
        let long = format!("{}/file.txt", "d".repeat(150));
        let mut layer = LayerContents::new();
        layer.add_file(&long, bytes("x"), 1);
        let (out, _) = layer.write(Vec::new(), DEFAULT_MTIME).unwrap();
        assert!(listing(&out).iter().any(|(p, _, _)| *p == long));
    }
}
