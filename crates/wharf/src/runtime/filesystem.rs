//! The guest's filesystem: which host directories it is handed, under which
//! names, with which rights.
//!
//! The image's tree is `/`, read-only; `/tmp` is a fresh writable directory
//! per run; each mount adds a host directory at its guest path. Everything
//! is a WASI preopen, so the guest reaches nothing else (cap-std enforces it
//! against `..`, absolute paths and symlinks).
//!
//! # The working directory
//!
//! WASI preview 1 has no working directory: wasi-libc starts every program
//! in `/` and turns `app.py` into `/app.py` before the host sees it. So
//! that `workdir = "/app"` works as in Docker, a run whose working
//! directory is not `/` gets a different set of preopens: each top-level
//! directory of the image (and each mount) keeps its absolute name, and the
//! working directory itself serves every other path. Absolute paths into
//! the image's directories and relative paths from the working directory
//! then both resolve as a Docker user expects. What this cannot do, and
//! wharf warns about: a relative path whose first component has the name
//! of a top-level directory reaches that directory; `/` lists the working
//! directory; files directly in the image's `/` are out of reach.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cap_std::fs::Dir;

use crate::guest_path;

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
    /// What the guest is handed (differs from `truth` when the working
    /// directory is emulated).
    preopens: Vec<Preopen>,
    warnings: Vec<String>,
}

