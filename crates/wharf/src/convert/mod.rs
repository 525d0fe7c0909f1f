//! Translates a Dockerfile into a `wharf.toml` (`wharf convert`).
//!
//! [`convert`] reads the Dockerfile with BuildKit's grammar (the
//! `parse-dockerfile` crate), translates the stage Docker would build, and
//! returns the manifest's text with a [`Note`] for everything worth saying:
//! a base image mapped to wharf's (`python:3.11-slim` is `python:3.12`
//! here), a shell-form command split into words, and every instruction that
//! has no meaning for WebAssembly (`RUN apt-get`, `USER`…), which the
//! manifest keeps as a comment.
//!
//! ```
//! let dockerfile = "FROM python:3.11-slim\nWORKDIR /app\nCOPY app.py .\nCMD [\"python\", \"app.py\"]\n";
//! let conversion = wharf::convert::convert(dockerfile, &Default::default()).unwrap();
//! assert!(conversion.is_complete());
//! assert!(conversion.manifest.contains("from = \"python:3.12\""));
//! assert_eq!(conversion.notes[0].line, Some(1));
//! ```
//!
//! What each instruction becomes, and the table of base images, are in
//! docs/docker.md ("Migrating a Dockerfile").

mod bases;
mod pip;
mod render;
mod shell;
mod words;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use parse_dockerfile::{Command, Flag, Instruction, Source, UnescapedString};

use crate::guest_path;
use render::{Copy, Draft, Keyed, Left};

/// What [`convert`] is told besides the Dockerfile.
#[derive(Clone, Debug, Default)]
pub struct ConvertOptions {
    /// Values for the Dockerfile's `ARG`s, which replace their defaults, as
    /// `docker build --build-arg NAME=VALUE` does. One that no translated
    /// `ARG` declares gets a warning, as Docker gives.
    pub build_args: BTreeMap<String, String>,
    /// The stage to translate, as `docker build --target`; by default the
    /// last, which is what `docker build` builds.
    pub target: Option<String>,
    /// The build context (the Dockerfile's directory, usually), if it can be
    /// read: the requirements files that `RUN pip install -r` names are read
    /// there (numpy or pandas among them suggests `python:3.15-sci`), and
    /// COPY sources that are missing get a warning.
    pub context: Option<PathBuf>,
}

/// How much a [`Note`] matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Translated; this says how (a base image mapped, a shell-form
    /// command split into words) or what wharf does instead (`EXPOSE`).
    Note,
    /// Translated or left out, and the image may behave differently in a
    /// way that rarely matters (`USER`, `--chown`, `HEALTHCHECK`).
    Warning,
    /// Could not be translated: the image lacks something the Docker image
    /// has (a `RUN` step, a command that needs a shell, a Linux base).
    Unsupported,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Unsupported => "unsupported",
        })
    }
}

/// Something the conversion says about the Dockerfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The Dockerfile line (1-based) of the instruction it is about; `None`
    /// for what concerns no line (an unused `--build-arg`).
    pub line: Option<usize>,
    /// How much it matters.
    pub severity: Severity,
    /// One sentence: what happened and what to do.
    pub message: String,
}

/// The result of [`convert`].
#[derive(Clone, Debug)]
pub struct Conversion {
    /// The `wharf.toml` text: valid for [`crate::manifest::Manifest::parse`],
    /// commented where the translation differs from the Dockerfile, with the
    /// instructions it could not translate as comments at the top.
    pub manifest: String,
    /// What the conversion says, in the Dockerfile's order (notes that
    /// concern no line last).
    pub notes: Vec<Note>,
}

impl Conversion {
    /// Whether everything was translated: no note is
    /// [`Severity::Unsupported`].
    pub fn is_complete(&self) -> bool {
        self.notes
            .iter()
            .all(|note| note.severity != Severity::Unsupported)
    }
}

/// Why a Dockerfile could not be converted at all.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// Not a Dockerfile Docker would read: BuildKit's message, and the line.
    #[error("{message}")]
    Parse {
        /// The line (1-based), when the error has one.
        line: Option<usize>,
        /// What is wrong, and a guess at what was meant for a misspelt
        /// instruction.
        message: String,
    },
    /// [`ConvertOptions::target`] names no stage.
    #[error("the Dockerfile has no stage named `{target}` (its stages: {stages})")]
    NoSuchStage {
        /// The name asked for.
        target: String,
        /// The stages' names.
        stages: String,
    },
}

impl ConvertError {
    /// The Dockerfile line the error is on, if it is on one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConvertError::Parse { line, .. } => *line,
            ConvertError::NoSuchStage { .. } => None,
        }
    }
}

/// The instructions of a Dockerfile.
const INSTRUCTIONS: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Distributions that `python:3.12` cannot install (no pure-Python wheel)
/// and `python:3.15-sci` has compiled in.
const SCIENTIFIC: [&str; 7] = [
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "statsmodels",
    "matplotlib",
    "sklearn",
];

