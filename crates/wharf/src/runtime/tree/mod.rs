//! One file tree for core modules (WASI preview 1): a layer in front of
//! wasmtime-wasi's preview 1 host calls that makes a run's directories (the
//! image's root, `/tmp`, each mount) one tree, as a container's are.
//!
//! wasi-libc picks a preopened directory for every path before the host
//! sees it, by the longest name that prefixes the path; so with a preopen
//! per mount, a directory never lists the mount points inside it and `..`
//! cannot cross from a mount to the rest of the tree. Here the guest is
//! shown one preopen, `/`, and every path it names is routed
//! ([`crate::guest_tree`]) to the run's directory that holds it, as
//! wasmtime-wasi's own descriptor of that directory and a path inside it.
//! The layer deals in names and paths only: every access to a file is still
//! wasmtime-wasi's, through cap-std.
//!
//! What the layer adds to wasmtime-wasi, call by call:
//!
//! - `fd_prestat_get` shows only `/`: the other directories' descriptors
//!   stay wasmtime-wasi's, reached through `/`.
//! - Path calls (`path_open`, `path_filestat_get`, `path_unlink_file`…)
//!   are routed when the path enters another mount or climbs above the
//!   directory it is relative to; the rest go through untouched.
//! - `fd_readdir` of a directory with mount points inside it lists them
//!   (each as the directory it is, shadowing what the image holds there).
//! - `path_symlink` refuses (`EPERM`) a target that climbs above the
//!   directory holding the link ([`crate::guest_tree::symlink_stays_home`]).

mod preview1;

use std::collections::HashMap;
use std::io;

use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::types;
use wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1;
use wiggle::{GuestMemory, GuestPtr};

use crate::guest_path;
use crate::guest_tree::{MountTable, Route};

/// The descriptor of the first preopened directory: wasmtime-wasi numbers
/// them from 3, in the order they were preopened.
const FIRST_PREOPEN: u32 = 3;

/// Size of a preview 1 `dirent` before its name, in bytes.
const DIRENT_SIZE: usize = 24;

/// `filetype::directory` of preview 1.
const FILETYPE_DIRECTORY: u8 = 3;

/// The longest path the tree routes, in bytes: Linux's `PATH_MAX`.
pub(super) const PATH_MAX: usize = 4096;

/// The largest listing read from wasmtime-wasi at once (64 MiB).
const MAX_LISTING: u32 = 64 << 20;

/// A guest's preview 1 context, seen through its file tree.
pub struct TreeCtx {
    pub(super) inner: WasiP1Ctx,
    /// Boxed: most plugin calls have no tree, and the store that holds
    /// this context is allocated on every call.
    tree: Option<Box<Tree>>,
}

/// The run's directories, and what the layer knows of the guest's
/// descriptors.
struct Tree {
    table: MountTable,
    /// Each mount's directory, to resolve symlinks in for `..`.
    dirs: Vec<cap_std::fs::Dir>,
    /// The guest path of each directory descriptor the guest has.
    paths: HashMap<u32, String>,
    /// The guest path of descriptors opened without `O_DIRECTORY`: a
    /// directory, or a file, told apart when one is first used as a
    /// directory ([`TreeCtx::settle`]).
    unsure: HashMap<u32, String>,
    /// The listing of the last directory with mount points inside that
    /// was read, and its descriptor: read at cookie 0 and kept for the
    /// cookies that follow (one at a time, so that open directories cost
    /// no memory).
    listing: Option<(u32, Vec<Entry>)>,
}

/// One entry of a directory listing.
struct Entry {
    ino: u64,
    kind: u8,
    name: Vec<u8>,
}

/// Where a path call goes.
enum Target {
    /// To the descriptor and path the guest gave, untouched.
    AsGiven,
    /// To the same descriptor and path; the result's guest path is
    /// `guest`.
    Direct { guest: String },
    /// To mount `mount`'s descriptor, at `rel`.
    Routed {
        guest: String,
        mount: usize,
        rel: String,
    },
}

