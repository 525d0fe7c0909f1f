//! The module that implements the `wharf init` command: a new app's
//! `wharf.toml` and `.wharfignore`, and with `--template` a hello app to
//! start from, as `cargo new` and `docker init` start projects.
//!
//! The templates are the files under `crates/wharf-cli/templates/` (the
//! Rust one's `Cargo.toml` as `Cargo.toml.in`), with `{{name}}` (the image
//! name), `{{crate}}` (the Rust package name) and `{{entry}}` (the Python
//! file the image runs) filled in.
//!
//! Without `--template`, init packages the Python app a directory holds
//! (its `app.py` or `main.py`): Python apps are what wharf's base images
//! run. In a directory with nothing in it yet (dot-files aside), it writes
//! the python template, so that `wharf init` alone gives an app that
//! builds and runs. A directory with files but no such entry point is
//! refused: wharf cannot tell what the image should run.
//!
//! Nothing is ever overwritten: when any file init would write exists, it
//! writes nothing and names them. `docker init` asks before overwriting;
//! init asks nothing, so it refuses.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::exit;

/// Start an app: write a wharf.toml and a .wharfignore in DIR, and with
/// --template a hello app to start from.
#[derive(Debug, Args)]
pub struct InitCommand {
    /// Start from a hello app in this language. Without it, init packages
    /// the Python app in DIR (its app.py or main.py), or writes the python
    /// template when DIR is empty.
    #[arg(long, value_enum, value_name = "LANGUAGE")]
    template: Option<Template>,

    /// The app's directory, created if missing.
    #[arg(value_name = "DIR", default_value = ".", value_hint = clap::ValueHint::DirPath)]
    dir: PathBuf,
}

/// The hello apps `--template` starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Template {
    /// app.py on python:3.12, with a requirements.txt.
    Python,
    /// hello.c and a Makefile that compiles it with clang for WASI.
    C,
    /// Cargo.toml and src/main.rs, built for wasm32-wasip1 with cargo.
    Rust,
}

/// A file of a template: its path (`/`-separated) and its text.
type TemplateFile = (&'static str, &'static str);

/// A template file, read from `templates/DIR/PATH`, or from another name
/// under `templates/DIR`.
macro_rules! template_file {
    ($dir:literal, $path:literal) => {
        template_file!($dir, $path, $path)
    };
    ($dir:literal, $path:literal, $source:literal) => {
        (
            $path,
            include_str!(concat!("../../templates/", $dir, "/", $source)),
        )
    };
}

const PYTHON: &[TemplateFile] = &[
    template_file!("python", "wharf.toml"),
    template_file!("python", ".wharfignore"),
    template_file!("python", "app.py"),
    template_file!("python", "requirements.txt"),
];

const C: &[TemplateFile] = &[
    template_file!("c", "wharf.toml"),
    template_file!("c", ".wharfignore"),
    template_file!("c", "hello.c"),
    template_file!("c", "Makefile"),
];

const RUST: &[TemplateFile] = &[
    template_file!("rust", "wharf.toml"),
    template_file!("rust", ".wharfignore"),
    // Not named Cargo.toml in the source tree: Cargo would take the
    // directory for a package of its own and leave it out of wharf-cli's.
    template_file!("rust", "Cargo.toml", "Cargo.toml.in"),
    template_file!("rust", "src/main.rs"),
];

/// The Python file the python template runs.
const PYTHON_ENTRY: &str = "app.py";
/// The files init looks for, in this order, as a Python app's entry point.
const PYTHON_ENTRIES: [&str; 2] = [PYTHON_ENTRY, "main.py"];
/// The requirements file the python template's manifest names.
const REQUIREMENTS: &str = "requirements.txt";
/// Blocks of the python manifest that packaging an app already in a
/// directory leaves commented out: the template's own variable, and the
/// requirements when the directory has no requirements.txt.
const ENV_BLOCK: &str = "[env]\nAPP_ENV = \"production\"\n";
const REQUIREMENTS_BLOCK: &str = "[python]\nrequirements = \"requirements.txt\"\n";

/// The name an image gets when its directory's name gives none.
const FALLBACK_NAME: &str = "app";

impl Template {
    fn files(self) -> &'static [TemplateFile] {
        match self {
            Template::Python => PYTHON,
            Template::C => C,
            Template::Rust => RUST,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Template::Python => "python",
            Template::C => "c",
            Template::Rust => "rust",
        }
    }
}

/// What init writes into a directory.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// A template's files, all of them.
    Template(Template),
    /// The python manifest and ignore file for the app already there,
    /// which runs `entry` and installs requirements.txt if there is one.
    Existing {
        entry: &'static str,
        requirements: bool,
    },
}

