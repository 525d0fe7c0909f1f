//! The cache of modules compiled ahead of time, on disk in the store.
//!
//! Compiling CPython takes seconds; loading its compiled artifact takes a
//! millisecond. Artifacts live in the store under
//! `artifacts/<engine>/<module digest>.cwasm`, where `<engine>` hashes
//! wasmtime's own compatibility key (its version and every setting that
//! changes generated code): an artifact from another wharf build or engine
//! configuration is never even looked at.
//!
//! Mapping an artifact runs its machine code, so one is only loaded when
//! wharf can vouch for it: beside each artifact, a record (`.json`) holds
//! the SHA-256 of the bytes wharf wrote. The first load hashes the artifact
//! and compares; later loads trust it while its size and modification time
//! are those it had when it was last verified, and hash it again when they
//! are not. An artifact that is missing its record, truncated or damaged is
//! compiled again (and a `tracing` event says why). The record guards
//! against accidents, not against someone who can write the store: like the
//! images in it, the store is trusted, and runs refuse mounts that would
//! hand it to a guest.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use oci_spec::image::Digest;
use serde::{Deserialize, Serialize};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use super::engine::Compiled;
use crate::digest;

/// Compiled modules on disk, for one engine configuration.
#[derive(Clone, Debug)]
pub(super) struct ArtifactCache {
    dir: PathBuf,
    staging: PathBuf,
}

/// What wharf records about an artifact it wrote.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct ArtifactRecord {
    /// A module or a component.
    component: bool,
    /// SHA-256 of the artifact's bytes.
    sha256: String,
    /// Its length.
    size: u64,
    /// The file's length and modification time (ns since the epoch) when
    /// its bytes were last checked against `sha256`.
    verified: Option<(u64, u128)>,
}

/// Why a cached artifact was not used.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Rejection {
    Missing,
    Unrecorded,
    Truncated { expected: u64, actual: u64 },
    Changed,
    Unloadable(String),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::Missing => write!(f, "not compiled yet"),
            Rejection::Unrecorded => write!(f, "wharf has no record of writing it"),
            Rejection::Truncated { expected, actual } => {
                write!(f, "it is truncated ({actual} of {expected} bytes)")
            }
            Rejection::Changed => write!(f, "its bytes changed since wharf wrote them"),
            Rejection::Unloadable(why) => write!(f, "wasmtime refused it: {why}"),
        }
    }
}

impl ArtifactCache {
    /// The cache of the engine with key `key` in the store at `root`.
    pub(super) fn new(root: &Path, key: &str) -> Self {
        Self {
            dir: root.join("artifacts").join(key),
            staging: root.join("tmp"),
        }
    }

