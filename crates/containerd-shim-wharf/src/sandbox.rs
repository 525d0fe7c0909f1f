//! The shim and its engine: a container's process hands its image to the
//! `wharf` library, which runs it as `wharf run` does.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use containerd_shim_wasm::sandbox::Sandbox;
use containerd_shim_wasm::sandbox::context::{RuntimeContext, Source as ImageSource};
use containerd_shim_wasm::shim::{Shim, Version, version};
use wharf::image::{RunConfig, labels_in_tree};
use wharf::manifest::Limits;
use wharf::runtime::{
    Call, EffectiveLimits, Exit, LimitHit, LoadOptions, Output, Runtime, Source, Stdin, TimeoutBy,
    status,
};
use wharf::units::ByteSize;

use crate::{container, node};

/// The shim: containerd's runtime `io.containerd.wharf.v1`, the binary
/// `containerd-shim-wharf-v1`.
pub struct WharfShim;

impl Shim for WharfShim {
    type Sandbox = WharfSandbox;

    fn name() -> &'static str {
        "wharf"
    }

    fn version() -> Version {
        version!()
    }
}

/// Runs a container's image in the container's own process, inside its
/// root filesystem, mounts and cgroup.
#[derive(Default)]
pub struct WharfSandbox;

impl Sandbox for WharfSandbox {
    /// Every container is wharf's to run (one whose command is a Linux
    /// program runs as a Linux container before this is asked): a command
    /// the image lacks, or that is not Wasm, fails in the container with
    /// the message and status `wharf run` gives, which its user sees, not
    /// in the shim's log.
    ///
    /// This is the first of the shim's code to run in the container's
    /// process, before containerd is told the container exists: signals
    /// are caught from here on (see [`catch_signals`]).
    async fn can_handle(&self, _ctx: &impl RuntimeContext) -> Result<()> {
        catch_signals();
        Ok(())
    }

    /// Runs the image on a thread of its own (the library's calls block,
    /// and bring their own async runtime), and returns its exit status.
    async fn run_wasi(&self, ctx: &impl RuntimeContext) -> Result<i32> {
        let request = Request::from_context(ctx);
        let guest = std::thread::Builder::new()
            .name("wharf-guest".into())
            .spawn(move || request.run())
            .context("cannot start the guest's thread")?;
        Ok(guest.join().unwrap_or(status::WHARF_ERROR))
    }
}

/// What containerd asked for, taken out of its context.
struct Request {
    /// The process's arguments: the image's entrypoint and cmd, or what
    /// replaced them (`ctr run IMAGE ID ARGS…`, a Pod's `command`).
    args: Vec<String>,
    /// `KEY=VALUE`: the image's environment and the container's.
    env: Vec<String>,
    /// A module carried as an OCI Wasm layer (a CNCF Wasm artifact), when
    /// the image is one: its name and bytes.
    module: Option<(String, Vec<u8>)>,
}

impl Request {
    fn from_context(ctx: &impl RuntimeContext) -> Self {
        let entrypoint = ctx.entrypoint();
        let module = match entrypoint.source {
            ImageSource::Oci([layer]) => Some((
                entrypoint
                    .name
                    .map_or_else(|| "module.wasm".to_owned(), |n| format!("{n}.wasm")),
                layer.layer.clone(),
            )),
            _ => None,
        };
        Self {
            args: ctx.args().to_vec(),
            env: ctx.envs().to_vec(),
            module,
        }
    }

    /// Runs the guest; says on stderr (the container's) how it ended when
    /// it did not exit on its own, and returns the status `wharf run`
    /// would.
    fn run(self) -> i32 {
        match self.start() {
            Ok((exit, capped)) => {
                match &exit {
                    Exit::Code(_) => {}
                    Exit::Trap(message) => eprintln!("wharf: the guest trapped: {message}"),
                    Exit::Limit(hit @ LimitHit::Memory { .. }) if let Some(container) = capped => {
                        eprintln!(
                            "wharf: {hit} (the container's memory limit of {}, less what wharf itself needs: raise the container's limit)",
                            ByteSize(container)
                        )
                    }
                    Exit::Limit(hit) => eprintln!("wharf: {hit} ({})", raise(hit)),
                    Exit::Cancelled => eprintln!("wharf: {exit}"),
                }
                exit.code()
            }
            Err(e) => {
                eprintln!("wharf: {e:#}");
                status::for_error(&e)
            }
        }
    }

