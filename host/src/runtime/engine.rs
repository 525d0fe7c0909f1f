//! The wasmtime engine guests run on, and the cache of modules compiled
//! ahead of time for it.
//!
//! Compiling CPython takes seconds; loading its compiled artifact takes a
//! millisecond. Artifacts live in the store under
//! `artifacts/<engine>/<module digest>.cwasm`, where `<engine>` hashes
//! wasmtime's own compatibility key (its version and every setting that
//! changes generated code): an artifact from another wharf build or engine
//! configuration is never even looked at.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use oci_spec::image::Digest;
use wasmtime::component::Component;
use wasmtime::{Config, Engine, Module, Precompiled};

use super::RunError;
use crate::digest;

/// A program compiled for the engine: a core module (WASI preview 1) or a
/// component (WASI preview 2).
#[derive(Clone)]
pub enum Compiled {
    /// A core WebAssembly module.
    Module(Module),
    /// A WebAssembly component.
    Component(Component),
}

/// The engine, with its artifact cache.
#[derive(Clone)]
pub struct GuestEngine {
    engine: Engine,
    cache: Option<ArtifactCache>,
}

/// Compiled modules on disk, for one engine configuration.
#[derive(Clone, Debug)]
struct ArtifactCache {
    dir: PathBuf,
    staging: PathBuf,
}

impl GuestEngine {
    /// An engine whose artifacts are cached under `store_root` (no cache
    /// when `None`); `fuel` makes it count fuel.
    pub fn new(store_root: Option<&Path>, fuel: bool) -> Result<Self> {
        let mut config = Config::new();
        config.parallel_compilation(true);
        // Timeouts interrupt guests through epochs: always compiled in, so
        // that any run can be given one.
        config.epoch_interruption(true);
        config.consume_fuel(fuel);
        let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let cache = store_root.map(|root| ArtifactCache {
            dir: root.join("artifacts").join(engine_key(&engine)),
            staging: root.join("tmp"),
        });
        Ok(Self { engine, cache })
    }

    /// The name of this engine's artifact directory: a hash of wasmtime's
    /// compatibility key.
    pub fn key(&self) -> String {
        engine_key(&self.engine)
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads the program with digest `digest` from the cache, or compiles
    /// `bytes()` and caches the result. `what` names the program in errors.
    pub fn load(
        &self,
        what: &str,
        digest: &Digest,
        bytes: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<Compiled> {
        if let Some(cache) = &self.cache {
            let path = cache.path(digest);
            if let Some(compiled) = self.deserialize(&path) {
                return Ok(compiled);
            }
        }
        let bytes = bytes()?;
        let compiled = self.compile(what, &bytes)?;
        if let Some(cache) = &self.cache
            && let Err(e) = cache.save(digest, &compiled)
        {
            crate::verbose!("cannot cache the compiled {what}: {e:#}");
        }
        Ok(compiled)
    }

    /// Whether a compiled artifact for `digest` is in the cache.
    pub fn is_cached(&self, digest: &Digest) -> bool {
        self.cache
            .as_ref()
            .is_some_and(|cache| cache.path(digest).is_file())
    }

    /// Compiles a module or component.
    pub fn compile(&self, what: &str, bytes: &[u8]) -> Result<Compiled> {
        let not_runnable = |reason: String| RunError::NotRunnable {
            what: what.to_owned(),
            reason,
        };
        if !bytes.starts_with(crate::layer::WASM_MAGIC) {
            let shown: String = bytes
                .iter()
                .take(4)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ");
            return Err(not_runnable(format!(
                "it is not a WebAssembly binary (it starts with bytes {shown}, not 00 61 73 6d)"
            ))
            .into());
        }
        let result = if wasmparser::Parser::is_component(bytes) {
            Component::new(&self.engine, bytes).map(Compiled::Component)
        } else {
            Module::new(&self.engine, bytes).map(Compiled::Module)
        };
        result.map_err(|e| {
            not_runnable(format!("it is not a valid WebAssembly program: {e:#}")).into()
        })
    }

    fn deserialize(&self, path: &Path) -> Option<Compiled> {
        let kind = match Engine::detect_precompiled_file(path) {
            Ok(Some(kind)) => kind,
            Ok(None) => {
                if path.exists() {
                    crate::verbose!("ignoring {}: not a compiled artifact", path.display());
                }
                return None;
            }
            Err(_) => return None,
        };
        // SAFETY: `deserialize_file` trusts its input to be an artifact this
        // engine produced. Only wharf writes into `artifacts/`, always via a
        // complete temporary file and a rename, under a directory keyed by
        // this engine's compatibility hash; wasmtime also checks the
        // artifact's header and engine settings before mapping it.
        let loaded = unsafe {
            match kind {
                Precompiled::Module => {
                    Module::deserialize_file(&self.engine, path).map(Compiled::Module)
                }
                Precompiled::Component => {
                    Component::deserialize_file(&self.engine, path).map(Compiled::Component)
                }
            }
        };
        match loaded {
            Ok(compiled) => Some(compiled),
            Err(e) => {
                crate::verbose!(
                    "ignoring cached artifact {}: {e:#}; compiling again",
                    path.display()
                );
                None
            }
        }
    }
}

impl ArtifactCache {
    fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!("{}.cwasm", digest::hex(digest)))
    }

    fn save(&self, digest: &Digest, compiled: &Compiled) -> Result<()> {
        let bytes = match compiled {
            Compiled::Module(m) => m.serialize(),
            Compiled::Component(c) => c.serialize(),
        }
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let mut temp = tempfile::NamedTempFile::new_in(&self.staging)
            .or_else(|_| tempfile::NamedTempFile::new_in(&self.dir))?;
        temp.write_all(&bytes)?;
        temp.as_file().sync_all()?;
        temp.persist(self.path(digest))?;
        Ok(())
    }
}

/// A short, stable name for the engine's compatibility key.
fn engine_key(engine: &Engine) -> String {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}
