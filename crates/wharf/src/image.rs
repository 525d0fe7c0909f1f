//! The image model: an OCI image manifest, its configuration and its layers,
//! for the platform `wasi/wasm`.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use oci_spec::image::{Config, Descriptor, Digest, ImageConfiguration, ImageManifest, MediaType};
use serde::Serialize;

use crate::digest;
use crate::launch::{LAUNCH_LABEL, Launch, SNAPSHOT_LABEL, SnapshotRecord};
use crate::manifest::Limits;

/// The OCI `architecture` of every wharf image.
pub const ARCHITECTURE: &str = "wasm";
/// The OCI `os` of every wharf image.
pub const OS: &str = "wasi";
/// The `PATH` a guest gets when its image sets none, as in Docker.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The config label that carries the manifest's `[limits]`.
pub const LIMITS_LABEL: &str = "dev.wharf.limits";
/// Where every image wharf builds holds a copy of its config's labels: a
/// JSON object of strings, keys sorted, for runtimes that see the image's
/// tree but not its config (containerd's shim; see `build::tree_labels`).
pub const TREE_LABELS: &str = "/.wharf/labels.json";
/// What the history says made the labels layer.
pub(crate) const LABELS_LAYER_CREATED_BY: &str = "LABELS copied into /.wharf/labels.json";
/// The largest labels file [`labels_in_tree`] reads.
const TREE_LABELS_MAX: u64 = 1 << 20;
/// The config media type of a CNCF Wasm OCI artifact (TAG Runtime format).
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The media type of a layer that is a Wasm module or component.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";

/// An image in the store: its manifest (whose digest is the image ID) and
/// its configuration.
#[derive(Clone, Debug)]
pub struct Image {
    /// The manifest's digest: the image ID.
    pub id: Digest,
    /// The manifest's size in bytes.
    pub manifest_size: u64,
    /// The parsed manifest.
    pub manifest: ImageManifest,
    /// The parsed configuration.
    pub config: ImageConfiguration,
}

impl Image {
    /// An image from its manifest and config bytes (a Wasm artifact's
    /// config is read into the configuration wharf runs it with).
    pub fn from_parts(id: &Digest, manifest_bytes: &[u8], config_bytes: &[u8]) -> Result<Self> {
        let manifest: ImageManifest = serde_json::from_slice(manifest_bytes)
            .with_context(|| format!("manifest {id} is not a valid OCI image manifest"))?;
        let config = if manifest.config().media_type().as_ref() == WASM_CONFIG_MEDIA_TYPE {
            artifact_config(&manifest, config_bytes)
                .with_context(|| format!("image {id} is not a valid Wasm artifact"))?
        } else {
            serde_json::from_slice(config_bytes).with_context(|| {
                format!("config of image {id} is not a valid OCI image configuration")
            })?
        };
        Ok(Image {
            id: id.clone(),
            manifest_size: manifest_bytes.len() as u64,
            manifest,
            config,
        })
    }

    /// The run configuration (env, cmd, entrypoint, workdir, labels).
    pub fn run_config(&self) -> RunConfig {
        RunConfig::from_oci(self.config.config().as_ref())
    }

    /// The layer descriptors, base first.
    pub fn layers(&self) -> &[Descriptor] {
        self.manifest.layers()
    }

    /// Whether the top layer is the labels layer a wharf build puts there
    /// (a copy of the config's labels at [`TREE_LABELS`]): the last history
    /// entry says so, and the image has as many layers as history entries
    /// that are not empty (a layer an image from elsewhere labels so by
    /// chance is not taken for one unless the counts agree).
    pub fn ends_with_labels_layer(&self) -> bool {
        let Some(history) = self.config.history() else {
            return false;
        };
        let layered = history
            .iter()
            .filter(|h| !h.empty_layer().unwrap_or(false))
            .count();
        // The last entry made a layer (so there is one) and says it holds
        // the labels.
        layered == self.layers().len()
            && history.last().is_some_and(|h| {
                !h.empty_layer().unwrap_or(false)
                    && h.created_by().as_deref() == Some(LABELS_LAYER_CREATED_BY)
            })
    }

