//! The module that implements `wharf system check`, `df` and `prune`.

use std::io::IsTerminal;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde::Serialize;

use wharf::runtime::Runtime;
use wharf::store::{DiskUsage, PruneImages, Usage};
use wharf::units::human_size;

use super::output::{Format, emit, print_json, table};

/// Look after the local store.
#[derive(Debug, Args)]
pub struct SystemCommand {
    #[command(subcommand)]
    action: SystemAction,
}

#[derive(Debug, Subcommand)]
enum SystemAction {
    /// Verify every blob against its digest and every image's closure.
    Check,
    /// Show how much room the store takes, by kind, and how much `system
    /// prune` would free.
    Df {
        /// `table` for people, `json` for scripts: one object, sizes in
        /// bytes.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Remove images without a tag, and what no image needs: blobs,
    /// unpacked trees, compiled artifacts, leftovers of interrupted writes,
    /// and the cached installs of Python requirements.
    Prune {
        /// Remove every image no running guest is using, not only those
        /// without a tag.
        #[arg(short, long)]
        all: bool,
        /// Do not ask first.
        #[arg(short, long)]
        force: bool,
    },
}

impl SystemCommand {
    pub fn execute(self) -> Result<()> {
        let store = super::open_store()?;
        match self.action {
            SystemAction::Check => {
                let report = store.check()?;
                for problem in &report.problems {
                    println!("problem: {problem}");
                }
                println!(
                    "checked {} blobs, {} images, {} unpacked trees ({} leftovers of interrupted writes in tmp/)",
                    report.blobs, report.images, report.trees, report.leftovers
                );
                if !report.problems.is_empty() {
                    bail!(
                        "the store at {} has {} problems",
                        store.root().display(),
                        report.problems.len()
                    );
                }
                println!("no problems");
                Ok(())
            }
            SystemAction::Df { format } => {
                let usage = store.disk_usage(&Runtime::engine_keys()?, PruneImages::Untagged)?;
                if format == Format::Json {
                    return print_json(&DfDocument {
                        store: store.root().display().to_string(),
                        total: usage.total(),
                        usage,
                    });
                }
                emit(&df_table(&usage))?;
                Ok(())
            }
            SystemAction::Prune { all, force } => {
                let images = if all {
                    PruneImages::All
                } else {
                    PruneImages::Untagged
                };
                if !force && !confirm(images)? {
                    bail!("nothing was removed: not confirmed (pass -f to prune without asking)");
                }
                let engines = Runtime::engine_keys()?;
                let report = store.write()?.prune(&engines, images)?;
                let mut text = String::new();
                for (id, names) in &report.images {
                    for name in names {
                        text.push_str(&format!("Untagged: {name}\n"));
                    }
                    text.push_str(&format!("Deleted: {id}\n"));
                }
                let counts = [
                    count(report.images.len(), "image", "images"),
                    count(report.blobs, "blob", "blobs"),
                    count(report.trees, "unpacked tree", "unpacked trees"),
                    count(report.artifacts, "compiled artifact", "compiled artifacts"),
                    count(report.leftovers, "leftover", "leftovers"),
                    count(
                        report.pip_installs,
                        "cached pip install",
                        "cached pip installs",
                    ),
                ];
                text.push_str(&format!(
                    "removed {}: {} freed\n",
                    counts.join(", "),
                    human_size(report.bytes)
                ));
                emit(&text)
            }
        }
    }
}

/// Asks on stderr, as `docker system prune` does, and reads the answer
/// from stdin: `y` or `yes` goes ahead; anything else, or no answer (stdin
/// at its end, as in a script), does not.
fn confirm(images: PruneImages) -> Result<bool> {
    let which = if images == PruneImages::All {
        "every image no running guest is using"
    } else {
        "images without a tag (built without -t)"
    };
    eprint!(
        "WARNING! This will remove:\n  - {which}\n  - blobs, unpacked trees and compiled artifacts no image needs\n  - leftovers of interrupted writes and of runs whose process is gone\n  - the cached installs of [python] requirements\n\nAre you sure you want to continue? [y/N] "
    );
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    // An answer typed on a terminal ended its line; one piped in did not.
    if answer.is_empty() || !std::io::stdin().is_terminal() {
        eprintln!();
    }
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// `wharf system df --format json`: the store's directory, each kind's
/// usage and the total.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DfDocument {
    store: String,
    #[serde(flatten)]
    usage: DiskUsage,
    total: Usage,
}

/// The rows of `wharf system df`, as `docker system df` lays them out.
fn df_table(usage: &DiskUsage) -> String {
    let row = |kind: &str, u: &Usage| {
        let share = (u.reclaimable_bytes * 100)
            .checked_div(u.bytes)
            .unwrap_or(0);
        vec![
            kind.to_owned(),
            u.count.to_string(),
            human_size(u.bytes),
            format!("{} ({share}%)", human_size(u.reclaimable_bytes)),
        ]
    };
    let mut snapshots = row("  of which snapshots", &usage.snapshots);
    snapshots[3] = String::new();
    let rows = vec![
        ["TYPE", "TOTAL", "SIZE", "RECLAIMABLE"]
            .map(str::to_owned)
            .to_vec(),
        row("Images", &usage.images),
        snapshots,
        row("Unpacked trees", &usage.unpacked_trees),
        row("Compiled artifacts", &usage.compiled_artifacts),
        row("Build cache", &usage.build_cache),
        row("Unreferenced blobs", &usage.unreferenced_blobs),
        row("Staging (tmp/)", &usage.staging),
        row("Total", &usage.total()),
    ];
    table(&rows)
}

/// `1 image`, `0 images`, `2 images`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
