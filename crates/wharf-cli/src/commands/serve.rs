//! The module that implements the `wharf serve` command.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::run::{env_flags, is_module_path, parse_size, parse_volume};
use crate::exit;
use wharf::manifest::Limits;
use wharf::runtime::{Call, EffectiveLimits, LoadOptions, Output, Runtime, Source};
use wharf::serve::{self, ServeOptions, Server};
use wharf::units::{self, ByteSize};

/// A request's timeout unless the image or `--timeout` says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// A request's memory limit unless the image or `--memory` says otherwise.
const DEFAULT_MEMORY: u64 = 512 << 20;

/// Serve HTTP from an image (or a .wasm file), each request in a fresh
/// sandbox.
///
/// Two kinds of app serve: a wasi:http/proxy component (what `wasmtime
/// serve` and Spin run) gets each request through wasi:http; anything else
/// (a WASI command: C, Rust, CPython with a WSGI app through
/// wsgiref.handlers.CGIHandler) is run as a CGI script (RFC 3875): the
/// request's meta-variables in its environment, the body on stdin, and the
/// response it writes on stdout (header lines, a blank line, the body).
///
/// Each request gets a fresh instance with its own limits: the flags', else
/// the image's [limits], else the defaults below. A request whose guest
/// fails gets a 5xx with a one-line reason; the others go on. Guests have
/// no outbound network. Ctrl-C or SIGTERM stops accepting and lets requests
/// in flight finish (a second one stops at once).
#[derive(Debug, Args)]
#[command(override_usage = "wharf serve [OPTIONS] IMAGE [ARGS]...")]
pub struct ServeCommand {
    /// Where to listen: [ADDR:]PORT[:CONTAINER_PORT]. ADDR defaults to
    /// 127.0.0.1 (listen on other addresses only by naming them, e.g.
    /// 0.0.0.0:8080); PORT 0 picks a free one. A sandbox has no ports: a
    /// CONTAINER_PORT is accepted for Docker's habit and changes nothing.
    #[arg(
        short = 'p',
        long = "publish",
        value_name = "[ADDR:]PORT",
        default_value = "8080"
    )]
    publish: String,

    /// Set an environment variable; KEY alone copies the host's value.
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    env: Vec<String>,

    /// Read environment variables from a file (KEY=VALUE lines).
    #[arg(long = "env-file", value_name = "FILE")]
    env_files: Vec<PathBuf>,

    /// Mount a host directory: HOST:GUEST, HOST:GUEST:ro or HOST:GUEST:rw.
    /// Every request sees the same directory.
    #[arg(short = 'v', long = "volume", value_name = "HOST:GUEST[:ro|rw]")]
    volumes: Vec<String>,

    /// Memory limit of each request's guest, 0 for none [default: the
    /// image's, else 512MiB]
    #[arg(short = 'm', long, value_name = "SIZE", value_parser = parse_size)]
    memory: Option<u64>,

    /// Stop a request's guest after this long (it gets 504), 0s for never
    /// [default: the image's, else 30s]
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration)]
    timeout: Option<Duration>,

    /// Stop a request's guest after this much fuel, about one unit per
    /// Wasm instruction, 0 for unlimited [default: the image's, else
    /// unlimited]
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,

    /// How many requests run at once; more wait up to --queue-timeout,
    /// then get 503.
    #[arg(long, value_name = "N", default_value_t = serve::DEFAULT_MAX_CONCURRENCY)]
    max_concurrency: usize,

    /// How long a request waits for a place when --max-concurrency run.
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration, default_value = "2s")]
    queue_timeout: Duration,

    /// The largest request body accepted (larger gets 413).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "16MiB")]
    max_body: u64,

    /// How long requests in flight may take to finish once told to stop.
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration, default_value = "10s")]
    grace: Duration,

    /// No access log (one line per request on stderr).
    #[arg(short, long)]
    quiet: bool,

    #[command(flatten)]
    pull: super::transfer::PullFlags,

    /// An image (NAME[:TAG], NAME@DIGEST, ID) or a path to a .wasm file,
    /// then arguments that replace the image's cmd.
    #[arg(
        value_name = "IMAGE [ARGS]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    command: Vec<String>,
}

impl ServeCommand {
    /// Serves until interrupted; returns wharf's exit status.
    pub fn execute(self) -> i32 {
        match self.serve() {
            Ok(()) => 0,
            Err(e) => {
                super::report(&e);
                exit::for_run_error(&e)
            }
        }
    }