    /// The layers an image built on this one starts with: all of them but
    /// the labels layer on top, if there is one, which such an image
    /// replaces with its own.
    pub fn base_layers(&self) -> &[Descriptor] {
        let layers = self.layers();
        match layers.split_last() {
            Some((_, below)) if self.ends_with_labels_layer() => below,
            _ => layers,
        }
    }

    /// The chain ID of [`Image::base_layers`]: it names the tree an image
    /// built on this one starts from, which the store keeps unpacked beside
    /// this image's own so that the two share their files. `None` for an
    /// image without layers.
    pub fn base_chain_id(&self) -> Result<Option<Digest>> {
        let diff_ids = self.diff_ids()?;
        let below = self.base_layers().len().min(diff_ids.len());
        Ok(chain_ids(&diff_ids[..below]).pop())
    }

    /// The uncompressed digests of the layers, base first.
    pub fn diff_ids(&self) -> Result<Vec<Digest>> {
        self.config
            .rootfs()
            .diff_ids()
            .iter()
            .map(|d| digest::parse_sha256(d))
            .collect()
    }

    /// The chain ID of the whole layer stack: it names the image's
    /// unpacked file tree, shared by every image with the same layers.
    pub fn chain_id(&self) -> Result<Option<Digest>> {
        Ok(chain_ids(&self.diff_ids()?).pop())
    }

    /// Bytes the image occupies: manifest, config and compressed layers.
    pub fn size(&self) -> u64 {
        self.layers().iter().fold(
            self.manifest_size
                .saturating_add(self.manifest.config().size()),
            |total, l| total.saturating_add(l.size()),
        )
    }

    /// Checks that the manifest describes something wharf can run.
    pub fn check_platform(&self) -> Result<()> {
        let arch = self.config.architecture().to_string();
        let os = self.config.os().to_string();
        if arch != ARCHITECTURE || !os.starts_with(OS) {
            bail!(
                "image {} is for platform {os}/{arch}; wharf runs {OS}/{ARCHITECTURE} images",
                digest::short(&self.id)
            );
        }
        for layer in self.layers() {
            let media = layer.media_type().to_string();
            if !matches!(
                layer.media_type(),
                MediaType::ImageLayerGzip | MediaType::ImageLayer
            ) && media != "application/vnd.docker.image.rootfs.diff.tar.gzip"
                && media != WASM_LAYER_MEDIA_TYPE
            {
                bail!(
                    "layer {} has unsupported media type {media}",
                    layer.digest()
                );
            }
        }
        Ok(())
    }

    /// The steps that made the image, base first, as `docker history`
    /// lists them (newest first there): each entry of the config's
    /// `history` paired with the layer it made. An entry marked
    /// `empty_layer` (a step that changed only the config) has no layer;
    /// layers the history does not account for (the oldest, from a base
    /// without history) come first, as steps with nothing but the layer,
    /// as Docker shows `<missing>`.
    pub fn history(&self) -> Vec<HistoryStep> {
        let entries: Vec<&oci_spec::image::History> =
            self.config.history().iter().flatten().collect();
        let layered = entries
            .iter()
            .filter(|entry| !entry.empty_layer().unwrap_or(false))
            .count();
        // Layers the history does not account for are the oldest: a base
        // without history under steps that have one.
        let unaccounted = self.layers().len().saturating_sub(layered);
        let mut layers = self.layers().iter();
        let mut steps: Vec<HistoryStep> = layers
            .by_ref()
            .take(unaccounted)
            .map(|layer| HistoryStep {
                layer: Some(layer.clone()),
                created: None,
                created_by: None,
                comment: None,
            })
            .collect();
        steps.extend(entries.into_iter().map(|entry| HistoryStep {
            layer: if entry.empty_layer().unwrap_or(false) {
                None
            } else {
                layers.next().cloned()
            },
            created: entry.created().clone(),
            created_by: entry.created_by().clone(),
            comment: entry.comment().clone(),
        }));
        steps
    }

