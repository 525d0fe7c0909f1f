//! `push`, `pull` and `login`: images through any OCI distribution registry, with
//! oci-client doing the protocol (token auth, uploads, content negotiation).
//!
//! Every blob that arrives is hashed on the way to the store's staging
//! area and refused unless it matches its digest; nothing becomes visible
//! until the whole image is there. Blobs a registry already has are not
//! sent again. Plain HTTP is used only for registries on the loopback
//! interface or named with `--insecure`.
//!
//! Besides wharf's own images (OCI images of platform wasi/wasm), `pull`
//! takes CNCF Wasm OCI artifacts (one `application/wasm` layer, config
//! `application/vnd.wasm.config.v0+json`), which run with the module as
//! their entrypoint, and `push --artifact` publishes an image's program in
//! that form.

pub mod auth;

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use oci_spec::image::{Digest, ImageIndex, ImageManifest, MediaType};
use tempfile::NamedTempFile;

use crate::digest::{self, HashingWriter};
use crate::image::{self, Image, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE};
use crate::reference::ImageRef;
use crate::store::Store;

/// Docker Hub, where names without a registry go, as with `docker pull`.
pub const DEFAULT_REGISTRY: &str = "docker.io";

const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// Hears how a transfer goes, blob by blob, for progress display.
pub trait TransferProgress: Send + Sync {
    /// A blob of `size` bytes starts moving.
    fn started(&self, digest: &Digest, size: u64);
    /// `bytes` more of it moved.
    fn advanced(&self, digest: &Digest, bytes: u64);
    /// It is done.
    fn finished(&self, digest: &Digest);
    /// It did not need to move: the other side has it.
    fn skipped(&self, digest: &Digest, size: u64);
}

/// What a pull stored.
#[derive(Debug)]
pub struct Pulled {
    /// The image.
    pub image: Image,
    /// The tag it was stored under, if the reference had one.
    pub name: Option<String>,
}

/// When to pull an image before running it: `docker run --pull`'s
/// policies. Only a reference that names a registry (`HOST/NAME`, see
/// [`ImageRef::domain`]) is ever pulled this way: a short name stays local,
/// since the registry a short name means by default, Docker Hub, holds
/// Linux images rather than Wasm ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull when the store lacks the image (Docker's default).
    #[default]
    Missing,
    /// Never pull: an image the store lacks is an error.
    Never,
    /// Pull every time, so that a tag moved on the registry is followed.
    Always,
}

impl PullPolicy {
    /// The reference to pull before running `image` (a name, a digest
    /// reference or an image ID, as the store resolves them), if any:
    /// `None` under [`PullPolicy::Never`], for a name without a registry,
    /// for an ID, and under [`PullPolicy::Missing`] when the store has the
    /// image.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    pub fn to_pull(self, store: &Store, image: &str) -> Result<Option<ImageRef>> {
        if self == PullPolicy::Never {
            return Ok(None);
        }
        let Some(reference) = image
            .parse::<ImageRef>()
            .ok()
            .filter(|r| r.domain().is_some())
        else {
            return Ok(None);
        };
        if self == PullPolicy::Always {
            return Ok(Some(reference));
        }
        match store.resolve_id(image) {
            Ok(_) => Ok(None),
            Err(e) if is_not_found(&e) => Ok(Some(reference)),
            Err(e) => Err(e),
        }
    }
}

/// Whether an error says that the store has no such image.
fn is_not_found(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        matches!(
            e.downcast_ref::<crate::store::LookupError>(),
            Some(crate::store::LookupError::NotFound(_))
        )
    })
}

impl std::str::FromStr for PullPolicy {
    type Err = anyhow::Error;

    /// `missing`, `never` or `always`, as `docker run --pull` takes them.
    fn from_str(text: &str) -> Result<Self> {
        match text {
            "missing" => Ok(Self::Missing),
            "never" => Ok(Self::Never),
            "always" => Ok(Self::Always),
            _ => bail!("unknown pull policy '{text}': use missing, never or always"),
        }
    }
}

