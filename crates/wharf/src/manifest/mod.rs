//! Parses and validates `wharf.toml`, the manifest that describes an image:
//! wharf's Dockerfile, written in TOML.
//!
//! ```toml
//! from = "python:3.12"            # FROM (or "scratch")
//! workdir = "/app"                # WORKDIR
//! cmd = ["python", "app.py"]      # CMD
//!
//! [env]                           # ENV
//! APP_ENV = "Production"
//!
//! [[copy]]                        # COPY
//! src = "app.py"
//! dest = "."
//! ```
//!
//! A Python app can also name its dependencies, which the build installs
//! (pure-Python wheels only) into the base image's site-packages:
//!
//! ```toml
//! [python]
//! requirements = "requirements.txt"
//! ```
//!
//! A module that is not a WASI command (a reactor) is started the way
//! `[launch]` says: see [`crate::launch`]. On a base whose `[launch]`
//! allows it, an image can be pre-initialised at build time:
//!
//! ```toml
//! [snapshot]
//! preload = ["pandas", "numpy"]
//! ```
//!
//! Every error names the file, line and column. Unknown keys are errors that
//! list the valid ones.

mod diagnostic;
mod dockerfile;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use toml::Spanned;

pub use diagnostic::ManifestError;
pub use dockerfile::{READS_WHARF_TOML, dockerfile_in, is_dockerfile_name, looks_like_dockerfile};

use crate::launch::Launch;
use crate::reference::ImageRef;
use crate::units::{self, ByteSize};

/// The base image named by `from`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    /// `from = "scratch"`: an empty file tree and configuration.
    Scratch,
    /// An image from the local store.
    Image(ImageRef),
}

/// A parsed, validated manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// `from`: the image this one builds on.
    pub base: Base,
    /// `workdir`, as written (absolute, or relative to the base's).
    pub workdir: Option<String>,
    /// `entrypoint`, when set.
    pub entrypoint: Option<Vec<String>>,
    /// `cmd`, when set.
    pub cmd: Option<Vec<String>>,
    /// `[env]`, sorted by name (TOML tables have no order).
    pub env: Vec<(String, String)>,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
    /// `[[copy]]` instructions, in file order.
    pub copies: Vec<CopyInstruction>,
    /// `[limits]`: defaults for every run of the image.
    pub limits: Limits,
    /// `[python] requirements`: a requirements file in the build context,
    /// installed into the image's site-packages.
    pub python_requirements: Option<Spanned<String>>,
    /// `[launch]`: how the image's modules are started, when they are
    /// reactors rather than commands.
    pub launch: Option<Launch>,
    /// `[snapshot] preload`: what to load into the program at build time,
    /// before its state is snapshotted into the image.
    pub snapshot: Option<Spanned<Vec<String>>>,
    source: String,
    path: std::path::PathBuf,
    from_span: std::ops::Range<usize>,
}

/// One `[[copy]]`: sources in the build context, a destination in the image.
#[derive(Clone, Debug)]
pub struct CopyInstruction {
    /// Paths (or glob patterns) relative to the build context.
    pub sources: Vec<Spanned<String>>,
    /// Where they go: a directory when it ends in `/`, is `.`, or there are
    /// several sources; relative destinations start at `workdir`.
    pub dest: Spanned<String>,
}

/// Resource limits applied to every run unless a run flag overrides them.
/// `None` leaves the limit to the image, else to the default; `Some(0)`
/// (`Duration::ZERO`) asks for no limit, as `docker run -m 0` does (see
/// `runtime::EffectiveLimits::resolve`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Maximum linear memory (and table) size of the guest, in bytes.
    pub memory: Option<u64>,
    /// Wall-clock time allowed for a run.
    #[serde(with = "duration_millis")]
    pub timeout: Option<Duration>,
    /// Fuel (roughly, Wasm instructions) a run may consume.
    pub fuel: Option<u64>,
}

