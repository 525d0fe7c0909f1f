//! The guest's filesystem: which host directories it is handed, under which
//! names, with which rights.
//!
//! The image's tree is `/`, read-only; `/tmp` is a fresh writable directory
//! per run; each mount adds a host directory at its guest path. Everything
//! is a WASI preopen, so the guest reaches nothing else (cap-std enforces it
//! against `..`, absolute paths and symlinks).
//!
//! # One tree
//!
//! A core module is handed `/` alone, through the layer in `tree.rs`: the
//! other directories are reached through it, listed in their parents, and
//! `..` crosses from one to another as on Linux. A directory that a mount
//! point (or the working directory) needs and the image lacks is made up:
//! an empty, read-only directory, as a container runtime creates one.
//! Components, whose preview 2 context wharf does not stand in front of,
//! are handed each directory under its own name.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cap_std::fs::Dir;

use crate::guest_path;
use crate::guest_tree::MountTable;

/// A host directory made visible to the guest (`-v HOST:GUEST[:ro]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it: an absolute guest path.
    pub guest: String,
    /// Whether the guest may only read.
    pub read_only: bool,
}

/// One directory handed to the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preopen {
    /// The host directory (symlink-free).
    pub host: PathBuf,
    /// Its name in the guest.
    pub guest: String,
    /// Whether writes are refused.
    pub read_only: bool,
}

/// The planned filesystem of one run.
///
/// Every directory handed to the guest is opened while the plan is made,
/// beneath the directory it was derived from, and that very handle is what
/// the guest gets: a component of a writable mount swapped for a symlink
/// after the plan was checked cannot redirect it.
#[derive(Debug)]
pub struct GuestFs {
    /// The image tree, when the image serves `/`.
    image_root: Option<PathBuf>,
    /// Open handles of `preopens`, in the same order.
    handles: Vec<std::fs::File>,
    /// What the guest's paths really mean: `/` (image or mount), `/tmp`,
    /// mounts. Used to find files the way a Docker user thinks of them.
    truth: Vec<Preopen>,
    /// Each of `truth`'s directories, opened on first use.
    opened: Vec<std::sync::OnceLock<Dir>>,
    /// What the guest is handed: `truth`, `/` first.
    preopens: Vec<Preopen>,
    warnings: Vec<String>,
    /// Where the directories made up for the run come from.
    made_up: MadeUp,
}

/// Empty directories that calls share for the directories they make up
/// (a root for a module given only mounts, a mount point's missing
/// parents): each is handed to the guest read-only, so one call cannot put
/// anything in it for another to see. The `n`-th made-up directory of
/// every call is the same `n`-th directory here, made once, so that a call
/// costs no `mkdir` and `rmdir` for them (a server making thousands of
/// calls a second notices), while no two of one call look like one (same
/// device and inode) to its guest. Removed when the last holder is
/// dropped.
#[derive(Debug, Default)]
pub struct EmptyDirs {
    /// The directory holding them, and how many of its numbered
    /// directories exist.
    made: std::sync::Mutex<Option<(tempfile::TempDir, usize)>>,
}

impl EmptyDirs {
    /// The `n`-th empty directory, made if it is not yet (or again, when
    /// something removed it: a cleaner of the system's temporary
    /// directory).
    fn get(&self, n: usize) -> Result<PathBuf> {
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        // Start over in a new directory when the one in use (or the one
        // asked for) is gone.
        let gone = match &*made {
            None => true,
            Some((root, count)) => {
                !root.path().is_dir() || (n < *count && !root.path().join(n.to_string()).is_dir())
            }
        };
        if gone {
            let root = tempfile::Builder::new()
                .prefix("wharf-empty-")
                .tempdir()
                .context("cannot create an empty directory for the guest")?;
            *made = Some((root, 0));
        }
        let (root, count) = made.as_mut().expect("made above");
        while *count <= n {
            let dir = root.path().join(count.to_string());
            fs::create_dir(&dir).with_context(|| {
                format!(
                    "cannot create an empty directory for the guest in {}",
                    root.path().display()
                )
            })?;
            *count += 1;
        }
        Ok(root.path().join(n.to_string()))
    }
}

/// Where a plan's made-up directories come from.
#[derive(Debug)]
enum MadeUp {
    /// Its own, removed with it.
    Own(EmptyDirs),
    /// Shared with other calls.
    Shared(std::sync::Arc<EmptyDirs>, usize),
}

