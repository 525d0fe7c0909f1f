//! The module that implements `wharf system check` and `wharf system prune`.

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use wharf::runtime::Runtime;
use wharf::units::human_size;

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
