//! What a container's process keeps of the node: directories the shim
//! opened before it made any container, reached through `/proc/self/fd`
//! once the process runs inside the container's root filesystem, where
//! the node's paths are out of sight.
//!
//! # The cache of compiled modules
//!
//! Compiling CPython takes seconds, loading it compiled a millisecond: a
//! node that has run an image once should not compile it again. The cache
//! is a directory on the node, [`DEFAULT_DIR`] unless `WHARF_SHIM_CACHE`
//! (in containerd's environment, which its shims inherit) names another.
//!
//! Each container's process runs inside the container's root filesystem,
//! where the node's paths are out of sight. So the shim's long-lived
//! process opens the directory when it starts, before containerd asks it
//! for any container; each container's process is a copy of it (made
//! without `exec`) and still holds the directory open, and reaches it
//! through `/proc/self/fd`. The guest never sees it: it is handed only the
//! image's directories and the container's mounts (see
//! [`crate::container`]). A container without `/proc`, or whose user
//! cannot search the directory (a non-root user: the directory is root's,
//! mode 0700), runs without the cache and compiles its modules each time.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The node's cgroup filesystems, held open for the container processes
/// to come (see [`cgroups_in_container`]).
static CGROUPS: OnceLock<File> = OnceLock::new();

/// Where the node mounts its cgroup filesystems.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Where the cache lives unless `WHARF_SHIM_CACHE` says otherwise.
pub const DEFAULT_DIR: &str = "/var/lib/containerd-shim-wharf";

/// The variable that names another directory.
pub const DIR_VAR: &str = "WHARF_SHIM_CACHE";

/// The cache directory, held open for the container processes to come, or
/// why it could not be opened.
static DIR: OnceLock<Result<File, String>> = OnceLock::new();

/// Opens what containers will need of the node: the cache directory
/// (created, mode 0700) and the cgroup filesystems.
pub fn open() {
    open_cache();
    if let Ok(dir) = File::open(CGROUP_ROOT) {
        let _ = CGROUPS.set(dir);
    }
}

/// Creates (mode 0700) and opens the cache directory. A cache that cannot
/// be opened is done without (containers still run, and compile their
/// modules every time); [`cache_in_container`] logs why, once containerd's log
/// is set up.
fn open_cache() {
    let path = std::env::var_os(DIR_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    let opened = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&path)
        .and_then(|()| File::open(&path));
    let opened = match opened {
        Ok(dir) if dir.metadata().is_ok_and(|m| m.is_dir()) => Ok(dir),
        Ok(_) => Err(format!("{} is not a directory", path.display())),
        Err(e) => Err(format!("{}: {e}", path.display())),
    };
    let _ = DIR.set(opened);
}

/// The cache directory as the container's process can reach it, when it
/// can; when it cannot, the shim's log says why.
pub fn cache_in_container() -> Option<PathBuf> {
    let dir = match DIR.get()? {
        Ok(dir) => dir,
        Err(why) => {
            log::warn!("no cache of compiled modules ({why}): the module is compiled for this run");
            return None;
        }
    };
    let path = Path::new("/proc/self/fd").join(dir.as_raw_fd().to_string());
    if path.is_dir() {
        Some(path)
    } else {
        log::warn!(
            "the cache of compiled modules is out of this container's reach (no /proc, or a user who cannot search it): the module is compiled for this run"
        );
        None
    }
}

/// The node's cgroup filesystems (its `/sys/fs/cgroup`) as the container's
/// process can reach them, when it can: a container without a cgroup
/// namespace has none of its own mounted, yet its limits are the node's to
/// read there (`/proc/self/cgroup` names its group).
pub fn cgroups_in_container() -> Option<PathBuf> {
    let dir = CGROUPS.get()?;
    let path = Path::new("/proc/self/fd").join(dir.as_raw_fd().to_string());
    path.is_dir().then_some(path)
}