impl GuestFs {
    /// Plans the filesystem: `root` is the image tree (if any), `tmp` the
    /// run's private `/tmp` (if it has one), `workdir` the absolute working
    /// directory. The tree's root comes first: the image's (or a mount at
    /// `/`), or an empty directory when the run has directories but no
    /// root. Parents that mount points need, and a working directory, that
    /// the tree lacks are made up as empty, read-only directories (Docker
    /// creates them); a run with no directories at all is handed none.
    ///
    /// # Errors
    ///
    /// Two mounts at one place, a mount that is not a directory, a working
    /// directory (or a mount point's parent) that is a file, a directory
    /// that cannot be opened.
    pub fn plan(
        root: Option<&Path>,
        mounts: &[Mount],
        tmp: Option<&Path>,
        workdir: &str,
    ) -> Result<Self> {
        Self::plan_in(
            root,
            mounts,
            tmp,
            workdir,
            MadeUp::Own(EmptyDirs::default()),
        )
    }

    /// [`GuestFs::plan`], with made-up directories from `empty`, which
    /// other calls share.
    pub(crate) fn plan_shared(
        root: Option<&Path>,
        mounts: &[Mount],
        tmp: Option<&Path>,
        workdir: &str,
        empty: &std::sync::Arc<EmptyDirs>,
    ) -> Result<Self> {
        if root.is_none() && mounts.is_empty() && tmp.is_none() && workdir == "/" {
            // A plugin handed no directory at all: nothing to plan, open
            // or make up, on every call.
            return Ok(Self::without_directories(MadeUp::Own(EmptyDirs::default())));
        }
        Self::plan_in(root, mounts, tmp, workdir, MadeUp::Shared(empty.clone(), 0))
    }

    /// A plan that hands the guest no directory.
    fn without_directories(made_up: MadeUp) -> Self {
        GuestFs {
            image_root: None,
            handles: Vec::new(),
            truth: Vec::new(),
            opened: Vec::new(),
            preopens: Vec::new(),
            warnings: Vec::new(),
            made_up,
        }
    }

    fn plan_in(
        root: Option<&Path>,
        mounts: &[Mount],
        tmp: Option<&Path>,
        workdir: &str,
        made_up: MadeUp,
    ) -> Result<Self> {
        let mut normalized: Vec<Mount> = Vec::new();
        for mount in mounts {
            let guest = guest_path::resolve("/", &mount.guest);
            if normalized.iter().any(|m| m.guest == guest) {
                bail!("two mounts at {guest}");
            }
            let host = fs::canonicalize(&mount.host)
                .with_context(|| format!("cannot use {} as a mount", mount.host.display()))?;
            if !host.is_dir() {
                bail!(
                    "{} is not a directory (wharf mounts directories)",
                    host.display()
                );
            }
            normalized.push(Mount {
                host,
                guest,
                read_only: mount.read_only,
            });
        }
        let mounts = normalized;

        let mut fs = GuestFs::without_directories(made_up);
        let root_mount = mounts.iter().find(|m| m.guest == "/");
        match (root_mount, root) {
            (Some(m), _) => fs.add(preopen(&m.host, "/", m.read_only)),
            (None, Some(tree)) => {
                fs.add(preopen(tree, "/", true));
                fs.image_root = Some(tree.to_owned());
            }
            (None, None) => {}
        }
        let mut points: Vec<Preopen> = Vec::new();
        if let Some(tmp) = tmp.filter(|_| !mounts.iter().any(|m| m.guest == "/tmp")) {
            points.push(preopen(tmp, "/tmp", false));
        }
        for mount in mounts.iter().filter(|m| m.guest != "/") {
            points.push(preopen(&mount.host, &mount.guest, mount.read_only));
        }
        if fs.truth.is_empty() && (!points.is_empty() || workdir != "/") {
            let empty = fs.empty_dir()?;
            fs.add(preopen(&empty, "/", true));
        }
        // Shallow points first, so that a point's parent is in place
        // before the points below it are looked for.
        points.sort_by_key(|p| p.guest.matches('/').count());
        for point in points {
            fs.make_parents(&point.guest)?;
            fs.add(point);
        }
        if workdir != "/" {
            fs.make_workdir_in_writable_mount(workdir)?;
            fs.make_parents(workdir)?;
            match fs.kind_of(workdir) {
                Some(true) => {}
                Some(false) => bail!("working directory {workdir} is not a directory"),
                None => {
                    let empty = fs.empty_dir()?;
                    fs.add(preopen(&empty, workdir, true));
                }
            }
        }
        fs.preopens = fs.truth.clone();
        fs.handles = fs.open_preopens()?;
        Ok(fs)
    }

    /// Adds a directory of the run.
    fn add(&mut self, dir: Preopen) {
        self.truth.push(dir);
        self.opened.push(std::sync::OnceLock::new());
    }

