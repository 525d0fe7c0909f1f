//! Each call's private `/tmp`: a fresh, empty directory on the host. Most
//! calls never touch it (a plugin, an HTTP request); on Unix a runtime keeps
//! those and hands them to later calls instead of removing one and making
//! another, which on a journalling file system costs a server more than
//! running the guest. "Never touched" is the directory's status-change time
//! (which every entry made or removed, every change of its times or
//! permissions moves, and which no one can set back) and its access time
//! (which listing it may move) both as they were when it was made: a
//! directory a guest used in any way is removed, contents and all, and the
//! next call gets a new one, so that no call can see that another ran.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

use crate::store::Store;

/// How many empty directories a runtime keeps for later calls: as many as
/// calls that run at once, in practice.
const KEPT: usize = 256;

/// A call's `/tmp`, given back to its runtime's [`ScratchDirs`] when the
/// call is done.
pub(super) struct Scratch {
    dir: Option<Kept>,
    pool: std::sync::Arc<ScratchDirs>,
    keep: bool,
}

/// A directory and what it looked like when it was made.
#[derive(Debug)]
struct Kept {
    dir: tempfile::TempDir,
    made: Option<Fingerprint>,
}

/// The times that show whether a directory was used: its status change
/// and its access, to the nanosecond. None where they cannot be read
/// (other than on Unix), which keeps no directory.
type Fingerprint = (i64, i64, i64, i64);

#[cfg(unix)]
fn fingerprint(path: &Path) -> Option<Fingerprint> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).ok()?;
    Some((
        meta.ctime(),
        meta.ctime_nsec(),
        meta.atime(),
        meta.atime_nsec(),
    ))
}

#[cfg(not(unix))]
fn fingerprint(_: &Path) -> Option<Fingerprint> {
    None
}

impl Kept {
    /// Whether the directory is still as it was made.
    fn untouched(&self) -> bool {
        self.made.is_some() && fingerprint(self.dir.path()) == self.made
    }
}

impl Scratch {
    /// Removes the directory when the call is done, empty or not: for a
    /// process that exits after the call, whose runtime is never dropped.
    pub(super) fn remove_when_done(&mut self) {
        self.keep = false;
    }

    /// The host directory.
    pub(super) fn path(&self) -> &Path {
        self.dir.as_ref().expect("held until dropped").dir.path()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take()
            && self.keep
        {
            self.pool.give_back(dir);
        }
    }
}

/// The empty directories a runtime keeps for its calls' `/tmp`.
#[derive(Debug, Default)]
pub(super) struct ScratchDirs {
    free: Mutex<Vec<Kept>>,
}

impl ScratchDirs {
    /// An empty directory for a call's `/tmp`: one kept from an earlier
    /// call, or a fresh one, in the store's staging area when there is a
    /// store (named after the process, so that `system prune` can tell the
    /// leftovers of a process that is gone, `store::run_owner_gone`).
    pub(super) fn take(self: &std::sync::Arc<Self>, store: Option<&Store>) -> Result<Scratch> {
        let parent: PathBuf = match store {
            Some(store) => store.root().join("tmp"),
            None => std::env::temp_dir(),
        };
        let kept = loop {
            let kept = {
                let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
                let at = free
                    .iter()
                    .rposition(|d| d.dir.path().parent() == Some(&parent));
                at.map(|at| free.swap_remove(at))
            };
            match kept {
                // Checked again: something else (a `system prune` of a
                // store whose run it cannot tell is alive) may have been
                // at it meanwhile.
                Some(kept) if kept.untouched() => break Some(kept),
                Some(_) => continue,
                None => break None,
            }
        };
        let dir = match kept {
            Some(kept) => kept,
            None => {
                let dir = match store {
                    Some(_) => tempfile::Builder::new()
                        .prefix(&format!("run-{}-", std::process::id()))
                        .tempdir_in(&parent),
                    None => tempfile::Builder::new().prefix("wharf-run-").tempdir(),
                }
                .context("cannot create the guest's /tmp")?;
                let made = fingerprint(dir.path());
                Kept { dir, made }
            }
        };
        Ok(Scratch {
            dir: Some(dir),
            pool: self.clone(),
            keep: true,
        })
    }

    /// Keeps `dir` for a later call when the guest never touched it and
    /// there is room; removes it otherwise.
    fn give_back(&self, dir: Kept) {
        if !dir.untouched() {
            return; // dropped: removed with its contents
        }
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < KEPT {
            free.push(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[cfg(unix)]
    #[test]
    fn an_untouched_directory_is_kept_and_one_used_in_any_way_is_removed() {
        let pool = Arc::new(ScratchDirs::default());
        let first = pool.take(None).unwrap();
        let path = first.path().to_owned();
        drop(first);
        assert!(path.is_dir(), "kept for the next call");
        let second = pool.take(None).unwrap();
        assert_eq!(second.path(), path, "handed out again");
        std::fs::write(second.path().join("left.txt"), "x").unwrap();
        drop(second);
        assert!(!path.exists(), "removed with what the guest left");

        // A file made and removed again leaves the directory empty, but
        // its times tell: it goes too.
        let third = pool.take(None).unwrap();
        let path = third.path().to_owned();
        std::fs::write(path.join("gone.txt"), "x").unwrap();
        std::fs::remove_file(path.join("gone.txt")).unwrap();
        drop(third);
        assert!(!path.exists(), "a used directory was kept");

        // As does one whose times were set.
        let fourth = pool.take(None).unwrap();
        let path = fourth.path().to_owned();
        std::fs::File::open(&path)
            .unwrap()
            .set_modified(std::time::SystemTime::UNIX_EPOCH)
            .unwrap();
        drop(fourth);
        assert!(!path.exists(), "a directory whose times were set was kept");
        let mut third = pool.take(None).unwrap();
        assert_ne!(third.path(), path);
        assert_eq!(std::fs::read_dir(third.path()).unwrap().count(), 0);
        let path = third.path().to_owned();
        third.remove_when_done();
        drop(third);
        assert!(
            !path.exists(),
            "a one-shot process's /tmp goes with its call"
        );
    }
}