    fn serve(self) -> Result<()> {
        let address = parse_publish(&self.publish)?;
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
            (
                Source::File(PathBuf::from(&image)),
                super::open_store().ok(),
            )
        } else {
            (Source::Image(image.clone()), Some(super::open_store()?))
        };
        let concurrency = self.max_concurrency.max(1);
        let mut builder = Runtime::builder()
            .pool(u32::try_from(concurrency).unwrap_or(u32::MAX))
            .queue_timeout(self.queue_timeout);
        if let Some(store) = &store {
            builder = builder.store(store);
        }
        let runtime = builder.build()?;
        if let (Source::Image(image), Some(store)) = (&source, &store) {
            self.pull.before_run(store, &runtime, image)?;
        }
        let app = runtime
            .load_with(
                source,
                LoadOptions::new().fuel(self.fuel.is_some_and(|fuel| fuel != 0)),
            )
            .map_err(|e| super::transfer::explain_missing(e, &image, store.as_ref()))?;
        let image_limits = app.image_limits();
        let limits = Limits {
            memory: self.memory.or(image_limits.memory).or(Some(DEFAULT_MEMORY)),
            timeout: self
                .timeout
                .or(image_limits.timeout)
                .or(Some(DEFAULT_TIMEOUT)),
            fuel: self.fuel.or(image_limits.fuel),
        };
        let template = move || {
            let mut call = Call::new()
                .stdout(Output::Inherit)
                .stderr(Output::Inherit)
                .env_flags(vars.clone());
            if !args.is_empty() {
                call = call.args(args.clone());
            }
            call.mounts = mounts.clone();
            call.limits = limits;
            call
        };
        let quiet = self.quiet;
        let server = Server::builder(app)
            .options(ServeOptions {
                max_concurrency: concurrency,
                queue_timeout: self.queue_timeout,
                max_body: usize::try_from(self.max_body).unwrap_or(usize::MAX),
                grace: self.grace,
                ..ServeOptions::default()
            })
            .call(template)
            .on_access(move |access| {
                if !quiet {
                    eprintln!("{access}");
                }
            })
            .build()?;
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("wharf-serve")
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        tokio.block_on(async move {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address}"))?;
            let bound = listener.local_addr().unwrap_or(address);
            // What a request gets: 0 is no limit.
            let limits = EffectiveLimits::resolve(&limits, &Limits::default());
            let memory = limits
                .memory
                .map_or_else(|| "none".to_owned(), |m| ByteSize(m).to_string());
            let timeout = limits.timeout.map_or_else(
                || "none".to_owned(),
                |t| humantime::format_duration(t).to_string(),
            );
            eprintln!(
                "wharf: serving {image} ({}) on http://{bound} (per request: memory {memory}, timeout {timeout}; {concurrency} at once)",
                server.kind(),
            );
            server.serve(listener, stopped()).await
        })?;
        eprintln!("wharf: stopped");
        Ok(())
    }
}

/// Resolves at the first Ctrl-C or `SIGTERM`; a second one ends the
/// process at once, with the status a shell gives the signal.
async fn stopped() {
    let signal = interrupted().await;
    eprintln!("wharf: stopping: finishing the requests in flight (again to stop at once)");
    tokio::spawn(async move {
        let _ = interrupted().await;
        std::process::exit(128 + signal);
    });
}

/// Waits for Ctrl-C or `SIGTERM`, and returns its number.
#[cfg(unix)]
async fn interrupted() -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut terminate) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return 2;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => 2,
        _ = terminate.recv() => 15,
    }
}

/// Waits for Ctrl-C (Ctrl-Break and closing the console too), reported as
/// a Unix shell reports Ctrl-C.
#[cfg(windows)]
async fn interrupted() -> i32 {
    let _ = tokio::signal::ctrl_c().await;
    2
}

/// Parses `-p [ADDR:]PORT[:CONTAINER_PORT]`, as `docker run -p` names the
/// host side; ADDR is an IP address (IPv6 in brackets), 127.0.0.1 unless
/// given.
fn parse_publish(text: &str) -> Result<SocketAddr> {
    let expected = "expected [ADDR:]PORT[:CONTAINER_PORT], e.g. 8080, 0.0.0.0:8080 or [::1]:8080";
    let port = |part: &str| -> Result<u16> {
        part.parse::<u16>().map_err(|_| {
            anyhow::anyhow!("invalid --publish '{text}': '{part}' is not a port; {expected}")
        })
    };
    let (address, rest) = if let Some(stripped) = text.strip_prefix('[') {
        let Some((v6, rest)) = stripped.split_once(']') else {
            bail!("invalid --publish '{text}': no closing ']'; {expected}");
        };
        let address: IpAddr = v6.parse().map_err(|_| {
            anyhow::anyhow!("invalid --publish '{text}': '{v6}' is not an IPv6 address")
        })?;
        let Some(rest) = rest.strip_prefix(':') else {
            bail!("invalid --publish '{text}': no port; {expected}");
        };
        (Some(address), rest)
    } else {
        let parts: Vec<&str> = text.split(':').collect();
        match parts.as_slice() {
            [_] => (None, text),
            [first, _] if first.parse::<u16>().is_ok() => (None, text),
            [first, ..] => {
                let address: IpAddr = first.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "invalid --publish '{text}': '{first}' is not an IP address; {expected}"
                    )
                })?;
                (Some(address), &text[first.len() + 1..])
            }
            [] => unreachable!("split yields one part at least"),
        }
    };
    let host_port = match rest.split(':').collect::<Vec<_>>().as_slice() {
        [host] => port(host)?,
        [host, container] => {
            port(container)?;
            port(host)?
        }
        _ => bail!("invalid --publish '{text}': {expected}"),
    };
    Ok(SocketAddr::new(
        address.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        host_port,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_names_the_host_side_on_loopback_unless_told() {
        let cases = [
            ("8080", "127.0.0.1:8080"),
            ("0", "127.0.0.1:0"),
            ("8080:80", "127.0.0.1:8080"),
            ("0.0.0.0:9000", "0.0.0.0:9000"),
            ("192.168.1.2:9000:80", "192.168.1.2:9000"),
            ("[::1]:8080", "[::1]:8080"),
            ("[::]:8080:80", "[::]:8080"),
        ];
        for (flag, address) in cases {
            assert_eq!(parse_publish(flag).unwrap().to_string(), address, "{flag}");
        }
    }

    #[test]
    fn bad_publish_flags_say_what_was_expected() {
        for bad in [
            "",
            "http",
            "99999",
            "host:80",
            "1.2.3.4:x",
            "[::1",
            "[::1]",
            "1:2:3:4",
        ] {
            let err = parse_publish(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid --publish"), "{bad}: {err}");
        }
    }
}
