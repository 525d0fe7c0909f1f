//! The build context: the directory COPY reads from, seen through a
//! capability so that no source, `..` or symlink can reach outside it, and
//! filtered by `.wharfignore`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use cap_std::fs::Dir;
use globset::GlobBuilder;

use crate::ignore::IgnoreRules;
use crate::layer::{FileSource, LayerContents};

/// A build context directory.
pub struct BuildContext {
    dir: Arc<Dir>,
    path: PathBuf,
    ignore: IgnoreRules,
    everything: OnceLock<Vec<String>>,
}

/// What a COPY source names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A regular file of this many bytes.
    File(u64),
    /// A directory: its contents are copied.
    Dir,
}

/// One path a COPY source resolved to.
#[derive(Debug, Clone)]
pub struct Source {
    /// Where it really is, relative to the context root, `/`-separated
    /// (a symlink given as the source is followed, inside the context).
    pub path: String,
    /// Its name as written, which a file keeps in the image.
    pub name: String,
    /// File or directory.
    pub kind: SourceKind,
}

/// Why a COPY source could not be used; the build turns it into a manifest
/// error pointing at the source.
#[derive(Debug)]
pub struct SourceError(pub String);

impl BuildContext {
    /// Opens the context directory and reads its `.wharfignore`.
    pub fn open(path: &Path) -> Result<Self> {
        let dir = Dir::open_ambient_dir(path, cap_std::ambient_authority())
            .with_context(|| format!("cannot open build context {}", path.display()))?;
        Ok(Self {
            dir: Arc::new(dir),
            path: path.to_owned(),
            ignore: IgnoreRules::load(path)?,
            everything: OnceLock::new(),
        })
    }

    /// The context directory as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Resolves a COPY source (a path or a glob pattern) to what it names.
    pub fn resolve(&self, source: &str) -> Result<Vec<Source>, SourceError> {
        let cleaned = clean_relative(source).ok_or_else(|| {
            SourceError(format!(
                "COPY source '{source}' is outside the build context {}",
                self.path.display()
            ))
        })?;
        if cleaned.contains(['*', '?', '[']) {
            return self.resolve_glob(source, &cleaned);
        }
        Ok(vec![self.source(source, &cleaned)?])
    }

    /// A source by its cleaned path: followed to where it really is, and
    /// refused when `.wharfignore` excludes either name, so that a symlink
    /// cannot carry an ignored file into the image.
    fn source(&self, written: &str, cleaned: &str) -> Result<Source, SourceError> {
        let excluded = || {
            SourceError(format!(
                "COPY source '{written}' is excluded by .wharfignore"
            ))
        };
        if !cleaned.is_empty() && self.ignore.is_excluded(cleaned) {
            return Err(excluded());
        }
        let kind = self
            .kind_of(cleaned)
            .map_err(|e| self.explain(written, e))?;
        let real = if cleaned.is_empty() {
            String::new()
        } else {
            self.dir
                .canonicalize(cleaned)
                .map_err(|e| self.explain(written, e))?
                .to_string_lossy()
                .replace('\\', "/")
        };
        if !real.is_empty() && self.ignore.is_excluded(&real) {
            return Err(excluded());
        }
        Ok(Source {
            name: cleaned.rsplit('/').next().unwrap_or(cleaned).to_owned(),
            path: real,
            kind,
        })
    }