/// A client for OCI registries.
pub struct Registry {
    client: Client,
    /// The registries spoken to in plain HTTP.
    insecure: Vec<String>,
}

/// Why [`Registry::login`] refused credentials, told apart as `docker
/// login` tells them apart.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The registry turned the credentials down (HTTP 401 or 403).
    #[error(
        "login to {registry} failed: unauthorized; check the user name and the password or token"
    )]
    Unauthorized {
        /// The registry (`host[:port]`).
        registry: String,
    },
    /// The registry, or the token service it names, could not be reached.
    #[error(
        "cannot reach the registry {registry}: {reason}; check the address (plain HTTP is used \
         only for localhost or with --insecure)"
    )]
    Unreachable {
        /// The registry (`host[:port]`).
        registry: String,
        /// What failed, as the connection reported it.
        reason: String,
    },
    /// The registry answered something a registry would not.
    #[error("login to {registry} failed: {reason}")]
    Failed {
        /// The registry (`host[:port]`).
        registry: String,
        /// What it answered.
        reason: String,
    },
}

impl Registry {
    /// A client that speaks plain HTTP to loopback registries and to those
    /// in `insecure`, HTTPS to every other. Its methods are async, and run
    /// in the caller's tokio runtime.
    ///
    /// # Errors
    ///
    /// When no rustls crypto provider is installed: the choice is the
    /// embedder's (the `wharf` command installs ring's, with
    /// `rustls::crypto::ring::default_provider().install_default()`).
    pub fn new(insecure: &[String]) -> Result<Self> {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            bail!(
                "no TLS crypto provider is installed: install one (for example \
                 rustls::crypto::ring::default_provider().install_default()) before \
                 using a registry"
            );
        }
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(insecure.to_vec()),
            connect_timeout: Some(std::time::Duration::from_secs(15)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            ..ClientConfig::default()
        };
        Ok(Self {
            client: Client::new(config),
            insecure: insecure.to_vec(),
        })
    }

    /// The registries a reference may use plain HTTP with: loopback ones.
    pub fn plain_http_for(reference: &ImageRef) -> Vec<String> {
        Self::plain_http_for_registry(&registry_of(reference))
    }

    /// `registry` (`host[:port]`) when it may use plain HTTP, as a loopback
    /// one: `localhost`, `127.0.0.1` or `[::1]`.
    pub fn plain_http_for_registry(registry: &str) -> Vec<String> {
        let host = registry.rsplit_once(':').map_or(registry, |(h, _)| h);
        if matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
            vec![registry.to_owned()]
        } else {
            Vec::new()
        }
    }

    /// Checks `credentials` against `registry` (`host[:port]`) before they
    /// are saved, as `docker login` does: `GET /v2/`, and when the registry
    /// answers 401 with a challenge, the same request again through it. A
    /// `Basic` challenge gets the user name and password; a `Bearer` one
    /// (Docker Hub, GitLab, Harbor…) sends them to the token service it
    /// names (its `realm`, with its `service` and the user name as
    /// `account`, no scope), then `GET /v2/` with the token it issues. A
    /// registry that asks for nothing accepts any credentials, as with
    /// Docker.
    ///
    /// Plain HTTP is used for the registries given to [`Registry::new`] as
    /// insecure, HTTPS for the others.
    ///
    /// # Errors
    ///
    /// [`LoginError::Unauthorized`] when the registry or its token service
    /// turns the credentials down (401 or 403), [`LoginError::Unreachable`]
    /// when either cannot be reached, [`LoginError::Failed`] for any other
    /// answer.
    pub async fn login(
        &self,
        registry: &str,
        credentials: &auth::Credentials,
    ) -> std::result::Result<(), LoginError> {
        let failed = |reason: String| LoginError::Failed {
            registry: registry.to_owned(),
            reason,
        };
        let unreachable = |e: reqwest::Error| LoginError::Unreachable {
            registry: registry.to_owned(),
            reason: one_line(&e),
        };
        let scheme = if self.insecure.iter().any(|r| r == registry) {
            "http"
        } else {
            "https"
        };
        let base = format!("{scheme}://{registry}/v2/");
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(15))
            .read_timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| failed(format!("cannot start an HTTP client: {}", one_line(&e))))?;
        let (user, secret) = (&credentials.username, &credentials.secret);

        let first = http.get(&base).send().await.map_err(unreachable)?;
        if first.status().is_success() {
            tracing::debug!("{registry} asks for no credentials: nothing to check");
            return Ok(());
        }
        if first.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Err(failed(format!(
                "GET /v2/ answered HTTP {}: is it an OCI registry?",
                first.status()
            )));
        }
        let challenges: Vec<String> = first
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let challenge = Challenge::first_of(&challenges).ok_or_else(|| {
            failed(format!(
                "it answered 401 without a Basic or Bearer challenge ({challenges:?})"
            ))
        })?;
        let checked = match challenge {
            Challenge::Basic => http.get(&base).basic_auth(user, Some(secret)),
            Challenge::Bearer { realm, service } => {
                let mut query = vec![("account", user.as_str())];
                if let Some(service) = &service {
                    query.push(("service", service));
                }
                let answer = http
                    .get(&realm)
                    .query(&query)
                    .basic_auth(user, Some(secret))
                    .send()
                    .await
                    .map_err(unreachable)?;
                if is_refusal(answer.status()) {
                    return Err(LoginError::Unauthorized {
                        registry: registry.to_owned(),
                    });
                }
                if !answer.status().is_success() {
                    return Err(failed(format!(
                        "its token service {realm} answered HTTP {}",
                        answer.status()
                    )));
                }
                let token: serde_json::Value = answer.json().await.map_err(|e| {
                    failed(format!(
                        "its token service {realm} answered something other than a token: {}",
                        one_line(&e)
                    ))
                })?;
                // The distribution spec's `token`, or OAuth's `access_token`.
                let token = token["token"]
                    .as_str()
                    .or_else(|| token["access_token"].as_str())
                    .ok_or_else(|| failed(format!("its token service {realm} issued no token")))?;
                http.get(&base).bearer_auth(token)
            }
        };
        let answer = checked.send().await.map_err(unreachable)?;
        match answer.status() {
            s if s.is_success() => Ok(()),
            s if is_refusal(s) => Err(LoginError::Unauthorized {
                registry: registry.to_owned(),
            }),
            s => Err(failed(format!(
                "GET /v2/ with the credentials answered HTTP {s}"
            ))),
        }
    }

    /// Pulls an image (or a Wasm artifact) into the store, by tag or digest.
    pub async fn pull(
        &self,
        store: &Store,
        reference: &ImageRef,
        progress: &dyn TransferProgress,
    ) -> Result<Pulled> {
        let session = Session::new(reference)?;
        async {
            self.authenticate(&session, RegistryOperation::Pull).await?;
            let (id, manifest_bytes) = self.fetch_manifest(&session).await?;
            let manifest: ImageManifest =
                serde_json::from_slice(&manifest_bytes).with_context(|| {
                    format!(
                        "{reference}: the registry sent something that is not an image manifest"
                    )
                })?;

            let config = manifest.config();
            let mut wanted = vec![(config.digest().clone(), config.size())];
            wanted.extend(
                manifest
                    .layers()
                    .iter()
                    .map(|l| (l.digest().clone(), l.size())),
            );
            let mut staged: Vec<(NamedTempFile, Digest)> = Vec::new();
            for (digest, size) in wanted {
                if store.has_blob(&digest) {
                    progress.skipped(&digest, size);
                    continue;
                }
                let temp = self
                    .fetch_blob(store, &session.remote, &digest, size, progress)
                    .await
                    .map_err(|e| {
                        e.context(format!(
                            "cannot pull {reference}: nothing was stored; try again"
                        ))
                    })?;
                staged.push((temp, digest));
            }
            let config_bytes = match staged.iter().find(|(_, d)| d == config.digest()) {
                Some((temp, _)) => std::fs::read(temp.path())?,
                None => store.read_blob(config.digest())?,
            };
            let image = Image::from_parts(&id, &manifest_bytes, &config_bytes)?;
            image
                .check_platform()
                .with_context(|| format!("cannot use {reference}"))?;

            // Everything is here and verified: store it in one go.
            let writer = store.write()?;
            for (temp, digest) in staged {
                writer.put_blob_file(temp, &digest)?;
            }
            writer.put_blob(&manifest_bytes)?;
            writer.ensure_complete(&image)?;
            writer.unpack(&image)?;
            let descriptor =
                image::descriptor(MediaType::ImageManifest, id, manifest_bytes.len() as u64);
            let name = reference.tagged_name();
            match &name {
                Some(name) => writer.tag(name, &descriptor)?,
                None => writer.keep_untagged(&descriptor)?,
            }
            writer.collect_garbage()?;
            Ok(Pulled { image, name })
        }
        .await
    }

    async fn authenticate(&self, session: &Session, operation: RegistryOperation) -> Result<()> {
        self.client
            .auth(&session.remote, &session.auth, operation)
            .await
            .map_err(|e| explain(e, &session.registry, &session.reference))?;
        Ok(())
    }

    /// Fetches the manifest a reference names, checked against its digest;
    /// from a multi-platform index, the wasi/wasm entry's.
    async fn fetch_manifest(&self, session: &Session) -> Result<(Digest, Vec<u8>)> {
        let reference = &session.reference;
        let bytes = self.manifest_bytes(session, &session.remote).await?;
        let id = verified(session, &bytes, reference.digest())?;
        let Some(index) = as_index(session, &bytes)? else {
            return Ok((id, bytes));
        };
        let chosen =
            image::select_platform(&index).with_context(|| format!("cannot pull {reference}"))?;
        let remote = session
            .remote
            .clone_with_digest(chosen.digest().to_string());
        let bytes = self.manifest_bytes(session, &remote).await?;
        let id = verified(session, &bytes, Some(chosen.digest()))?;
        if as_index(session, &bytes)?.is_some() {
            bail!("{reference}: an index inside an index is not supported");
        }
        Ok((id, bytes))
    }

    async fn manifest_bytes(&self, session: &Session, remote: &Reference) -> Result<Vec<u8>> {
        let (bytes, _) = self
            .client
            .pull_manifest_raw(remote, &session.auth, MANIFEST_TYPES)
            .await
            .map_err(|e| explain(e, &session.registry, &session.reference))?;
        Ok(bytes.to_vec())
    }

    /// Downloads one blob into the staging area, checking its digest.
    async fn fetch_blob(
        &self,
        store: &Store,
        remote: &Reference,
        digest: &Digest,
        size: u64,
        progress: &dyn TransferProgress,
    ) -> Result<NamedTempFile> {
        progress.started(digest, size);
        let mut stream = self
            .client
            .pull_blob_stream(remote, digest.as_ref())
            .await
            .map_err(|e| anyhow!("cannot fetch blob {digest}: {}", one_line(&e)))?;
        let mut writer = HashingWriter::new(BufWriter::new(store.temp_file()?));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                let mismatch = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<oci_client::errors::DigestError>())
                    .is_some_and(|d| {
                        matches!(d, oci_client::errors::DigestError::VerificationError { .. })
                    });
                if mismatch {
                    anyhow!("blob {digest} does not match its digest ({e}): refused")
                } else {
                    anyhow!("the connection broke while fetching blob {digest}: {e}")
                }
            })?;
            writer.write_all(&chunk)?;
            progress.advanced(digest, chunk.len() as u64);
            if writer.written() > size {
                bail!("blob {digest} is longer than the {size} bytes the image says: refused");
            }
        }
        let (out, actual, length) = writer.finish();
        if length != size {
            bail!("blob {digest} holds {length} bytes, not the {size} the image says: refused");
        }
        if actual != *digest {
            bail!(
                "blob {digest} does not match its digest (its {length} bytes hash to {actual}): refused"
            );
        }
        progress.finished(digest);
        Ok(out.into_inner().map_err(|e| e.into_error())?)
    }

    /// Pushes an image under `target`; returns the digest the registry
    /// stored. With `as_artifact`, pushes the image's program alone as a
    /// CNCF Wasm artifact instead.
    pub async fn push(
        &self,
        store: &Store,
        image: &Image,
        target: &ImageRef,
        as_artifact: Option<&ArtifactSource>,
        progress: Arc<dyn TransferProgress>,
    ) -> Result<Digest> {
        let session = Session::new(target)?;
        let (remote, registry) = (&session.remote, &session.registry);
        async {
            self.authenticate(&session, RegistryOperation::Push).await?;
            // The artifact's config is written to a temporary file for the
            // upload, removed when this guard goes: on success, on error,
            // and when the push is dropped half-way.
            let mut _config_file = None;
            let (manifest_bytes, blobs) = match as_artifact {
                None => {
                    let manifest = std::fs::read(store.blob_path(&image.id))?;
                    let mut blobs: Vec<Upload> = image
                        .layers()
                        .iter()
                        .map(|l| (l.digest().clone(), l.size(), store.blob_path(l.digest())))
                        .collect();
                    let config = image.manifest.config();
                    blobs.push((
                        config.digest().clone(),
                        config.size(),
                        store.blob_path(config.digest()),
                    ));
                    (manifest, blobs)
                }
                Some(source) => {
                    let (manifest, blobs, config) = artifact_manifest(store, source)?;
                    _config_file = Some(config);
                    (manifest, blobs)
                }
            };
            for (digest, size, path) in &blobs {
                let exists = self
                    .client
                    .blob_exists(remote, digest.as_ref())
                    .await
                    .map_err(|e| explain(e, registry, target))?;
                if exists {
                    progress.skipped(digest, *size);
                    continue;
                }
                self.send_blob(remote, digest, *size, path, progress.clone())
                    .await
                    .map_err(|e| e.context(format!("cannot push {target}")))?;
            }
            let content_type =
                serde_json::from_slice::<serde_json::Value>(&manifest_bytes)?["mediaType"]
                    .as_str()
                    .unwrap_or("application/vnd.oci.image.manifest.v1+json")
                    .parse()
                    .context("the manifest's media type is not a valid header value")?;
            self.client
                .push_manifest_raw(remote, manifest_bytes.clone(), content_type)
                .await
                .map_err(|e| explain(e, registry, target))?;
            Ok(digest::sha256(&manifest_bytes))
        }
        .await
    }

    async fn send_blob(
        &self,
        remote: &Reference,
        digest: &Digest,
        size: u64,
        path: &PathBuf,
        progress: Arc<dyn TransferProgress>,
    ) -> Result<()> {
        progress.started(digest, size);
        let file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("blob {digest} is missing from the store"))?;
        let counted = {
            let progress = progress.clone();
            let digest = digest.clone();
            file_chunks(file, 1 << 20).map(move |chunk| {
                if let Ok(bytes) = &chunk {
                    progress.advanced(&digest, bytes.len() as u64);
                }
                chunk.map_err(OciDistributionError::IoError)
            })
        };
        self.client
            .push_blob_stream(remote, counted, digest.as_ref(), Some(size))
            .await
            .map_err(|e| anyhow!("cannot upload blob {digest}: {}", one_line(&e)))?;
        progress.finished(digest);
        Ok(())
    }
}

