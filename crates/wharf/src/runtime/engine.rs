//! The wasmtime engines guests run on: one per combination of checks
//! compiled into guest code, each with its own artifact cache.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

use anyhow::Result;
use oci_spec::image::Digest;
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Module, PoolingAllocationConfig};

use super::RunError;
use super::artifacts::{ArtifactCache, Rejection};
use super::limits::MAX_TABLE_ELEMENTS;
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

/// The checks compiled into a guest's code. Each costs the guest
/// instructions on every function call and loop iteration, so a run gets
/// only those its limits need, and each combination is an engine (and a
/// set of compiled artifacts) of its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Checks {
    /// Epoch checks at every function entry and loop back-edge, through
    /// which a deadline or a cancel stops a guest that computes without
    /// ending the process (wasmtime's `Config::epoch_interruption`).
    pub interrupt: bool,
    /// Fuel counting: a deterministic budget of about one unit per Wasm
    /// instruction (wasmtime's `Config::consume_fuel`).
    pub fuel: bool,
}

impl Checks {
    /// Every combination, the one without checks first.
    pub const ALL: [Checks; 4] = [
        Checks {
            interrupt: false,
            fuel: false,
        },
        Checks {
            interrupt: true,
            fuel: false,
        },
        Checks {
            interrupt: false,
            fuel: true,
        },
        Checks {
            interrupt: true,
            fuel: true,
        },
    ];

    /// Its place in [`Checks::ALL`].
    pub fn index(self) -> usize {
        usize::from(self.interrupt) + 2 * usize::from(self.fuel)
    }
}

/// How instances get their memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Allocation {
    /// Each instance maps its memories when it is made: nothing reserved
    /// up front, for a process that runs a guest or two.
    #[default]
    OnDemand,
    /// wasmtime's pooling allocator: slots for this many concurrent
    /// sandboxes (their memories, tables, instances and stacks) reserved
    /// once and reused, which makes instantiation a few microseconds.
    Pool(u32),
}

/// From this size on, compiling a program is announced: CPython, not a
/// small C program.
const LARGE_PROGRAM: usize = 8 << 20;

/// The Wasm stack a guest may use: 8 MiB, a native process's usual main
/// stack (wasmtime's default is 512 KiB). CPython 3.15 needs this much to
/// turn deep recursion into a Python `RecursionError` rather than a trap.
pub const WASM_STACK: usize = 8 << 20;

/// The stack a guest's calls run on, which wasmtime allocates and owns
/// (whatever thread makes the call): its Wasm stack, plus room for the
/// host functions and WASI calls it makes.
pub const GUEST_STACK: usize = WASM_STACK + (1 << 20);

/// The native stack of a thread of wharf's own that runs a guest
/// synchronously (the build-time snapshot's): its Wasm stack, plus room
/// for wasmtime and the WASI calls it makes.
pub const GUEST_THREAD_STACK: usize = WASM_STACK + (4 << 20);

/// The most memory one sandbox may have in a pool slot: the whole 32-bit
/// address space, so that any memory limit fits.
const POOL_MEMORY: usize = 4 << 30;

/// How much of a pool slot's stack, memory and table stays mapped when the
/// slot is reused (cleared with a memset rather than returned to the
/// kernel and faulted in again by the next call).
const KEEP_RESIDENT: usize = 64 << 10;

/// Core instances and tables one sandbox may need: a component made with
/// the preview 1 adapter instantiates several.
const CORE_INSTANCES_PER_SANDBOX: u32 = 8;

/// Linear memories one sandbox may have: a module's own, and one more for
/// a component's adapter. Each reserves 4 GiB and guard pages of address
/// space in the pool.
const MEMORIES_PER_SANDBOX: u32 = 2;

/// An engine whose code carries given [`Checks`], and the cache of modules
/// compiled for it.
pub struct GuestEngine {
    engine: Engine,
    checks: Checks,
    cache: Option<ArtifactCache>,
    /// Whether modules loaded from the cache stay mapped until the process
    /// exits (see [`GuestEngine::pin_loaded_modules`]).
    pinning: bool,
}

