//! Applies layers onto a directory: the inverse of the writer, hardened for
//! archives that come from elsewhere.
//!
//! Every write goes through a `cap_std::fs::Dir`, so no entry, symlink or
//! hard link can reach outside the target directory. Entries that try (`..`,
//! absolute paths) are refused, as are device nodes and set-id bits.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read, Write};
use std::path::{Component, Path};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use cap_primitives::fs::SystemTimeSpec;
use cap_std::fs::{Dir, OpenOptions};
use oci_spec::image::Digest;
use tar::EntryType;

use crate::digest::HashingWriter;

/// The first bytes of every WebAssembly binary (modules and components).
pub const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// The most a single layer may expand to; past it the layer is refused as a
/// decompression bomb.
pub const MAX_LAYER_BYTES: u64 = 16 << 30;

/// Digests of the Wasm binaries in a file tree, keyed by absolute guest path
/// (`/usr/local/bin/python.wasm`).
pub type ModuleIndex = BTreeMap<String, Digest>;

/// Modification times (seconds since the Unix epoch) that layer entries
/// give directories, keyed by path relative to the tree. Directories change
/// as entries land in them, so their times are set once the tree is whole.
pub type DirTimes = BTreeMap<String, u64>;

/// Applies one uncompressed layer (a tar stream) onto `root`, following the
/// OCI rules for whiteouts, and records the Wasm binaries it writes in
/// `modules`. Files get the modification times their entries record;
/// the times of directories are returned, for [`set_dir_times`] to apply
/// once every layer is in place.
pub fn apply_layer(
    tar_stream: impl Read,
    root: &Dir,
    modules: &mut ModuleIndex,
) -> Result<DirTimes> {
    apply_layer_limited(tar_stream, root, modules, MAX_LAYER_BYTES)
}

fn apply_layer_limited(
    tar_stream: impl Read,
    root: &Dir,
    modules: &mut ModuleIndex,
    max_bytes: u64,
) -> Result<DirTimes> {
    let mut dir_times = DirTimes::new();
    let mut archive = tar::Archive::new(LimitedReader {
        inner: tar_stream,
        remaining: max_bytes,
        limit: max_bytes,
    });
    let mut written_here: HashSet<String> = HashSet::new();
    for entry in archive.entries().context("cannot read the layer archive")? {
        let mut entry = entry.context("cannot read the layer archive")?;
        let raw_path = entry
            .path()
            .context("layer entry with an unreadable path")?
            .into_owned();
        let Some(path) = clean_entry_path(&raw_path)? else {
            continue; // the root itself
        };
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644);
        if mode & 0o7000 != 0 {
            bail!("layer entry {path} has set-id or sticky bits ({mode:o}); wharf refuses them");
        }
        let kind = header.entry_type();
        let mtime = header.mtime().unwrap_or(0);
        let name = path.rsplit('/').next().unwrap_or(&path);

        if let Some(hidden) = name.strip_prefix(".wh.") {
            let parent = parent_of(&path);
            if hidden == ".wh..opq" {
                remove_children_except(root, parent, &written_here, modules)?;
            } else {
                let target = join(parent, hidden);
                remove_any(root, &target, modules)?;
            }
            continue;
        }

        match kind {
            EntryType::Directory => {
                if let Ok(meta) = root.symlink_metadata(&path)
                    && !meta.is_dir()
                {
                    remove_any(root, &path, modules)?;
                }
                root.create_dir_all(&path)
                    .with_context(|| format!("cannot create directory {path}"))?;
                dir_times.insert(path.clone(), mtime);
            }
            EntryType::Regular | EntryType::Continuous => {
                prepare_leaf(root, &path, modules)?;
                let mut file = root
                    .open_with(&path, OpenOptions::new().write(true).create_new(true))
                    .with_context(|| format!("cannot create {path}"))?;
                if let Some(digest) = copy_recording_wasm(&mut entry, &mut file)
                    .with_context(|| format!("cannot write {path}"))?
                {
                    // Recorded where the file really is: a parent may be a
                    // symlink inside the tree.
                    let real = canonical_path(root, &path)?;
                    modules.insert(format!("/{real}"), digest);
                }
                file.into_std()
                    .set_modified(unix_time(mtime))
                    .with_context(|| format!("cannot set the modification time of {path}"))?;
                set_mode(root, &path, mode)?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .context("symlink without a target")?
                    .with_context(|| format!("symlink {path} has no target"))?
                    .to_string_lossy()
                    .into_owned();
                let target = relative_symlink_target(&path, &target);
                prepare_leaf(root, &path, modules)?;
                make_symlink(root, &target, &path)
                    .with_context(|| format!("cannot create symlink {path} -> {target}"))?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name()
                    .context("hard link without a target")?
                    .with_context(|| format!("hard link {path} has no target"))?
                    .into_owned();
                let Some(target) = clean_entry_path(&target)? else {
                    bail!("hard link {path} points at the image root");
                };
                prepare_leaf(root, &path, modules)?;
                root.hard_link(&target, root, &path)
                    .with_context(|| format!("cannot create hard link {path} -> {target}"))?;
                let real_target = canonical_path(root, &target)?;
                if let Some(digest) = modules.get(&format!("/{real_target}")).cloned() {
                    let real = canonical_path(root, &path)?;
                    modules.insert(format!("/{real}"), digest);
                }
            }
            EntryType::XGlobalHeader | EntryType::XHeader => continue,
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                bail!(
                    "layer entry {path} is a device or pipe; wharf images hold only files, directories and links"
                );
            }
            other => bail!("layer entry {path} has an unsupported type {other:?}"),
        }
        written_here.insert(path);
    }
    Ok(dir_times)
}