/// Translates `dockerfile` (its text) into a `wharf.toml`.
///
/// Translates the stage `docker build` would build (the last, or
/// [`ConvertOptions::target`]), on top of the stages it is built `FROM`;
/// other stages are build stages, which wharf does not run (a note says
/// so). `ARG`s and variables are replaced where Docker replaces them.
///
/// Errors: a Dockerfile Docker would not read (an unknown instruction, no
/// `FROM`, an unclosed quote in JSON…), with its line; a target stage that
/// does not exist. Anything else is translated or reported in
/// [`Conversion::notes`].
pub fn convert(dockerfile: &str, options: &ConvertOptions) -> Result<Conversion, ConvertError> {
    // Spans count from after a byte-order mark; lines do not change.
    let text = dockerfile.strip_prefix('\u{feff}').unwrap_or(dockerfile);
    let parsed = parse_dockerfile::parse(text).map_err(|e| parse_error(&e))?;
    let escape = parsed
        .parser_directives
        .escape
        .as_ref()
        .map_or('\\', |directive| directive.value.value);
    let mut translator = Translator::new(text, escape, options);
    for arg in parsed.global_args() {
        translator.current = translator.source_of(arg.arg.span.start, arg.arguments.span.end);
        translator.arg(&arg.arguments, true);
    }

    let stages: Vec<_> = parsed.stages().collect();
    let names: Vec<Option<String>> = stages
        .iter()
        .map(|stage| {
            stage
                .from
                .as_
                .as_ref()
                .map(|(_, name)| name.value.to_lowercase())
        })
        .collect();
    let last = match &options.target {
        Some(target) => names
            .iter()
            .position(|name| name.as_deref() == Some(&target.to_lowercase()))
            .ok_or_else(|| ConvertError::NoSuchStage {
                target: target.clone(),
                stages: {
                    let named: Vec<&str> = names.iter().flatten().map(String::as_str).collect();
                    if named.is_empty() {
                        "none is named".to_owned()
                    } else {
                        named.join(", ")
                    }
                },
            })?,
        None => stages.len() - 1,
    };
    // The target and the stages it is built FROM, root first.
    let mut chain = vec![last];
    let mut child = last;
    while let Some(parent) = {
        let image = translator.base_image(stages[child].from).to_lowercase();
        names[..child]
            .iter()
            .rposition(|name| name.as_deref() == Some(image.as_str()))
    } {
        chain.push(parent);
        child = parent;
    }
    chain.reverse();

    for (index, stage) in stages.iter().enumerate() {
        if chain.contains(&index) {
            continue;
        }
        let from = stage.from;
        let line = translator.line_of(from.from.span.start);
        let end = stage
            .instructions
            .last()
            .and_then(|i| extent(i))
            .map_or(line, |end| translator.line_of(end));
        translator.current = translator.source_of(
            from.from.span.start,
            from.as_
                .as_ref()
                .map_or(from.image.span.end, |(_, name)| name.span.end),
        );
        let name = names[index]
            .as_ref()
            .map_or_else(|| index.to_string(), |n| format!("`{n}`"));
        translator.leave(
            Severity::Note,
            format!(
                "stage {name} (lines {line}-{end}) is a build stage, which wharf does not run: build what it makes outside (compiled to a .wasm, say) and COPY it from the build context"
            ),
        );
    }

    for (position, index) in chain.iter().enumerate() {
        let stage = &stages[*index];
        translator.stage_start();
        translator.current = translator.source_of(
            stage.from.from.span.start,
            stage
                .from
                .as_
                .as_ref()
                .map_or(stage.from.image.span.end, |(_, name)| name.span.end),
        );
        if position == 0 {
            translator.base(stage.from);
        }
        if !stage.from.options.is_empty() {
            translator.say(
                Severity::Note,
                "`FROM --platform` is left out: a wharf image is for the platform wasi/wasm"
                    .to_owned(),
            );
        }
        for instruction in stage.instructions {
            translator.instruction(instruction);
        }
    }
    Ok(translator.finish())
}

/// A parse error with its line, and what a misspelt instruction may be.
fn parse_error(error: &parse_dockerfile::Error) -> ConvertError {
    let line = (error.line() > 0).then(|| error.line());
    let mut message = format!("{error:#}");
    if let Some(word) = message
        .strip_prefix("unknown instruction '")
        .and_then(|rest| rest.strip_suffix('\''))
    {
        let upper = word.to_ascii_uppercase();
        let closest = INSTRUCTIONS
            .iter()
            .map(|known| (strsim::levenshtein(known, &upper), known))
            .min();
        message = match closest {
            Some((distance, known)) if distance <= 2 => {
                format!("unknown instruction `{word}` (did you mean {known}?)")
            }
            _ => format!(
                "unknown instruction `{word}`: a Dockerfile line starts with one of {}",
                INSTRUCTIONS.join(", ")
            ),
        };
    }
    ConvertError::Parse { line, message }
}

/// Where an instruction's text ends (its last part), when the parser says.
fn extent(instruction: &Instruction<'_>) -> Option<usize> {
    fn command(command: &Command<'_>) -> usize {
        match command {
            Command::Exec(args) => args.span.end,
            Command::Shell(text) => text.span.end,
            _ => 0,
        }
    }
    fn last(strings: &[UnescapedString<'_>]) -> Option<usize> {
        strings.last().map(|s| s.span.end)
    }
    fn sources(sources: &[Source<'_>], dest: &UnescapedString<'_>) -> usize {
        sources
            .iter()
            .map(|source| match source {
                Source::Path(path) => path.span.end,
                Source::HereDoc(doc) => doc.span.end,
                _ => 0,
            })
            .max()
            .unwrap_or(0)
            .max(dest.span.end)
    }
    Some(match instruction {
        Instruction::Add(i) => sources(&i.src, &i.dest),
        Instruction::Arg(i) => i.arguments.span.end,
        Instruction::Cmd(i) => command(&i.arguments),
        Instruction::Copy(i) => sources(&i.src, &i.dest),
        Instruction::Entrypoint(i) => command(&i.arguments),
        Instruction::Env(i) => i.arguments.span.end,
        Instruction::Expose(i) => last(&i.arguments)?,
        Instruction::From(i) => i
            .as_
            .as_ref()
            .map_or(i.image.span.end, |(_, name)| name.span.end),
        Instruction::Healthcheck(i) => match &i.arguments {
            parse_dockerfile::HealthcheckArguments::Cmd { arguments, .. } => command(arguments),
            parse_dockerfile::HealthcheckArguments::None { none, .. } => none.span.end,
            _ => i.healthcheck.span.end,
        },
        Instruction::Label(i) => i.arguments.span.end,
        Instruction::Maintainer(i) => i.name.span.end,
        Instruction::Onbuild(i) => extent(&i.instruction)?,
        Instruction::Run(i) => i
            .here_docs
            .iter()
            .map(|doc| doc.span.end)
            .max()
            .unwrap_or(0)
            .max(command(&i.arguments)),
        Instruction::Shell(i) => last(&i.arguments)?,
        Instruction::Stopsignal(i) => i.arguments.span.end,
        Instruction::User(i) => i.arguments.span.end,
        Instruction::Volume(i) => match &i.arguments {
            parse_dockerfile::JsonOrStringArray::Json(args) => args.span.end,
            parse_dockerfile::JsonOrStringArray::String(args) => last(args)?,
        },
        Instruction::Workdir(i) => i.arguments.span.end,
        _ => return None,
    })
}

/// Where an instruction starts (its keyword).
fn start(instruction: &Instruction<'_>) -> Option<usize> {
    Some(match instruction {
        Instruction::Add(i) => i.add.span.start,
        Instruction::Arg(i) => i.arg.span.start,
        Instruction::Cmd(i) => i.cmd.span.start,
        Instruction::Copy(i) => i.copy.span.start,
        Instruction::Entrypoint(i) => i.entrypoint.span.start,
        Instruction::Env(i) => i.env.span.start,
        Instruction::Expose(i) => i.expose.span.start,
        Instruction::From(i) => i.from.span.start,
        Instruction::Healthcheck(i) => i.healthcheck.span.start,
        Instruction::Label(i) => i.label.span.start,
        Instruction::Maintainer(i) => i.maintainer.span.start,
        Instruction::Onbuild(i) => i.onbuild.span.start,
        Instruction::Run(i) => i.run.span.start,
        Instruction::Shell(i) => i.shell.span.start,
        Instruction::Stopsignal(i) => i.stopsignal.span.start,
        Instruction::User(i) => i.user.span.start,
        Instruction::Volume(i) => i.volume.span.start,
        Instruction::Workdir(i) => i.workdir.span.start,
        _ => return None,
    })
}

/// The instruction being translated: its line and text.
#[derive(Clone, Debug, Default)]
struct Current {
    line: usize,
    source: String,
}

/// Where a COPY put something of the context, to find the requirements
/// file a later `RUN pip install -r` names.
#[derive(Debug)]
struct Placed {
    image: String,
    context: String,
    dir: bool,
}

/// Which of CMD and ENTRYPOINT.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Cmd,
    Entrypoint,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Cmd => "CMD",
            Which::Entrypoint => "ENTRYPOINT",
        }
    }
}