impl GuestEngine {
    /// An engine whose code has the `checks` given, whose instances get
    /// memory as `allocation` says, with its artifacts cached under
    /// `store_root` (no cache when `None`).
    ///
    /// # Errors
    ///
    /// When wasmtime refuses the configuration (a pool larger than the
    /// address space can hold).
    pub fn new(store_root: Option<&Path>, checks: Checks, allocation: Allocation) -> Result<Self> {
        let engine = Engine::new(&engine_config(checks, allocation))
            .map_err(|e| anyhow::anyhow!("cannot configure the engine: {e:#}"))?;
        let cache = store_root.map(|root| ArtifactCache::new(root, &engine_key(&engine)));
        Ok(Self {
            engine,
            checks,
            cache,
            pinning: false,
        })
    }

    /// The checks compiled into this engine's code.
    pub fn checks(&self) -> Checks {
        self.checks
    }

    /// Keeps every module loaded from now on from the artifact cache mapped
    /// until the process exits, so that its per-function tables are read
    /// where they lie in the artifact instead of being copied into memory of
    /// their own (1.6 MB, in 400 fresh pages, for a CPython with its
    /// scientific stack compiled in). For a process that runs a guest and
    /// exits; a long-lived embedder that loads many modules should not.
    #[cfg(feature = "packed-tables")]
    pub fn pin_loaded_modules(&mut self) {
        self.pinning = true;
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

    /// Loads the compiled program with digest `digest` from the artifact
    /// cache, or compiles `bytes()` and caches the result. `what` names the
    /// program in errors.
    ///
    /// # Errors
    ///
    /// [`RunError::NotRunnable`] when the bytes are not a valid program;
    /// an error when they do not hash to `digest` or cannot be read.
    pub fn load(
        &self,
        what: &str,
        digest: &Digest,
        bytes: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<Compiled> {
        if let Some(cache) = &self.cache {
            match cache.load(&self.engine, digest, self.pinning) {
                Ok(compiled) => return Ok(compiled),
                Err(Rejection::Missing) => {}
                Err(why) => tracing::debug!(
                    "compiling {what} again: the cached artifact is unusable: {why}"
                ),
            }
        }
        let bytes = bytes()?;
        // Never cache (or run) bytes under a digest they do not have.
        let actual = digest::sha256(&bytes);
        if actual != *digest {
            anyhow::bail!("{what} changed: expected {digest}, read bytes hashing to {actual}");
        }
        // A large program takes a while (a minute for CPython with its
        // scientific stack): say why nothing happens meanwhile.
        if bytes.len() >= LARGE_PROGRAM {
            tracing::info!(
                "compiling {what} ({:.0} MiB) for this engine; it is cached for the next time",
                bytes.len() as f64 / f64::from(1 << 20)
            );
        }
        let compiled = self.compile(what, &bytes)?;
        if let Some(cache) = &self.cache
            && let Err(e) = cache.save(digest, &compiled)
        {
            tracing::debug!("cannot cache the compiled {what}: {e:#}");
        }
        Ok(compiled)
    }

    /// Whether a usable compiled artifact for `digest` is in the cache.
    pub fn is_cached(&self, digest: &Digest) -> bool {
        self.cache
            .as_ref()
            .is_some_and(|cache| cache.check(digest).is_ok())
    }

    /// Compiles a module or component.
    ///
    /// # Errors
    ///
    /// [`RunError::NotRunnable`], saying what is wrong with the bytes.
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
}

/// The engine configuration guests run with: wasmtime's defaults (whose
/// memory reservations and guard pages let the code skip explicit bounds
/// checks on 64-bit hosts), a larger Wasm stack, and the `checks` asked
/// for, nothing else that changes generated code. How instances are
/// allocated changes no code: a pooled engine and an on-demand one share
/// their artifacts.
pub(super) fn engine_config(checks: Checks, allocation: Allocation) -> Config {
    let mut config = Config::new();
    config.parallel_compilation(true);
    config.epoch_interruption(checks.interrupt);
    config.consume_fuel(checks.fuel);
    // Calls run on stacks wasmtime allocates (async calls, on a fiber):
    // the guest's Wasm stack and room for host calls, whatever the calling
    // thread's own stack.
    config.async_stack_size(GUEST_STACK);
    config.max_wasm_stack(WASM_STACK);
    #[cfg(feature = "packed-tables")]
    {
        // Artifacts are written in the patched wasmtime-environ's format,
        // which an upstream wasmtime must not read (nor this one an
        // upstream artifact); the version is also part of the engine's key.
        config
            .module_version(wasmtime::ModuleVersionStrategy::Custom(
                wasmtime_environ::ARTIFACT_VERSION.to_owned(),
            ))
            .expect("the artifact version is shorter than 255 bytes");
    }
    if let Allocation::Pool(sandboxes) = allocation {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(sandboxes)
            .total_core_instances(sandboxes.saturating_mul(CORE_INSTANCES_PER_SANDBOX))
            .total_memories(sandboxes.saturating_mul(MEMORIES_PER_SANDBOX))
            .total_tables(sandboxes.saturating_mul(CORE_INSTANCES_PER_SANDBOX))
            .total_stacks(sandboxes)
            .max_memory_size(POOL_MEMORY)
            .table_elements(MAX_TABLE_ELEMENTS)
            .max_tables_per_module(4)
            .max_memories_per_module(2)
            .max_core_instance_size(16 << 20)
            .max_component_instance_size(16 << 20)
            .async_stack_keep_resident(KEEP_RESIDENT)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// A short, stable name for the engine's compatibility key.
fn engine_key(engine: &Engine) -> String {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    const MODULE: &str = r#"(module (func (export "_start")))"#;

    fn setup() -> (tempfile::TempDir, GuestEngine, Digest, Vec<u8>) {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("tmp")).unwrap();
        let engine =
            GuestEngine::new(Some(root.path()), Checks::default(), Allocation::OnDemand).unwrap();
        let bytes = wat::parse_str(MODULE).unwrap();
        let digest = digest::sha256(&bytes);
        (root, engine, digest, bytes)
    }

    fn cache(engine: &GuestEngine) -> &ArtifactCache {
        engine.cache.as_ref().unwrap()
    }

    /// Whether loading `digest` compiles `bytes` rather than using the
    /// cached artifact.
    fn compiles_again(engine: &GuestEngine, digest: &Digest, bytes: &[u8]) -> bool {
        let mut compiled = false;
        engine
            .load("m", digest, || {
                compiled = true;
                Ok(bytes.to_vec())
            })
            .unwrap();
        compiled
    }

    #[test]
    fn a_compiled_module_is_saved_with_its_record_and_loaded_back() {
        let (_root, engine, digest, bytes) = setup();
        assert!(!engine.is_cached(&digest));
        engine.load("m", &digest, || Ok(bytes.clone())).unwrap();
        assert!(engine.is_cached(&digest));
        // Loading again never needs the module's bytes.
        engine
            .load("m", &digest, || panic!("compiled again"))
            .unwrap();
    }

    #[test]
    fn bytes_that_do_not_match_their_digest_are_refused() {
        let (_root, engine, digest, _) = setup();
        let other = wat::parse_str("(module)").unwrap();
        let error = engine
            .load("m", &digest, || Ok(other))
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("m changed"), "{error}");
        assert!(!engine.is_cached(&digest));
    }

    #[test]
    fn a_truncated_artifact_is_compiled_again() {
        let (_root, engine, digest, bytes) = setup();
        engine.load("m", &digest, || Ok(bytes.clone())).unwrap();
        let path = cache(&engine).path(&digest);
        let artifact = std::fs::read(&path).unwrap();
        std::fs::write(&path, &artifact[..artifact.len() / 2]).unwrap();
        assert!(matches!(
            cache(&engine).check(&digest),
            Err(Rejection::Truncated { .. })
        ));
        assert!(compiles_again(&engine, &digest, &bytes));
        assert!(
            cache(&engine).check(&digest).is_ok(),
            "the fresh artifact replaced it"
        );
    }

    #[test]
    fn a_changed_artifact_is_caught_by_its_hash() {
        let (_root, engine, digest, bytes) = setup();
        engine.load("m", &digest, || Ok(bytes.clone())).unwrap();
        let path = cache(&engine).path(&digest);
        let mut artifact = std::fs::read(&path).unwrap();
        let middle = artifact.len() / 2;
        artifact[middle] ^= 0xff;
        std::fs::write(&path, &artifact).unwrap();
        assert_eq!(cache(&engine).check(&digest), Err(Rejection::Changed));
    }

    #[test]
    fn a_foreign_artifact_without_a_record_is_not_loaded() {
        let (_root, engine, digest, bytes) = setup();
        let other = engine
            .compile("other", &wat::parse_str("(module)").unwrap())
            .unwrap();
        let Compiled::Module(other) = other else {
            unreachable!()
        };
        let path = cache(&engine).path(&digest);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, other.serialize().unwrap()).unwrap();
        assert_eq!(cache(&engine).check(&digest), Err(Rejection::Unrecorded));
        assert!(compiles_again(&engine, &digest, &bytes));
    }

    #[test]
    fn engines_with_other_checks_use_other_directories_and_pools_share_theirs() {
        let root = tempfile::tempdir().unwrap();
        let key = |checks, allocation| {
            GuestEngine::new(Some(root.path()), checks, allocation)
                .unwrap()
                .key()
        };
        let keys: HashSet<String> = Checks::ALL
            .iter()
            .map(|&checks| key(checks, Allocation::OnDemand))
            .collect();
        assert_eq!(keys.len(), Checks::ALL.len());
        for checks in Checks::ALL {
            assert_eq!(
                key(checks, Allocation::OnDemand),
                key(checks, Allocation::Pool(4)),
                "a pool changed the code of {checks:?}"
            );
        }
        for (index, checks) in Checks::ALL.iter().enumerate() {
            assert_eq!(checks.index(), index);
        }
    }

    #[test]
    fn not_webassembly_and_invalid_modules_are_not_runnable() {
        let (_root, engine, _, _) = setup();
        for (bytes, expected) in [
            (b"#!/bin/sh\n".to_vec(), "starts with bytes 23 21 2f 62"),
            (
                b"\0asm\x01\0\0\0\x05".to_vec(),
                "not a valid WebAssembly program",
            ),
        ] {
            let error = engine.compile("p", &bytes).err().unwrap();
            let message = error.to_string();
            assert!(
                matches!(
                    error.downcast_ref::<RunError>(),
                    Some(RunError::NotRunnable { .. })
                ),
                "{message}"
            );
            assert!(message.contains(expected), "{message}");
        }
    }

    /// A module that counts down from its argument, calling a function at
    /// each step: work made of loop back-edges and function entries.
    const COUNTDOWN: &str = r#"(module
        (func $step (param i32) (result i32) (i32.sub (local.get 0) (i32.const 1)))
        (func (export "count") (param $n i32)
            (loop $again
                (local.set $n (call $step (local.get $n)))
                (br_if $again (local.get $n)))))"#;