/// 401 or 403: credentials turned down.
fn is_refusal(status: reqwest::StatusCode) -> bool {
    matches!(
        status,
        reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN
    )
}

/// How a registry asks for credentials (`WWW-Authenticate`, RFC 7235).
#[derive(Debug, PartialEq, Eq)]
enum Challenge {
    /// User name and password on every request.
    Basic,
    /// A token from the service at `realm`, the distribution spec's token
    /// authentication.
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

impl Challenge {
    /// The first Basic or Bearer challenge among a response's
    /// `WWW-Authenticate` headers.
    fn first_of(headers: &[String]) -> Option<Self> {
        headers
            .iter()
            .flat_map(|header| http_auth::parser::ChallengeParser::new(header))
            .filter_map(|challenge| challenge.ok())
            .find_map(|challenge| {
                let param = |name: &str| {
                    challenge
                        .params
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.to_unescaped())
                };
                if challenge.scheme.eq_ignore_ascii_case("basic") {
                    Some(Challenge::Basic)
                } else if challenge.scheme.eq_ignore_ascii_case("bearer") {
                    Some(Challenge::Bearer {
                        realm: param("realm")?,
                        service: param("service"),
                    })
                } else {
                    None
                }
            })
    }
}

/// Reads a file as a stream of chunks of at most `chunk` bytes.
fn file_chunks(
    file: tokio::fs::File,
    chunk: usize,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures_util::stream::try_unfold(file, move |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buffer = vec![0u8; chunk];
        let n = file.read(&mut buffer).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.truncate(n);
        Ok(Some((Bytes::from(buffer), file)))
    })
}