    /// Runs the guest: how it ended, and the container's memory limit when
    /// that is what capped the guest's memory.
    fn start(self) -> Result<(Exit, Option<u64>)> {
        let workdir = std::env::current_dir()
            .context("cannot read the container's working directory")?
            .to_string_lossy()
            .into_owned();
        let mut builder = Runtime::builder().on_demand();
        if let Some(dir) = node::cache_in_container() {
            builder = builder.artifact_cache(dir);
        }
        let runtime = builder.build()?;
        // The guest's `/`: the files at the top of the image, with its
        // directories and the container's mounts in it (see `container`);
        // made in the
        // container's /tmp (which a wharf image rarely has: the guest's own
        // /tmp is wharf's), as the run's /tmp is.
        let _ = std::fs::create_dir_all(std::env::temp_dir());
        let root = tempfile::Builder::new()
            .prefix("wharf-root-")
            .tempdir()
            .context(
                "cannot create the guest's root in the container's /tmp (a read-only root filesystem needs a writable volume at /tmp)",
            )?;
        let mounts = container::guest_tree(root.path())?;
        let (source, args) = match self.module {
            Some((name, bytes)) => (
                Source::bytes(name, bytes),
                self.args.into_iter().skip(1).collect(),
            ),
            None => {
                let config = RunConfig {
                    env: Vec::new(),
                    entrypoint: Vec::new(),
                    cmd: self.args,
                    workdir: workdir.clone(),
                    labels: labels_in_tree(Path::new("/"))?,
                };
                let source = Source::Rootfs {
                    path: root.path().to_owned(),
                    config,
                };
                (source, Vec::new())
            }
        };
        // One guest, then the process exits: no interruption checks in its
        // code, as under `wharf run`; the watchdog ends it on time.
        let app = runtime.load_with(source, LoadOptions::new().interruptible(false))?;
        let mut call = Call::new()
            .stdin(Stdin::Inherit)
            .stdout(Output::Inherit)
            .stderr(Output::Inherit);
        if !args.is_empty() {
            call = call.args(args);
        }
        for (key, value) in self.env.iter().map(|e| split_env(e)) {
            call = call.env(key, value);
        }
        call.mounts = mounts;
        call.workdir = Some(workdir);
        // The container's memory limit caps the guest's memory too, less
        // what this process needs besides, so that the guest meets it as a
        // limit wharf reports rather than as the kernel's OOM kill.
        // The image's limit (its `0`, no limit, included) as a run gets it.
        let image_memory = EffectiveLimits::resolve(&Limits::default(), &app.image_limits()).memory;
        let mut capped = None;
        if let Some(container) = container::memory_limit() {
            let guest = container::guest_share(container);
            if image_memory.is_none_or(|image| guest < image) {
                call.limits.memory = Some(guest);
                capped = Some(container);
            }
        }
        call.timeout_by = TimeoutBy::Caller;
        let prepared = app.prepare(call)?;
        for warning in prepared.warnings() {
            eprintln!("wharf: warning: {warning}");
        }
        watch(prepared.limits().timeout);
        let outcome = prepared.exiting().run()?;
        // The process exits next: leave the rest to the operating system.
        std::mem::forget(app);
        std::mem::forget(runtime);
        std::mem::forget(root);
        Ok((outcome.exit, capped))
    }
}

/// `KEY=VALUE` as the pair; a bare `KEY` is set empty.
fn split_env(entry: &str) -> (&str, &str) {
    entry.split_once('=').unwrap_or((entry, ""))
}

/// Where a limit the guest hit is raised.
fn raise(hit: &LimitHit) -> &'static str {
    match hit {
        LimitHit::Memory { .. } => "raise it with [limits] memory in the image",
        LimitHit::Timeout { .. } => "raise it with [limits] timeout in the image",
        LimitHit::Fuel { .. } => "raise it with [limits] fuel in the image",
    }
}

/// Ends the process when the guest's time is up, with status 124 as
/// `timeout(1)` does.
fn watch(timeout: Option<Duration>) {
    if let Some(limit) = timeout {
        let _ = std::thread::Builder::new()
            .name("wharf-watchdog".into())
            .spawn(move || {
                std::thread::sleep(limit);
                let hit = LimitHit::Timeout { limit };
                eprintln!("wharf: {hit} ({})", raise(&hit));
                std::process::exit(hit.code());
            });
    }
}

/// Ends the process when containerd signals it (`ctr task kill`, a Pod's
/// deletion) with 128 + the signal, as a shell reports a process the
/// signal ended. The container's process is its PID 1, which the kernel
/// hands no signal it has no handler for: without these, SIGTERM would be
/// lost and only SIGKILL would stop it. WASI has no signals: the guest
/// cannot be told, and what it had not written yet is lost.
fn catch_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(mut signals) => {
            let _ = std::thread::Builder::new()
                .name("wharf-signals".into())
                .spawn(move || {
                    if let Some(signal) = signals.forever().next() {
                        std::process::exit(128 + signal);
                    }
                });
        }
        Err(e) => log::warn!("cannot catch signals: {e}; only SIGKILL stops the guest"),
    }
}