    #[test]
    fn only_an_interruptible_engine_stops_a_guest_at_its_deadline() {
        for checks in Checks::ALL {
            let engine = GuestEngine::new(None, checks, Allocation::OnDemand).unwrap();
            let Compiled::Module(module) = engine
                .compile("countdown", &wat::parse_str(COUNTDOWN).unwrap())
                .unwrap()
            else {
                unreachable!()
            };
            let mut store = wasmtime::Store::new(engine.engine(), ());
            if checks.fuel {
                store.set_fuel(u64::MAX).unwrap();
            }
            // A deadline that has passed already: an engine with epoch
            // checks traps at the first one, one without never looks.
            store.set_epoch_deadline(0);
            let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
            let count = instance
                .get_typed_func::<i32, ()>(&mut store, "count")
                .unwrap();
            let result = count.call(&mut store, 1000);
            if checks.interrupt {
                let error = result.unwrap_err();
                assert_eq!(
                    error.downcast_ref::<wasmtime::Trap>(),
                    Some(&wasmtime::Trap::Interrupt),
                    "{checks:?}"
                );
            } else {
                result.unwrap();
            }
            // Fuel is counted only where it is compiled in: a thousand
            // iterations cost more than a thousand units.
            assert_eq!(store.get_fuel().is_ok(), checks.fuel, "{checks:?}");
            if checks.fuel && !checks.interrupt {
                assert!(store.get_fuel().unwrap() < u64::MAX - 1000, "{checks:?}");
            }
        }
    }