    /// Creates a working directory that the tree lacks inside the writable
    /// directory that would hold it (a read-write mount, `/tmp`), as Docker
    /// creates it there; elsewhere it is left to be made up.
    fn make_workdir_in_writable_mount(&mut self, workdir: &str) -> Result<()> {
        let Some((index, rest)) = self.locate_index(workdir) else {
            return Ok(());
        };
        if rest.is_empty() || self.truth[index].read_only || self.kind_of(workdir).is_some() {
            return Ok(());
        }
        let dir = self.truth_dir(index)?;
        dir.create_dir_all(&rest)
            .with_context(|| format!("cannot create the working directory {workdir}"))?;
        Ok(())
    }

    /// Makes up the directories above `guest` that the tree lacks.
    fn make_parents(&mut self, guest: &str) -> Result<()> {
        let parts: Vec<&str> = guest.split('/').filter(|p| !p.is_empty()).collect();
        for depth in 1..parts.len() {
            let parent = format!("/{}", parts[..depth].join("/"));
            match self.kind_of(&parent) {
                Some(true) => {}
                Some(false) => bail!("cannot mount at {guest}: {parent} is not a directory"),
                None => {
                    let empty = self.empty_dir()?;
                    self.add(preopen(&empty, &parent, true));
                }
            }
        }
        Ok(())
    }

    /// Whether the tree has `guest`, and whether it is a directory
    /// (symlinks followed inside the directory that holds it).
    fn kind_of(&self, guest: &str) -> Option<bool> {
        let (index, rest) = self.locate_index(guest)?;
        if rest.is_empty() {
            return Some(true);
        }
        let dir = self.truth_dir(index).ok()?;
        dir.metadata(&rest).ok().map(|m| m.is_dir())
    }

    /// A new empty directory behind a made-up directory: each of a call
    /// its own, so that no two look like one (same device and inode) to
    /// the guest.
    fn empty_dir(&mut self) -> Result<PathBuf> {
        match &mut self.made_up {
            MadeUp::Own(dirs) => dirs.get(self.truth.len()),
            MadeUp::Shared(dirs, next) => {
                *next += 1;
                dirs.get(*next - 1)
            }
        }
    }

    /// The tree's mount table, in the order of [`GuestFs::preopens`].
    pub fn table(&self) -> MountTable {
        MountTable::new(self.preopens.iter().map(|p| p.guest.as_str()))
    }

    /// The directories handed to the guest, opened, in the order of
    /// [`GuestFs::preopens`].
    pub fn dirs(&self) -> io::Result<Vec<Dir>> {
        self.handles
            .iter()
            .map(|file| Ok(Dir::from_std_file(file.try_clone()?)))
            .collect()
    }