    pub(super) fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!("{}.cwasm", digest::hex(digest)))
    }

    fn record_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!("{}.json", digest::hex(digest)))
    }

    /// Checks an artifact against its record, hashing it when its size or
    /// time changed since it was last verified. Returns its path and
    /// whether it is a component.
    pub(super) fn check(&self, digest: &Digest) -> Result<(PathBuf, bool), Rejection> {
        let path = self.path(digest);
        let meta = std::fs::metadata(&path).map_err(|_| Rejection::Missing)?;
        let record_path = self.record_path(digest);
        let record: ArtifactRecord = std::fs::read(&record_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(Rejection::Unrecorded)?;
        if meta.len() != record.size {
            return Err(Rejection::Truncated {
                expected: record.size,
                actual: meta.len(),
            });
        }
        let stamp = stamp(&meta);
        if record.verified == Some(stamp) {
            return Ok((path, record.component));
        }
        let actual = std::fs::File::open(&path)
            .map(BufReader::new)
            .and_then(digest::sha256_reader)
            .map_err(|_| Rejection::Missing)?;
        if actual.to_string() != record.sha256 {
            return Err(Rejection::Changed);
        }
        // Remember the check; failing to is only a slower next start.
        let component = record.component;
        let verified = ArtifactRecord {
            verified: Some(stamp),
            ..record
        };
        let _ = self.write_record(digest, &verified);
        Ok((path, component))
    }

    /// Loads the artifact of `digest`. With the `packed-tables` feature, a
    /// `pinned` one is never unmapped, which lets its tables be read where
    /// they lie in it (vendor/README.md).
    pub(super) fn load(
        &self,
        engine: &Engine,
        digest: &Digest,
        pinned: bool,
    ) -> Result<Compiled, Rejection> {
        let (path, component) = self.check(digest)?;
        // SAFETY: `deserialize_file` trusts its input to be an artifact this
        // engine produced. `check` has just matched the file against the
        // SHA-256 wharf recorded when it wrote it (or against the size and
        // time it had at the last such match), it lives in a directory keyed
        // by this engine's compatibility hash, and wasmtime checks its
        // header and settings again before mapping it.
        // Loading writes every byte of the tables it decodes.
        let deserialize = || {
            super::alloc_hint::populating(|| unsafe {
                if component {
                    Component::deserialize_file(engine, &path).map(Compiled::Component)
                } else {
                    Module::deserialize_file(engine, &path).map(Compiled::Module)
                }
            })
        };
        #[cfg(feature = "packed-tables")]
        let loaded = if pinned {
            // SAFETY: the clone forgotten below keeps the artifact's mapping
            // alive until the process exits, as reading tables in place
            // requires, and wharf never writes an artifact in place (`save`
            // renames a new file over an old one), so the mapped file stays
            // as it was: what `deserialize_file` itself relies on.
            let loaded = unsafe { wasmtime_environ::borrow_tables_from_artifacts(deserialize) };
            if let Ok(compiled) = &loaded {
                std::mem::forget(compiled.clone());
            }
            loaded
        } else {
            deserialize()
        };
        #[cfg(not(feature = "packed-tables"))]
        let loaded = {
            let _ = pinned;
            deserialize()
        };
        let loaded = loaded.map_err(|e| Rejection::Unloadable(format!("{e:#}")))?;
        #[cfg(feature = "large-folios")]
        super::large_folios::advise_module(match &loaded {
            Compiled::Module(m) => m.image_range(),
            Compiled::Component(c) => c.image_range(),
        });
        Ok(loaded)
    }

    /// Writes `compiled` as the artifact of `digest`, with its record.
    pub(super) fn save(&self, digest: &Digest, compiled: &Compiled) -> Result<()> {
        let bytes = match compiled {
            Compiled::Module(m) => m.serialize(),
            Compiled::Component(c) => c.serialize(),
        }
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let mut temp = self.temp()?;
        temp.write_all(&bytes)?;
        temp.as_file().sync_all()?;
        let path = self.path(digest);
        temp.persist(&path)?;
        let meta = std::fs::metadata(&path)?;
        self.write_record(
            digest,
            &ArtifactRecord {
                component: matches!(compiled, Compiled::Component(_)),
                sha256: digest::sha256(&bytes).to_string(),
                size: bytes.len() as u64,
                verified: Some(stamp(&meta)),
            },
        )
    }

    fn write_record(&self, digest: &Digest, record: &ArtifactRecord) -> Result<()> {
        let mut temp = self.temp()?;
        temp.write_all(&serde_json::to_vec(record)?)?;
        temp.persist(self.record_path(digest))?;
        Ok(())
    }

    fn temp(&self) -> Result<tempfile::NamedTempFile> {
        tempfile::NamedTempFile::new_in(&self.staging)
            .or_else(|_| tempfile::NamedTempFile::new_in(&self.dir))
            .context("cannot create a temporary file for a compiled artifact")
    }
}

/// A file's length and modification time, which change when it is written.
fn stamp(meta: &std::fs::Metadata) -> (u64, u128) {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    (meta.len(), modified)
}