/// Gives every directory of the tree at `root` its time from `times`, and
/// the Unix epoch to directories no layer names, so that a guest sees the
/// same tree on every machine. Never follows a symlink.
pub fn set_dir_times(root: &Dir, times: &DirTimes) -> Result<()> {
    fn visit(root: &Dir, start: &std::fs::File, relative: &str, times: &DirTimes) -> Result<()> {
        let listing = if relative.is_empty() {
            root.entries()?
        } else {
            root.read_dir(relative)?
        };
        for entry in listing {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                let name = entry.file_name();
                let path = join(relative, &name.to_string_lossy());
                visit(root, start, &path, times)?;
                set_time(start, &path, times)?;
            }
        }
        Ok(())
    }
    fn set_time(start: &std::fs::File, path: &str, times: &DirTimes) -> Result<()> {
        let mtime = unix_time(times.get(path).copied().unwrap_or(0));
        let mtime = SystemTimeSpec::Absolute(cap_primitives::time::SystemTime::from_std(mtime));
        let target = if path.is_empty() { "." } else { path };
        cap_primitives::fs::set_times_nofollow(start, Path::new(target), None, Some(mtime))
            .with_context(|| format!("cannot set the modification time of /{path}"))
    }
    let start = root.try_clone()?.into_std_file();
    visit(root, &start, "", times)?;
    set_time(&start, "", times)
}

/// `seconds` after the Unix epoch, or the epoch itself for times no
/// platform can represent.
fn unix_time(seconds: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(seconds))
        .unwrap_or(UNIX_EPOCH)
}