    /// Whether this is a CNCF Wasm artifact (one `application/wasm`
    /// layer) rather than a file-tree image.
    pub fn is_wasm_artifact(&self) -> bool {
        self.manifest.config().media_type().to_string() == WASM_CONFIG_MEDIA_TYPE
    }
}

/// One step of an image's history (see [`Image::history`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryStep {
    /// The layer the step made: `None` for a step that changed only the
    /// configuration.
    pub layer: Option<Descriptor>,
    /// When the step ran (RFC 3339), when the image records it: wharf
    /// records it only for builds given `SOURCE_DATE_EPOCH`, so that an
    /// image's ID depends on its inputs alone.
    pub created: Option<String>,
    /// What made the layer: the manifest step (`COPY app/ /app`,
    /// `SNAPSHOT preload …`), or the command line of the tool that built
    /// it.
    pub created_by: Option<String>,
    /// The builder's comment (`wharf build`).
    pub comment: Option<String>,
}

impl HistoryStep {
    /// Whether the step is a build-time snapshot of a running guest
    /// (`[snapshot]` in the manifest).
    pub fn is_snapshot(&self) -> bool {
        self.created_by
            .as_deref()
            .is_some_and(|by| by.starts_with(crate::build::snapshot::SNAPSHOT_STEP))
    }
}

/// The file name under which a Wasm artifact's module appears in its
/// tree: the layer's title annotation when it is a plain file name, else
/// `module.wasm`.
pub fn artifact_file_name(layer: &Descriptor) -> String {
    let title = layer
        .annotations()
        .as_ref()
        .and_then(|a| a.get(oci_spec::image::ANNOTATION_TITLE))
        .filter(|t| {
            !t.is_empty()
                && !t.contains(['/', '\\', '\0'])
                && *t != "."
                && *t != ".."
                && t.is_ascii()
        });
    match title {
        Some(t) if t.ends_with(".wasm") => t.clone(),
        Some(t) => format!("{t}.wasm"),
        None => "module.wasm".to_owned(),
    }
}

/// The image configuration wharf runs a Wasm artifact with: its module is
/// the tree's only file and the entrypoint; nothing else is set.
pub fn artifact_config(manifest: &ImageManifest, wasm_config: &[u8]) -> Result<ImageConfiguration> {
    let raw: serde_json::Value =
        serde_json::from_slice(wasm_config).context("the Wasm artifact's config is not JSON")?;
    let os = raw["os"].as_str().unwrap_or("wasip1");
    if !os.starts_with(OS) {
        bail!("the Wasm artifact is for os '{os}'; wharf runs wasip1 and wasip2");
    }
    let [layer] = manifest.layers().as_slice() else {
        bail!(
            "a Wasm artifact has exactly one layer; this one has {}",
            manifest.layers().len()
        );
    };
    if layer.media_type().to_string() != WASM_LAYER_MEDIA_TYPE {
        bail!(
            "the Wasm artifact's layer is {}, not {WASM_LAYER_MEDIA_TYPE}",
            layer.media_type()
        );
    }
    let mut exec = Config::default();
    exec.set_entrypoint(Some(vec![format!("/{}", artifact_file_name(layer))]));
    exec.set_working_dir(Some("/".into()));
    let mut config = ImageConfiguration::default();
    config.set_architecture(oci_spec::image::Arch::Wasm);
    config.set_os(oci_spec::image::Os::from(OS));
    config.set_created(raw["created"].as_str().map(str::to_owned));
    config.set_config(Some(exec));
    // The layer is not compressed: its digest is its DiffID.
    config
        .rootfs_mut()
        .set_diff_ids(vec![layer.digest().to_string()]);
    Ok(config)
}