/// The names a plan gives the app: the image's, and the Rust package's.
struct Names {
    image: String,
    package: String,
}

impl InitCommand {
    pub fn execute(self) -> i32 {
        match self.init() {
            Ok(()) => 0,
            Err(message) => {
                super::style::error(message);
                exit::WHARF_ERROR
            }
        }
    }

    fn init(&self) -> Result<(), String> {
        let dir = &self.dir;
        let shown = place(dir);
        if dir.exists() && !dir.is_dir() {
            return Err(format!(
                "{shown} is not a directory: name a directory for the app (it is created if missing)"
            ));
        }
        let created = !dir.exists();
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {shown}: {e}"))?;
        let names = names_for(dir);

        // The files of a plan without a template are the manifest and the
        // ignore file, whatever is found: refuse to overwrite them first.
        let wanted: Vec<&str> = match self.template {
            Some(template) => template.files().iter().map(|(path, _)| *path).collect(),
            None => PYTHON[..2].iter().map(|(path, _)| *path).collect(),
        };
        let existing: Vec<&str> = wanted
            .into_iter()
            .filter(|path| native(dir, path).symlink_metadata().is_ok())
            .collect();
        if !existing.is_empty() {
            return Err(format!(
                "{shown} has {} already: wharf init writes nothing rather than overwrite a file (move {} away, or init another directory)",
                existing.join(", "),
                if existing.len() == 1 { "it" } else { "them" }
            ));
        }

        let plan = match self.template {
            Some(template) => Plan::Template(template),
            None => detect(dir).map_err(|e| format!("cannot read {shown}: {e}"))?.ok_or_else(|| {
                format!(
                    "{shown} has files but no app.py or main.py: wharf init cannot tell what the image should run\n  \
                     name the app's main Python file app.py or main.py, or start from a template: wharf init --template python|c|rust {}",
                    shell_word(dir.as_os_str())
                )
            })?,
        };
        let files = render(&plan, &names);
        write_all(dir, &files).map_err(|e| format!("{e} (in {shown})"))?;
        let how = How {
            created,
            bare: self.template.is_none(),
        };
        print_summary(&plan, &files, dir, &names, how);
        Ok(())
    }
}

/// What to package in `dir` without a template: its Python app, or the
/// python template when `dir` has nothing but dot-files; `None` when it
/// has files and no entry point.
fn detect(dir: &Path) -> std::io::Result<Option<Plan>> {
    if let Some(entry) = PYTHON_ENTRIES.into_iter().find(|e| dir.join(e).is_file()) {
        return Ok(Some(Plan::Existing {
            entry,
            requirements: dir.join(REQUIREMENTS).is_file(),
        }));
    }
    for entry in std::fs::read_dir(dir)? {
        if !entry?.file_name().to_string_lossy().starts_with('.') {
            return Ok(None);
        }
    }
    Ok(Some(Plan::Template(Template::Python)))
}

/// The image name from the directory's own name (`My App` gives `my-app`),
/// and a Rust package name from that.
fn names_for(dir: &Path) -> Names {
    let resolved = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let image = resolved
        .file_name()
        .and_then(|name| wharf::reference::repository_name_from(&name.to_string_lossy()))
        .unwrap_or_else(|| FALLBACK_NAME.to_owned());
    Names {
        package: package_name(&image),
        image,
    }
}

/// A Cargo package name from an image name: Cargo takes letters, digits,
/// `-` and `_`, and no digit first.
fn package_name(image: &str) -> String {
    let name = image.replace('.', "-");
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("{FALLBACK_NAME}-{name}")
    } else {
        name
    }
}

/// The files a plan writes, with the names filled in.
fn render(plan: &Plan, names: &Names) -> Vec<(&'static str, String)> {
    let fill = |text: &str, entry: &str| {
        text.replace("{{name}}", &names.image)
            .replace("{{crate}}", &names.package)
            .replace("{{entry}}", entry)
    };
    match *plan {
        Plan::Template(template) => template
            .files()
            .iter()
            .map(|(path, text)| (*path, fill(text, PYTHON_ENTRY)))
            .collect(),
        Plan::Existing {
            entry,
            requirements,
        } => PYTHON[..2]
            .iter()
            .map(|(path, text)| {
                let mut text = fill(text, entry);
                let mut blocks = vec![ENV_BLOCK];
                if !requirements {
                    blocks.push(REQUIREMENTS_BLOCK);
                }
                for block in blocks {
                    text = text.replace(block, &comment_out(block));
                }
                (*path, text)
            })
            .collect(),
    }
}

