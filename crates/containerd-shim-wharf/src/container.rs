//! What the container gives its guest: the image's directories, the
//! container's mounts, and its memory limit.
//!
//! The guest runs inside the container's root filesystem, where the
//! container runtime has also mounted `/proc`, `/sys` and `/dev` for a
//! Linux program. A Wasm guest gets what `wharf run` gives it instead: the
//! image's tree, read-only, the mounts the container was given, with their
//! rights, and a private `/tmp`. So the guest's `/` is a directory of its
//! own, read-only, holding the files and symbolic links at the top of the
//! image (linked, or copied when they cannot be), in which each top-level
//! directory of the image is mounted read-only, and each mount of the
//! container at its own place; the kernel's filesystems, and everything
//! below them, are not there at all. (Handing the guest the container's `/`
//! and hiding those in front of it would not do: a component reaches every
//! file below a directory it is handed.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use procfs::process::Process;
use wharf::runtime::Mount;

use crate::node;

/// Where a container runtime mounts the kernel's filesystems for a Linux
/// program: never handed to the guest, nor anything mounted below them.
const KERNEL_DIRS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// Makes the guest's tree: puts the files and symbolic links at the top of
/// the container's root into `root` (an empty directory), and returns the
/// directories to mount in it: the top-level directories of the
/// container's root (`/tmp` aside: the run has its own), read-only, and
/// the container's mounts (from `/proc/self/mountinfo`), read-only when
/// the kernel mounted them so.
///
/// # Errors
///
/// When the root cannot be listed, a top-level file cannot be linked or
/// copied, or the mount table cannot be read.
pub fn guest_tree(root: &Path) -> Result<Vec<Mount>> {
    let mut mounts: BTreeMap<PathBuf, Mount> = BTreeMap::new();
    for entry in std::fs::read_dir("/").context("cannot list the container's root")? {
        let entry = entry?;
        let path = entry.path();
        if hidden(&path) || path == Path::new("/tmp") {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            let target = std::fs::read_link(&path)?;
            std::os::unix::fs::symlink(&target, root.join(entry.file_name()))
                .with_context(|| format!("cannot give the guest {}", path.display()))?;
        } else if kind.is_dir() {
            mounts.insert(
                path.clone(),
                Mount {
                    guest: path.to_string_lossy().into_owned(),
                    host: path,
                    read_only: true,
                },
            );
        } else if kind.is_file() {
            let copy = root.join(entry.file_name());
            std::fs::hard_link(&path, &copy)
                .or_else(|_| std::fs::copy(&path, &copy).map(drop))
                .with_context(|| format!("cannot give the guest {}", path.display()))?;
        }
    }
    let table = Process::myself()
        .and_then(|me| me.mountinfo())
        .context("cannot read the container's mounts (/proc/self/mountinfo)")?;
    // Later entries are mounted over earlier ones at the same place.
    for mount in table {
        let point = mount.mount_point;
        if point == Path::new("/") || hidden(&point) || !point.is_dir() {
            continue;
        }
        let read_only = mount.mount_options.contains_key("ro");
        mounts.insert(
            point.clone(),
            Mount {
                guest: point.to_string_lossy().into_owned(),
                host: point,
                read_only,
            },
        );
    }
    Ok(mounts.into_values().collect())
}

/// Whether `path` is, or lies below, one of the kernel's filesystems.
fn hidden(path: &Path) -> bool {
    KERNEL_DIRS.iter().any(|dir| path.starts_with(dir))
}

/// The container's memory limit in bytes, when it has one: its cgroup's
/// `memory.max` (cgroup v2) or `memory.limit_in_bytes` (v1), read where
/// the container sees its own cgroup (a cgroup namespace, as Kubernetes
/// gives, with the group at the top of `/sys/fs/cgroup`), else in the
/// node's cgroup filesystems at the path `/proc/self/cgroup` names
/// (`ctr run` on a node without cgroup namespaces).
pub fn memory_limit() -> Option<u64> {
    let groups = Process::myself().and_then(|me| me.cgroups()).ok()?;
    let node = node::cgroups_in_container();
    let mut candidates: Vec<PathBuf> = Vec::new();
    for group in groups {
        let (hierarchy, file) = if group.hierarchy == 0 {
            ("", "memory.max")
        } else if group.controllers.iter().any(|c| c == "memory") {
            ("memory", "memory.limit_in_bytes")
        } else {
            continue;
        };
        let own = Path::new("/sys/fs/cgroup").join(hierarchy);
        let relative = group.pathname.trim_start_matches('/');
        candidates.push(own.join(relative).join(file));
        if relative.is_empty() {
            // In a cgroup namespace: the group is the top of its own mount
            // (the node's top would be the whole machine's).
            continue;
        }
        if let Some(node) = &node {
            candidates.push(node.join(hierarchy).join(relative).join(file));
        }
    }
    candidates
        .iter()
        .find_map(|file| std::fs::read_to_string(file).ok())
        .and_then(|text| parse_limit(&text))
}

/// Room this process keeps for itself under the container's memory limit
/// besides what it already uses: wasmtime's instance, the guest's stack,
/// WASI's buffers.
const MARGIN: u64 = 32 << 20;

/// How much of the container's memory limit of `container` bytes the
/// guest may have: the limit less what this process uses now (its
/// resident set, from `/proc/self/statm`) and [`MARGIN`], and never less
/// than half the limit.
pub fn guest_share(container: u64) -> u64 {
    let resident = Process::myself()
        .and_then(|me| me.statm())
        .map(|statm| statm.resident * procfs::page_size())
        .unwrap_or(0);
    container
        .saturating_sub(resident + MARGIN)
        .max(container / 2)
}

/// A cgroup memory limit: `max` (v2) or a number of bytes; v1's "no
/// limit" is the largest page-aligned `i64`.
fn parse_limit(text: &str) -> Option<u64> {
    let bytes: u64 = text.trim().parse().ok()?;
    (bytes < 1 << 62).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_cgroups_write_them() {
        assert_eq!(parse_limit("536870912\n"), Some(512 << 20));
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(parse_limit(""), None);
    }

    #[test]
    fn the_kernels_filesystems_and_below_are_hidden() {
        assert!(hidden(Path::new("/proc")));
        assert!(hidden(Path::new("/sys/fs/cgroup")));
        assert!(hidden(Path::new("/dev/shm")));
        assert!(!hidden(Path::new("/devices")));
        assert!(!hidden(Path::new("/data/proc")));
    }
}