/// Picks the wasi/wasm image from a multi-platform index.
pub fn select_platform(index: &oci_spec::image::ImageIndex) -> Result<Descriptor> {
    let candidates: Vec<String> = index
        .manifests()
        .iter()
        .map(|d| match d.platform() {
            Some(p) => format!("{}/{}", p.os(), p.architecture()),
            None => "unknown".to_owned(),
        })
        .collect();
    index
        .manifests()
        .iter()
        .find(|d| {
            d.platform().as_ref().is_some_and(|p| {
                p.os().to_string().starts_with(OS) && p.architecture().to_string() == ARCHITECTURE
            })
        })
        .cloned()
        .with_context(|| {
            format!(
                "the index has no {OS}/{ARCHITECTURE} image (it has: {})",
                candidates.join(", ")
            )
        })
}

/// Reads the labels the image tree at `root` holds at [`TREE_LABELS`]
/// (through a cap-std capability: a symlink in the tree cannot lead out
/// of it); none when the tree has no such file, as an image wharf did not
/// build has none.
///
/// # Errors
///
/// When `root` cannot be opened, or the file cannot be read, is larger
/// than 1 MiB or is not a JSON object of strings.
pub fn labels_in_tree(root: &std::path::Path) -> Result<BTreeMap<String, String>> {
    use std::io::Read;
    let dir = cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority())
        .with_context(|| format!("cannot open the image tree {}", root.display()))?;
    let path = TREE_LABELS.trim_start_matches('/');
    let file = match dir.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot open {TREE_LABELS}")),
    };
    let mut bytes = Vec::new();
    file.take(TREE_LABELS_MAX + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {TREE_LABELS}"))?;
    if bytes.len() as u64 > TREE_LABELS_MAX {
        bail!("{TREE_LABELS} is larger than {TREE_LABELS_MAX} bytes");
    }
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{TREE_LABELS} is not a JSON object of strings"))
}

/// What an image says about running it: Docker's `Config` section, read
/// into plain Rust values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunConfig {
    /// `Env`: `KEY=VALUE` entries, in order.
    pub env: Vec<(String, String)>,
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `WorkingDir`, `/` when unset.
    pub workdir: String,
    /// `Labels`.
    pub labels: BTreeMap<String, String>,
}

impl RunConfig {
    /// Reads the OCI config section.
    pub fn from_oci(config: Option<&Config>) -> Self {
        let Some(config) = config else {
            return Self {
                workdir: "/".into(),
                ..Self::default()
            };
        };
        let env = config
            .env()
            .iter()
            .flatten()
            .map(|entry| match entry.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (entry.clone(), String::new()),
            })
            .collect();
        Self {
            env,
            entrypoint: config.entrypoint().clone().unwrap_or_default(),
            cmd: config.cmd().clone().unwrap_or_default(),
            workdir: config
                .working_dir()
                .clone()
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into()),
            labels: config
                .labels()
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// The value of one variable of the image's environment.
    pub fn env_var(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// How the image's modules are started, when its manifest (or its
    /// base's) said so with `[launch]`.
    pub fn launch(&self) -> Result<Option<Launch>> {
        let Some(json) = self.labels.get(LAUNCH_LABEL) else {
            return Ok(None);
        };
        let launch: Launch = serde_json::from_str(json)
            .with_context(|| format!("invalid {LAUNCH_LABEL} label in the image: {json}"))?;
        launch
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid {LAUNCH_LABEL} label in the image: {e}"))?;
        Ok(Some(launch))
    }

    /// The snapshot a `[snapshot]` build recorded, if any.
    pub fn snapshot(&self) -> Result<Option<SnapshotRecord>> {
        match self.labels.get(SNAPSHOT_LABEL) {
            Some(json) => serde_json::from_str(json)
                .map(Some)
                .with_context(|| format!("invalid {SNAPSHOT_LABEL} label in the image: {json}")),
            None => Ok(None),
        }
    }

    /// The limits the manifest recorded, if any.
    pub fn limits(&self) -> Result<Limits> {
        match self.labels.get(LIMITS_LABEL) {
            Some(json) => serde_json::from_str(json)
                .with_context(|| format!("invalid {LIMITS_LABEL} label in the image: {json}")),
            None => Ok(Limits::default()),
        }
    }
}

/// The OCI chain IDs of a layer stack: `chain[0] = diff[0]`,
/// `chain[n] = sha256(chain[n-1] + " " + diff[n])`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut chain: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        let next = match chain.last() {
            None => diff.clone(),
            Some(parent) => digest::sha256(format!("{parent} {diff}").as_bytes()),
        };
        chain.push(next);
    }
    chain
}

