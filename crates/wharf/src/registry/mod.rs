//! `push` and `pull`: images through any OCI distribution registry, with
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

/// A client for OCI registries.
pub struct Registry {
    client: Client,
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
        })
    }

    /// The registries a reference may use plain HTTP with: loopback ones.
    pub fn plain_http_for(reference: &ImageRef) -> Vec<String> {
        let registry = registry_of(reference);
        let host = registry
            .rsplit_once(':')
            .map_or(registry.as_str(), |(h, _)| h);
        if matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
            vec![registry]
        } else {
            Vec::new()
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