/// A blob to upload: its digest, size and file.
type Upload = (Digest, u64, PathBuf);

/// The module an image runs, to publish as a Wasm artifact.
#[derive(Debug, Clone)]
pub struct ArtifactSource {
    /// The module's file on the host (in the unpacked tree).
    pub path: PathBuf,
    /// Its digest.
    pub digest: Digest,
    /// Its file name.
    pub name: String,
    /// Whether it is a component (WASI preview 2) rather than a module.
    pub component: bool,
}

/// Builds a CNCF Wasm artifact's manifest: a config naming the platform,
/// and the module as its only layer. The config is uploaded from a
/// temporary file in the store, which the returned `TempPath` removes when
/// dropped.
fn artifact_manifest(
    store: &Store,
    source: &ArtifactSource,
) -> Result<(Vec<u8>, Vec<Upload>, tempfile::TempPath)> {
    let module_size = std::fs::metadata(&source.path)?.len();
    let config = serde_json::json!({
        "architecture": image::ARCHITECTURE,
        "os": if source.component { "wasip2" } else { "wasip1" },
        "layerDigests": [source.digest.to_string()],
    });
    let config_bytes = serde_json::to_vec(&config)?;
    let config_digest = digest::sha256(&config_bytes);
    let config_temp = {
        let mut temp = store.temp_file()?;
        temp.write_all(&config_bytes)?;
        temp.into_temp_path()
    };
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": WASM_CONFIG_MEDIA_TYPE,
        "config": {"mediaType": WASM_CONFIG_MEDIA_TYPE, "digest": config_digest.to_string(), "size": config_bytes.len()},
        "layers": [{
            "mediaType": WASM_LAYER_MEDIA_TYPE,
            "digest": source.digest.to_string(),
            "size": module_size,
            "annotations": {"org.opencontainers.image.title": source.name},
        }],
    });
    Ok((
        serde_json::to_vec(&manifest)?,
        vec![
            (source.digest.clone(), module_size, source.path.clone()),
            (
                config_digest,
                config_bytes.len() as u64,
                config_temp.to_path_buf(),
            ),
        ],
        config_temp,
    ))
}