impl TreeCtx {
    /// `inner` as it is: for guests handed no directories.
    pub(super) fn plain(inner: WasiP1Ctx) -> Self {
        Self { inner, tree: None }
    }

    /// `inner`, whose preopened directories are the mounts of `table` in
    /// its order (`/` first), with `dirs` opened on the same directories.
    pub(super) fn new(inner: WasiP1Ctx, table: MountTable, dirs: Vec<cap_std::fs::Dir>) -> Self {
        let paths = table
            .points()
            .iter()
            .enumerate()
            .map(|(index, point)| (FIRST_PREOPEN + index as u32, point.clone()))
            .collect();
        Self {
            inner,
            tree: Some(Box::new(Tree {
                table,
                dirs,
                paths,
                unsure: HashMap::new(),
                listing: None,
            })),
        }
    }

    /// Where `path` (read from the guest) relative to `dirfd` goes.
    fn target(&self, dirfd: types::Fd, path: &str) -> Result<Target, types::Error> {
        let Some(tree) = &self.tree else {
            return Ok(Target::AsGiven);
        };
        let Some(base) = tree.paths.get(&u32::from(dirfd)) else {
            return Ok(Target::AsGiven);
        };
        if path.len() > PATH_MAX {
            return Err(types::Errno::Nametoolong.into());
        }
        let canonical = |index: usize, rel: &str| -> io::Result<String> {
            let resolved = tree.dirs[index].canonicalize(rel)?;
            Ok(resolved.to_string_lossy().replace('\\', "/"))
        };
        match tree.table.route(base, path, canonical) {
            Ok(Route::Direct) if path.starts_with('/') || path.is_empty() => Ok(Target::AsGiven),
            Ok(Route::Direct) => {
                let guest = guest_path::resolve(base, path);
                Ok(Target::Direct { guest })
            }
            Ok(Route::Mount { index, rel }) => {
                let point = &tree.table.points()[index];
                let guest = guest_path::resolve(point, &rel);
                Ok(Target::Routed {
                    guest,
                    mount: index,
                    rel,
                })
            }
            Err(error) => Err(errno(&error).into()),
        }
    }

    /// Remembers that `fd` was opened at `guest`, as a directory when
    /// `directory` (`O_DIRECTORY`), else as what it turns out to be.
    fn opened(&mut self, fd: types::Fd, guest: String, directory: bool) {
        let fd = u32::from(fd);
        self.closed(fd);
        if let Some(tree) = &mut self.tree {
            if directory {
                tree.paths.insert(fd, guest);
            } else {
                tree.unsure.insert(fd, guest);
            }
        }
    }

    /// Whether `fd` is one of the run's directories as wasmtime-wasi
    /// preopened them: the layer routes paths to them by number, so they
    /// stay open and where they are.
    fn is_preopen(&self, fd: types::Fd) -> bool {
        self.tree.as_ref().is_some_and(|tree| {
            let fd = u32::from(fd);
            fd >= FIRST_PREOPEN && fd < FIRST_PREOPEN + tree.table.points().len() as u32
        })
    }

    /// Forgets `fd`.
    fn closed(&mut self, fd: u32) {
        if let Some(tree) = &mut self.tree {
            tree.paths.remove(&fd);
            tree.unsure.remove(&fd);
            if tree.listing.as_ref().is_some_and(|(kept, _)| *kept == fd) {
                tree.listing = None;
            }
        }
    }

    /// Before `fd` is used as a directory: if it was opened without
    /// `O_DIRECTORY`, learns whether it is one. A file is forgotten, so
    /// that a path relative to it fails as wasmtime-wasi fails it
    /// (`ENOTDIR`) rather than being routed.
    async fn settle(&mut self, fd: types::Fd) {
        let Some(tree) = &mut self.tree else {
            return;
        };
        let Some(guest) = tree.unsure.remove(&u32::from(fd)) else {
            return;
        };
        let mut none = [0u8; 0];
        let stat = self
            .inner
            .fd_fdstat_get(&mut GuestMemory::Unshared(&mut none), fd)
            .await;
        if stat.is_ok_and(|stat| stat.fs_filetype == types::Filetype::Directory)
            && let Some(tree) = &mut self.tree
        {
            tree.paths.insert(u32::from(fd), guest);
        }
    }

