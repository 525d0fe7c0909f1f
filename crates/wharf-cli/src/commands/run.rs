//! The module that implements the `wharf run` command.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{ArgAction, Args};

use crate::exit;
use wharf::guest_path;
use wharf::manifest::Limits;
use wharf::runtime::env::{self, EnvFlag};
use wharf::runtime::{
    Call, Exit, LimitHit, LoadOptions, Mount, Output, Runtime, Source, Stdin, TimeoutBy,
};
use wharf::units::{self, ByteSize};

/// Run an image (or a .wasm file) in a sandbox.
#[derive(Debug, Args)]
#[command(
    override_usage = "wharf run [OPTIONS] IMAGE [ARGS]...",
    disable_help_flag = true
)]
pub struct RunCommand {
    /// Set an environment variable; KEY alone copies the host's value.
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    env: Vec<String>,

    /// Read environment variables from a file (KEY=VALUE lines).
    #[arg(long = "env-file", value_name = "FILE")]
    env_files: Vec<PathBuf>,

    /// Mount a host directory: HOST:GUEST, HOST:GUEST:ro or HOST:GUEST:rw.
    #[arg(short = 'v', long = "volume", value_name = "HOST:GUEST[:ro|rw]")]
    volumes: Vec<String>,

    /// Working directory inside the guest.
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    workdir: Option<String>,

    /// Run this command instead of the image's entrypoint (drops its cmd).
    #[arg(long, value_name = "CMD")]
    entrypoint: Option<String>,

    /// Memory limit for the guest's linear memories and tables (e.g. 256MiB;
    /// 0: none; default: the image's, else 2GiB).
    #[arg(short = 'm', long, value_name = "SIZE", value_parser = parse_size)]
    memory: Option<u64>,

    /// Stop the guest after this long (e.g. 30s, 500ms; 0s: never;
    /// default: the image's, else none).
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration)]
    timeout: Option<Duration>,

    /// Stop the guest after this much fuel, about one unit per Wasm
    /// instruction (0: unlimited; default: the image's, else unlimited).
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,

    /// Accepted for Docker compatibility: wharf keeps no container after a
    /// run (its /tmp is removed; one cut short is collected by `system prune`).
    #[arg(long)]
    rm: bool,

    /// Accepted for Docker compatibility: stdin is always connected.
    #[arg(short, long)]
    interactive: bool,

    /// Accepted for Docker compatibility: the guest writes to wharf's own
    /// terminal.
    #[arg(short, long)]
    tty: bool,

    #[command(flatten)]
    pull: super::transfer::PullFlags,

    /// Print help (`wharf run -h` alone does too; `-h` before IMAGE is
    /// Docker's `--hostname`).
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,

    #[command(flatten)]
    docker: DockerFlags,

    /// An image (NAME[:TAG], NAME@DIGEST, ID) or a path to a .wasm file,
    /// then the arguments that replace the image's cmd. Everything after
    /// IMAGE goes to the guest, `--help` included.
    #[arg(
        value_name = "IMAGE [ARGS]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    command: Vec<String>,
}

/// `docker run` flags that have no meaning for a wharf run. They are
/// parsed (before IMAGE only: what follows IMAGE is the guest's) so that
/// each is refused with what wharf does instead, rather than taken for
/// IMAGE or for the guest's first argument.
#[derive(Debug, Args)]
struct DockerFlags {
    #[arg(short = 'p', long = "publish", hide = true)]
    publish: Vec<String>,

    #[arg(short = 'P', long = "publish-all", hide = true)]
    publish_all: bool,

    #[arg(short = 'd', long = "detach", hide = true)]
    detach: bool,

    #[arg(long = "name", hide = true)]
    name: Vec<String>,

    #[arg(long = "network", alias = "net", hide = true)]
    network: Vec<String>,

    #[arg(short = 'u', long = "user", hide = true)]
    user: Vec<String>,

    /// `wharf run -h` alone asks for help, as it always did: see
    /// [`super::help_alias`].
    #[arg(short = 'h', long = "hostname", hide = true)]
    hostname: Option<String>,
}

