//! Running pip on the host for `[python] requirements`, and saying what
//! went wrong when it fails: which requirement, on which line, and why, in
//! words a person can act on.
//!
//! pip's own report of a failure is one line for four different problems
//! ("Could not find a version that satisfies the requirement X (from
//! versions: none)"). When an install fails, each requirement of the file
//! is tried on its own (`pip download --no-deps`, as verbose as pip goes,
//! with the file's index options), and what pip logs tells them apart:
//! whether it could fetch the project's index page ("Fetched page",
//! "Could not fetch URL … 404", "Could not fetch URL …: connection
//! error"), and which versions it found with a pure-Python wheel.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use super::provided::Provided;

/// The host Python that runs pip (`python3` unless `WHARF_PYTHON` says).
pub const PYTHON_ENV: &str = "WHARF_PYTHON";

/// The host's Python, as [`PYTHON_ENV`] names it.
pub fn python() -> String {
    std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".to_owned())
}

/// `python -m pip` without prompts or version checks.
pub fn pip() -> Command {
    let mut command = Command::new(python());
    command
        .args(["-m", "pip"])
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .env("PIP_ROOT_USER_ACTION", "ignore");
    command
}

/// What pip is told so that it installs only what the image can run.
pub struct Target<'a> {
    /// The image's Python version (`3.12`).
    pub version: &'a str,
    /// Wheels standing in for what the base image provides, and the
    /// constraints file that pins them.
    pub stand_ins: Option<&'a (PathBuf, PathBuf)>,
}

impl Target<'_> {
    /// Restricts `command` to pure-Python wheels for the image's Python,
    /// with the base image's own distributions standing in where it has
    /// them.
    pub fn apply(&self, command: &mut Command) {
        if let Some((wheels, constraints)) = self.stand_ins {
            command
                .arg("--find-links")
                .arg(wheels)
                .arg("--constraint")
                .arg(constraints);
        }
        command.args([
            "--only-binary=:all:",
            "--platform",
            "any",
            "--implementation",
            "py",
            "--python-version",
            self.version,
        ]);
    }
}

/// A requirement that cannot be installed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The line of the requirements file (1-based); `None` for a
    /// dependency that no line names.
    pub line: Option<usize>,
    /// The requirement as the file writes it.
    pub requirement: String,
    /// Why it cannot be installed.
    pub why: Why,
}

/// Why a requirement cannot be installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// The package index has no project of that name.
    NoSuchProject,
    /// The project has pure-Python wheels, none of a version that matches:
    /// the newest few that exist.
    NoSuchVersion(Vec<String>),
    /// The project has no pure-Python wheel: native wheels or sources only.
    NotPure,
    /// The base image provides the distribution at this version, and the
    /// requirement asks for another.
    Provided(String),
    /// The package index could not be reached: its URL and pip's reason.
    Unreachable(String),
    /// Something else: pip's last error line.
    Other(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: ", self.requirement)?,
            None => write!(f, "{} (a dependency): ", self.requirement)?,
        }
        match &self.why {
            Why::NoSuchProject => write!(f, "the package index has no project of that name"),
            Why::NoSuchVersion(newest) => write!(
                f,
                "no version that matches has a pure-Python wheel on the package index (the newest that do: {})",
                newest.join(", ")
            ),
            Why::NotPure => write!(
                f,
                "no pure-Python wheel on the package index, only native wheels or sources: WebAssembly runs Python code, not native extensions"
            ),
            Why::Provided(version) => write!(
                f,
                "the base image provides it at version {version}, and this asks for another"
            ),
            Why::Unreachable(reason) => write!(f, "cannot reach the package index: {reason}"),
            Why::Other(line) => write!(f, "{line}"),
        }
    }
}

/// A requirement line of a requirements file: its number (1-based) and
/// the requirement without comment or per-line options.
pub fn requirement_lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(at, line)| {
            let line = line.split(" #").next().unwrap_or("");
            let line = line.split(" --").next().unwrap_or("").trim();
            (!line.is_empty() && !line.starts_with('#') && !line.starts_with('-'))
                .then(|| (at + 1, line.to_owned()))
        })
        .collect()
}

/// The lines of a requirements file that tell pip where to look, which
/// every probe keeps.
fn index_options(text: &str) -> Vec<&str> {
    const OPTIONS: [&str; 8] = [
        "-i",
        "--index-url",
        "--extra-index-url",
        "-f",
        "--find-links",
        "--no-index",
        "--pre",
        "--trusted-host",
    ];
    text.lines()
        .map(str::trim)
        .filter(|line| {
            OPTIONS.iter().any(|o| {
                line == o
                    || line.starts_with(&format!("{o} "))
                    || line.starts_with(&format!("{o}="))
            })
        })
        .collect()
}

