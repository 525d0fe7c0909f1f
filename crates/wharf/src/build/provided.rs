//! Python distributions a base image provides already (numpy and pandas
//! in `python:3.15-sci`), so that `[python] requirements` neither installs
//! them again nor fails on them for want of a pure-Python wheel.
//!
//! The base image lists them in a label, `name==version` separated by
//! spaces. pip is handed a metadata-only wheel for each (a stand-in) and a
//! constraint pinning it to the provided version: a requirement on numpy
//! then resolves to what the image has, and a requirement that needs
//! another version fails in pip with both named. Whatever pip installed
//! for a provided distribution is taken out of the layer afterwards.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The label listing the distributions a base image provides.
pub const PROVIDES_LABEL: &str = "dev.wharf.python.provides";

/// Provided distributions: normalised name to version.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Provided(BTreeMap<String, String>);

impl Provided {
    /// Parses the label's value (`numpy==2.5.2 pandas==3.0.6`).
    pub fn parse(label: &str) -> Result<Self> {
        let mut provided = BTreeMap::new();
        for item in label.split_whitespace() {
            let Some((name, version)) = item.split_once("==") else {
                bail!("label {PROVIDES_LABEL}: `{item}` is not NAME==VERSION");
            };
            if name.is_empty()
                || version.is_empty()
                || !(name.chars().chain(version.chars()))
                    .all(|c| c.is_ascii_alphanumeric() || "._-+!".contains(c))
            {
                bail!("label {PROVIDES_LABEL}: `{item}` is not NAME==VERSION");
            }
            provided.insert(normalise(name), version.to_owned());
        }
        Ok(Self(provided))
    }

    /// Whether nothing is provided.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the distribution `name` (any spelling) is provided.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(&normalise(name))
    }

    /// The provided version of the distribution `name` (any spelling).
    pub fn version_of(&self, name: &str) -> Option<&str> {
        self.0.get(&normalise(name)).map(String::as_str)
    }

    /// Writes a stand-in wheel for each provided distribution into
    /// `wheels`, and a constraints file pinning them; returns the
    /// constraints file. pip is then run with `--find-links wheels
    /// --constraint FILE`.
    pub fn write_stand_ins(&self, wheels: &Path) -> Result<PathBuf> {
        fs::create_dir_all(wheels)?;
        let mut constraints = String::new();
        for (name, version) in &self.0 {
            let stem = format!("{name}-{version}");
            let path = wheels.join(format!("{stem}-py3-none-any.whl"));
            write_stand_in(&path, name, version, &stem)
                .with_context(|| format!("cannot write {}", path.display()))?;
            constraints.push_str(&format!("{name}=={version}\n"));
        }
        let file = wheels.join("constraints.txt");
        fs::write(&file, constraints)?;
        Ok(file)
    }

    /// Removes from `site_packages` (a pip `--target`) every provided
    /// distribution pip installed there: the files its RECORD lists and
    /// its `.dist-info`.
    pub fn remove_from(&self, site_packages: &Path) -> Result<()> {
        for entry in fs::read_dir(site_packages)? {
            let entry = entry?;
            let file_name = entry.file_name();
            let Some(stem) = file_name
                .to_str()
                .and_then(|n| n.strip_suffix(".dist-info"))
            else {
                continue;
            };
            let name = stem.split_once('-').map_or(stem, |(name, _)| name);
            if !self.contains(name) {
                continue;
            }
            let record = entry.path().join("RECORD");
            if let Ok(text) = fs::read_to_string(&record) {
                for line in text.lines() {
                    let path = Path::new(line.split(',').next().unwrap_or(""));
                    // Only plain relative paths inside the target.
                    if path.as_os_str().is_empty()
                        || !path.components().all(|c| matches!(c, Component::Normal(_)))
                    {
                        continue;
                    }
                    let _ = fs::remove_file(site_packages.join(path));
                    // And the directories that leaves empty.
                    for parent in path.ancestors().skip(1) {
                        if parent.as_os_str().is_empty()
                            || fs::remove_dir(site_packages.join(parent)).is_err()
                        {
                            break;
                        }
                    }
                }
            }
            match fs::remove_dir_all(entry.path()) {
                // Emptied, and so removed, with the files its RECORD lists.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                other => {
                    other.with_context(|| format!("cannot remove {}", entry.path().display()))?
                }
            }
        }
        Ok(())
    }
}