    fn resolve_glob(&self, source: &str, pattern: &str) -> Result<Vec<Source>, SourceError> {
        let glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| {
                SourceError(format!(
                    "COPY source '{source}' is not a valid pattern: {e}"
                ))
            })?
            .compile_matcher();
        let everything = self.everything();
        let mut matches = Vec::new();
        for path in everything.iter().filter(|p| glob.is_match(p.as_str())) {
            matches.push(self.source(path, path)?);
        }
        if matches.is_empty() {
            return Err(SourceError(format!(
                "COPY source '{source}' matches no file in the build context {}",
                self.path.display()
            )));
        }
        Ok(matches)
    }

    /// Every path in the context that `.wharfignore` does not exclude.
    fn everything(&self) -> &Vec<String> {
        self.everything.get_or_init(|| {
            let mut paths = Vec::new();
            self.walk("", &mut |path, _| {
                paths.push(path.to_owned());
                Ok(())
            })
            .ok();
            paths
        })
    }

    /// The kind of a source, following a symlink given as the source itself
    /// (inside the context only).
    fn kind_of(&self, path: &str) -> io::Result<SourceKind> {
        let meta = if path.is_empty() {
            self.dir.dir_metadata()?
        } else {
            self.dir.metadata(path)?
        };
        if meta.is_dir() {
            Ok(SourceKind::Dir)
        } else if meta.is_file() {
            Ok(SourceKind::File(meta.len()))
        } else {
            Err(io::Error::other("it is neither a file nor a directory"))
        }
    }

    fn explain(&self, source: &str, error: io::Error) -> SourceError {
        let context = self.path.display();
        SourceError(match error.kind() {
            io::ErrorKind::NotFound => {
                format!("COPY source '{source}' not found in the build context {context}")
            }
            io::ErrorKind::PermissionDenied if error.to_string().contains("outside") => {
                format!(
                    "COPY source '{source}' leads outside the build context {context} through a symlink"
                )
            }
            _ => format!("COPY source '{source}' cannot be read: {error}"),
        })
    }

    /// Adds a source to `layer`: a file at `dest`, or a directory's
    /// contents below `dest`.
    pub fn add_to_layer(
        &self,
        source: &Source,
        dest: &str,
        layer: &mut LayerContents,
    ) -> Result<()> {
        match source.kind {
            SourceKind::File(size) => {
                layer.add_file(dest, self.file_source(&source.path), size);
            }
            SourceKind::Dir => {
                if !dest.is_empty() {
                    layer.add_dir(dest);
                }
                let prefix = source.path.clone();
                self.walk(&prefix, &mut |path, entry| {
                    let below = path
                        .strip_prefix(&prefix)
                        .unwrap_or(path)
                        .trim_start_matches('/');
                    let target = join(dest, below);
                    match entry {
                        WalkEntry::Dir => layer.add_dir(&target),
                        WalkEntry::File(size) => {
                            layer.add_file(&target, self.file_source(path), size)
                        }
                        WalkEntry::Symlink(link) => layer.add_symlink(&target, &link),
                    }
                    Ok(())
                })
                .with_context(|| format!("cannot copy directory '{}'", source.path))?;
            }
        }
        Ok(())
    }

    fn file_source(&self, path: &str) -> FileSource {
        FileSource::Dir(self.dir.clone(), PathBuf::from(path))
    }

    /// Walks the tree below `start` in sorted order, skipping what
    /// `.wharfignore` excludes; symlinks are reported, never followed.
    fn walk(
        &self,
        start: &str,
        visit: &mut dyn FnMut(&str, WalkEntry) -> Result<()>,
    ) -> Result<()> {
        let listing = if start.is_empty() {
            self.dir.entries()
        } else {
            self.dir.read_dir(start)
        }
        .with_context(|| format!("cannot list '{start}'"))?;
        let mut names: Vec<String> = Vec::new();
        for entry in listing {
            let entry = entry.with_context(|| format!("cannot list '{start}'"))?;
            match entry.file_name().into_string() {
                Ok(name) => names.push(name),
                Err(name) => anyhow::bail!(
                    "'{}' in '{start}' is not valid UTF-8; image paths must be",
                    name.to_string_lossy()
                ),
            }
        }
        names.sort();
        for name in names {
            let path = join(start, &name);
            let excluded = self.ignore.is_excluded(&path);
            let meta = self
                .dir
                .symlink_metadata(&path)
                .with_context(|| format!("cannot inspect '{path}'"))?;
            if meta.is_dir() {
                // Descend into an excluded directory only when an exception
                // could bring something below it back.
                if excluded && !self.ignore.has_exceptions() {
                    continue;
                }
                if !excluded {
                    visit(&path, WalkEntry::Dir)?;
                }
                self.walk(&path, visit)?;
            } else if excluded {
                continue;
            } else if meta.is_symlink() {
                let link = self
                    .dir
                    .read_link_contents(&path)
                    .with_context(|| format!("cannot read symlink '{path}'"))?;
                visit(
                    &path,
                    WalkEntry::Symlink(link.to_string_lossy().replace('\\', "/")),
                )?;
            } else if meta.is_file() {
                visit(&path, WalkEntry::File(meta.len()))?;
            } else {
                anyhow::bail!(
                    "'{path}' is a special file (device, socket or pipe); COPY takes files, directories and symlinks"
                );
            }
        }
        Ok(())
    }
}

enum WalkEntry {
    Dir,
    File(u64),
    Symlink(String),
}

fn join(parent: &str, name: &str) -> String {
    match (parent.is_empty(), name.is_empty()) {
        (true, _) => name.to_owned(),
        (_, true) => parent.to_owned(),
        _ => format!("{parent}/{name}"),
    }
}

/// Cleans a context-relative path lexically: a leading `/` means the
/// context root, `.` components vanish, and `..` may not climb above the
/// root (`None`). The root itself is the empty string.
pub fn clean_relative(path: &str) -> Option<String> {
    let path = if cfg!(windows) {
        path.replace('\\', "/")
    } else {
        path.to_owned()
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_relative_stays_inside_the_root() {
        assert_eq!(clean_relative("app.py").as_deref(), Some("app.py"));
        assert_eq!(clean_relative("/src/./a/../b").as_deref(), Some("src/b"));
        assert_eq!(clean_relative(".").as_deref(), Some(""));
        assert_eq!(clean_relative("../secret"), None);
        assert_eq!(clean_relative("a/../../b"), None);
    }
}