    /// The mount points listed in the directory `fd`, if the tree knows
    /// of any.
    fn mount_children(&self, fd: types::Fd) -> Vec<(String, usize)> {
        let Some(tree) = &self.tree else {
            return Vec::new();
        };
        let Some(dir) = tree.paths.get(&u32::from(fd)) else {
            return Vec::new();
        };
        tree.table
            .children(dir)
            .into_iter()
            .map(|name| {
                let point = guest_path::resolve(dir, name);
                let index = tree.table.mount_of(&point);
                (name.to_owned(), index)
            })
            .collect()
    }

    /// Reads the whole listing of `fd` from wasmtime-wasi, then shows the
    /// mount points `children` in it: each replaces what the directory
    /// holds under its name.
    async fn listing(
        &mut self,
        fd: types::Fd,
        children: Vec<(String, usize)>,
    ) -> Result<Vec<Entry>, types::Error> {
        let mut cap: u32 = 64 << 10;
        let raw = loop {
            let mut scratch = vec![0u8; cap as usize];
            let mut memory = GuestMemory::Unshared(&mut scratch);
            let used = self
                .inner
                .fd_readdir(&mut memory, fd, GuestPtr::new(0), cap, 0)
                .await?;
            if used < cap {
                scratch.truncate(used as usize);
                break scratch;
            }
            if cap >= MAX_LISTING {
                return Err(types::Errno::Nomem.into());
            }
            cap = cap.saturating_mul(4).min(MAX_LISTING);
        };
        let mut entries = parse_dirents(&raw);
        entries.retain(|entry| {
            !children
                .iter()
                .any(|(name, _)| name.as_bytes() == entry.name)
        });
        for (name, index) in children {
            let mount_fd = types::Fd::from(FIRST_PREOPEN + index as u32);
            let mut none = [0u8; 0];
            let ino = self
                .inner
                .fd_filestat_get(&mut GuestMemory::Unshared(&mut none), mount_fd)
                .await
                .map_or(0, |stat| stat.ino);
            entries.push(Entry {
                ino,
                kind: FILETYPE_DIRECTORY,
                name: name.into_bytes(),
            });
        }
        Ok(entries)
    }
}

/// The descriptor wasmtime-wasi gave mount `index` of the table.
pub(super) fn mount_fd(index: usize) -> types::Fd {
    types::Fd::from(FIRST_PREOPEN + index as u32)
}

/// Host memory holding two routed paths, and the descriptor and pointer of
/// each.
type TwoPaths = (Vec<u8>, [(types::Fd, GuestPtr<str>); 2]);

impl TreeCtx {
    /// Where the two paths of `path_link` or `path_rename` go (each given
    /// relative to its descriptor): `None` when both go as given.
    fn two_paths(
        &self,
        memory: &GuestMemory<'_>,
        a: (types::Fd, GuestPtr<str>),
        b: (types::Fd, GuestPtr<str>),
    ) -> Result<Option<TwoPaths>, types::Error> {
        if self.tree.is_none() {
            return Ok(None);
        }
        let mut routed = false;
        let mut ends = Vec::with_capacity(2);
        for (fd, path) in [a, b] {
            if path.len() as usize > PATH_MAX {
                return Err(types::Errno::Nametoolong.into());
            }
            let given = memory.as_cow_str(path)?.into_owned();
            match self.target(fd, &given)? {
                Target::AsGiven | Target::Direct { .. } => ends.push((fd, given)),
                Target::Routed { mount, rel, .. } => {
                    routed = true;
                    ends.push((mount_fd(mount), rel));
                }
            }
        }
        if !routed {
            return Ok(None);
        }
        let (bytes, pointers) = scratch(&[&ends[0].1, &ends[1].1], 0);
        Ok(Some((
            bytes,
            [(ends[0].0, pointers[0]), (ends[1].0, pointers[1])],
        )))
    }
}