    #[cfg(feature = "packed-tables")]
    mod packed {
        use super::*;

        #[test]
        fn artifacts_are_marked_with_the_packed_format_and_upstream_ones_refused() {
            let engine =
                Engine::new(&engine_config(Checks::default(), Allocation::OnDemand)).unwrap();
            let packed = Module::new(&engine, MODULE).unwrap().serialize().unwrap();
            let version = wasmtime_environ::ARTIFACT_VERSION.as_bytes();
            assert!(packed.windows(version.len()).any(|w| w == version));

            // An engine configured like wharf's but with wasmtime's own
            // version string writes artifacts as an upstream wasmtime would.
            let mut upstream_config = engine_config(Checks::default(), Allocation::OnDemand);
            upstream_config
                .module_version(wasmtime::ModuleVersionStrategy::WasmtimeVersion)
                .unwrap();
            let upstream = Engine::new(&upstream_config).unwrap();
            let foreign = Module::new(&upstream, MODULE).unwrap().serialize().unwrap();
            // SAFETY: both are artifacts of this wasmtime, and wasmtime is
            // expected to refuse the mislabelled one before mapping it.
            let refused = unsafe { Module::deserialize(&engine, &foreign) };
            let message = match refused {
                Ok(_) => panic!("an upstream artifact loaded"),
                Err(e) => format!("{e:#}"),
            };
            assert!(message.contains("version"), "{message}");
            // SAFETY: an artifact this very engine configuration wrote.
            assert!(unsafe { Module::deserialize(&engine, &packed) }.is_ok());
            assert_ne!(engine_key(&engine), engine_key(&upstream));
        }

