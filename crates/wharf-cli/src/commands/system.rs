//! The module that implements `wharf system check`, `df` and `prune`.

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde::Serialize;

use wharf::runtime::Runtime;
use wharf::store::{DiskUsage, Usage};
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
    /// Remove what no image needs: blobs, unpacked trees, compiled
    /// artifacts, leftovers of interrupted writes, and the cached installs
    /// of Python requirements.
    Prune,
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
                let usage = store.disk_usage(&Runtime::engine_keys()?)?;
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
            SystemAction::Prune => {
                let engines = Runtime::engine_keys()?;
                let report = store.write()?.prune(&engines)?;
                println!(
                    "removed {} blobs, {} unpacked trees, {} compiled artifacts, {} leftovers, {} cached pip installs: {} freed",
                    report.blobs,
                    report.trees,
                    report.artifacts,
                    report.leftovers,
                    report.pip_installs,
                    human_size(report.bytes)
                );
                Ok(())
            }
        }
    }
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