/// The entries of a preview 1 `fd_readdir` buffer that are whole.
fn parse_dirents(mut raw: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    while raw.len() >= DIRENT_SIZE {
        let ino = u64::from_le_bytes(raw[8..16].try_into().expect("8 bytes"));
        let namlen = u32::from_le_bytes(raw[16..20].try_into().expect("4 bytes")) as usize;
        let kind = raw[20];
        let Some(name) = raw.get(DIRENT_SIZE..DIRENT_SIZE + namlen) else {
            break;
        };
        entries.push(Entry {
            ino,
            kind,
            name: name.to_vec(),
        });
        raw = &raw[DIRENT_SIZE + namlen..];
    }
    entries
}

/// Writes `entries` from `cookie` on into `buf` (`buf_len` bytes) as
/// preview 1 `dirent`s, cutting the last one short when it does not fit, as
/// wasmtime-wasi does (the guest then asks again with a larger buffer).
/// Returns the bytes written.
fn write_dirents(
    memory: &mut GuestMemory<'_>,
    entries: &[Entry],
    buf: GuestPtr<u8>,
    buf_len: u32,
    cookie: u64,
) -> Result<u32, types::Error> {
    let mut out = Vec::new();
    let cap = buf_len as usize;
    let skip = usize::try_from(cookie).map_err(|_| types::Errno::Overflow)?;
    for (index, entry) in entries.iter().enumerate().skip(skip) {
        let mut dirent = [0u8; DIRENT_SIZE];
        dirent[0..8].copy_from_slice(&(index as u64 + 1).to_le_bytes());
        dirent[8..16].copy_from_slice(&entry.ino.to_le_bytes());
        dirent[16..20].copy_from_slice(&(entry.name.len() as u32).to_le_bytes());
        dirent[20] = entry.kind;
        out.extend_from_slice(&dirent);
        out.extend_from_slice(&entry.name);
        if out.len() >= cap {
            break;
        }
    }
    out.truncate(cap);
    let len = u32::try_from(out.len())?;
    memory.copy_from_slice(&out, buf.as_array(len))?;
    Ok(len)
}

/// Guest memory of the host's own, holding `strings` one after another,
/// and `extra` zero bytes after them; with a pointer to each string.
fn scratch(strings: &[&str], extra: u32) -> (Vec<u8>, Vec<GuestPtr<str>>) {
    let mut bytes = Vec::new();
    let mut pointers = Vec::new();
    for s in strings {
        let at = bytes.len() as u32;
        bytes.extend_from_slice(s.as_bytes());
        pointers.push(GuestPtr::new((at, s.len() as u32)));
    }
    bytes.resize(bytes.len() + extra as usize, 0);
    (bytes, pointers)
}

/// The preview 1 error for an I/O error of path resolution.
fn errno(error: &io::Error) -> types::Errno {
    use io::ErrorKind;
    #[cfg(unix)]
    match rustix::io::Errno::from_io_error(error) {
        Some(rustix::io::Errno::LOOP) => return types::Errno::Loop,
        Some(rustix::io::Errno::NAMETOOLONG) => return types::Errno::Nametoolong,
        Some(rustix::io::Errno::ACCESS) => return types::Errno::Acces,
        _ => {}
    }
    match error.kind() {
        ErrorKind::NotFound => types::Errno::Noent,
        // cap-std says so of a path that would leave its directory.
        ErrorKind::PermissionDenied => types::Errno::Perm,
        ErrorKind::NotADirectory => types::Errno::Notdir,
        ErrorKind::IsADirectory => types::Errno::Isdir,
        ErrorKind::AlreadyExists => types::Errno::Exist,
        ErrorKind::InvalidInput | ErrorKind::InvalidFilename => types::Errno::Inval,
        _ => types::Errno::Io,
    }
}