/// The distribution a requirement names (`requests` in `requests[socks]>=2`).
pub fn project_name(requirement: &str) -> &str {
    requirement
        .split(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
        .next()
        .unwrap_or(requirement)
}

/// Finds why an install of `file` failed, from pip's output of it
/// (`stderr`) and a probe of each requirement; empty when no requirement
/// on its own fails.
pub fn diagnose(
    file: &Path,
    target: &Target<'_>,
    provided: &Provided,
    stderr: &str,
    scratch: &Path,
) -> Result<Vec<Problem>> {
    let text = std::fs::read_to_string(file)?;
    let options = index_options(&text);
    let mut problems = Vec::new();
    for (line, requirement) in requirement_lines(&text) {
        if let Some(why) = probe(&requirement, &options, file, target, provided, scratch)? {
            // An index out of reach is out of reach for every line.
            let unreachable = matches!(why, Why::Unreachable(_));
            problems.push(Problem {
                line: Some(line),
                requirement,
                why,
            });
            if unreachable {
                return Ok(problems);
            }
        }
    }
    if problems.is_empty() {
        // A dependency of a requirement: pip names it.
        for name in stderr
            .lines()
            .filter_map(|l| l.split("No matching distribution found for ").nth(1))
        {
            let name = name.trim().to_owned();
            if let Some(why) = probe(&name, &options, file, target, provided, scratch)? {
                problems.push(Problem {
                    line: None,
                    requirement: name,
                    why,
                });
            }
        }
    }
    Ok(problems)
}

/// Tries to download `requirement` alone; `None` when pip can, else why not.
fn probe(
    requirement: &str,
    options: &[&str],
    file: &Path,
    target: &Target<'_>,
    provided: &Provided,
    scratch: &Path,
) -> Result<Option<Why>> {
    let probe_file = scratch.join("probe.txt");
    let mut text = options.join("\n");
    text.push('\n');
    text.push_str(requirement);
    text.push('\n');
    std::fs::write(&probe_file, text)?;
    let mut command = pip();
    command
        .args([
            "download",
            "--no-deps",
            "-vv",
            "--retries",
            "1",
            "--timeout",
            "10",
            "--dest",
        ])
        .arg(scratch.join("probe"))
        .arg("-r")
        .arg(&probe_file)
        // Relative paths in the options mean the same as in the file.
        .current_dir(file.parent().unwrap_or(Path::new(".")));
    target.apply(&mut command);
    let output = command.output()?;
    if output.status.success() {
        return Ok(None);
    }
    if let Some(version) = provided.version_of(project_name(requirement)) {
        return Ok(Some(Why::Provided(version.to_owned())));
    }
    // pip logs to stdout, and its errors to stderr.
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(Some(classify(&log)))
}

/// Why a probe failed, from what pip logged (at `-vv`).
pub fn classify(log: &str) -> Why {
    let fetched = log.lines().any(|l| l.starts_with("Fetched page "));
    let unreachable = log
        .lines()
        .filter_map(|l| l.strip_prefix("Could not fetch URL "))
        .find(|rest| !rest.contains(": 404 "))
        .map(|rest| rest.trim_end_matches(" - skipping").to_owned());
    let versions = log
        .lines()
        .find_map(|l| l.split("(from versions: ").nth(1))
        .map(|rest| rest.trim_end().trim_end_matches(')').to_owned());
    match (versions.as_deref(), fetched, unreachable) {
        (Some("none") | None, false, Some(reason)) => Why::Unreachable(shorten(&reason)),
        (Some("none"), true, _) => Why::NotPure,
        (Some("none"), false, None) => Why::NoSuchProject,
        (Some(list), _, _) => {
            let all: Vec<&str> = list.split(", ").collect();
            Why::NoSuchVersion(
                all[all.len().saturating_sub(5)..]
                    .iter()
                    .map(|v| (*v).to_owned())
                    .collect(),
            )
        }
        (None, _, _) => Why::Other(
            log.lines()
                .rfind(|l| l.starts_with("ERROR: "))
                .map(|l| l.trim_start_matches("ERROR: ").to_owned())
                .unwrap_or_else(|| "pip failed".to_owned()),
        ),
    }
}

/// pip's reason for a failed fetch, without urllib3's object reprs: the
/// URL, and the innermost error's words.
fn shorten(reason: &str) -> String {
    let (url, rest) = reason.split_once(": ").unwrap_or((reason, ""));
    let words = rest
        .rsplit(": ")
        .next()
        .unwrap_or(rest)
        .trim_end_matches([')', '\'', '"'])
        .trim();
    if words.is_empty() {
        url.to_owned()
    } else {
        format!("{url}: {words}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_as_the_file_has_them() {
        let text = "# deps\nrequests==2.32.3  # http\n\n--index-url https://x\nclick>=8 --hash=sha256:00\n";
        assert_eq!(
            requirement_lines(text),
            vec![(2, "requests==2.32.3".into()), (5, "click>=8".into())]
        );
        assert_eq!(index_options(text), vec!["--index-url https://x"]);
    }

    #[test]
    fn pip_logs_tell_the_problems_apart() {
        let missing = "Could not fetch URL https://pypi.org/simple/nope/: 404 Client Error: Not Found for url: https://pypi.org/simple/nope/ - skipping\nERROR: Could not find a version that satisfies the requirement nope (from versions: none)\n";
        assert_eq!(classify(missing), Why::NoSuchProject);
        let native = "Fetched page https://pypi.org/simple/numpy/ as application/vnd.pypi.simple.v1+json\nERROR: Could not find a version that satisfies the requirement numpy (from versions: none)\n";
        assert_eq!(classify(native), Why::NotPure);
        let version = "Fetched page https://pypi.org/simple/requests/ as x\nERROR: Could not find a version that satisfies the requirement requests==99 (from versions: 1.0, 2.0, 2.1, 2.2, 2.3, 2.4)\n";
        assert_eq!(
            classify(version),
            Why::NoSuchVersion(vec![
                "2.0".into(),
                "2.1".into(),
                "2.2".into(),
                "2.3".into(),
                "2.4".into()
            ])
        );
        let offline = "Could not fetch URL http://127.0.0.1:9/simple/requests/: connection error: HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: /simple/requests/ (Caused by NewConnectionError('<pip._vendor.urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new connection: [Errno 111] Connection refused')) - skipping\nERROR: Could not find a version that satisfies the requirement requests (from versions: none)\n";
        assert_eq!(
            classify(offline),
            Why::Unreachable(
                "http://127.0.0.1:9/simple/requests/: [Errno 111] Connection refused".into()
            )
        );
    }
}
