//! Advisory file locks that keep concurrent wharf processes from corrupting
//! the store: one writer at a time, readers share.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use anyhow::{Context, Result};

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
}

/// Which kind of lock to take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    /// Many holders at once; excludes [`LockKind::Exclusive`].
    Shared,
    /// One holder.
    Exclusive,
}

/// Takes a lock on the file at `path` (created if missing), waiting for
/// other processes; says so (`tracing`, at level info) when it has to wait.
pub fn lock(path: &Path, kind: LockKind) -> Result<LockGuard> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    let attempt = match kind {
        LockKind::Shared => file.try_lock_shared(),
        LockKind::Exclusive => file.try_lock(),
    };
    match attempt {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            tracing::info!("waiting for another wharf process to release the store…");
            match kind {
                LockKind::Shared => file.lock_shared(),
                LockKind::Exclusive => file.lock(),
            }
            .with_context(|| format!("cannot lock {}", path.display()))?;
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    Ok(LockGuard { _file: file })
}

/// Takes an exclusive lock only if nobody holds the file; `None` if someone
/// does.
pub fn try_lock_exclusive(path: &Path) -> Result<Option<LockGuard>> {
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?
        }
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(LockGuard { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_shared_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let shared = lock(&path, LockKind::Shared).unwrap();
        assert!(try_lock_exclusive(&path).unwrap().is_none());
        drop(shared);
        assert!(try_lock_exclusive(&path).unwrap().is_some());
    }
}
