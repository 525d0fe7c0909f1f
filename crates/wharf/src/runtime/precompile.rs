//! Compiling an image's programs ahead of time: at build (and whenever an
//! image arrives), so that no run pays for Cranelift.

use std::thread;

use anyhow::{Context, Result};
use oci_spec::image::Digest;

use super::Runtime;
use super::app::read_guest_file;
use super::command;
use super::engine::Checks;
use super::filesystem::GuestFs;
use super::link::Linkers;
use crate::guest_path;
use crate::image::{DEFAULT_PATH, Image};

/// What [`Runtime::precompile`] did.
#[derive(Debug, Default)]
pub struct Precompiled {
    /// Programs compiled now (guest paths).
    pub compiled: Vec<String>,
    /// Programs whose compiled artifact was already cached.
    pub cached: usize,
    /// Programs that could not be compiled, with the reason: the image
    /// holds them, but they will not run.
    pub failed: Vec<(String, String)>,
}

/// The Wasm binary an image runs by default, found in its unpacked tree.
#[derive(Debug, Clone)]
pub struct EntrypointProgram {
    /// Its guest path (symlinks resolved).
    pub guest_path: String,
    /// The file on the host, inside the store's unpacked tree.
    pub host_path: std::path::PathBuf,
    /// Its digest.
    pub digest: Digest,
    /// Whether it is a component rather than a core module.
    pub component: bool,
}

/// Hears how precompiling goes, for a progress display.
pub trait PrecompileProgress: Sync {
    /// `count` programs are about to be compiled.
    fn starting(&self, count: usize);
    /// One of them is done.
    fn finished(&self, guest_path: &str);
}

impl Runtime {
    /// The program an image's entrypoint and cmd name, located as a run
    /// would locate it.
    pub fn entrypoint_program(&self, image: &Image) -> Result<EntrypointProgram> {
        let store = self.store().context("finding a program needs a store")?;
        let config = image.run_config();
        let rootfs = store.open_rootfs(image)?;
        let tmp = tempfile::tempdir()?;
        let fs = GuestFs::plan(Some(rootfs.tree()), &[], Some(tmp.path()), "/")?;
        let path_var = config.env_var("PATH").unwrap_or(DEFAULT_PATH).to_owned();
        let argv = command::command_line(&config, None, &[])?;
        let located = command::locate(&fs, &argv[0], &path_var, &config.workdir)?;
        let guest_path = fs.canonical(&located)?;
        let digest = rootfs
            .module_digest(&guest_path)
            .cloned()
            .with_context(|| format!("{guest_path} is not a WebAssembly binary"))?;
        let host_path = rootfs.tree().join(guest_path::relative(&guest_path));
        let mut head = [0u8; 8];
        use std::io::Read;
        std::fs::File::open(&host_path)?.read_exact(&mut head)?;
        Ok(EntrypointProgram {
            guest_path,
            host_path,
            digest,
            component: wasmparser::Parser::is_component(&head),
        })
    }

    /// Compiles every program an image can run (what its entrypoint and
    /// cmd name, and every Wasm binary in a `PATH` directory) into the
    /// artifact cache, several at once. The entrypoint is also linked, so
    /// that a missing import shows up now rather than at the first run.
    pub fn precompile(
        &self,
        image: &Image,
        progress: &dyn PrecompileProgress,
    ) -> Result<Precompiled> {
        let store = self.store().context("precompiling needs a store")?;
        // Builds compile for the engine without checks: what `wharf run`
        // runs, with or without a timeout.
        let engine = self.engine(Checks::default())?;
        let linkers = Linkers::new(engine.engine(), Vec::new(), Vec::new());
        let config = image.run_config();
        let rootfs = store.open_rootfs(image)?;
        let tmp = tempfile::tempdir()?;
        let fs = GuestFs::plan(Some(rootfs.tree()), &[], Some(tmp.path()), "/")?;
        let path_var = config.env_var("PATH").unwrap_or(DEFAULT_PATH).to_owned();
        let launch = config.launch()?;

        let entrypoint = command::command_line(&config, None, &[])
            .ok()
            .and_then(|argv| command::locate(&fs, &argv[0], &path_var, &config.workdir).ok())
            .and_then(|path| fs.canonical(&path).ok());
        let path_dirs: Vec<String> = path_var
            .split(':')
            .filter(|d| d.starts_with('/'))
            .map(|d| guest_path::resolve("/", d))
            .collect();
        let mut wanted: Vec<(String, Digest)> = rootfs
            .modules()
            .filter(|(path, _)| {
                Some(*path) == entrypoint.as_deref()
                    || path_dirs.iter().any(|dir| parent(path) == dir)
            })
            .map(|(path, digest)| (path.to_owned(), digest.clone()))
            .collect();
        // The same binary under two names compiles once, under the
        // entrypoint's name when it is one of them (so that it is linked).
        wanted
            .sort_by_key(|(path, digest)| (digest.to_string(), Some(path) != entrypoint.as_ref()));
        wanted.dedup_by(|a, b| a.1 == b.1);

        let mut report = Precompiled::default();
        let todo: Vec<(String, Digest)> = wanted
            .into_iter()
            .filter(|(_, digest)| {
                let cached = engine.is_cached(digest);
                report.cached += usize::from(cached);
                !cached
            })
            .collect();
        progress.starting(todo.len());
        let results: Vec<(String, Result<()>)> = thread::scope(|scope| {
            let workers: Vec<_> = todo
                .iter()
                .map(|(path, digest)| {
                    let fs = &fs;
                    let entrypoint = entrypoint.as_ref();
                    let launch = launch.as_ref();
                    let linkers = &linkers;
                    scope.spawn(move || {
                        let compiled = engine.load(path, digest, || read_guest_file(fs, path));
                        let result = match compiled {
                            Ok(compiled) if Some(path) == entrypoint => {
                                linkers.link(path, compiled, launch, false).map(drop)
                            }
                            other => other.map(drop),
                        };
                        progress.finished(path);
                        (path.clone(), result)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a compile thread panicked"))
                .collect()
        });
        for (path, result) in results {
            match result {
                Ok(()) => report.compiled.push(path),
                Err(e) => report.failed.push((path, format!("{e:#}"))),
            }
        }
        Ok(report)
    }
}

/// The directory a guest path is in (`/` for top-level entries).
fn parent(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((parent, _)) => parent,
    }
}