struct Translator<'t> {
    text: &'t str,
    escape: char,
    options: &'t ConvertOptions,
    current: Current,
    notes: Vec<Note>,
    draft: Draft,
    /// The base is a wharf Python image.
    python: bool,
    base_env: &'static [(&'static str, &'static str)],
    /// The working directory so far (the bases' is `/`).
    workdir: String,
    global_args: BTreeMap<String, Option<String>>,
    args: BTreeMap<String, Option<String>>,
    used_build_args: BTreeSet<String>,
    /// CMD was set in the stage being translated (ENTRYPOINT keeps it).
    cmd_in_stage: bool,
    cmd_line: Option<usize>,
    entrypoint_line: Option<usize>,
    shell_entrypoint: bool,
    /// The working directory of each `[[copy]]` when it was written, for
    /// relative destinations.
    copy_workdirs: Vec<(String, usize)>,
    placed: Vec<Placed>,
    requirements_line: usize,
    /// Packages named by `pip install` or a requirements file, with the
    /// line that named them.
    packages: Vec<(usize, String)>,
}

impl<'t> Translator<'t> {
    fn new(text: &'t str, escape: char, options: &'t ConvertOptions) -> Self {
        Self {
            text,
            escape,
            options,
            current: Current::default(),
            notes: Vec::new(),
            draft: Draft::default(),
            python: false,
            base_env: &[],
            workdir: "/".to_owned(),
            global_args: BTreeMap::new(),
            args: BTreeMap::new(),
            used_build_args: BTreeSet::new(),
            cmd_in_stage: false,
            cmd_line: None,
            entrypoint_line: None,
            shell_entrypoint: false,
            copy_workdirs: Vec::new(),
            placed: Vec::new(),
            requirements_line: 0,
            packages: Vec::new(),
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.text.as_bytes()[..offset.min(self.text.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// The instruction from `start` to the end of the line `end` is on
    /// (spans are taken as hints: a few of the parser's can fall inside a
    /// character).
    fn source_of(&self, start: usize, end: usize) -> Current {
        let end = self.text.ceil_char_boundary(end.max(start));
        let start = self.text.floor_char_boundary(start.min(end));
        let end = self.text[end..]
            .find('\n')
            .map_or(self.text.len(), |at| end + at);
        Current {
            line: self.line_of(start),
            source: self.text[start.min(end)..end].trim_end().to_owned(),
        }
    }

    /// A note on the current instruction.
    fn say(&mut self, severity: Severity, message: String) {
        self.notes.push(Note {
            line: Some(self.current.line),
            severity,
            message,
        });
    }

    /// A note on the current instruction, which the manifest keeps as a
    /// comment.
    fn leave(&mut self, severity: Severity, message: String) {
        let left = self
            .draft
            .left
            .entry(self.current.line)
            .or_insert_with(|| Left {
                source: self.current.source.clone(),
                reasons: Vec::new(),
            });
        left.reasons.push((severity, message.clone()));
        self.say(severity, message);
    }

    fn lookup(&self, name: &str) -> Option<String> {
        if let Some((_, value)) = self.draft.env.iter().rev().find(|(k, _)| k == name) {
            return Some(value.clone());
        }
        if let Some((_, value)) = self.base_env.iter().find(|(k, _)| *k == name) {
            return Some((*value).to_owned());
        }
        self.args.get(name).cloned().flatten()
    }

    /// Docker's processing of one word of the current instruction, with the
    /// stage's variables; a variable without a value is warned about.
    fn expand(&mut self, word: &str) -> Result<String, String> {
        let word = words::process(word, self.escape, &|name| self.lookup(name))?;
        self.warn_unset(&word.unset);
        Ok(word.text)
    }

    fn warn_unset(&mut self, names: &[String]) {
        for name in names {
            let message = format!(
                "`${name}` has no value here, so it is replaced by nothing, as Docker does (give it one with ARG {name}=… or --build-arg {name}=…)"
            );
            let line = Some(self.current.line);
            if !self
                .notes
                .iter()
                .any(|n| n.line == line && n.message == message)
            {
                self.say(Severity::Warning, message);
            }
        }
    }

    /// The image a stage is built FROM, with the global ARGs replaced.
    fn base_image(&self, from: &parse_dockerfile::FromInstruction<'_>) -> String {
        let globals = |name: &str| self.global_value(name);
        match words::process(&from.image.value, self.escape, &globals) {
            Ok(word) => word.text,
            Err(_) => from.image.value.to_string(),
        }
    }

    /// A global ARG's value, or one Docker predefines for FROM lines.
    fn global_value(&self, name: &str) -> Option<String> {
        if let Some(value) = self.global_args.get(name) {
            return value.clone();
        }
        predefined(name)
    }

    fn stage_start(&mut self) {
        self.args.clear();
        self.cmd_in_stage = false;
    }

    /// The root stage's FROM: the wharf base.
    fn base(&mut self, from: &parse_dockerfile::FromInstruction<'_>) {
        let image = {
            let globals = |name: &str| self.global_value(name);
            words::process(&from.image.value, self.escape, &globals)
        };
        let image = match image {
            Ok(word) => {
                self.warn_unset(&word.unset);
                word.text
            }
            Err(why) => {
                self.leave(Severity::Unsupported, format!("FROM: {why}"));
                self.draft.from = Keyed::new("scratch".to_owned());
                return;
            }
        };
        match bases::map(&image) {
            bases::Mapped::Base {
                from,
                message,
                warning,
            } => {
                self.draft.from = Keyed::new(from.to_owned());
                if let Some(message) = message {
                    self.draft
                        .from
                        .comments
                        .push(format!("Line {}: {message}.", self.current.line));
                    let severity = if warning {
                        Severity::Warning
                    } else {
                        Severity::Note
                    };
                    self.say(severity, message);
                }
                self.python = from != "scratch";
                self.base_env = bases::environment(from);
            }
            bases::Mapped::Unsupported(why) => {
                self.draft.from = Keyed::new("scratch".to_owned());
                self.draft.from.comments.push(format!(
                    "Line {}: FROM {image} has no WebAssembly equivalent; `scratch` stands in for it.",
                    self.current.line
                ));
                self.leave(Severity::Unsupported, why);
            }
        }
    }

    fn instruction(&mut self, instruction: &Instruction<'_>) {
        let (Some(start), Some(end)) = (start(instruction), extent(instruction)) else {
            return;
        };
        self.current = self.source_of(start, end);
        match instruction {
            Instruction::Arg(i) => self.arg(&i.arguments, false),
            Instruction::Env(i) => self.env(&i.arguments),
            Instruction::Label(i) => self.label(&i.arguments),
            Instruction::Maintainer(i) => {
                self.draft.labels.retain(|(k, _)| k != "maintainer");
                self.draft.labels.push(("maintainer".into(), i.name.value.to_string()));
                self.say(
                    Severity::Note,
                    "MAINTAINER (deprecated in Docker) becomes the label `maintainer`, as Docker advises".into(),
                );
            }
            Instruction::Workdir(i) => self.workdir(&i.arguments),
            Instruction::Copy(i) => self.copy("COPY", &i.options, &i.src, &i.dest),
            Instruction::Add(i) => self.copy("ADD", &i.options, &i.src, &i.dest),
            Instruction::Cmd(i) => self.command(Which::Cmd, &i.arguments),
            Instruction::Entrypoint(i) => self.command(Which::Entrypoint, &i.arguments),
            Instruction::Run(i) => self.run(i),
            Instruction::Expose(i) => self.expose(&i.arguments),
            Instruction::Volume(i) => self.volume(&i.arguments),
            Instruction::User(_) => self.leave(
                Severity::Warning,
                "USER is left out: the sandbox has no users, and a guest reaches only what a run grants it (the image, read-only; its own /tmp; `-v` mounts)".into(),
            ),
            Instruction::Healthcheck(_) => self.leave(
                Severity::Warning,
                "HEALTHCHECK is left out: wharf has no health checks (a run is the program's one call, and `wharf serve` starts a fresh sandbox for each request)".into(),
            ),
            Instruction::Stopsignal(_) => self.leave(
                Severity::Warning,
                "STOPSIGNAL is left out: WASI has no signals, and Ctrl-C or SIGTERM ends a guest at once".into(),
            ),
            Instruction::Shell(_) => self.leave(
                Severity::Warning,
                "SHELL is left out: there is no shell in the sandbox (shell-form commands are split into words, or reported)".into(),
            ),
            Instruction::Onbuild(_) => self.leave(
                Severity::Warning,
                "ONBUILD is left out: wharf has no build triggers; put the instruction in the manifests of the images built on this one".into(),
            ),
            Instruction::From(_) => {}
            _ => self.leave(
                Severity::Unsupported,
                "this instruction is not translated".into(),
            ),
        }
    }

    fn arg(&mut self, arguments: &UnescapedString<'_>, global: bool) {
        for word in words::split(&arguments.value, self.escape) {
            let (name, default) = match word.split_once('=') {
                Some((name, default)) => (name.to_owned(), Some(default.to_owned())),
                None => (word.clone(), None),
            };
            let default = match default {
                Some(default) => {
                    let processed = if global {
                        let globals = |name: &str| self.global_value(name);
                        words::process(&default, self.escape, &globals).map(|w| (w.text, w.unset))
                    } else {
                        words::process(&default, self.escape, &|name| self.lookup(name))
                            .map(|w| (w.text, w.unset))
                    };
                    match processed {
                        Ok((text, unset)) => {
                            self.warn_unset(&unset);
                            Some(text)
                        }
                        Err(why) => {
                            self.leave(Severity::Unsupported, format!("ARG {name}: {why}"));
                            None
                        }
                    }
                }
                None => None,
            };
            let value = match self.options.build_args.get(&name) {
                Some(value) => {
                    self.used_build_args.insert(name.clone());
                    Some(value.clone())
                }
                None if default.is_some() => default,
                None if global => predefined(&name),
                None => self
                    .global_args
                    .get(&name)
                    .cloned()
                    .flatten()
                    .or_else(|| predefined(&name)),
            };
            if global {
                self.global_args.insert(name, value);
            } else {
                self.args.insert(name, value);
            }
        }
    }

    /// `NAME=VALUE…` (or the legacy `NAME VALUE`) of ENV and LABEL, with
    /// names and values processed; what cannot be read is left, with why.
    fn pairs(&mut self, what: &str, arguments: &str) -> Option<Vec<(String, String)>> {
        let words = words::split(arguments, self.escape);
        let raw: Vec<(String, String)> = match words.first() {
            None => return None,
            Some(first) if !first.contains('=') => {
                let trimmed = arguments.trim();
                match trimmed.split_once(char::is_whitespace) {
                    Some((name, value)) => vec![(name.to_owned(), value.trim_start().to_owned())],
                    None => {
                        self.leave(
                            Severity::Unsupported,
                            format!("{what} {trimmed} has no value: write {what} {trimmed}=VALUE"),
                        );
                        return None;
                    }
                }
            }
            Some(_) => {
                let mut pairs = Vec::new();
                for word in &words {
                    match word.split_once('=') {
                        Some((name, value)) => pairs.push((name.to_owned(), value.to_owned())),
                        None => {
                            self.leave(
                                Severity::Unsupported,
                                format!("`{word}` is not NAME=VALUE, which Docker stops at"),
                            );
                            return None;
                        }
                    }
                }
                pairs
            }
        };
        let mut pairs = Vec::new();
        let mut failed = None;
        for (name, value) in raw {
            match (self.expand(&name), self.expand(&value)) {
                (Ok(name), Ok(value)) if !name.is_empty() => pairs.push((name, value)),
                (Ok(_), Ok(_)) => failed = Some(format!("{what} has an empty name")),
                (Err(why), _) | (_, Err(why)) => failed = Some(format!("{what} {name}: {why}")),
            }
        }
        if let Some(why) = failed {
            self.leave(Severity::Unsupported, why);
            return None;
        }
        Some(pairs)
    }

    fn env(&mut self, arguments: &UnescapedString<'_>) {
        let Some(pairs) = self.pairs("ENV", &arguments.value) else {
            return;
        };
        for (name, value) in pairs {
            if name.contains(['=', '\0']) {
                self.leave(
                    Severity::Unsupported,
                    format!(
                        "ENV: `{name}` cannot be a variable's name (it has `=` or a NUL in it)"
                    ),
                );
                continue;
            }
            self.draft.env.retain(|(k, _)| *k != name);
            self.draft.env.push((name, value));
        }
    }

    fn label(&mut self, arguments: &UnescapedString<'_>) {
        let Some(pairs) = self.pairs("LABEL", &arguments.value) else {
            return;
        };
        for (name, value) in pairs {
            self.draft.labels.retain(|(k, _)| *k != name);
            self.draft.labels.push((name, value));
        }
    }

    fn workdir(&mut self, arguments: &UnescapedString<'_>) {
        match self.expand(&arguments.value) {
            Ok(dir) if !dir.trim().is_empty() => {
                self.workdir = guest_path::resolve(&self.workdir, &dir);
                self.draft.workdir = Some(Keyed::new(self.workdir.clone()));
            }
            Ok(_) => self.leave(
                Severity::Unsupported,
                "WORKDIR is empty once its variables are replaced".into(),
            ),
            Err(why) => self.leave(Severity::Unsupported, format!("WORKDIR: {why}")),
        }
    }

    fn copy(
        &mut self,
        kind: &str,
        options: &[Flag<'_>],
        sources: &[Source<'_>],
        dest: &UnescapedString<'_>,
    ) {
        let mut unsupported = Vec::new();
        let mut remarks = Vec::new();
        for flag in options {
            let value = flag.value.as_ref().map_or("", |v| v.value.as_ref());
            match flag.name.value.as_ref() {
                "from" => unsupported.push(format!(
                    "{kind} --from={value} copies out of another stage or image, which wharf does not build: build it outside, then COPY the result from the build context"
                )),
                "chown" | "chmod" => remarks.push(format!(
                    "{kind} --{} has no meaning in wharf, and is left out: the sandbox has no users and the image is read-only (files are stored 0644, directories 0755)",
                    flag.name.value
                )),
                "exclude" => unsupported.push(format!(
                    "{kind} --exclude={value} is not translated: add the pattern to .wharfignore (which then applies to every copy)"
                )),
                "parents" => unsupported.push(format!(
                    "{kind} --parents is not translated: copy each directory to its place"
                )),
                "link" | "checksum" | "keep-git-dir" => {}
                other => remarks.push(format!("{kind} --{other} is left out")),
            }
        }
        let mut paths = Vec::new();
        for source in sources {
            let Source::Path(path) = source else {
                unsupported.push(format!(
                    "{kind} of a here-document is not translated: write the file into the build context and COPY it"
                ));
                continue;
            };
            match self.expand(&path.value) {
                Ok(path) if path.trim().is_empty() => {
                    unsupported.push(format!("{kind} has an empty source"));
                }
                Ok(path) => {
                    if kind == "ADD"
                        && let Some(why) = add_problem(&path)
                    {
                        unsupported.push(why);
                        continue;
                    }
                    paths.push(path);
                }
                Err(why) => unsupported.push(format!("{kind}: {why}")),
            }
        }
        let dest = match self.expand(&dest.value) {
            Ok(dest) if !dest.trim().is_empty() => dest,
            Ok(_) => {
                unsupported.push(format!("{kind} has an empty destination"));
                String::new()
            }
            Err(why) => {
                unsupported.push(format!("{kind}: {why}"));
                String::new()
            }
        };
        if !unsupported.is_empty() || paths.is_empty() {
            if unsupported.is_empty() {
                unsupported.push(format!("{kind} has nothing left to copy"));
            }
            for why in unsupported {
                self.leave(Severity::Unsupported, why);
            }
            for remark in remarks {
                self.say(Severity::Warning, remark);
            }
            return;
        }
        self.missing_sources(kind, &paths);
        self.place(&paths, &dest);
        let mut copy = Keyed::new(Copy {
            sources: paths,
            dest,
        });
        for remark in remarks {
            copy.comments
                .push(format!("Line {}: {remark}.", self.current.line));
            self.say(Severity::Warning, remark);
        }
        self.draft.copies.push(copy);
        self.copy_workdirs
            .push((self.workdir.clone(), self.current.line));
    }

    /// Warns about sources the build context lacks (when it can be read).
    fn missing_sources(&mut self, kind: &str, paths: &[String]) {
        let Some(context) = self.options.context.clone() else {
            return;
        };
        for path in paths {
            if path.contains(['*', '?', '[']) {
                continue;
            }
            if !context_path(&context, path).exists() {
                self.say(
                    Severity::Warning,
                    format!(
                        "{kind} source `{path}` is not in the build context ({}), where `wharf build` will look for it",
                        context.display()
                    ),
                );
            }
        }
    }

    /// Records where the sources land in the image.
    fn place(&mut self, paths: &[String], dest: &str) {
        let target = guest_path::resolve(&self.workdir, dest);
        let into_dir = dest.ends_with('/')
            || dest == "."
            || dest.ends_with("/.")
            || paths.len() > 1
            || self.placed.iter().any(|p| p.dir && p.image == target);
        for path in paths {
            if path.contains(['*', '?', '[']) {
                continue;
            }
            let context = guest_path::relative(&guest_path::resolve("/", path)).to_owned();
            let dir = path.ends_with('/')
                || context.is_empty()
                || self
                    .options
                    .context
                    .as_ref()
                    .is_some_and(|root| context_path(root, &context).is_dir());
            let image = if dir || !into_dir {
                target.clone()
            } else {
                guest_path::resolve(&target, guest_path::file_name(&context))
            };
            self.placed.push(Placed {
                image,
                context,
                dir,
            });
        }
    }

    fn command(&mut self, which: Which, arguments: &Command<'_>) {
        let line = self.current.line;
        let previous = match which {
            Which::Cmd => self.cmd_line.replace(line),
            Which::Entrypoint => self.entrypoint_line.replace(line),
        };
        if let Some(previous) = previous {
            self.say(
                Severity::Note,
                format!(
                    "this {} replaces the one on line {previous}: only the last counts, as in Docker",
                    which.name()
                ),
            );
        }
        match which {
            Which::Cmd => {
                self.cmd_in_stage = true;
                self.draft.cmd = None;
            }
            Which::Entrypoint => {
                // Docker drops the CMD an ENTRYPOINT inherits.
                if !self.cmd_in_stage {
                    self.draft.cmd = None;
                    self.cmd_line = None;
                }
                self.draft.entrypoint = None;
                self.shell_entrypoint = matches!(form(arguments), Some(Form::Shell(_)));
            }
        }
        let Some((words, comment)) = self.command_words(which, arguments) else {
            return;
        };
        let mut keyed = Keyed::new(words);
        keyed.comments.extend(comment);
        match which {
            Which::Cmd => self.draft.cmd = Some(keyed),
            Which::Entrypoint => self.draft.entrypoint = Some(keyed),
        }
    }

    /// The words of a CMD or ENTRYPOINT, with a comment for the manifest
    /// when they differ from what was written; `None` (and a note) when it
    /// needs a shell.
    fn command_words(
        &mut self,
        which: Which,
        arguments: &Command<'_>,
    ) -> Option<(Vec<String>, Option<String>)> {
        let name = which.name();
        let line = self.current.line;
        let Some(form) = form(arguments) else {
            self.leave(
                Severity::Unsupported,
                format!("this form of {name} is not translated"),
            );
            return None;
        };
        let (mut words, mut comment) = match form {
            Form::Exec(words) => match words.as_slice() {
                [shell, flag, script] if is_shell(shell) && flag == "-c" => {
                    let split = self.shell_words(name, script)?;
                    let message = format!(
                        "{name} runs `{script}` through {shell}, and there is no shell in the sandbox: it is split into words instead"
                    );
                    self.say(Severity::Note, message.clone());
                    (split, Some(format!("Line {line}: {message}.")))
                }
                [shell, ..] if is_shell(shell) => {
                    self.leave(
                            Severity::Unsupported,
                            format!("{name} runs the shell `{shell}`, and there is no shell in the sandbox: write the program itself, in exec form"),
                        );
                    return None;
                }
                _ => (words, None),
            },
            Form::Shell(raw) => {
                let text = words::join_lines(raw, self.escape);
                if text.starts_with('[') {
                    self.leave(
                        Severity::Unsupported,
                        format!("{name} {text} is not valid JSON (the exec form needs double quotes), so Docker would run it as a shell command line: write it as [\"program\", \"argument\"]"),
                    );
                    return None;
                }
                let script = text
                    .strip_prefix("exec ")
                    .map_or(text.as_str(), str::trim_start);
                let split = self.shell_words(name, script)?;
                let after = if which == Which::Entrypoint {
                    " (as exec form, it is given the CMD and `wharf run` arguments, which a shell-form ENTRYPOINT ignores)"
                } else {
                    ""
                };
                let message = format!(
                    "{name} {text} is in shell form, and there is no shell in the sandbox: it is split into the words [{}]{after}",
                    split
                        .iter()
                        .map(|word| serde_json::Value::from(word.as_str()).to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                self.say(Severity::Note, message);
                (
                    split,
                    Some(format!(
                        "Line {line}: {name} {text} is in shell form, split into words: there is no shell in the sandbox."
                    )),
                )
            }
        };
        // Docker's Python images have `python3.11`; wharf's have 3.12.
        if self.python
            && let Some(program) = words.first_mut()
        {
            let base = program.rsplit('/').next().unwrap_or(program);
            let numbered = base.strip_prefix("python3.").is_some_and(|minor| {
                !minor.is_empty() && minor.chars().all(|c| c.is_ascii_digit())
            });
            let available = match self.draft.from.value.as_str() {
                bases::PYTHON => "python3.12",
                _ => "python3.15",
            };
            if numbered && base != available {
                let renamed = format!("{}python3", &program[..program.len() - base.len()]);
                let message = format!(
                    "`{program}` becomes `{renamed}`: the base's Python is {}",
                    &available["python".len()..]
                );
                self.say(Severity::Note, message.clone());
                comment = Some(format!("Line {line}: {message}."));
                *program = renamed;
            }
        }
        Some((words, comment))
    }

    /// A shell command line split into words, or `None` after saying why
    /// it needs a shell.
    fn shell_words(&mut self, name: &str, script: &str) -> Option<Vec<String>> {
        match shell::words(script) {
            Ok(words) => Some(words),
            Err(why) => {
                self.leave(
                    Severity::Unsupported,
                    format!(
                        "{name} `{script}`: {why}, and there is no shell in the sandbox: write it in exec form, one program and its arguments ({name} [\"python\", \"app.py\"]), and move the rest into the program"
                    ),
                );
                None
            }
        }
    }

    fn run(&mut self, run: &parse_dockerfile::RunInstruction<'_>) {
        if !run.here_docs.is_empty() {
            self.leave(
                Severity::Unsupported,
                "RUN with a here-document runs a script at build time, which wharf does not do: run it before `wharf build` and COPY what it makes".into(),
            );
            return;
        }
        let commands: Vec<(String, Option<Vec<String>>)> = match form(&run.arguments) {
            Some(Form::Exec(words)) => vec![(words.join(" "), Some(words))],
            None => vec![(self.current.source.clone(), None)],
            Some(Form::Shell(raw)) => shell::sequence(&words::join_lines(raw, self.escape))
                .into_iter()
                .map(|command| {
                    let words = shell::words(&command).ok();
                    (command, words)
                })
                .collect(),
        };
        let mut untranslated = Vec::new();
        for (command, words) in commands {
            let step = words.as_deref().map_or(pip::Step::Other, pip::step);
            match step {
                pip::Step::Install {
                    files,
                    packages,
                    options,
                } => self.pip_install(&command, files, packages, options),
                pip::Step::UpgradePip => self.say(
                    Severity::Note,
                    format!("`{command}` is left out: wharf runs pip on the host, at build time"),
                ),
                pip::Step::Compile => self.say(
                    Severity::Note,
                    format!("`{command}` is left out: `wharf build` compiles every .py it adds to bytecode"),
                ),
                pip::Step::Nothing => {}
                pip::Step::Other => untranslated.push((command, words)),
            }
        }
        if untranslated.is_empty() {
            return;
        }
        let system = untranslated.iter().any(|(_, words)| {
            words
                .as_ref()
                .and_then(|w| w.first())
                .is_some_and(|program| {
                    ["apt-get", "apt", "apk", "yum", "dnf", "microdnf", "zypper"]
                        .contains(&program.rsplit('/').next().unwrap_or(program))
                })
        });
        let listed: Vec<String> = untranslated.iter().map(|(c, _)| format!("`{c}`")).collect();
        let message = if system {
            format!(
                "RUN {}: system packages are native Linux programs, which WebAssembly cannot run; what the app needs must come compiled to WebAssembly, in the base image or the build context",
                listed.join(", ")
            )
        } else {
            format!(
                "RUN {}: wharf runs nothing at build time but pip for `[python] requirements`; run it before `wharf build` and COPY what it makes",
                listed.join(", ")
            )
        };
        self.leave(Severity::Unsupported, message);
    }

    fn pip_install(
        &mut self,
        command: &str,
        files: Vec<String>,
        packages: Vec<String>,
        options: Vec<String>,
    ) {
        if !self.python {
            self.leave(
                Severity::Unsupported,
                format!(
                    "`{command}` needs a Python base (FROM python:…), which the image does not have"
                ),
            );
            return;
        }
        let (editable, options): (Vec<String>, Vec<String>) = options
            .into_iter()
            .partition(|o| o.starts_with("-e") || o.starts_with("--editable"));
        for option in editable {
            self.leave(
                Severity::Unsupported,
                format!("pip {option} installs a local project, which `[python] requirements` does not: COPY its source into the image instead"),
            );
        }
        let (local, named): (Vec<String>, Vec<String>) = packages.into_iter().partition(|p| {
            p.starts_with('.')
                || p.starts_with('/')
                || p.ends_with(".whl")
                || p.ends_with(".tar.gz")
        });
        if !local.is_empty() {
            self.leave(
                Severity::Unsupported,
                format!("pip install {} installs local files, which `[python] requirements` does not: COPY them into the image instead", local.join(" ")),
            );
        }
        let line = self.current.line;
        let mut files = files.into_iter();
        if let Some(file) = files.next() {
            let path = self.requirements_path(&file);
            match &self.draft.requirements {
                None if path.is_empty() => self.leave(
                    Severity::Unsupported,
                    format!("pip install -r {file} names no file of the build context"),
                ),
                None => {
                    self.read_requirements(&path);
                    self.draft.requirements = Some(Keyed::new(path));
                    self.requirements_line = line;
                }
                Some(first) => {
                    let first = first.value.clone();
                    self.leave(
                        Severity::Unsupported,
                        format!("a manifest installs one requirements file: add the line `-r {path}` to {first}"),
                    );
                }
            }
        }
        for file in files {
            let path = self.requirements_path(&file);
            let first = self
                .draft
                .requirements
                .as_ref()
                .map_or_else(String::new, |r| r.value.clone());
            self.leave(
                Severity::Unsupported,
                format!(
                    "a manifest installs one requirements file: add the line `-r {path}` to {first}"
                ),
            );
        }
        if !named.is_empty() {
            let into = match &self.draft.requirements {
                Some(file) => format!("add them to {} (one a line)", file.value),
                None => "write them into a requirements.txt (one a line) and set `[python] requirements = \"requirements.txt\"`".to_owned(),
            };
            self.leave(
                Severity::Unsupported,
                format!(
                    "pip install {}: a manifest names a requirements file, not packages: {into}",
                    named.join(" ")
                ),
            );
            for package in named {
                self.packages.push((line, package));
            }
        }
        if !options.is_empty() {
            let message = format!(
                "pip {} is left out: write it on a line of the requirements file, where pip reads it",
                options.join(" ")
            );
            match &mut self.draft.requirements {
                Some(requirements) => {
                    requirements
                        .comments
                        .push(format!("Line {line}: {message}."));
                    self.say(Severity::Warning, message);
                }
                None => self.leave(Severity::Warning, message),
            }
        }
    }

    /// The build-context path of the requirements file a RUN at the
    /// current working directory names: where a COPY took it from.
    fn requirements_path(&mut self, file: &str) -> String {
        let in_image = guest_path::resolve(&self.workdir, file);
        for placed in self.placed.iter().rev() {
            if placed.dir && guest_path::is_within(&in_image, &placed.image) {
                let below = in_image[placed.image.len()..].trim_start_matches('/');
                let path = guest_path::resolve("/", &format!("{}/{below}", placed.context));
                return guest_path::relative(&path).to_owned();
            }
            if !placed.dir && placed.image == in_image {
                return placed.context.clone();
            }
        }
        let path = guest_path::relative(&guest_path::resolve("/", file)).to_owned();
        self.say(
            Severity::Warning,
            format!("`{file}` was not copied into the image before this RUN: wharf reads `[python] requirements` from the build context, as `{path}`"),
        );
        path
    }

    /// Notes the packages a requirements file in the context names.
    fn read_requirements(&mut self, path: &str) {
        let Some(context) = self.options.context.clone() else {
            return;
        };
        match std::fs::read_to_string(context_path(&context, path)) {
            Ok(text) => {
                for (_, requirement) in crate::build::pip::requirement_lines(&text) {
                    let name = crate::build::pip::project_name(&requirement).to_owned();
                    self.packages.push((self.current.line, name));
                }
            }
            Err(e) => self.say(
                Severity::Warning,
                format!(
                    "cannot read `{path}` in the build context ({}): {e}; `wharf build` needs it",
                    context.display()
                ),
            ),
        }
    }

    fn expose(&mut self, ports: &[UnescapedString<'_>]) {
        let mut expanded = Vec::new();
        for port in ports {
            match self.expand(&port.value) {
                Ok(port) => expanded.push(port),
                Err(why) => {
                    self.leave(Severity::Unsupported, format!("EXPOSE: {why}"));
                    return;
                }
            }
        }
        let port = expanded
            .first()
            .map_or("8080", |p| p.split('/').next().unwrap_or(p));
        self.leave(
            Severity::Note,
            format!(
                "EXPOSE is left out: an image publishes no ports; `wharf serve -p {port} IMAGE` answers HTTP on the port you choose, starting the app for each request"
            ),
        );
    }

    fn volume(&mut self, arguments: &parse_dockerfile::JsonOrStringArray<'_, 1>) {
        let paths = match arguments {
            parse_dockerfile::JsonOrStringArray::Json(args) => &args.value[..],
            parse_dockerfile::JsonOrStringArray::String(args) => &args[..],
        };
        let path = match paths.first().map(|p| self.expand(&p.value)) {
            Some(Ok(path)) => path,
            Some(Err(why)) => {
                self.leave(Severity::Unsupported, format!("VOLUME: {why}"));
                return;
            }
            None => "/data".to_owned(),
        };
        self.leave(
            Severity::Note,
            format!(
                "VOLUME is left out: an image declares no volumes; mount a host directory when it runs, `wharf run -v HOST_DIR:{path} IMAGE` (`:ro` for read-only); without one the app can write only to /tmp"
            ),
        );
    }

    /// What depends on the whole Dockerfile, then the manifest.
    fn finish(mut self) -> Conversion {
        if self.shell_entrypoint
            && self.draft.entrypoint.is_some()
            && let (Some(_), Some(cmd_line)) = (&self.draft.cmd, self.cmd_line)
        {
            self.draft.cmd = None;
            self.notes.push(Note {
                line: Some(cmd_line),
                severity: Severity::Warning,
                message: "this CMD is left out: Docker ignores it after a shell-form ENTRYPOINT"
                    .into(),
            });
        }
        self.check_program();
        self.suggest_sci();
        for name in self.options.build_args.keys() {
            if !self.used_build_args.contains(name) {
                self.notes.push(Note {
                    line: None,
                    severity: Severity::Warning,
                    message: format!(
                        "--build-arg {name} was not used: no ARG of the translated stages declares it"
                    ),
                });
            }
        }
        // Relative destinations resolve against the final working
        // directory in the manifest, and against the one of their time in
        // the Dockerfile.
        let last = self.workdir.clone();
        for (copy, (workdir, line)) in self.draft.copies.iter_mut().zip(&self.copy_workdirs) {
            let dest = &copy.value.dest;
            if dest.starts_with('/') || *workdir == last {
                continue;
            }
            let mut absolute = guest_path::resolve(workdir, dest);
            let as_dir = dest.ends_with('/') || dest == "." || dest.ends_with("/.") || dest == "..";
            if as_dir && !absolute.ends_with('/') {
                absolute.push('/');
            }
            copy.comments.push(format!(
                "Line {line}: `{dest}` was relative to WORKDIR {workdir}, and is written as the absolute {absolute}."
            ));
            copy.value.dest = absolute;
        }
        self.notes
            .sort_by_key(|note| note.line.unwrap_or(usize::MAX));
        Conversion {
            manifest: self.draft.render(),
            notes: self.notes,
        }
    }

    /// On a Python base, a program that is not Python is not in the image.
    fn check_program(&mut self) {
        if !self.python {
            return;
        }
        let (program, line) = match (&self.draft.entrypoint, &self.draft.cmd) {
            (Some(entrypoint), _) => (entrypoint.value.first(), self.entrypoint_line),
            (None, Some(cmd)) => (cmd.value.first(), self.cmd_line),
            (None, None) => return,
        };
        let Some(program) = program.cloned() else {
            return;
        };
        if pip::is_python(&program) || program.ends_with(".wasm") {
            return;
        }
        let name = program.rsplit('/').next().unwrap_or(&program);
        self.notes.push(Note {
            line,
            severity: Severity::Warning,
            message: format!(
                "`{program}` must be a WebAssembly program in the image: on a Python base, the scripts pip installs are not (run a module as `python -m {name}`)"
            ),
        });
    }

    /// numpy and friends need python:3.15-sci.
    fn suggest_sci(&mut self) {
        if self.draft.from.value != bases::PYTHON {
            return;
        }
        let mut line = None;
        let mut list: Vec<String> = Vec::new();
        for (at, package) in &self.packages {
            let name = crate::build::pip::project_name(package)
                .to_ascii_lowercase()
                .replace('_', "-");
            if SCIENTIFIC.contains(&name.as_str()) && !list.contains(&name) {
                line.get_or_insert(*at);
                list.push(name);
            }
        }
        let Some(line) = line else {
            return;
        };
        let message = format!(
            "{} {} native code, which `{}` cannot install (pure-Python wheels only): `{}` has numpy, pandas, scipy, scikit-learn and matplotlib compiled in; use from = \"{}\"",
            list.join(", "),
            if list.len() == 1 { "needs" } else { "need" },
            bases::PYTHON,
            bases::PYTHON_SCI,
            bases::PYTHON_SCI
        );
        self.draft
            .from
            .comments
            .push(format!("Line {line}: {message}."));
        self.notes.push(Note {
            line: Some(line),
            severity: Severity::Warning,
            message,
        });
    }
}

/// Gives the build context the ignore rules of a Dockerfile's: BuildKit
/// reads `NAME.dockerignore` beside a Dockerfile named `NAME` if there is
/// one, else `.dockerignore` in the context; wharf reads `.wharfignore`,
/// which has the same syntax ([`crate::ignore`]).
///
/// With `write`, copies the Docker file to `context/.wharfignore` when
/// there is none (an existing one is never replaced). Returns a note that
/// says what was done, or what to do; `None` when there is no
/// `.dockerignore`, or `.wharfignore` has the same text already. Errors are
/// those of reading and writing the files.
pub fn adopt_dockerignore(
    context: &Path,
    dockerfile: &Path,
    write: bool,
) -> std::io::Result<Option<Note>> {
    let own = dockerfile.file_name().map(|name| {
        let mut name = name.to_owned();
        name.push(".dockerignore");
        dockerfile.with_file_name(name)
    });
    let source = match own.filter(|path| path.is_file()) {
        Some(path) => path,
        None => context.join(".dockerignore"),
    };
    let rules = match std::fs::read(&source) {
        Ok(rules) => rules,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let name = source
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let target = context.join(crate::ignore::IGNORE_FILE);
    let note = |severity, message| {
        Some(Note {
            line: None,
            severity,
            message,
        })
    };
    match std::fs::read(&target) {
        Ok(existing) if existing == rules => return Ok(None),
        Ok(_) => {
            return Ok(note(
                Severity::Warning,
                format!(
                    "{name} is not copied to .wharfignore, which exists already and is what wharf reads: merge them by hand (the syntax is the same)"
                ),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if !write {
        return Ok(note(
            Severity::Note,
            format!(
                "wharf reads .wharfignore, not {name}: copy it to .wharfignore (the syntax is the same)"
            ),
        ));
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)?;
    std::io::Write::write_all(&mut file, &rules)?;
    Ok(note(
        Severity::Note,
        format!("wrote .wharfignore, a copy of {name}: wharf reads the same patterns from there"),
    ))
}

/// The values Docker gives the platform ARGs: a wharf image's platform is
/// wasi/wasm, and the build's is this machine's.
fn predefined(name: &str) -> Option<String> {
    let build_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    Some(match name {
        "TARGETPLATFORM" => "wasi/wasm".into(),
        "TARGETOS" => "wasi".into(),
        "TARGETARCH" => "wasm".into(),
        "TARGETVARIANT" | "BUILDVARIANT" => String::new(),
        "BUILDPLATFORM" => format!("{}/{build_arch}", std::env::consts::OS),
        "BUILDOS" => std::env::consts::OS.into(),
        "BUILDARCH" => build_arch.into(),
        _ => return None,
    })
}

/// Why ADD of `source` cannot be a `[[copy]]`: a download, or an archive
/// that ADD would unpack.
fn add_problem(source: &str) -> Option<String> {
    let lower = source.to_ascii_lowercase();
    if ["http://", "https://", "git@", "git://", "ssh://"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
    {
        return Some(format!(
            "ADD {source} downloads at build time, and wharf builds from the build context only: download it there and COPY it"
        ));
    }
    let archive = [
        ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tzst",
    ];
    if archive.iter().any(|ext| lower.ends_with(ext)) {
        return Some(format!(
            "ADD {source} unpacks the archive, and wharf copies files as they are: unpack it into the build context and COPY the directory"
        ));
    }
    None
}

/// The exec or shell form of a CMD, ENTRYPOINT or RUN.
enum Form<'a> {
    Exec(Vec<String>),
    Shell(&'a str),
}

fn form<'a>(command: &Command<'a>) -> Option<Form<'a>> {
    match command {
        Command::Exec(args) => Some(Form::Exec(
            args.value.iter().map(|a| a.value.to_string()).collect(),
        )),
        Command::Shell(text) => Some(Form::Shell(text.value)),
        _ => None,
    }
}

fn is_shell(program: &str) -> bool {
    let name = program.rsplit('/').next().unwrap_or(program);
    ["sh", "bash", "ash", "dash", "zsh", "ksh"].contains(&name)
}

/// A `/`-separated path of the build context on the host.
fn context_path(context: &Path, path: &str) -> PathBuf {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .fold(context.to_owned(), |dir, part| dir.join(part))
}

#[cfg(test)]
mod tests;
