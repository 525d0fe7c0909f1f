//! The module that implements `wharf push`, `wharf pull`, `wharf login`
//! and `wharf logout`.

use std::collections::HashMap;
use std::io::{IsTerminal, Read};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use oci_spec::image::Digest;

use wharf::digest;
use wharf::reference::ImageRef;
use wharf::registry::auth::{self, Credentials};
use wharf::registry::{ArtifactSource, PullPolicy, Pulled, Registry, TransferProgress};
use wharf::runtime::Runtime;
use wharf::store::{LookupError, Store};
use wharf::units::human_size;

/// Upload an image to a registry: `wharf push REGISTRY/NAME[:TAG]`.
#[derive(Debug, Args)]
pub struct PushCommand {
    /// Publish only the image's program, as a CNCF Wasm OCI artifact (what
    /// wkg and other Wasm tools pull).
    #[arg(long)]
    artifact: bool,

    /// Talk plain HTTP to this registry (loopback registries always are).
    #[arg(long)]
    insecure: bool,

    /// The local image, named as it should be in the registry.
    #[arg(value_name = "NAME[:TAG]")]
    image: ImageRef,
}

impl PushCommand {
    pub fn execute(self) -> Result<()> {
        let store = super::open_store()?;
        let name = self
            .image
            .tagged_name()
            .context("push takes a name with a tag, not a digest")?;
        let image = store
            .resolve(&name)
            .with_context(|| format!("tag the image first: wharf tag IMAGE {name}"))?;
        let artifact = if self.artifact {
            let program = super::runtime(&store)?.entrypoint_program(&image)?;
            Some(ArtifactSource {
                name: wharf::guest_path::file_name(&program.guest_path).to_owned(),
                path: program.host_path,
                digest: program.digest,
                component: program.component,
            })
        } else {
            None
        };
        let registry = Registry::new(&insecure_list(&self.image, self.insecure))?;
        let progress = Arc::new(Bars::new("Pushed"));
        let pushed = super::block_on(registry.push(
            &store,
            &image,
            &self.image,
            artifact.as_ref(),
            progress.clone(),
        ));
        progress.clear();
        let pushed = pushed??;
        println!(
            "{}: digest: {pushed}",
            self.image.tag_or_default().unwrap_or("latest")
        );
        Ok(())
    }
}

/// Download an image (or a Wasm artifact) from a registry, by tag or digest.
#[derive(Debug, Args)]
pub struct PullCommand {
    /// Talk plain HTTP to this registry (loopback registries always are).
    #[arg(long)]
    insecure: bool,

    /// REGISTRY/NAME[:TAG] or REGISTRY/NAME@sha256:…
    #[arg(value_name = "REFERENCE")]
    reference: ImageRef,
}

impl PullCommand {
    pub fn execute(self) -> Result<()> {
        let store = super::open_store()?;
        let runtime = super::runtime(&store)?;
        let pulled = pull(&store, &runtime, &self.reference, self.insecure)?;
        println!("{}", pulled_line(&pulled));
        Ok(())
    }
}

/// Pulls `reference` into the store, as `wharf pull` does: a progress bar
/// (or a line) per blob on stderr, then the image's programs compiled
/// ahead of time with `runtime`.
pub(super) fn pull(
    store: &Store,
    runtime: &Runtime,
    reference: &ImageRef,
    insecure: bool,
) -> Result<Pulled> {
    let registry = Registry::new(&insecure_list(reference, insecure))?;
    let progress = Bars::new("Downloaded");
    let pulled = super::block_on(registry.pull(store, reference, &progress));
    progress.clear();
    let pulled = pulled??;
    let bar = super::build::CompileBar::new(false);
    let compiled = runtime.precompile(&pulled.image, &bar);
    bar.done();
    if let Err(e) = compiled {
        super::style::warning(format_args!(
            "cannot compile the image's programs ahead of time: {e:#}"
        ));
    }
    Ok(pulled)
}