    /// Opens every preopen beneath the directory it derives from.
    fn open_preopens(&self) -> Result<Vec<std::fs::File>> {
        self.preopens
            .iter()
            .map(|p| {
                let (index, source) = self
                    .truth
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| p.host.starts_with(&t.host))
                    .max_by_key(|(_, t)| t.host.as_os_str().len())
                    .with_context(|| {
                        format!("{} is outside every directory of the run", p.host.display())
                    })?;
                let dir = self.truth_dir(index)?;
                let below = p.host.strip_prefix(&source.host).unwrap_or(Path::new(""));
                let opened = if below.as_os_str().is_empty() {
                    dir.try_clone()?
                } else {
                    dir.open_dir(below).with_context(|| {
                        format!("cannot open {} for the guest", p.host.display())
                    })?
                };
                Ok(opened.into_std_file())
            })
            .collect()
    }

    /// The path to hand wasmtime for preopen `index`: the handle opened
    /// while planning, where the OS can name an open descriptor.
    pub fn preopen_path(&self, index: usize) -> PathBuf {
        held_path(&self.handles[index]).unwrap_or_else(|| self.preopens[index].host.clone())
    }

    /// Whether the image (not a mount) serves an absolute guest path.
    pub fn served_by_image(&self, guest: &str) -> bool {
        match (&self.image_root, self.locate(guest)) {
            (Some(root), Some((preopen, _))) => &preopen.host == root,
            _ => false,
        }
    }

    /// The directories to hand the guest, in order.
    pub fn preopens(&self) -> &[Preopen] {
        &self.preopens
    }

    /// Things the user should know about this filesystem (shadowed names).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Finds the directory and relative path an absolute guest path lives
    /// in, by the longest matching preopen, as wasi-libc does.
    fn locate<'a>(&'a self, guest: &str) -> Option<(&'a Preopen, String)> {
        self.locate_index(guest)
            .map(|(i, rest)| (&self.truth[i], rest))
    }

    fn locate_index(&self, guest: &str) -> Option<(usize, String)> {
        self.truth
            .iter()
            .enumerate()
            .filter(|(_, p)| guest_path::is_within(guest, &p.guest))
            .max_by_key(|(_, p)| p.guest.len())
            .map(|(i, p)| {
                let rest = guest[p.guest.trim_end_matches('/').len()..].trim_start_matches('/');
                (i, rest.to_owned())
            })
    }

    /// The directory holding `guest`, opened once, and the path below it.
    fn dir_for(&self, guest: &str) -> io::Result<(&Dir, &Preopen, String)> {
        let (index, rest) = self
            .locate_index(guest)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no directory holds it"))?;
        Ok((self.truth_dir(index)?, &self.truth[index], rest))
    }

    /// One of the run's own directories, opened once.
    fn truth_dir(&self, index: usize) -> io::Result<&Dir> {
        if let Some(dir) = self.opened[index].get() {
            return Ok(dir);
        }
        let dir = Dir::open_ambient_dir(&self.truth[index].host, cap_std::ambient_authority())?;
        Ok(self.opened[index].get_or_init(|| dir))
    }

    /// Opens a regular file by absolute guest path, following symlinks
    /// inside its directory only.
    pub fn open_file(&self, guest: &str) -> io::Result<cap_std::fs::File> {
        let (dir, _, rest) = self.dir_for(guest)?;
        if rest.is_empty() {
            return Err(io::Error::new(io::ErrorKind::IsADirectory, "a directory"));
        }
        let file = dir.open(&rest)?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "not a regular file",
            ));
        }
        Ok(file)
    }

    /// The path a guest path leads to once its symlinks are resolved.
    pub fn canonical(&self, guest: &str) -> io::Result<String> {
        let (dir, preopen, rest) = self.dir_for(guest)?;
        let canonical = dir.canonicalize(if rest.is_empty() { "." } else { &rest })?;
        Ok(guest_path::resolve(
            &preopen.guest,
            &canonical.to_string_lossy().replace('\\', "/"),
        ))
    }

    /// Whether an absolute guest path names a regular file.
    pub fn is_file(&self, guest: &str) -> bool {
        self.open_file(guest).is_ok()
    }
}

fn preopen(host: &Path, guest: &str, read_only: bool) -> Preopen {
    Preopen {
        host: host.to_owned(),
        guest: guest.to_owned(),
        read_only,
    }
}

/// A path that names an open directory descriptor itself, where the OS has
/// one: opening it yields that very directory, whatever happened to its
/// name since.
#[cfg(target_os = "linux")]
fn held_path(file: &std::fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    Some(PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd())))
}

#[cfg(all(unix, not(target_os = "linux")))]
fn held_path(file: &std::fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    Some(PathBuf::from(format!("/dev/fd/{}", file.as_raw_fd())))
}

