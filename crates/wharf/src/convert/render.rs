//! Writes the translated manifest as TOML, with comments where the
//! translation differs from the Dockerfile and for what it left out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::Severity;

/// A manifest key with the comment lines written above it.
#[derive(Debug, Default)]
pub(super) struct Keyed<T> {
    pub value: T,
    pub comments: Vec<String>,
}

impl<T> Keyed<T> {
    pub fn new(value: T) -> Self {
        Self {
            value,
            comments: Vec::new(),
        }
    }
}

/// One `[[copy]]`.
#[derive(Debug)]
pub(super) struct Copy {
    pub sources: Vec<String>,
    pub dest: String,
}

/// An instruction that was not translated: its text as written, and why.
#[derive(Debug, Default)]
pub(super) struct Left {
    pub source: String,
    pub reasons: Vec<(Severity, String)>,
}

/// The manifest as the translation builds it.
#[derive(Debug, Default)]
pub(super) struct Draft {
    pub from: Keyed<String>,
    pub workdir: Option<Keyed<String>>,
    pub entrypoint: Option<Keyed<Vec<String>>>,
    pub cmd: Option<Keyed<Vec<String>>>,
    pub env: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub requirements: Option<Keyed<String>>,
    pub copies: Vec<Keyed<Copy>>,
    /// By the line of the instruction.
    pub left: BTreeMap<usize, Left>,
}

impl Draft {
    /// The manifest's TOML text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        comment(
            &mut out,
            "wharf.toml, converted from a Dockerfile by `wharf convert` (\"Migrating a Dockerfile\" in wharf's docs/docker.md says how each instruction translates).",
        );
        if !self.left.is_empty() {
            out.push_str("#\n");
            comment(
                &mut out,
                "Not translated, and why (`wharf convert` said so too):",
            );
            for (line, left) in &self.left {
                for (severity, reason) in &left.reasons {
                    out.push_str("#\n");
                    comment(&mut out, &format!("Line {line}, {severity}: {reason}"));
                }
                for text in left.source.lines() {
                    out.push_str("#     ");
                    out.push_str(&clean(text));
                    out.push('\n');
                }
            }
        }
        out.push('\n');
        key(&mut out, "from", &self.from, string);
        if let Some(workdir) = &self.workdir {
            key(&mut out, "workdir", workdir, string);
        }
        if let Some(entrypoint) = &self.entrypoint {
            key(&mut out, "entrypoint", entrypoint, array);
        }
        if let Some(cmd) = &self.cmd {
            key(&mut out, "cmd", cmd, array);
        }
        table(&mut out, "env", &self.env);
        table(&mut out, "labels", &self.labels);
        if let Some(requirements) = &self.requirements {
            out.push_str("\n[python]\n");
            key(&mut out, "requirements", requirements, string);
        }
        for copy in &self.copies {
            out.push('\n');
            for line in &copy.comments {
                comment(&mut out, line);
            }
            out.push_str("[[copy]]\n");
            let sources = match copy.value.sources.as_slice() {
                [one] => string(one),
                many => array(many),
            };
            let _ = writeln!(out, "src = {sources}");
            let _ = writeln!(out, "dest = {}", string(&copy.value.dest));
        }
        out
    }
}

fn key<T: ?Sized>(
    out: &mut String,
    name: &str,
    keyed: &Keyed<impl AsRef<T>>,
    show: fn(&T) -> String,
) {
    for line in &keyed.comments {
        comment(out, line);
    }
    let _ = writeln!(out, "{name} = {}", show(keyed.value.as_ref()));
}

fn table(out: &mut String, name: &str, entries: &[(String, String)]) {
    if entries.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n[{name}]");
    for (key, value) in entries {
        let _ = writeln!(out, "{} = {}", bare_or_quoted(key), string(value));
    }
}

/// A TOML string.
fn string(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}

/// A TOML array of strings.
fn array(values: &[String]) -> String {
    let items: Vec<String> = values.iter().map(|v| string(v)).collect();
    format!("[{}]", items.join(", "))
}

/// A key, bare when TOML allows it.
fn bare_or_quoted(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { key.to_owned() } else { string(key) }
}

/// `text` as comment lines of at most about 78 columns.
fn comment(out: &mut String, text: &str) {
    let mut line = String::new();
    for word in clean(text).split(' ') {
        if !line.is_empty() && line.len() + 1 + word.len() > 76 {
            let _ = writeln!(out, "# {line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    let _ = writeln!(out, "# {}", line.trim_end());
}

/// Text that a TOML comment can hold: control characters (which TOML
/// forbids there) written as escapes, line breaks as spaces.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' => "\t".to_owned(),
            '\n' | '\r' => " ".to_owned(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}