mod duration_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or [`Manifest::parse`] refuses it.
    pub fn load(path: &Path) -> Result<Self> {
        let source = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        Ok(Self::parse(&source, path)?)
    }

    /// Parses and validates manifest text; `path` is only used in messages.
    ///
    /// # Errors
    ///
    /// A [`ManifestError`] at the place of the first problem; text that is
    /// not TOML and is a Dockerfile, by `path`'s name or its first
    /// instruction ([`is_dockerfile_name`], [`looks_like_dockerfile`]),
    /// is said to be one, without a position.
    pub fn parse(source: &str, path: &Path) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(source).map_err(|e| {
            if is_dockerfile_name(path) || looks_like_dockerfile(source) {
                ManifestError::at(
                    path,
                    source,
                    None,
                    format!("this is a Dockerfile: {READS_WHARF_TOML}"),
                )
            } else {
                ManifestError::at(path, source, e.span(), e.message())
            }
        })?;
        let error = |span: std::ops::Range<usize>, message: String| {
            ManifestError::at(path, source, Some(span), message)
        };

        let from = raw.from.get_ref().trim();
        let base = if from == "scratch" {
            Base::Scratch
        } else {
            Base::Image(from.parse().map_err(|e: crate::reference::RefError| {
                error(raw.from.span(), format!("`from`: {e}"))
            })?)
        };

        let workdir = match raw.workdir {
            Some(w) if w.get_ref().trim().is_empty() => {
                return Err(error(w.span(), "`workdir` cannot be empty".into()));
            }
            Some(w) => Some(w.into_inner()),
            None => None,
        };

        let mut env = Vec::new();
        for (key, value) in raw.env {
            let name = key.get_ref();
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(error(
                    key.span(),
                    format!(
                        "invalid environment variable name '{name}': it must be non-empty and contain no '='"
                    ),
                ));
            }
            env.push((key.into_inner(), value.0));
        }

        let mut copies = Vec::new();
        for copy in raw.copy {
            let span = copy.src.span();
            let sources = copy.src.into_inner().0;
            if sources.is_empty() {
                return Err(error(span, "`copy` needs at least one `src`".into()));
            }
            if sources.iter().any(|s| s.trim().is_empty()) {
                return Err(error(span, "`src` cannot be empty".into()));
            }
            if copy.dest.get_ref().trim().is_empty() {
                return Err(error(copy.dest.span(), "`dest` cannot be empty".into()));
            }
            copies.push(CopyInstruction {
                sources: sources
                    .into_iter()
                    .map(|s| Spanned::new(span.clone(), s))
                    .collect(),
                dest: copy.dest,
            });
        }

        let limits = match raw.limits {
            None => Limits::default(),
            Some(l) => Limits {
                memory: match l.memory {
                    Some(m) => Some(
                        m.get_ref()
                            .parse::<ByteSize>()
                            .map_err(|e| error(m.span(), format!("`limits.memory`: {e}")))?
                            .0,
                    ),
                    None => None,
                },
                timeout: match l.timeout {
                    Some(t) => Some(
                        units::parse_duration(t.get_ref())
                            .map_err(|e| error(t.span(), format!("`limits.timeout`: {e}")))?,
                    ),
                    None => None,
                },
                fuel: match l.fuel {
                    Some(f) if *f.get_ref() < 0 => {
                        return Err(error(
                            f.span(),
                            "`limits.fuel` must be a positive number, or 0 for no limit".into(),
                        ));
                    }
                    Some(f) => Some(*f.get_ref() as u64),
                    None => None,
                },
            },
        };

        let launch = match raw.launch {
            Some(launch) => {
                let span = launch.span();
                let launch = launch.into_inner();
                launch
                    .validate()
                    .map_err(|e| error(span, format!("`launch`: {e}")))?;
                Some(launch)
            }
            None => None,
        };

        let snapshot = match raw.snapshot {
            Some(snapshot) => {
                let preload = snapshot.preload;
                if preload.get_ref().is_empty()
                    || preload.get_ref().iter().any(|m| m.trim().is_empty())
                {
                    return Err(error(
                        preload.span(),
                        "`snapshot.preload` must name at least one module, and no empty names"
                            .into(),
                    ));
                }
                Some(preload)
            }
            None => None,
        };

        Ok(Manifest {
            base,
            workdir,
            entrypoint: raw.entrypoint.map(|c| c.0),
            cmd: raw.cmd.map(|c| c.0),
            env,
            labels: raw.labels,
            copies,
            limits,
            python_requirements: raw.python.map(|p| p.requirements),
            launch,
            snapshot,
            source: source.to_owned(),
            path: path.to_owned(),
            from_span: raw.from.span(),
        })
    }

    /// An error pointing at `span` of this manifest: for problems found
    /// later, during the build (a missing COPY source, say).
    pub fn error_at(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> ManifestError {
        ManifestError::at(&self.path, &self.source, Some(span), message)
    }

    /// Where `from`'s value is in the manifest, for [`Manifest::error_at`]
    /// about the base image (one the store lacks, say).
    pub fn from_span(&self) -> std::ops::Range<usize> {
        self.from_span.clone()
    }

    /// The file the manifest was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The manifest exactly as TOML gives it; [`Manifest::parse`] validates it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    from: Spanned<String>,
    workdir: Option<Spanned<String>>,
    entrypoint: Option<Command>,
    cmd: Option<Command>,
    #[serde(default)]
    env: BTreeMap<Spanned<String>, EnvValue>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    copy: Vec<RawCopy>,
    limits: Option<RawLimits>,
    python: Option<RawPython>,
    launch: Option<Spanned<Launch>>,
    snapshot: Option<RawSnapshot>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSnapshot {
    preload: Spanned<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPython {
    requirements: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCopy {
    src: Spanned<Sources>,
    dest: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    memory: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    fuel: Option<Spanned<i64>>,
}

/// `cmd`/`entrypoint`: the exec form only, since there is no shell to split
/// a command line.
struct Command(Vec<String>);

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CommandVisitor;
        impl<'de> Visitor<'de> for CommandVisitor {
            type Value = Command;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of strings such as [\"python\", \"app.py\"]")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Command, E> {
                Err(E::custom(format!(
                    "expected an array of strings such as [\"python\", \"app.py\"], found the string \"{v}\": \
                     wharf has no shell to split a command line, so write each argument separately"
                )))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Command, A::Error> {
                let mut args = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    args.push(arg);
                }
                Ok(Command(args))
            }
        }
        d.deserialize_any(CommandVisitor)
    }
}

/// An `[env]` value: a string, or a number or boolean written bare.
struct EnvValue(String);

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EnvVisitor;
        impl Visitor<'_> for EnvVisitor {
            type Value = EnvValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<EnvValue, E> {
                Ok(EnvValue(v.to_string()))
            }
        }
        d.deserialize_any(EnvVisitor)
    }
}

