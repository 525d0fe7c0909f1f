//! The module that implements the `wharf images` command.

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use wharf::digest;
use wharf::units::human_size;

use super::output::{Format, emit, print_json, since, table};

/// List images in the local store.
#[derive(Debug, Args)]
pub struct ImagesCommand {
    /// Print only image IDs.
    #[arg(short, long)]
    quiet: bool,

    /// `table` for people, `json` for scripts: one array, an object per
    /// tag, sizes in bytes.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// One line of `wharf images --format json`, named as Docker names them.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImageLine {
    repository: String,
    tag: String,
    #[serde(rename = "ID")]
    id: String,
    /// RFC 3339.
    created_at: Option<String>,
    created_since: String,
    /// Bytes: manifest, config and compressed layers; `null` when the
    /// image cannot be read (`wharf system check` says why).
    size: Option<u64>,
}

impl ImagesCommand {
    pub fn execute(self) -> Result<()> {
        let store = super::open_store()?;
        let mut entries = store.tags()?;
        // Newest first, as Docker lists them.
        entries.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.name.cmp(&b.name)));
        if self.quiet {
            let mut seen = Vec::new();
            let mut text = String::new();
            for entry in &entries {
                if !seen.contains(&entry.id) {
                    text.push_str(digest::short(&entry.id));
                    text.push('\n');
                    seen.push(entry.id.clone());
                }
            }
            return emit(&text);
        }
        let lines: Vec<ImageLine> = entries
            .iter()
            .map(|entry| ImageLine {
                repository: entry.repository().to_owned(),
                tag: entry.tag().to_owned(),
                id: entry.id.to_string(),
                created_at: entry
                    .created
                    .map(|t| humantime::format_rfc3339_seconds(t).to_string()),
                created_since: since(entry.created),
                size: store.load_image(&entry.id).ok().map(|image| image.size()),
            })
            .collect();
        if self.format == Format::Json {
            return print_json(&lines);
        }
        let mut rows = vec![[
            "REPOSITORY".to_owned(),
            "TAG".to_owned(),
            "IMAGE ID".to_owned(),
            "CREATED".to_owned(),
            "SIZE".to_owned(),
        ]];
        for (line, entry) in lines.into_iter().zip(&entries) {
            rows.push([
                line.repository,
                line.tag,
                digest::short(&entry.id).to_owned(),
                line.created_since,
                line.size.map_or_else(|| "damaged".to_owned(), human_size),
            ]);
        }
        emit(&table(&rows))?;
        Ok(())
    }
}
