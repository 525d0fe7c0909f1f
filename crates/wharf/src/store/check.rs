//! Verifying the store: every blob against its digest, every tag's image
//! complete, every unpacked tree whole.

use std::fs;
use std::io::BufReader;

use anyhow::{Context, Result};

use super::{LockKind, Store};
use crate::digest;

/// What a check found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Blobs hashed.
    pub blobs: usize,
    /// Images (index entries) whose closure was checked.
    pub images: usize,
    /// Unpacked trees looked at.
    pub trees: usize,
    /// Files left in `tmp/` by interrupted writes (harmless, invisible).
    pub leftovers: usize,
    /// Everything wrong, one sentence each.
    pub problems: Vec<String>,
}

impl Store {
    /// Checks the whole store under the shared lock: reads and hashes every
    /// blob, so it takes as long as reading the store once.
    pub fn check(&self) -> Result<CheckReport> {
        let _lock = self.lock(LockKind::Shared)?;
        let mut report = CheckReport::default();

        let blobs = self.root().join("blobs/sha256");
        for entry in
            fs::read_dir(&blobs).with_context(|| format!("cannot list {}", blobs.display()))?
        {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            report.blobs += 1;
            let Ok(expected) = digest::parse_sha256(&format!("sha256:{name}")) else {
                report.problems.push(format!(
                    "blobs/sha256/{name} is not named by a SHA-256 digest"
                ));
                continue;
            };
            let actual = fs::File::open(entry.path())
                .map(BufReader::new)
                .and_then(digest::sha256_reader);
            match actual {
                Ok(actual) if actual == expected => {}
                Ok(actual) => report.problems.push(format!(
                    "blob {expected} is corrupt: its content hashes to {actual}"
                )),
                Err(e) => report
                    .problems
                    .push(format!("blob {expected} cannot be read: {e}")),
            }
        }

        for entry in self.tags()? {
            report.images += 1;
            let name = entry
                .name
                .clone()
                .unwrap_or_else(|| digest::short(&entry.id).to_owned());
            match self.load_image(&entry.id) {
                Err(e) => report.problems.push(format!("image {name}: {e:#}")),
                Ok(image) => {
                    for layer in image.layers() {
                        if !self.has_blob(layer.digest()) {
                            report
                                .problems
                                .push(format!("image {name}: layer {} is missing", layer.digest()));
                        }
                    }
                    if image.config.rootfs().diff_ids().len() != image.layers().len() {
                        report.problems.push(format!(
                            "image {name}: {} layers but {} diff IDs in its config",
                            image.layers().len(),
                            image.config.rootfs().diff_ids().len()
                        ));
                    }
                }
            }
        }

        let trees = self.root().join("rootfs");
        for entry in
            fs::read_dir(&trees).with_context(|| format!("cannot list {}", trees.display()))?
        {
            let path = entry?.path();
            report.trees += 1;
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if !path.join("tree").is_dir() {
                report
                    .problems
                    .push(format!("unpacked tree {name} has no tree/ directory"));
            }
            let modules = fs::read(path.join("modules.json"))
                .map_err(anyhow::Error::from)
                .and_then(|bytes| Ok(serde_json::from_slice::<crate::layer::ModuleIndex>(&bytes)?));
            if let Err(e) = modules {
                report
                    .problems
                    .push(format!("unpacked tree {name}: modules.json: {e:#}"));
            }
        }

        report.leftovers = fs::read_dir(self.root().join("tmp")).map_or(0, |d| d.count());
        Ok(report)
    }
}