/// Every line of `block` as a comment.
fn comment_out(block: &str) -> String {
    block.lines().map(|line| format!("# {line}\n")).collect()
}

/// A template path (`src/main.rs`) under `dir`, with this system's
/// separators.
fn native(dir: &Path, path: &str) -> PathBuf {
    path.split('/').fold(dir.to_owned(), |p, part| p.join(part))
}

/// Writes each file, never over an existing one (even one made since
/// init looked).
fn write_all(dir: &Path, files: &[(&str, String)]) -> Result<(), String> {
    for (path, text) in files {
        let target = native(dir, path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create the directory of {path}: {e}"))?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    Ok(())
}

/// How init came to write what it wrote.
struct How {
    /// The directory did not exist.
    created: bool,
    /// No `--template` was given.
    bare: bool,
}

/// Says what was written and the commands that come next.
fn print_summary(plan: &Plan, files: &[(&str, String)], dir: &Path, names: &Names, how: How) {
    let here = dir == Path::new(".");
    let shown = shell_word(dir.as_os_str());
    let place = place(dir);
    let mut next = Vec::new();
    match plan {
        Plan::Existing {
            entry,
            requirements,
        } => {
            println!(
                "Wrote wharf.toml and .wharfignore in {place} for its Python app: the image runs `python {entry}`{}.",
                if *requirements {
                    ", with the packages requirements.txt names"
                } else {
                    ""
                }
            );
            println!("Every key is explained in wharf.toml; edit it to taste.");
        }
        Plan::Template(template) => {
            let label = template.name();
            match (how.created, how.bare) {
                (true, _) => println!("Created {place} with the {label} template's hello app:"),
                (false, false) => println!("Wrote the {label} template's hello app in {place}:"),
                (false, true) => {
                    println!("Wrote the {label} template's hello app in {place}, which was empty:")
                }
            }
            for (path, _) in files {
                println!("  {path}");
            }
            if how.bare {
                println!("(--template c or --template rust start a C or Rust app instead)");
            }
            match template {
                Template::Python => {}
                Template::C if here => next.push("make".to_owned()),
                Template::C => next.push(format!("make -C {shown}")),
                Template::Rust => next.push(format!(
                    "cargo build{} --release --target wasm32-wasip1",
                    if here {
                        String::new()
                    } else {
                        format!(
                            " --manifest-path {}",
                            shell_word(dir.join("Cargo.toml").as_os_str())
                        )
                    }
                )),
            }
        }
    }
    next.push(format!("wharf build -t {} {shown}", names.image));
    next.push(format!("wharf run {}", names.image));
    println!();
    println!("Next:");
    for command in next {
        println!("  {command}");
    }
}

/// The directory as messages name it.
fn place(dir: &Path) -> String {
    if dir == Path::new(".") {
        "the current directory".to_owned()
    } else {
        shell_word(dir.as_os_str())
    }
}

/// `text` as one word of a POSIX shell command line: as it is when that is
/// safe, else in single quotes.
fn shell_word(text: &OsStr) -> String {
    let text = text.to_string_lossy();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c));
    if plain {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf::manifest::{Base, Manifest};

    fn names() -> Names {
        Names {
            image: "my-app".to_owned(),
            package: "my-app".to_owned(),
        }
    }

    fn manifest_of(files: &[(&str, String)]) -> Manifest {
        let (_, text) = files
            .iter()
            .find(|(path, _)| *path == "wharf.toml")
            .expect("every plan writes a wharf.toml");
        Manifest::parse(text, Path::new("wharf.toml"))
            .unwrap_or_else(|e| panic!("the manifest does not parse: {e}\n{text}"))
    }

    fn plans() -> Vec<Plan> {
        vec![
            Plan::Template(Template::Python),
            Plan::Template(Template::C),
            Plan::Template(Template::Rust),
            Plan::Existing {
                entry: "main.py",
                requirements: true,
            },
            Plan::Existing {
                entry: "app.py",
                requirements: false,
            },
        ]
    }

    #[test]
    fn every_template_manifest_parses_and_names_what_it_runs() {
        for template in [Template::Python, Template::C, Template::Rust] {
            let files = render(&Plan::Template(template), &names());
            let manifest = manifest_of(&files);
            let paths: Vec<&str> = files.iter().map(|(path, _)| *path).collect();
            assert!(paths.contains(&".wharfignore"), "{template:?}");
            let sources: Vec<&str> = manifest
                .copies
                .iter()
                .flat_map(|c| c.sources.iter().map(|s| s.get_ref().as_str()))
                .collect();
            match template {
                Template::Python => {
                    assert_eq!(manifest.base, Base::Image("python:3.12".parse().unwrap()));
                    assert_eq!(
                        manifest.cmd.as_deref(),
                        Some(&["python".into(), "app.py".into()][..])
                    );
                    assert!(paths.contains(&"app.py") && paths.contains(&"requirements.txt"));
                    assert_eq!(
                        manifest
                            .python_requirements
                            .as_ref()
                            .map(|r| r.get_ref().as_str()),
                        Some("requirements.txt")
                    );
                    assert_eq!(sources, ["."]);
                }
                Template::C => {
                    assert_eq!(manifest.base, Base::Scratch);
                    assert_eq!(sources, ["hello.wasm"]);
                    let (_, makefile) = files.iter().find(|(p, _)| *p == "Makefile").unwrap();
                    assert!(makefile.contains("hello.wasm: hello.c"), "{makefile}");
                    assert!(makefile.contains("--target=wasm32-wasi -O2"), "{makefile}");
                }
                Template::Rust => {
                    assert_eq!(manifest.base, Base::Scratch);
                    assert_eq!(sources, ["target/wasm32-wasip1/release/my-app.wasm"]);
                    assert_eq!(manifest.entrypoint.as_deref(), Some(&["my-app".into()][..]));
                    let (_, cargo) = files.iter().find(|(p, _)| *p == "Cargo.toml").unwrap();
                    assert!(cargo.contains("name = \"my-app\""), "{cargo}");
                }
            }
        }
    }

    #[test]
    fn packaging_an_app_comments_out_what_it_does_not_have() {
        let files = render(
            &Plan::Existing {
                entry: "main.py",
                requirements: false,
            },
            &names(),
        );
        assert_eq!(
            files.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            ["wharf.toml", ".wharfignore"]
        );
        let manifest = manifest_of(&files);
        assert_eq!(
            manifest.cmd.as_deref(),
            Some(&["python".into(), "main.py".into()][..])
        );
        assert!(manifest.env.is_empty(), "{:?}", manifest.env);
        assert!(manifest.python_requirements.is_none());

        let files = render(
            &Plan::Existing {
                entry: "app.py",
                requirements: true,
            },
            &names(),
        );
        let manifest = manifest_of(&files);
        assert!(manifest.python_requirements.is_some());
        assert!(manifest.env.is_empty());
    }

    /// The examples the manifests leave commented out are valid too: with
    /// every commented key and table header uncommented, they still parse.
    #[test]
    fn commented_examples_parse_when_uncommented() {
        let setting = |line: &str| {
            let line = line.trim_end();
            (line.starts_with('[') && line.ends_with(']'))
                || line.split_once(" = ").is_some_and(|(key, _)| {
                    !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                })
        };
        for plan in plans() {
            let files = render(&plan, &names());
            let (_, text) = files.iter().find(|(p, _)| *p == "wharf.toml").unwrap();
            let mut uncommented = 0;
            let text: String = text
                .lines()
                .map(|line| match line.strip_prefix("# ") {
                    Some(rest) if setting(rest) => {
                        uncommented += 1;
                        format!("{rest}\n")
                    }
                    _ => format!("{line}\n"),
                })
                .collect();
            Manifest::parse(&text, Path::new("wharf.toml"))
                .unwrap_or_else(|e| panic!("{plan:?}, uncommented: {e}\n{text}"));
            if matches!(
                plan,
                Plan::Template(Template::Python) | Plan::Existing { .. }
            ) {
                assert!(uncommented >= 6, "{plan:?}: {uncommented}");
            }
        }
    }

    #[test]
    fn no_placeholder_is_left() {
        for plan in plans() {
            for (path, text) in render(&plan, &names()) {
                assert!(
                    !text.contains("{{"),
                    "{plan:?}: {path} keeps a placeholder:\n{text}"
                );
            }
        }
    }

    #[test]
    fn package_names_are_what_cargo_takes() {
        assert_eq!(package_name("my-app"), "my-app");
        assert_eq!(package_name("web_2.0"), "web_2-0");
        assert_eq!(package_name("2024"), "app-2024");
    }

    #[test]
    fn paths_are_quoted_for_the_shell_when_they_must_be() {
        assert_eq!(shell_word(OsStr::new("apps/hello")), "apps/hello");
        assert_eq!(shell_word(OsStr::new("My App")), "'My App'");
        assert_eq!(shell_word(OsStr::new("it's")), r"'it'\''s'");
    }
}