/// Serialises a value as canonical JSON (object keys sorted, no spaces), so
/// that equal images always hash to equal digests.
pub fn canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    // serde_json's Value keeps object keys in a BTreeMap: sorted.
    let value = serde_json::to_value(value)?;
    Ok(serde_json::to_vec(&value)?)
}

/// A descriptor for a blob.
pub fn descriptor(media_type: MediaType, digest: Digest, size: u64) -> Descriptor {
    Descriptor::new(media_type, size, digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image of `layers` layers (descriptors only) and `history`.
    fn image(layers: usize, history: serde_json::Value) -> Image {
        let layers: Vec<serde_json::Value> = (0..layers)
            .map(|i| {
                serde_json::json!({
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest::sha256(&[i as u8]).to_string(),
                    "size": i,
                })
            })
            .collect();
        let config = serde_json::json!({
            "architecture": "wasm", "os": "wasi",
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": history,
        });
        let config = serde_json::to_vec(&config).unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest::sha256(&config).to_string(),
                "size": config.len(),
            },
            "layers": layers,
        });
        let manifest = serde_json::to_vec(&manifest).unwrap();
        Image::from_parts(&digest::sha256(&manifest), &manifest, &config).unwrap()
    }

    #[test]
    fn history_puts_the_layers_it_does_not_account_for_first() {
        // A base without history under two steps that have one.
        let image = image(
            3,
            serde_json::json!([
                {"created_by": "FROM base", "empty_layer": true},
                {"created_by": "COPY a /a"},
                {"created_by": "COPY b /b"},
            ]),
        );
        let steps = image.history();
        let by: Vec<Option<&str>> = steps.iter().map(|s| s.created_by.as_deref()).collect();
        assert_eq!(
            by,
            [
                None,
                Some("FROM base"),
                Some("COPY a /a"),
                Some("COPY b /b")
            ]
        );
        assert_eq!(steps[0].layer.as_ref().unwrap().size(), 0);
        assert!(steps[1].layer.is_none());
        assert_eq!(steps[3].layer.as_ref().unwrap().size(), 2);
    }

    #[test]
    fn a_labels_entry_without_a_layer_is_no_labels_layer() {
        let labels = LABELS_LAYER_CREATED_BY;
        let empty = image(
            0,
            serde_json::json!([{"created_by": labels, "empty_layer": true}]),
        );
        assert!(!empty.ends_with_labels_layer());
        assert!(empty.base_layers().is_empty());
        let real = image(
            2,
            serde_json::json!([{"created_by": "COPY"}, {"created_by": labels}]),
        );
        assert!(real.ends_with_labels_layer());
        assert_eq!(real.base_layers().len(), 1);
    }

    #[test]
    fn chain_ids_follow_the_oci_definition() {
        let a = digest::sha256(b"a");
        let b = digest::sha256(b"b");
        let chain = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(chain[0], a);
        assert_eq!(chain[1], digest::sha256(format!("{a} {b}").as_bytes()));
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let mut map = std::collections::HashMap::new();
        for k in ["zeta", "alpha", "mid"] {
            map.insert(k.to_owned(), 1);
        }
        let text = String::from_utf8(canonical_json(&map).unwrap()).unwrap();
        assert_eq!(text, r#"{"alpha":1,"mid":1,"zeta":1}"#);
    }

    #[test]
    fn run_config_defaults_to_root_workdir() {
        let rc = RunConfig::from_oci(None);
        assert_eq!(rc.workdir, "/");
        assert!(rc.cmd.is_empty());
    }
}