/// The digest of manifest bytes, refused unless it is the one expected.
fn verified(session: &Session, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
    let id = digest::sha256(bytes);
    if let Some(expected) = expected
        && *expected != id
    {
        bail!(
            "{} sent a manifest for {} that hashes to {id}, not {expected}: refused",
            session.registry,
            session.reference
        );
    }
    Ok(id)
}

/// The manifest as an image index, if it is one.
fn as_index(session: &Session, bytes: &[u8]) -> Result<Option<ImageIndex>> {
    let json: serde_json::Value = serde_json::from_slice(bytes).with_context(|| {
        format!(
            "{}: the registry sent a manifest that is not JSON",
            session.reference
        )
    })?;
    if !json["manifests"].is_array() {
        return Ok(None);
    }
    serde_json::from_value(json).map(Some).with_context(|| {
        format!(
            "{}: the registry sent a malformed image index",
            session.reference
        )
    })
}

/// What one push or pull works with: the reference, its registry and the
/// credentials for it.
struct Session {
    reference: ImageRef,
    remote: Reference,
    registry: String,
    auth: RegistryAuth,
}

impl Session {
    fn new(reference: &ImageRef) -> Result<Self> {
        let registry = registry_of(reference);
        Ok(Self {
            reference: reference.clone(),
            remote: to_remote(reference),
            auth: credentials(&registry)?,
            registry,
        })
    }
}