impl DockerFlags {
    /// One line for each Docker flag given: what wharf does instead.
    fn refusals(&self) -> Vec<&'static str> {
        let mut lines = Vec::new();
        if !self.publish.is_empty() || self.publish_all {
            lines.push(
                "-p/--publish: a run has no network yet, so there is no port to publish; \
                 `wharf serve -p [ADDR:]PORT IMAGE` serves an HTTP app (docs/serve.md)",
            );
        }
        if self.detach {
            lines.push(
                "-d/--detach: there are no detached containers, each run is a process of its own: \
                 use your shell's `&` or a service manager (docs/docker.md)",
            );
        }
        if !self.name.is_empty() {
            lines.push(
                "--name: there is no container to name, each run is a process of its own \
                 (`wharf tag` names images)",
            );
        }
        if !self.network.is_empty() {
            lines.push(
                "--network: a run has no network yet; `wharf serve` answers HTTP for an app (docs/serve.md)",
            );
        }
        if !self.user.is_empty() {
            lines.push(
                "-u/--user: the sandbox has no users or uids; a guest reaches only what the run \
                 hands it (-v, -e)",
            );
        }
        if self.hostname.is_some() {
            lines.push(
                "-h/--hostname: a guest has no hostname (WASI has none); `wharf run --help` prints help",
            );
        }
        lines
    }
}

impl RunCommand {
    /// Runs the guest; returns wharf's exit status.
    pub fn execute(self) -> i32 {
        let refusals = self.docker.refusals();
        if !refusals.is_empty() {
            for line in refusals {
                super::style::error(line);
            }
            return exit::WHARF_ERROR;
        }
        match self.run() {
            Ok(exit) => {
                match &exit {
                    Exit::Code(_) => {}
                    Exit::Trap(message) => eprintln!("wharf: the guest trapped: {message}"),
                    Exit::Limit(hit) => eprintln!("wharf: {hit} ({})", raise(hit)),
                    Exit::Cancelled => eprintln!("wharf: {exit}"),
                }
                exit.code()
            }
            Err(e) => {
                super::report(&e);
                exit::for_run_error(&e)
            }
        }
    }

    fn run(self) -> Result<Exit> {
        let mut command = self.command.into_iter();
        let image = command.next().expect("clap requires IMAGE");
        let args: Vec<String> = command.collect();
        let vars = env_flags(&self.env_files, &self.env)?;
        let mounts = self
            .volumes
            .iter()
            .map(|v| parse_volume(v))
            .collect::<Result<Vec<_>>>()?;
        let (source, store) = if is_module_path(&image) {
            // A bare module still benefits from the store's compile cache
            // when there is one.
            (
                Source::File(PathBuf::from(&image)),
                super::open_store().ok(),
            )
        } else {
            (Source::Image(image.clone()), Some(super::open_store()?))
        };
        let runtime = match &store {
            Some(store) => super::runtime(store)?,
            None => Runtime::builder().on_demand().build()?,
        };
        if let (Source::Image(image), Some(store)) = (&source, &store) {
            self.pull.before_run(store, &runtime, image)?;
        }
        // This process runs one guest and exits: when its time is up the
        // watchdog ends it, so the guest's code needs no interruption
        // checks and runs what the build compiled.
        let app = runtime
            .load_with(
                source,
                LoadOptions::new()
                    .interruptible(false)
                    .fuel(self.fuel.is_some_and(|fuel| fuel != 0)),
            )
            .map_err(|e| super::transfer::explain_missing(e, &image, store.as_ref()))?;
        let mut call = Call::new()
            .stdin(Stdin::Inherit)
            .stdout(Output::Inherit)
            .stderr(Output::Inherit);
        if !args.is_empty() {
            call = call.args(args);
        }
        call.entrypoint = self
            .entrypoint
            .map(|e| if e.is_empty() { Vec::new() } else { vec![e] });
        call = call.env_flags(vars);
        call.mounts = mounts;
        call.workdir = self.workdir;
        call.limits = Limits {
            memory: self.memory,
            timeout: self.timeout,
            fuel: self.fuel,
        };
        call.timeout_by = TimeoutBy::Caller;
        let prepared = app.prepare(call)?;
        for warning in prepared.warnings() {
            super::style::warning(warning);
        }
        let watchdog = Watchdog::start(
            prepared.limits().timeout,
            prepared.scratch_dir().map(Path::to_owned),
        );
        let outcome = super::block_on(prepared.exiting().run_async())?;
        watchdog.disarm();
        // The process ends next: leave the app, its engine and its compiled
        // modules (hundreds of megabytes mapped, thousands of types
        // registered) to the operating system instead of taking them apart
        // one by one. The call's own /tmp went with the call.
        std::mem::forget(app);
        std::mem::forget(runtime);
        Ok(outcome?.exit)
    }
}