/// Windows has no path for an open handle: the checked path is used, and
/// the window between check and open stays (see docs/SECURITY.md).
#[cfg(not(unix))]
fn held_path(_file: &std::fs::File) -> Option<PathBuf> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for d in ["usr/local/bin", "app/pkg", "etc"] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        fs::write(dir.path().join("app/app.py"), "print(1)").unwrap();
        fs::write(dir.path().join("usr/local/bin/python.wasm"), "\0asm").unwrap();
        dir
    }

    fn guests(fs: &GuestFs) -> Vec<&str> {
        fs.preopens().iter().map(|p| p.guest.as_str()).collect()
    }

    #[test]
    fn root_workdir_hands_over_the_tree_as_is() {
        let (root, tmp) = (tree(), tempfile::tempdir().unwrap());
        let fs = GuestFs::plan(Some(root.path()), &[], Some(tmp.path()), "/").unwrap();
        assert_eq!(guests(&fs), vec!["/", "/tmp"]);
        assert!(fs.preopens()[0].read_only);
        assert!(!fs.preopens()[1].read_only);
    }

    #[test]
    fn a_workdir_changes_nothing_of_the_tree() {
        let (root, tmp) = (tree(), tempfile::tempdir().unwrap());
        let fs = GuestFs::plan(Some(root.path()), &[], Some(tmp.path()), "/app").unwrap();
        assert_eq!(guests(&fs), vec!["/", "/tmp"]);
        assert_eq!(fs.preopens()[0].host, root.path());
        assert_eq!(fs.table().points(), ["/", "/tmp"]);
    }

    #[test]
    fn directories_the_tree_lacks_are_made_up_empty_and_read_only() {
        let (root, tmp, data) = (
            tree(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let mounts = [Mount {
            host: data.path().to_owned(),
            guest: "/data/in".into(),
            read_only: false,
        }];
        let fs = GuestFs::plan(Some(root.path()), &mounts, Some(tmp.path()), "/work/here").unwrap();
        assert_eq!(
            guests(&fs),
            vec!["/", "/tmp", "/data", "/data/in", "/work", "/work/here"]
        );
        for made in [2, 4, 5] {
            let dir = &fs.preopens()[made];
            assert!(dir.read_only, "{}", dir.guest);
            assert_eq!(fs::read_dir(&dir.host).unwrap().count(), 0, "{}", dir.guest);
        }
        let hosts: std::collections::HashSet<_> = [2, 4, 5].map(|i| &fs.preopens()[i].host).into();
        assert_eq!(
            hosts.len(),
            3,
            "each made-up directory is a directory of its own"
        );
        assert!(!fs.preopens()[3].read_only);
        // Parents the image has are not made up.
        let mounts = [Mount {
            host: data.path().to_owned(),
            guest: "/app/pkg/out".into(),
            read_only: false,
        }];
        let fs = GuestFs::plan(Some(root.path()), &mounts, Some(tmp.path()), "/app").unwrap();
        assert_eq!(guests(&fs), vec!["/", "/tmp", "/app/pkg/out"]);
    }

    #[test]
    fn a_missing_workdir_in_a_writable_mount_is_created_there() {
        let (root, tmp, data) = (
            tree(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let mounts = [Mount {
            host: data.path().to_owned(),
            guest: "/data".into(),
            read_only: false,
        }];
        let fs = GuestFs::plan(
            Some(root.path()),
            &mounts,
            Some(tmp.path()),
            "/data/new/sub",
        )
        .unwrap();
        assert_eq!(guests(&fs), vec!["/", "/tmp", "/data"]);
        assert!(
            data.path().join("new/sub").is_dir(),
            "made on the host, as Docker does"
        );
        // Not in a read-only one.
        let ro = [Mount {
            read_only: true,
            ..mounts[0].clone()
        }];
        let fs = GuestFs::plan(Some(root.path()), &ro, Some(tmp.path()), "/data/other").unwrap();
        assert!(!data.path().join("other").exists());
        assert!(guests(&fs).contains(&"/data/other"));
    }

    #[test]
    fn a_run_with_directories_but_no_root_gets_an_empty_one() {
        let (tmp, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mounts = [Mount {
            host: data.path().to_owned(),
            guest: "/data".into(),
            read_only: true,
        }];
        let fs = GuestFs::plan(None, &mounts, Some(tmp.path()), "/").unwrap();
        assert_eq!(guests(&fs), vec!["/", "/tmp", "/data"]);
        assert!(fs.preopens()[0].read_only);
        let fs = GuestFs::plan(None, &[], None, "/").unwrap();
        assert!(
            fs.preopens().is_empty(),
            "a plugin with no files is handed none"
        );
    }

    #[test]
    fn files_are_found_by_guest_path_through_mounts_and_root() {
        let (root, tmp, bin) = (
            tree(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        fs::write(bin.path().join("tool.wasm"), "x").unwrap();
        let mounts = [Mount {
            host: bin.path().to_owned(),
            guest: "/opt/bin".into(),
            read_only: true,
        }];
        let fs = GuestFs::plan(Some(root.path()), &mounts, Some(tmp.path()), "/").unwrap();
        assert!(fs.is_file("/usr/local/bin/python.wasm"));
        assert!(fs.is_file("/opt/bin/tool.wasm"));
        assert!(!fs.is_file("/usr/local/bin"));
        assert!(!fs.is_file("/nope"));
    }

    #[test]
    fn a_workdir_or_mount_parent_that_is_a_file_is_an_error() {
        let (root, tmp) = (tree(), tempfile::tempdir().unwrap());
        let err =
            GuestFs::plan(Some(root.path()), &[], Some(tmp.path()), "/app/app.py").unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
        let data = tempfile::tempdir().unwrap();
        let mounts = [Mount {
            host: data.path().to_owned(),
            guest: "/app/app.py/x".into(),
            read_only: true,
        }];
        let err = GuestFs::plan(Some(root.path()), &mounts, Some(tmp.path()), "/").unwrap_err();
        assert!(
            err.to_string().contains("/app/app.py is not a directory"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_mounts_are_refused() {
        let (tmp, a) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let m = Mount {
            host: a.path().to_owned(),
            guest: "/data".into(),
            read_only: false,
        };
        assert!(GuestFs::plan(None, &[m.clone(), m], Some(tmp.path()), "/").is_err());
    }
}