/// Makes an entry path relative and clean, refusing any that leaves the
/// root. `None` means the root itself.
fn clean_entry_path(path: &Path) -> Result<Option<String>> {
    let mut parts: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => {
                let part = part.to_str().with_context(|| {
                    format!("layer entry {} is not valid UTF-8", path.display())
                })?;
                parts.push(part.to_owned());
            }
            Component::CurDir => {}
            Component::ParentDir => {
                bail!(
                    "layer entry {} climbs out of the image with '..'",
                    path.display()
                )
            }
            Component::RootDir | Component::Prefix(_) => {
                bail!("layer entry {} is an absolute path", path.display())
            }
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// Where an entry really is in the tree, symlinks in its parents followed
/// (inside the tree only).
fn canonical_path(root: &Dir, path: &str) -> Result<String> {
    let real = root
        .canonicalize(path)
        .with_context(|| format!("cannot resolve {path} inside the image"))?;
    Ok(real.to_string_lossy().replace('\\', "/"))
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

/// Turns an absolute symlink target into the equivalent relative one, so it
/// resolves inside the image root both for wharf and for the sandboxed
/// guest (which refuses absolute symlinks).
fn relative_symlink_target(link: &str, target: &str) -> String {
    if !target.starts_with('/') {
        return target.to_owned();
    }
    let mut resolved: Vec<&str> = Vec::new();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                resolved.pop();
            }
            other => resolved.push(other),
        }
    }
    let parent: Vec<&str> = parent_of(link)
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let common = parent
        .iter()
        .zip(&resolved)
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<&str> = vec![".."; parent.len() - common];
    parts.extend(&resolved[common..]);
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// Creates the parent of a leaf entry and removes whatever is at its path,
/// so that a file shared through a hard link is replaced, never written
/// through.
fn prepare_leaf(root: &Dir, path: &str, modules: &mut ModuleIndex) -> Result<()> {
    let parent = parent_of(path);
    if !parent.is_empty() {
        root.create_dir_all(parent)
            .with_context(|| format!("cannot create directory {parent}"))?;
    }
    remove_any(root, path, modules)
}

fn remove_any(root: &Dir, path: &str, modules: &mut ModuleIndex) -> Result<()> {
    let meta = match root.symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {path}")),
    };
    if meta.is_dir() {
        root.remove_dir_all(path)
    } else {
        root.remove_file(path)
    }
    .with_context(|| format!("cannot remove {path}"))?;
    // The index knows entries by where they really are.
    let parent = parent_of(path);
    let name = path.rsplit('/').next().unwrap_or(path);
    let real_parent = if parent.is_empty() {
        String::new()
    } else {
        canonical_path(root, parent)?
    };
    let key = if real_parent.is_empty() {
        format!("/{name}")
    } else {
        format!("/{real_parent}/{name}")
    };
    let below = format!("{key}/");
    modules.retain(|k, _| *k != key && !k.starts_with(&below));
    Ok(())
}

fn remove_children_except(
    root: &Dir,
    dir: &str,
    keep: &HashSet<String>,
    modules: &mut ModuleIndex,
) -> Result<()> {
    let listing = if dir.is_empty() {
        root.entries()
    } else {
        root.read_dir(dir)
    };
    let listing = match listing {
        Ok(listing) => listing,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {dir}")),
    };
    for child in listing {
        let child = child.with_context(|| format!("cannot list {dir}"))?;
        let name = child.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = join(dir, name);
        if !keep.contains(&path) {
            remove_any(root, &path, modules)?;
        }
    }
    Ok(())
}