/// Ends the process when the run's time is up, as `timeout(1)` ends its
/// command, or when the process is interrupted (Ctrl-C, `SIGTERM`), in
/// either case after removing the run's scratch directory (its `/tmp`), as
/// a finished run does. The guest's code needs no checks for it, whether it
/// computes or waits in a host call (a sleep, a read), and runs as fast as
/// without a timeout.
struct Watchdog {
    /// Set once the run is over; the watchdog holds it while it ends the
    /// process, so that a run finishing at that moment is not reported as
    /// both.
    finished: Arc<Mutex<bool>>,
}

impl Watchdog {
    /// Starts watching for interruptions and, when there is a `limit`,
    /// counting it; whichever comes first while the run goes on removes
    /// `scratch`, says what happened and exits with its status (124 for
    /// the timeout, 128 + the signal for an interruption, as a shell
    /// reports a process the signal ended).
    fn start(limit: Option<Duration>, scratch: Option<PathBuf>) -> Self {
        let finished = Arc::new(Mutex::new(false));
        let end = Ending {
            finished: finished.clone(),
            scratch,
        };
        if let Some(limit) = limit {
            let end = end.clone();
            std::thread::Builder::new()
                .name("wharf-watchdog".into())
                .spawn(move || {
                    std::thread::sleep(limit);
                    let hit = LimitHit::Timeout { limit };
                    end.now(hit.code(), Some(format!("{hit} ({})", raise(&hit))));
                })
                .expect("cannot start the watchdog thread");
        }
        interruptions::watch(end);
        Self { finished }
    }

    /// The run is over: the watchdog will not end the process.
    fn disarm(self) {
        *self.finished.lock().unwrap_or_else(|e| e.into_inner()) = true;
    }
}

/// How the watchdog ends the process.
#[derive(Clone)]
struct Ending {
    finished: Arc<Mutex<bool>>,
    scratch: Option<PathBuf>,
}

impl Ending {
    /// Unless the run is over, removes its scratch directory, prints
    /// `message` and exits with `code`.
    fn now(&self, code: i32, message: Option<String>) {
        let finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        if *finished {
            return;
        }
        if let Some(scratch) = &self.scratch {
            let _ = std::fs::remove_dir_all(scratch);
        }
        if let Some(message) = message {
            eprintln!("wharf: {message}");
        }
        std::process::exit(code);
    }
}

/// What wharf says when `signal` ends a run: WASI has no signals, so the
/// guest cannot be told to stop (Python raises no `KeyboardInterrupt` and
/// flushes nothing), and what it held in its own buffers is lost.
fn interrupted(signal: &str) -> String {
    format!(
        "{signal}: the guest was stopped where it was; output it had not written yet is lost (WASI has no signals, see docs/docker.md)"
    )
}

/// Interruptions on Unix: `SIGINT`, `SIGTERM` and `SIGHUP`, caught on a
/// thread of their own.
#[cfg(unix)]
mod interruptions {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    pub(super) fn watch(end: super::Ending) {
        let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return; // the default handling stays: the process just ends
        };
        let _ = std::thread::Builder::new()
            .name("wharf-signals".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    let name = match signal {
                        SIGINT => "SIGINT",
                        SIGTERM => "SIGTERM",
                        _ => "SIGHUP",
                    };
                    end.now(128 + signal, Some(super::interrupted(name)));
                }
            });
    }
}

/// Interruptions on Windows: Ctrl-C, Ctrl-Break and closing the console,
/// reported with the status a Unix shell gives Ctrl-C.
#[cfg(windows)]
mod interruptions {
    pub(super) fn watch(end: super::Ending) {
        let _ = ctrlc::set_handler(move || end.now(130, Some(super::interrupted("Ctrl-C"))));
    }
}

