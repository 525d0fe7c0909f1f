//! Pins: images a process is still working on, which garbage collection
//! keeps although no tag names them yet.
//!
//! A build that snapshots its program stores an intermediate image, runs
//! it for a while without the store lock, then stores the final image. In
//! between, a garbage collection in another process (any build or `rmi`
//! ends with one) must not take the intermediate image's blobs or tree.
//! The build pins it: a file `pins/<id>` that the process holds locked.
//! A pin whose lock nobody holds (its process died) is stale and removed.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};
use oci_spec::image::Digest;

use super::Store;
use super::lock::{self, LockGuard, LockKind};
use crate::digest;

const PINS: &str = "pins";

/// A held pin; released (and its file removed) when dropped.
#[derive(Debug)]
pub struct Pin {
    path: PathBuf,
    _guard: LockGuard,
}

impl Drop for Pin {
    fn drop(&mut self) {
        // While the lock is still held: another process sees either a held
        // pin or no pin.
        let _ = fs::remove_file(&self.path);
    }
}

/// Pins image `id` until the returned [`Pin`] is dropped.
pub(super) fn pin(store: &Store, id: &Digest) -> Result<Pin> {
    let dir = store.root().join(PINS);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // One file per pin, so that two builds of the same image do not share
    // (and release) one lock.
    let path = dir.join(format!(
        "{}.{}.{}",
        digest::hex(id),
        std::process::id(),
        unique()
    ));
    let guard = lock::lock(&path, LockKind::Shared)?;
    Ok(Pin {
        path,
        _guard: guard,
    })
}

/// The images pinned by live processes; stale pins are removed.
pub(super) fn held(store: &Store) -> Result<Vec<Digest>> {
    let dir = store.root().join(PINS);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut held = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(hex) = name.split('.').next() else {
            continue;
        };
        let Ok(id) = digest::parse_sha256(&format!("sha256:{hex}")) else {
            continue;
        };
        match lock::try_lock_exclusive(&entry.path())? {
            None => held.push(id),
            Some(guard) => {
                drop(guard);
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    Ok(held)
}

/// A number no other pin of this process has.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_is_held_until_dropped_and_leaves_no_file() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let id = digest::sha256(b"image");
        let pin = pin(&store, &id).unwrap();
        assert_eq!(held(&store).unwrap(), std::slice::from_ref(&id));
        drop(pin);
        assert!(held(&store).unwrap().is_empty());
        assert_eq!(fs::read_dir(root.path().join(PINS)).unwrap().count(), 0);
    }

    #[test]
    fn a_stale_pin_file_is_removed() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let stale = root.path().join(PINS);
        fs::create_dir_all(&stale).unwrap();
        let id = digest::sha256(b"image");
        fs::write(stale.join(format!("{}.1.0", digest::hex(&id))), b"").unwrap();
        assert!(held(&store).unwrap().is_empty());
        assert_eq!(fs::read_dir(&stale).unwrap().count(), 0);
    }
}