        /// A module whose export `a` traps in `b`, which it calls through
        /// an exported table (so that it is not inlined).
        const TRAPPING: &str = r#"(module
            (type $t (func (param i32) (result i32)))
            (table (export "t") 1 funcref)
            (elem (i32.const 0) $b)
            (global $g (mut i32) (i32.const 0))
            (func $a (export "a")
                (global.set $g (call_indirect (type $t) (i32.const 7) (i32.const 0))))
            (func $b (param i32) (result i32)
                (global.set $g (i32.mul (local.get 0) (global.get $g)))
                (if (i32.eqz (global.get $g)) (then unreachable))
                (global.get $g)))"#;

        /// The frames (function name, offset in the module) of the trap
        /// that calling `a` ends in.
        fn trap_frames(engine: &Engine, module: &Module) -> Vec<(Option<String>, Option<usize>)> {
            let mut store = wasmtime::Store::new(engine, ());
            let instance = wasmtime::Instance::new(&mut store, module, &[]).unwrap();
            let a = instance.get_typed_func::<(), ()>(&mut store, "a").unwrap();
            let error = a.call(&mut store, ()).unwrap_err();
            let backtrace = error
                .downcast_ref::<wasmtime::WasmBacktrace>()
                .expect("a trap with a backtrace");
            backtrace
                .frames()
                .iter()
                .map(|f| (f.func_name().map(str::to_owned), f.module_offset()))
                .collect()
        }

        fn module(compiled: Compiled) -> Module {
            match compiled {
                Compiled::Module(module) => module,
                Compiled::Component(_) => panic!("a component"),
            }
        }

        #[test]
        fn a_pinned_module_reads_its_tables_in_place_and_still_places_its_frames() {
            let (root, engine, _, _) = setup();
            let bytes = wat::parse_str(TRAPPING).unwrap();
            let digest = digest::sha256(&bytes);
            let compiled = module(engine.load("m", &digest, || Ok(bytes.clone())).unwrap());
            let expected = trap_frames(engine.engine(), &compiled);
            let names: Vec<_> = expected.iter().map(|(name, _)| name.as_deref()).collect();
            assert_eq!(names, [Some("b"), Some("a")]);
            assert!(expected.iter().all(|(_, offset)| offset.is_some()));

            // Loaded back without pinning: every table is decoded.
            let before = wasmtime_environ::tables_read_in_place();
            let decoded = module(
                engine
                    .load("m", &digest, || panic!("compiled again"))
                    .unwrap(),
            );
            assert_eq!(wasmtime_environ::tables_read_in_place(), before);
            assert_eq!(trap_frames(engine.engine(), &decoded), expected);

            // Pinned: the function table's three per-function tables are
            // read where they lie in the artifact, and give the same frames.
            let mut pinning =
                GuestEngine::new(Some(root.path()), Checks::default(), Allocation::OnDemand)
                    .unwrap();
            pinning.pin_loaded_modules();
            let pinned = module(
                pinning
                    .load("m", &digest, || panic!("compiled again"))
                    .unwrap(),
            );
            assert_eq!(wasmtime_environ::tables_read_in_place(), before + 3);
            assert_eq!(trap_frames(pinning.engine(), &pinned), expected);
        }
    }
}