fn insecure_list(reference: &ImageRef, insecure: bool) -> Vec<String> {
    let mut list = Registry::plain_http_for(reference);
    if insecure {
        list.push(wharf::registry::registry_of(reference));
    }
    list
}

/// What `wharf pull` says once done: `Pulled NAME (ID)`.
fn pulled_line(pulled: &Pulled) -> String {
    match &pulled.name {
        Some(name) => format!("Pulled {name} ({})", pulled.image.id),
        None => format!("Pulled {}", pulled.image.id),
    }
}

/// The flags with which `run` and `serve` pull, as `docker run` does.
#[derive(Debug, Args)]
pub(super) struct PullFlags {
    /// When to pull an image that names a registry (REGISTRY/NAME[:TAG]):
    /// when the store lacks it, never, or every time. Short names are never
    /// pulled.
    #[arg(long, value_name = "POLICY", default_value = "missing", value_parser = ["missing", "never", "always"])]
    pull: String,

    /// Talk plain HTTP to the image's registry when pulling (loopback
    /// registries always are).
    #[arg(long)]
    insecure: bool,
}

impl PullFlags {
    /// Pulls `image` first when the policy says so (with `wharf pull`'s
    /// progress, and its last line, on stderr: stdout is the guest's).
    pub(super) fn before_run(&self, store: &Store, runtime: &Runtime, image: &str) -> Result<()> {
        let policy: PullPolicy = self.pull.parse()?;
        let Some(reference) = policy.to_pull(store, image)? else {
            return Ok(());
        };
        if policy == PullPolicy::Missing {
            eprintln!("wharf: unable to find image '{image}' locally");
        }
        let pulled = pull(store, runtime, &reference, self.insecure)?;
        eprintln!("{}", pulled_line(&pulled));
        Ok(())
    }
}

/// A short name the store lacks: `no such image`, with what to do, since
/// `run` and `serve` pull only names that give a registry; a name that
/// reads as a path (`./app.wasm`, `app.wasm`) is a file that is not there.
pub(super) fn explain_missing(
    error: anyhow::Error,
    image: &str,
    store: Option<&Store>,
) -> anyhow::Error {
    let missing = error.chain().any(|e| {
        matches!(
            e.downcast_ref::<LookupError>(),
            Some(LookupError::NotFound(_))
        )
    });
    let short = image
        .parse::<ImageRef>()
        .is_ok_and(|r| r.domain().is_none());
    let id_like = {
        let hex = image.strip_prefix("sha256:").unwrap_or(image);
        hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    };
    let path_like = std::path::Path::new(image)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("wasm"))
        || image.starts_with(['.', '/'])
        || image.contains(std::path::MAIN_SEPARATOR_STR) && image.parse::<ImageRef>().is_err();
    if missing && path_like {
        anyhow::anyhow!("{image}: no such file (nor an image of that name)")
    } else if let Some(similar) = missing.then(|| close_names(store, image)).flatten() {
        anyhow::anyhow!("no such image: {image}; did you mean {similar}?")
    } else if missing && short && !id_like {
        anyhow::anyhow!(
            "no such image: {image}; wharf has no default registry: name one, e.g. \
             localhost:5000/{image}, or build it"
        )
    } else {
        error
    }
}

/// `NAME:TAG` or `NAME:TAG or NAME:TAG`: the store's images whose names
/// are close to `image` (a typo, another tag), if any.
fn close_names(store: Option<&Store>, image: &str) -> Option<String> {
    let similar = store?.similar_names(image).ok()?;
    (!similar.is_empty()).then(|| similar.join(" or "))
}

/// An image the store lacks, named by `rmi`, `history`, `inspect` or
/// `tag`: `no such image`, with the store's close names when it has some.
pub(super) fn suggest_names(error: anyhow::Error, image: &str, store: &Store) -> anyhow::Error {
    let missing = error.chain().any(|e| {
        matches!(
            e.downcast_ref::<LookupError>(),
            Some(LookupError::NotFound(_))
        )
    });
    match missing.then(|| close_names(Some(store), image)).flatten() {
        Some(similar) => anyhow::anyhow!("no such image: {image}; did you mean {similar}?"),
        None => error,
    }
}

