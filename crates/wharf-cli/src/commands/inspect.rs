//! The module that implements the `wharf inspect` command.

use anyhow::Result;
use clap::Args;
use serde_json::{Value, json};

use wharf::image::{Image, RunConfig};
use wharf::store::Store;

/// Show an image's details as JSON: ID, tags, config, layers and sizes.
#[derive(Debug, Args)]
pub struct InspectCommand {
    /// Images to inspect (name, digest or ID).
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

impl InspectCommand {
    pub fn execute(self) -> Result<()> {
        let store = super::open_store()?;
        let mut out = Vec::new();
        for reference in &self.images {
            let image = store
                .resolve(reference)
                .map_err(|e| super::transfer::suggest_names(e, reference, &store))?;
            out.push(describe(&store, &image)?);
        }
        super::output::print_json(&out)
    }
}

fn describe(store: &Store, image: &Image) -> Result<Value> {
    let entries = store.tags()?;
    let tags: Vec<&str> = entries
        .iter()
        .filter(|t| t.id == image.id)
        .filter_map(|t| t.name.as_deref())
        .collect();
    let created = entries
        .iter()
        .find(|t| t.id == image.id)
        .and_then(|t| t.created)
        .map(|t| humantime::format_rfc3339_seconds(t).to_string());
    let config = RunConfig::from_oci(image.config.config().as_ref());
    let diff_ids = image.config.rootfs().diff_ids();
    let layers: Vec<Value> = image
        .layers()
        .iter()
        .enumerate()
        .map(|(i, layer)| {
            json!({
                "Digest": layer.digest().to_string(),
                "DiffID": diff_ids.get(i),
                "MediaType": layer.media_type().to_string(),
                "Size": layer.size(),
            })
        })
        .collect();
    Ok(json!({
        "Id": image.id.to_string(),
        "RepoTags": tags,
        "Created": image.config.created().clone().or(created),
        "Architecture": image.config.architecture().to_string(),
        "Os": image.config.os().to_string(),
        "Size": image.size(),
        "Config": {
            "Env": config.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "Entrypoint": image.config.config().as_ref().and_then(|c| c.entrypoint().clone()),
            "Cmd": image.config.config().as_ref().and_then(|c| c.cmd().clone()),
            "WorkingDir": config.workdir,
            "Labels": config.labels,
            "Limits": config.limits()?,
        },
        "ConfigDigest": image.manifest.config().digest().to_string(),
        "Layers": layers,
        "History": image.config.history(),
    }))
}