/// The registry host of a reference (Docker Hub when it names none).
pub fn registry_of(reference: &ImageRef) -> String {
    reference.domain().unwrap_or(DEFAULT_REGISTRY).to_owned()
}

fn to_remote(reference: &ImageRef) -> Reference {
    let registry = registry_of(reference);
    let repository = if reference.domain().is_none() && !reference.path().contains('/') {
        format!("library/{}", reference.path())
    } else {
        reference.path().to_owned()
    };
    match (reference.tag(), reference.digest()) {
        (Some(tag), Some(digest)) => {
            Reference::with_tag_and_digest(registry, repository, tag.to_owned(), digest.to_string())
        }
        (None, Some(digest)) => Reference::with_digest(registry, repository, digest.to_string()),
        (tag, None) => {
            Reference::with_tag(registry, repository, tag.unwrap_or("latest").to_owned())
        }
    }
}

fn credentials(registry: &str) -> Result<RegistryAuth> {
    Ok(match auth::lookup(registry)? {
        Some(c) => RegistryAuth::Basic(c.username, c.secret),
        None => RegistryAuth::Anonymous,
    })
}

/// A registry error as one line that says what happened and what to do.
fn explain(error: OciDistributionError, registry: &str, reference: &ImageRef) -> anyhow::Error {
    let codes: Vec<&OciErrorCode> = match &error {
        OciDistributionError::RegistryError { envelope, .. } => {
            envelope.errors.iter().map(|e| &e.code).collect()
        }
        _ => Vec::new(),
    };
    let status = match &error {
        OciDistributionError::ServerError { code, .. } => Some(*code),
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => Some(401),
        // What oci-client lets reqwest report (a HEAD of a blob on push).
        OciDistributionError::RequestError(e) => e.status().map(|s| s.as_u16()),
        _ => None,
    };
    let has = |code: OciErrorCode| codes.contains(&&code);
    if status == Some(401) || has(OciErrorCode::Unauthorized) {
        return anyhow!(
            "{registry} refused access to {reference} (401 unauthorized): log in with `wharf login {registry}`"
        );
    }
    if status == Some(403) || has(OciErrorCode::Denied) {
        return anyhow!(
            "{registry} denied access to {reference} (403 forbidden): the account you logged in with may not use this repository"
        );
    }
    if status == Some(404)
        || has(OciErrorCode::ManifestUnknown)
        || has(OciErrorCode::NameUnknown)
        || has(OciErrorCode::NotFound)
        || matches!(error, OciDistributionError::ImageManifestNotFoundError(_))
    {
        return anyhow!("{reference} was not found on {registry} (404): check the name and tag");
    }
    if let Some(code) = status.filter(|c| *c >= 500) {
        return anyhow!(
            "{registry} failed with HTTP {code} while handling {reference}: the registry is in trouble; try again later"
        );
    }
    if let OciDistributionError::RequestError(e) = &error
        && (e.is_connect() || e.is_timeout())
    {
        return anyhow!(
            "cannot reach the registry {registry}: {}; check the address (plain HTTP is used only for localhost or with --insecure)",
            one_line(&error)
        );
    }
    anyhow!("registry {registry}, {reference}: {}", one_line(&error))
}

fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry that asks for Basic credentials on a free port: `GET
    /// /v2/` answers 200 with the `Authorization` header `expected`, 401
    /// with a Basic challenge otherwise.
    fn basic_registry(expected: String) -> String {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut authorization = None;
                for line in BufReader::new(&stream).lines() {
                    let Ok(line) = line else { break };
                    if line.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("authorization")
                    {
                        authorization = Some(value.trim().to_owned());
                    }
                }
                let reply = if authorization.as_deref() == Some(expected.as_str()) {
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
                } else {
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"test\"\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n"
                };
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        host
    }

    #[tokio::test]
    async fn login_checks_credentials_inside_a_tokio_runtime() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let host = basic_registry("Basic d2hhcmZ5OnMzY3JldA==".into()); // wharfy:s3cret
        let registry = Registry::new(&Registry::plain_http_for_registry(&host)).unwrap();
        let credentials = |secret: &str| auth::Credentials {
            username: "wharfy".into(),
            secret: secret.into(),
        };
        registry.login(&host, &credentials("s3cret")).await.unwrap();
        let wrong = registry.login(&host, &credentials("wrong")).await;
        assert!(
            matches!(wrong, Err(LoginError::Unauthorized { .. })),
            "{wrong:?}"
        );
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().to_string()
        };
        let registry = Registry::new(std::slice::from_ref(&closed)).unwrap();
        let unreachable = registry.login(&closed, &credentials("s3cret")).await;
        assert!(
            matches!(unreachable, Err(LoginError::Unreachable { .. })),
            "{unreachable:?}"
        );
    }

    #[test]
    fn basic_and_bearer_challenges_are_read_as_docker_reads_them() {
        let read = |headers: &[&str]| {
            Challenge::first_of(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(read(&["Basic realm=\"registry\""]), Some(Challenge::Basic));
        assert_eq!(
            read(&["Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\""]),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
            })
        );
        assert_eq!(
            read(&["Negotiate", "bearer REALM=\"https://a.example/t\""]),
            Some(Challenge::Bearer {
                realm: "https://a.example/t".into(),
                service: None,
            })
        );
        assert_eq!(read(&["Bearer service=\"no realm\""]), None);
        assert_eq!(read(&[]), None);
    }

    #[test]
    fn only_names_that_give_a_registry_are_pulled_before_a_run() {
        let (_home, store, image) = crate::archive::tests::store_with_image();
        let to_pull = |policy: PullPolicy, image: &str| {
            policy
                .to_pull(&store, image)
                .unwrap()
                .map(|r| r.to_string())
        };
        let remote = "localhost:5000/me/app:1";
        assert_eq!(
            to_pull(PullPolicy::Missing, remote).as_deref(),
            Some(remote)
        );
        assert_eq!(to_pull(PullPolicy::Always, remote).as_deref(), Some(remote));
        assert_eq!(to_pull(PullPolicy::Never, remote), None);
        // Short names and IDs are never pulled.
        for local in ["app:1", "nothing-here", "me/app:1", image.id.as_ref()] {
            for policy in [PullPolicy::Missing, PullPolicy::Always] {
                assert_eq!(to_pull(policy, local), None, "{local}");
            }
        }
        // An image the store has is pulled again only under Always.
        let writer = store.write().unwrap();
        let descriptor = image::descriptor(
            MediaType::ImageManifest,
            image.id.clone(),
            image.manifest_size,
        );
        writer.tag(remote, &descriptor).unwrap();
        drop(writer);
        assert_eq!(to_pull(PullPolicy::Missing, remote), None);
        assert_eq!(to_pull(PullPolicy::Always, remote).as_deref(), Some(remote));
        assert_eq!("always".parse::<PullPolicy>().unwrap(), PullPolicy::Always);
        assert!("sometimes".parse::<PullPolicy>().is_err());
    }
}
