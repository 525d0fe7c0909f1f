//! The module that implements the `wharf history` command.

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use wharf::digest;
use wharf::image::HistoryStep;
use wharf::units::human_size;

use super::output::{Format, emit, print_json, since, table, truncate};

/// How wide the CREATED BY column is unless `--no-trunc`, as in Docker.
const CREATED_BY_WIDTH: usize = 45;

/// Show the steps that made an image: one line per layer, newest first,
/// with the manifest step that made it, its size and its digest.
#[derive(Debug, Args)]
pub struct HistoryCommand {
    /// Print steps and digests whole.
    #[arg(long)]
    no_trunc: bool,

    /// Print only the layers' digests.
    #[arg(short, long)]
    quiet: bool,

    /// `table` for people, `json` for scripts: one array, newest step
    /// first, sizes in bytes.
    #[arg(long, value_enum, default_value_t)]
    format: Format,

    /// The image (name, digest or ID).
    #[arg(value_name = "IMAGE")]
    image: String,
}

/// One step in `wharf history --format json`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StepLine {
    /// The layer's digest (of its compressed blob); `null` for a step that
    /// changed only the configuration.
    layer: Option<String>,
    /// The layer's bytes in the store (compressed), 0 without a layer.
    size: u64,
    /// RFC 3339, when the image records it.
    created_at: Option<String>,
    created_by: Option<String>,
    comment: Option<String>,
    /// Whether the layer is a build-time snapshot.
    snapshot: bool,
}

impl From<&HistoryStep> for StepLine {
    fn from(step: &HistoryStep) -> Self {
        StepLine {
            layer: step.layer.as_ref().map(|l| l.digest().to_string()),
            size: step.layer.as_ref().map_or(0, |l| l.size()),
            created_at: step.created.clone(),
            created_by: step.created_by.clone(),
            comment: step.comment.clone(),
            snapshot: step.is_snapshot(),
        }
    }
}

impl HistoryCommand {
    pub fn execute(self) -> Result<()> {
        let store = super::open_store()?;
        let image = store
            .resolve(&self.image)
            .map_err(|e| super::transfer::suggest_names(e, &self.image, &store))?;
        let mut steps = image.history();
        steps.reverse();
        let layer_name = |step: &HistoryStep| match &step.layer {
            Some(layer) if self.no_trunc => layer.digest().to_string(),
            Some(layer) => digest::short(layer.digest()).to_owned(),
            None => "<none>".to_owned(),
        };
        if self.quiet {
            let digests: String = steps
                .iter()
                .filter(|s| s.layer.is_some())
                .map(|step| layer_name(step) + "\n")
                .collect();
            return emit(&digests);
        }
        if self.format == Format::Json {
            return print_json(&steps.iter().map(StepLine::from).collect::<Vec<_>>());
        }
        // The CREATED column only when the image records dates (wharf
        // records them for builds given SOURCE_DATE_EPOCH).
        let dated = steps.iter().any(|s| s.created.is_some());
        let mut header = vec!["LAYER".to_owned()];
        if dated {
            header.push("CREATED".to_owned());
        }
        header.extend(["CREATED BY", "SIZE", "COMMENT"].map(str::to_owned));
        let mut rows = vec![header];
        for step in &steps {
            let mut row = vec![layer_name(step)];
            if dated {
                let created = step
                    .created
                    .as_deref()
                    .and_then(|t| humantime::parse_rfc3339_weak(t).ok());
                row.push(since(created));
            }
            let created_by = step.created_by.as_deref().unwrap_or("<missing>");
            row.push(if self.no_trunc {
                created_by.to_owned()
            } else {
                truncate(created_by, CREATED_BY_WIDTH)
            });
            row.push(human_size(step.layer.as_ref().map_or(0, |l| l.size())));
            row.push(step.comment.clone().unwrap_or_default());
            rows.push(row);
        }
        emit(&table(&rows))?;
        Ok(())
    }
}