/// The variables of `--env-file` files, then of `-e` flags, in order.
pub(super) fn env_flags(files: &[PathBuf], flags: &[String]) -> Result<Vec<EnvFlag>> {
    let mut vars: Vec<EnvFlag> = Vec::new();
    for file in files {
        vars.extend(env::read_env_file(file)?);
    }
    for flag in flags {
        vars.push(env::parse_env_flag(flag)?);
    }
    Ok(vars)
}

/// How a user raises the limit a guest hit.
pub(super) fn raise(hit: &LimitHit) -> &'static str {
    match hit {
        LimitHit::Memory { .. } => "raise it with --memory or [limits] memory",
        LimitHit::Timeout { .. } => "raise it with --timeout or [limits] timeout",
        LimitHit::Fuel { .. } => "raise it with --fuel or [limits] fuel",
    }
}

pub(super) fn parse_size(text: &str) -> Result<u64, String> {
    text.parse::<ByteSize>().map(|size| size.0)
}

/// A `.wasm` (or `.wat`-free) path on the host rather than an image name.
pub(super) fn is_module_path(image: &str) -> bool {
    let path = Path::new(image);
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("wasm"))
        && path.is_file()
}

/// Parses `-v HOST:GUEST[:ro|rw]` and checks that HOST is a directory.
pub(super) fn parse_volume(text: &str) -> Result<Mount> {
    let (host, guest, read_only) = split_volume(text)?;
    let host_path = match std::fs::canonicalize(host) {
        Ok(path) if path.is_dir() => path,
        Ok(_) => {
            bail!("invalid volume '{text}': {host} is not a directory (wharf mounts directories)")
        }
        Err(e) => bail!("invalid volume '{text}': cannot use {host}: {e}"),
    };
    Ok(Mount {
        host: host_path,
        guest: guest_path::resolve("/", guest),
        read_only,
    })
}

/// Splits a volume flag into host part, guest path and read-only flag. The
/// guest path is absolute, so it starts at the last `:/`, which keeps
/// Windows drive letters (`C:\data:/data`) in the host part.
fn split_volume(text: &str) -> Result<(&str, &str, bool)> {
    let expected =
        "expected HOST:GUEST, HOST:GUEST:ro or HOST:GUEST:rw, with an absolute GUEST path";
    let (spec, read_only) = if let Some(spec) = text.strip_suffix(":ro") {
        (spec, true)
    } else if let Some(spec) = text.strip_suffix(":rw") {
        (spec, false)
    } else {
        (text, false)
    };
    let Some(split) = spec.rfind(":/") else {
        bail!("invalid volume '{text}': {expected}");
    };
    let (host, guest) = (&spec[..split], &spec[split + 1..]);
    if host.is_empty() {
        bail!("invalid volume '{text}': the host directory is empty; {expected}");
    }
    if let Some((_, mode)) = guest.rsplit_once(':') {
        bail!("invalid volume '{text}': unknown mode '{mode}'; {expected}");
    }
    Ok((host, guest, read_only))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_parse_modes_and_paths() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().to_str().unwrap();
        let m = parse_volume(&format!("{host}:/data")).unwrap();
        assert_eq!((m.guest.as_str(), m.read_only), ("/data", false));
        let m = parse_volume(&format!("{host}:/data/./x/:ro")).unwrap();
        assert_eq!((m.guest.as_str(), m.read_only), ("/data/x", true));
        let m = parse_volume(&format!("{host}:/:rw")).unwrap();
        assert_eq!(m.guest, "/");
    }

    #[test]
    fn malformed_volumes_say_what_was_expected() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().to_str().unwrap();
        for bad in [
            "/just/a/path".to_owned(),
            ":/data".to_owned(),
            format!("{host}:relative"),
            format!("{host}:/data:zz"),
            "/surely/not/here:/data".to_owned(),
        ] {
            let err = parse_volume(&bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid volume"), "{bad}: {err}");
        }
    }

    #[test]
    fn windows_drive_letters_stay_in_the_host_part() {
        assert_eq!(
            split_volume(r"C:\data:/data").unwrap(),
            (r"C:\data", "/data", false)
        );
        assert_eq!(
            split_volume("C:/data:/data:ro").unwrap(),
            ("C:/data", "/data", true)
        );
        assert_eq!(split_volume("/a:b:/x").unwrap(), ("/a:b", "/x", false));
    }
}