/// A distribution name as pip compares them (PEP 503, with `_`).
fn normalise(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if "-_.".contains(c) {
            '_'
        } else {
            c.to_ascii_lowercase()
        };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out
}

/// A wheel holding only the metadata of `name` `version`.
fn write_stand_in(path: &Path, name: &str, version: &str, stem: &str) -> Result<()> {
    use zip::write::SimpleFileOptions;
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut wheel = zip::ZipWriter::new(fs::File::create(path)?);
    let files = [
        (
            "METADATA",
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
        ),
        (
            "WHEEL",
            "Wheel-Version: 1.0\nGenerator: wharf\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_owned(),
        ),
        (
            "RECORD",
            format!(
                "{stem}.dist-info/METADATA,,\n{stem}.dist-info/WHEEL,,\n{stem}.dist-info/RECORD,,\n"
            ),
        ),
    ];
    for (file, text) in files {
        wheel.start_file(format!("{stem}.dist-info/{file}"), options)?;
        wheel.write_all(text.as_bytes())?;
    }
    wheel.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_is_parsed_and_names_compare_as_pip_compares_them() {
        let provided = Provided::parse("numpy==2.5.2  python_dateutil==2.9.0.post0\n").unwrap();
        assert!(provided.contains("NumPy"));
        assert!(provided.contains("python-dateutil"));
        assert!(provided.contains("Python.DateUtil"));
        assert!(!provided.contains("pandas"));
        assert!(Provided::parse("").unwrap().is_empty());
        for bad in ["numpy", "numpy==", "==1", "num;py==1", "numpy>=1"] {
            let err = Provided::parse(bad).unwrap_err().to_string();
            assert!(err.contains("NAME==VERSION"), "{bad}: {err}");
        }
    }

    #[test]
    fn stand_ins_are_wheels_with_metadata_and_pinned_by_constraints() {
        let dir = tempfile::tempdir().unwrap();
        let provided = Provided::parse("numpy==2.5.2 six==1.17.0").unwrap();
        let constraints = provided.write_stand_ins(dir.path()).unwrap();
        assert_eq!(
            fs::read_to_string(constraints).unwrap(),
            "numpy==2.5.2\nsix==1.17.0\n"
        );
        let wheel = fs::File::open(dir.path().join("numpy-2.5.2-py3-none-any.whl")).unwrap();
        let mut archive = zip::ZipArchive::new(wheel).unwrap();
        let mut metadata = String::new();
        std::io::Read::read_to_string(
            &mut archive.by_name("numpy-2.5.2.dist-info/METADATA").unwrap(),
            &mut metadata,
        )
        .unwrap();
        assert!(
            metadata.contains("Name: numpy\nVersion: 2.5.2\n"),
            "{metadata}"
        );
    }

    #[test]
    fn installed_provided_distributions_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, text) in [
            ("six.py", "x"),
            ("six/moves/m.py", "x"),
            (
                "six-1.17.0.dist-info/RECORD",
                "six.py,sha256=x,1\nsix/moves/m.py,,\n../outside,,\nsix-1.17.0.dist-info/RECORD,,\n",
            ),
            ("attrs/__init__.py", "x"),
            ("attrs-26.1.0.dist-info/RECORD", "attrs/__init__.py,,\n"),
        ] {
            fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            fs::write(root.join(path), text).unwrap();
        }
        Provided::parse("six==1.17.0")
            .unwrap()
            .remove_from(root)
            .unwrap();
        assert!(!root.join("six.py").exists());
        assert!(!root.join("six").exists(), "emptied directories stay");
        assert!(!root.join("six-1.17.0.dist-info").exists());
        assert!(root.join("attrs/__init__.py").exists());
        assert!(root.join("attrs-26.1.0.dist-info").exists());
    }
}