impl GuestFs {
    /// Plans the filesystem: `root` is the image tree (if any), `tmp` the
    /// run's private `/tmp` (if it has one), `workdir` the absolute working
    /// directory.
    ///
    /// # Errors
    ///
    /// Two mounts at one place, a mount that is not a directory, a working
    /// directory that does not exist, a directory that cannot be opened.
    pub fn plan(
        root: Option<&Path>,
        mounts: &[Mount],
        tmp: Option<&Path>,
        workdir: &str,
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

        let mut truth: Vec<Preopen> = Vec::new();
        let root_mount = mounts.iter().find(|m| m.guest == "/");
        let image_root = match (root_mount, root) {
            (Some(m), _) => {
                truth.push(preopen(&m.host, "/", m.read_only));
                None
            }
            (None, Some(tree)) => {
                truth.push(preopen(tree, "/", true));
                Some(tree.to_owned())
            }
            (None, None) => None,
        };
        if let Some(tmp) = tmp.filter(|_| !mounts.iter().any(|m| m.guest == "/tmp")) {
            truth.push(preopen(tmp, "/tmp", false));
        }
        for mount in mounts.iter().filter(|m| m.guest != "/") {
            truth.push(preopen(&mount.host, &mount.guest, mount.read_only));
        }

        let mut fs = GuestFs {
            image_root,
            handles: Vec::new(),
            preopens: truth.clone(),
            opened: truth.iter().map(|_| std::sync::OnceLock::new()).collect(),
            truth,
            warnings: Vec::new(),
        };
        if workdir != "/" {
            fs.emulate_workdir(workdir)?;
        }
        fs.handles = fs.open_preopens()?;
        Ok(fs)
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

    /// The host directory (symlinks resolved inside its preopen) behind an
    /// absolute guest directory path, and whether it is read-only.
    fn host_dir(&self, guest: &str) -> Result<(PathBuf, bool)> {
        let missing =
            || format!("working directory {guest} does not exist in the image or its mounts");
        let (preopen, rest) = self.locate(guest).with_context(missing)?;
        if rest.is_empty() {
            return Ok((preopen.host.clone(), preopen.read_only));
        }
        let dir = Dir::open_ambient_dir(&preopen.host, cap_std::ambient_authority())?;
        let canonical = dir.canonicalize(&rest).with_context(missing)?;
        let host = preopen.host.join(canonical);
        if !host.is_dir() {
            bail!("working directory {guest} is not a directory");
        }
        Ok((host, preopen.read_only))
    }

    fn emulate_workdir(&mut self, workdir: &str) -> Result<()> {
        let (workdir_host, workdir_read_only) = self.host_dir(workdir)?;
        let mut preopens: Vec<Preopen> = Vec::new();
        let root = self.truth.iter().find(|p| p.guest == "/").cloned();
        let mounted_top: Vec<String> = self
            .truth
            .iter()
            .filter(|p| p.guest != "/")
            .map(|p| top_level(&p.guest).to_owned())
            .collect();

        // Each top-level directory of the root keeps its absolute name.
        if let Some(root) = &root {
            let dir = Dir::open_ambient_dir(&root.host, cap_std::ambient_authority())?;
            let mut names: Vec<String> = fs::read_dir(&root.host)
                .with_context(|| format!("cannot list {}", root.host.display()))?
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect();
            names.sort();
            for name in names {
                if self.truth.iter().any(|p| p.guest == format!("/{name}")) {
                    continue; // a mount or /tmp takes the name
                }
                // Symlinked top-level directories (/lib -> usr/lib) are
                // resolved inside the root.
                let Ok(canonical) = dir.canonicalize(&name) else {
                    continue;
                };
                let host = root.host.join(canonical);
                if host.is_dir() {
                    preopens.push(preopen(&host, &format!("/{name}"), root.read_only));
                }
            }
        }
        for p in self.truth.iter().filter(|p| p.guest != "/") {
            preopens.push(p.clone());
            // A mount inside the working directory is reachable relatively.
            if let Some(below) = p
                .guest
                .strip_prefix(workdir)
                .and_then(|r| r.strip_prefix('/'))
            {
                let alias = format!("/{below}");
                if !preopens.iter().any(|q| q.guest == alias) {
                    preopens.push(Preopen {
                        guest: alias,
                        ..p.clone()
                    });
                }
            }
        }

        // Names in the working directory that a top-level preopen shadows.
        let top: Vec<&str> = preopens.iter().map(|p| top_level(&p.guest)).collect();
        if let Ok(listing) = fs::read_dir(&workdir_host) {
            let mut shadowed: Vec<String> = listing
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| top.contains(&name.as_str()) || mounted_top.contains(name))
                .collect();
            shadowed.sort();
            for name in shadowed {
                self.warnings.push(format!(
                    "relative paths starting with '{name}' in the working directory {workdir} reach /{name} instead \
                     (WASI has no working directory; use /{}/{name} to be exact)",
                    guest_path::relative(workdir)
                ));
            }
        }

        preopens.insert(0, preopen(&workdir_host, "/", workdir_read_only));
        self.preopens = preopens;
        Ok(())
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

fn top_level(guest: &str) -> &str {
    guest
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
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
    fn other_workdirs_serve_relative_paths_and_keep_top_level_names() {
        let (root, tmp) = (tree(), tempfile::tempdir().unwrap());
        let fs = GuestFs::plan(Some(root.path()), &[], Some(tmp.path()), "/app").unwrap();
        assert_eq!(guests(&fs), vec!["/", "/app", "/etc", "/usr", "/tmp"]);
        assert_eq!(fs.preopens()[0].host, root.path().join("app"));
        assert!(fs.warnings().is_empty());
    }

    #[test]
    fn shadowed_workdir_names_are_warned_about() {
        let (root, tmp) = (tree(), tempfile::tempdir().unwrap());
        fs::create_dir_all(root.path().join("app/etc")).unwrap();
        let fs = GuestFs::plan(Some(root.path()), &[], Some(tmp.path()), "/app").unwrap();
        assert_eq!(fs.warnings().len(), 1);
        assert!(fs.warnings()[0].contains("'etc'"));
    }

    #[test]
    fn mounts_inside_the_workdir_get_a_relative_alias() {
        let (root, tmp, data) = (
            tree(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let mounts = [Mount {
            host: data.path().to_owned(),
            guest: "/app/data".into(),
            read_only: false,
        }];
        let fs = GuestFs::plan(Some(root.path()), &mounts, Some(tmp.path()), "/app").unwrap();
        assert!(guests(&fs).contains(&"/app/data"));
        assert!(guests(&fs).contains(&"/data"));
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
    fn a_missing_workdir_is_an_error() {
        let (root, tmp) = (tree(), tempfile::tempdir().unwrap());
        let err = GuestFs::plan(Some(root.path()), &[], Some(tmp.path()), "/nowhere").unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
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