/// Copies an entry's bytes into `out`; when they start with the Wasm magic,
/// returns their digest.
fn copy_recording_wasm(entry: &mut impl Read, out: &mut impl Write) -> io::Result<Option<Digest>> {
    let mut head = [0u8; 4];
    let mut filled = 0;
    while filled < head.len() {
        match entry.read(&mut head[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    if &head[..filled] == WASM_MAGIC {
        let mut hashing = HashingWriter::new(out);
        hashing.write_all(&head)?;
        io::copy(entry, &mut hashing)?;
        let (_, digest, _) = hashing.finish();
        Ok(Some(digest))
    } else {
        out.write_all(&head[..filled])?;
        io::copy(entry, out)?;
        Ok(None)
    }
}

#[cfg(unix)]
fn set_mode(root: &Dir, path: &str, mode: u32) -> Result<()> {
    use cap_std::fs::PermissionsExt;
    // Files in an unpacked image are never written again: make them
    // read-only so that nothing can write through a shared hard link.
    let mode = if mode & 0o111 != 0 { 0o555 } else { 0o444 };
    root.set_permissions(path, cap_std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set permissions of {path}"))
}

#[cfg(not(unix))]
fn set_mode(_root: &Dir, _path: &str, _mode: u32) -> Result<()> {
    // Windows has no mode bits, and a read-only attribute would stop the
    // store from removing the tree later.
    Ok(())
}

#[cfg(not(windows))]
pub(crate) fn make_symlink(root: &Dir, target: &str, path: &str) -> io::Result<()> {
    root.symlink(target, path)
}

#[cfg(windows)]
pub(crate) fn make_symlink(root: &Dir, target: &str, path: &str) -> io::Result<()> {
    root.symlink_file(target, path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "{e} (creating symlinks on Windows needs Developer Mode or administrator rights)"
            ),
        )
    })
}

struct LimitedReader<R> {
    inner: R,
    remaining: u64,
    limit: u64,
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.remaining {
            return Err(io::Error::other(format!(
                "the layer expands to more than {} bytes; refusing it as a decompression bomb",
                self.limit
            )));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        builder.into_inner().unwrap()
    }

    fn add_file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(EntryType::Regular);
        b.append_data(&mut h, path, data).unwrap();
    }

    fn raw_entry(b: &mut tar::Builder<Vec<u8>>, path: &str, kind: EntryType, link: Option<&str>) {
        // Writes the name bytes directly, so that hostile paths reach the
        // extractor unchanged.
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(link) = link {
            h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_size(0);
        h.set_mode(0o644);
        h.set_entry_type(kind);
        h.set_cksum();
        b.append(&h, io::empty()).unwrap();
    }

    fn extract(archive: &[u8]) -> (tempfile::TempDir, Result<ModuleIndex>) {
        let dir = tempfile::tempdir().unwrap();
        let root = Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority()).unwrap();
        let mut modules = ModuleIndex::new();
        let result = apply_layer(archive, &root, &mut modules).map(|_| modules);
        (dir, result)
    }

    #[test]
    fn files_and_wasm_modules_are_recorded() {
        let archive = tar_with(|b| {
            add_file(b, "usr/bin/tool.wasm", b"\0asm\x01\0\0\0");
            add_file(b, "etc/motd", b"hi");
        });
        let (dir, modules) = extract(&archive);
        let modules = modules.unwrap();
        assert_eq!(std::fs::read(dir.path().join("etc/motd")).unwrap(), b"hi");
        assert_eq!(
            modules.get("/usr/bin/tool.wasm"),
            Some(&crate::digest::sha256(b"\0asm\x01\0\0\0"))
        );
        assert_eq!(modules.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn modules_written_through_a_symlinked_directory_are_recorded_where_they_are() {
        let archive = tar_with(|b| {
            raw_entry(b, "usr", EntryType::Directory, None);
            raw_entry(b, "lnk", EntryType::Symlink, Some("usr"));
            add_file(b, "lnk/a.wasm", b"\0asm\x01\0\0\0victim");
            add_file(b, "usr/a.wasm", b"\0asm\x01\0\0\0attacker");
        });
        let (_dir, modules) = extract(&archive);
        let modules = modules.unwrap();
        assert_eq!(
            modules.get("/usr/a.wasm"),
            Some(&crate::digest::sha256(b"\0asm\x01\0\0\0attacker"))
        );
        assert_eq!(modules.get("/lnk/a.wasm"), None);
        assert_eq!(modules.len(), 1);

        // Replacing it through the link with something that is not Wasm
        // forgets it.
        let archive = tar_with(|b| {
            raw_entry(b, "usr", EntryType::Directory, None);
            add_file(b, "usr/a.wasm", b"\0asm\x01\0\0\0victim");
            raw_entry(b, "lnk", EntryType::Symlink, Some("usr"));
            add_file(b, "lnk/a.wasm", b"plain text");
        });
        let (_dir, modules) = extract(&archive);
        assert!(modules.unwrap().is_empty());
    }

    #[test]
    fn parent_directory_escapes_are_refused() {
        let archive = tar_with(|b| raw_entry(b, "../evil", EntryType::Regular, None));
        let (dir, result) = extract(&archive);
        assert!(format!("{:#}", result.unwrap_err()).contains("climbs out"));
        assert!(!dir.path().parent().unwrap().join("evil").exists());
    }

    #[test]
    fn absolute_paths_are_refused() {
        let archive = tar_with(|b| raw_entry(b, "/abs", EntryType::Regular, None));
        let (_dir, result) = extract(&archive);
        assert!(format!("{:#}", result.unwrap_err()).contains("absolute"));
    }

    #[test]
    fn devices_are_refused() {
        let archive = tar_with(|b| raw_entry(b, "dev/null", EntryType::Char, None));
        let (_dir, result) = extract(&archive);
        assert!(format!("{:#}", result.unwrap_err()).contains("device"));
    }

    #[test]
    fn whiteouts_remove_lower_entries() {
        let dir = tempfile::tempdir().unwrap();
        let root = Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority()).unwrap();
        let mut modules = ModuleIndex::new();
        let lower = tar_with(|b| {
            add_file(b, "a/gone.wasm", b"\0asm\x01\0\0\0");
            add_file(b, "b/old", b"1");
        });
        apply_layer(&lower[..], &root, &mut modules).unwrap();
        let upper = tar_with(|b| {
            add_file(b, "a/.wh.gone.wasm", b"");
            add_file(b, "b/.wh..wh..opq", b"");
            add_file(b, "b/new", b"2");
        });
        apply_layer(&upper[..], &root, &mut modules).unwrap();
        assert!(!dir.path().join("a/gone.wasm").exists());
        assert!(!dir.path().join("b/old").exists());
        assert!(dir.path().join("b/new").exists());
        assert!(modules.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_cannot_redirect_writes_outside() {
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().to_str().unwrap().to_owned();
        let archive = tar_with(|b| {
            raw_entry(
                b,
                "escape",
                EntryType::Symlink,
                Some("../../../../../../../../"),
            );
            add_file(b, "escape/pwned", b"x");
        });
        let (_dir, result) = extract(&archive);
        assert!(result.is_err());
        assert!(std::fs::read_dir(&target).unwrap().next().is_none());
    }

    #[test]
    fn a_decompression_bomb_is_refused_with_a_clear_error() {
        // 64 MiB of zeros compress to about 64 KiB; the limit here is 1 MiB.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let mut archive = tar::Builder::new(&mut gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(64 << 20);
        h.set_mode(0o644);
        h.set_entry_type(EntryType::Regular);
        archive
            .append_data(&mut h, "zeros", io::repeat(0).take(64 << 20))
            .unwrap();
        archive.finish().unwrap();
        drop(archive);
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 1 << 20);
        let dir = tempfile::tempdir().unwrap();
        let root = Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority()).unwrap();
        let err = apply_layer_limited(
            flate2::read::GzDecoder::new(&bomb[..]),
            &root,
            &mut ModuleIndex::new(),
            1 << 20,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("decompression bomb"), "{err:#}");
    }

    #[test]
    fn absolute_symlink_targets_become_relative() {
        assert_eq!(
            relative_symlink_target("usr/bin/python", "/usr/local/bin/python.wasm"),
            "../local/bin/python.wasm"
        );
        assert_eq!(relative_symlink_target("lib", "/usr/lib"), "usr/lib");
        assert_eq!(relative_symlink_target("a/b", "/"), "..");
        assert_eq!(relative_symlink_target("a/b", "rel/x"), "rel/x");
        assert_eq!(relative_symlink_target("x", "/../../etc"), "etc");
    }
}