/// `src = "a"` or `src = ["a", "b"]`.
struct Sources(Vec<String>);

impl<'de> Deserialize<'de> for Sources {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SourcesVisitor;
        impl<'de> Visitor<'de> for SourcesVisitor {
            type Value = Sources;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a path or an array of paths, such as \"app.py\" or [\"app.py\", \"lib/\"]",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Sources, E> {
                Ok(Sources(vec![v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sources, A::Error> {
                let mut paths = Vec::new();
                while let Some(path) = seq.next_element::<String>()? {
                    paths.push(path);
                }
                Ok(Sources(paths))
            }
        }
        d.deserialize_any(SourcesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, Path::new("wharf.toml"))
    }

    #[test]
    fn the_seed_manifest_parses() {
        let m = parse(
            r#"
from = "python:3.12"
workdir = "/app"
cmd = ["python", "app.py"]
labels = { "org.opencontainers.image.title" = "my-first-image" }

[env]
APP_ENV = "Production"
PORT = 8080

[[copy]]
src = "app.py"
dest = "."

[limits]
memory = "256MiB"
timeout = "30s"
"#,
        )
        .unwrap();
        assert_eq!(m.base, Base::Image("python:3.12".parse().unwrap()));
        assert_eq!(m.workdir.as_deref(), Some("/app"));
        assert_eq!(
            m.cmd.as_deref(),
            Some(&["python".to_owned(), "app.py".to_owned()][..])
        );
        assert_eq!(
            m.env,
            vec![
                ("APP_ENV".to_owned(), "Production".to_owned()),
                ("PORT".to_owned(), "8080".to_owned())
            ]
        );
        assert_eq!(m.copies.len(), 1);
        assert_eq!(m.copies[0].sources[0].get_ref(), "app.py");
        assert_eq!(m.limits.memory, Some(256 << 20));
        assert_eq!(m.limits.timeout, Some(Duration::from_secs(30)));
    }

    #[test]
    fn unknown_keys_name_the_place_and_the_valid_keys() {
        let err = parse("from = \"scratch\"\nwrokdir = \"/app\"\n").unwrap_err();
        assert_eq!((err.line(), err.column()), (2, 1));
        assert!(err.message().contains("unknown field `wrokdir`"), "{err}");
        assert!(err.message().contains("`workdir`"), "{err}");
    }

    #[test]
    fn wrong_types_are_reported_where_they_are() {
        let err = parse("from = \"scratch\"\ncmd = \"python app.py\"\n").unwrap_err();
        assert_eq!(err.line(), 2);
        assert!(err.message().contains("no shell"), "{err}");

        let err = parse("from = 3\n").unwrap_err();
        assert_eq!(err.line(), 1);
        assert!(err.message().contains("invalid type"), "{err}");
    }

    #[test]
    fn copy_takes_one_source_or_many() {
        let m =
            parse("from = \"scratch\"\n[[copy]]\nsrc = [\"a\", \"b\"]\ndest = \"/x/\"\n").unwrap();
        assert_eq!(m.copies[0].sources.len(), 2);
        let err = parse("from = \"scratch\"\n[[copy]]\nsrc = 1\ndest = \"/x/\"\n").unwrap_err();
        assert!(err.message().contains("array of paths"), "{err}");
    }

    #[test]
    fn bad_limits_and_bases_are_refused() {
        let err = parse("from = \"scratch\"\n[limits]\nmemory = \"lots\"\n").unwrap_err();
        assert_eq!(err.line(), 3);
        assert!(err.message().contains("limits.memory"), "{err}");
        let err = parse("from = \"Not A Ref\"\n").unwrap_err();
        assert!(err.message().contains("invalid reference format"), "{err}");
        let err = parse("from = \"scratch\"\n[limits]\nfuel = -1\n").unwrap_err();
        assert!(err.message().contains("positive"), "{err}");
    }

    #[test]
    fn zero_limits_are_kept_to_say_no_limit() {
        let m = parse("from = \"scratch\"\n[limits]\nmemory = \"0\"\ntimeout = \"0s\"\nfuel = 0\n")
            .unwrap();
        assert_eq!(
            m.limits,
            Limits {
                memory: Some(0),
                timeout: Some(Duration::ZERO),
                fuel: Some(0),
            }
        );
    }

    #[test]
    fn python_requirements_are_named_in_their_own_table() {
        let m = parse("from = \"python:3.12\"\n[python]\nrequirements = \"requirements.txt\"\n")
            .unwrap();
        assert_eq!(m.python_requirements.unwrap().get_ref(), "requirements.txt");
        let err = parse("from = \"python:3.12\"\n[python]\nrequirement = \"r.txt\"\n").unwrap_err();
        assert!(err.message().contains("`requirements`"), "{err}");
    }

    #[test]
    fn a_launch_convention_is_parsed_and_checked_where_it_is_written() {
        let m = parse(
            "from = \"scratch\"\n[launch]\ninit = [\"_initialize\"]\nentry = \"run\"\nanswer = { \"host::call\" = -1 }\n",
        )
        .unwrap();
        let launch = m.launch.unwrap();
        assert_eq!(launch.init, ["_initialize"]);
        assert_eq!(launch.entry, "run");
        assert_eq!(launch.answer_for("host", "call"), Some(-1));

        let err = parse("from = \"scratch\"\n[launch]\nentry = \"run\"\nanswer = { call = 1 }\n")
            .unwrap_err();
        assert_eq!(err.line(), 2, "{err}");
        assert!(err.message().contains("module::name"), "{err}");
        let err = parse("from = \"scratch\"\n[launch]\ninit = []\n").unwrap_err();
        assert!(err.message().contains("entry"), "{err}");
        let err = parse("from = \"scratch\"\n[launch]\nentry = \"run\"\nstack = 1\n").unwrap_err();
        assert!(err.message().contains("stack"), "{err}");
    }

    #[test]
    fn a_snapshot_names_what_to_preload() {
        let m =
            parse("from = \"python:3.15-sci\"\n[snapshot]\npreload = [\"pandas\", \"numpy\"]\n")
                .unwrap();
        assert_eq!(m.snapshot.unwrap().get_ref(), &["pandas", "numpy"]);
        let err = parse("from = \"scratch\"\n[snapshot]\npreload = []\n").unwrap_err();
        assert_eq!(err.line(), 3, "{err}");
        assert!(err.message().contains("at least one"), "{err}");
    }

    #[test]
    fn a_dockerfile_is_said_to_be_one_without_a_position() {
        let text = "FROM python:3.12\nCOPY app.py .\n";
        for path in ["Dockerfile", "wharf.toml"] {
            let err = Manifest::parse(text, Path::new(path)).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("{path}: this is a Dockerfile: {READS_WHARF_TOML}")
            );
        }
        // By name, whatever its first line.
        let err = parse_at("workdir /app\n", "api.Dockerfile");
        assert!(err.message().contains("this is a Dockerfile"), "{err}");
        let err = parse_at("workdir /app\n", "wharf.toml");
        assert!(err.message().contains("expected `=`"), "{err}");
    }

    fn parse_at(text: &str, path: &str) -> ManifestError {
        Manifest::parse(text, Path::new(path)).unwrap_err()
    }

    #[test]
    fn missing_from_is_an_error() {
        let err = parse("workdir = \"/app\"\n").unwrap_err();
        assert!(err.message().contains("missing field `from`"), "{err}");
    }
}