/// Log in to a registry: check credentials with it, then save them for
/// push and pull.
#[derive(Debug, Args)]
pub struct LoginCommand {
    /// Talk plain HTTP to this registry (loopback registries always are).
    #[arg(long)]
    insecure: bool,

    /// User name.
    #[arg(short, long)]
    username: String,

    /// Password or token (prefer --password-stdin: command lines are visible
    /// to other users).
    #[arg(short, long, conflicts_with = "password_stdin")]
    password: Option<String>,

    /// Read the password or token from stdin.
    #[arg(long)]
    password_stdin: bool,

    /// The registry (host[:port]).
    #[arg(value_name = "REGISTRY", default_value = wharf::registry::DEFAULT_REGISTRY)]
    registry: String,
}

impl LoginCommand {
    pub fn execute(self) -> Result<()> {
        let secret = match (self.password, self.password_stdin) {
            (Some(password), _) => password,
            (None, true) => {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                text.trim_end_matches(['\n', '\r']).to_owned()
            }
            (None, false) => bail!("give the password with --password-stdin (or -p)"),
        };
        if secret.is_empty() {
            bail!("the password is empty");
        }
        let credentials = Credentials {
            username: self.username,
            secret,
        };
        let mut insecure = Registry::plain_http_for_registry(&self.registry);
        if self.insecure {
            insecure.push(self.registry.clone());
        }
        let registry = Registry::new(&insecure)?;
        super::block_on(registry.login(&self.registry, &credentials))??;
        auth::save(&self.registry, &credentials)?;
        println!(
            "Login Succeeded: credentials for {} saved in {}",
            self.registry,
            auth::wharf_auth_file()?.display()
        );
        Ok(())
    }
}

/// Log out of a registry: forget its saved credentials.
#[derive(Debug, Args)]
pub struct LogoutCommand {
    /// The registry (host[:port]).
    #[arg(value_name = "REGISTRY", default_value = wharf::registry::DEFAULT_REGISTRY)]
    registry: String,
}

impl LogoutCommand {
    pub fn execute(self) -> Result<()> {
        if auth::remove(&self.registry)? {
            println!("Removing login credentials for {}", self.registry);
        } else {
            println!("Not logged in to {}", self.registry);
        }
        Ok(())
    }
}

/// Progress bars with sizes on a terminal; a line per blob otherwise.
struct Bars {
    verb: &'static str,
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    terminal: bool,
}

impl Bars {
    fn new(verb: &'static str) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let target = if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            verb,
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
            terminal,
        }
    }

    fn clear(&self) {
        for bar in self.bars.lock().expect("bars").values() {
            bar.finish_and_clear();
        }
    }

    fn line(&self, text: String) {
        if self.terminal {
            let _ = self.multi.println(text);
        } else {
            eprintln!("{text}");
        }
    }
}

impl TransferProgress for Bars {
    fn started(&self, digest: &Digest, size: u64) {
        let bar = self.multi.add(ProgressBar::new(size));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix}: {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .expect("a valid template"),
        );
        bar.set_prefix(digest::short(digest).to_owned());
        self.bars
            .lock()
            .expect("bars")
            .insert(digest.to_string(), bar);
    }

    fn advanced(&self, digest: &Digest, bytes: u64) {
        if let Some(bar) = self.bars.lock().expect("bars").get(&digest.to_string()) {
            bar.inc(bytes);
        }
    }

    fn finished(&self, digest: &Digest) {
        let size = self
            .bars
            .lock()
            .expect("bars")
            .remove(&digest.to_string())
            .map(|bar| {
                bar.finish_and_clear();
                bar.length().unwrap_or(0)
            })
            .unwrap_or(0);
        self.line(format!(
            "{}: {} ({})",
            digest::short(digest),
            self.verb,
            human_size(size)
        ));
    }

    fn skipped(&self, digest: &Digest, size: u64) {
        self.line(format!(
            "{}: already exists ({})",
            digest::short(digest),
            human_size(size)
        ));
    }
}
