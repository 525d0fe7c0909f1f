//! `.wharfignore`: which files of the build context COPY must not see, with
//! the rules of Docker's `.dockerignore`.
//!
//! - one pattern a line; `#` starts a comment line; blank lines are skipped;
//! - patterns are relative to the context root (a leading `/` is dropped) and
//!   use `*`, `?`, `[...]` within one path component and `**` across any
//!   number of them;
//! - a pattern that matches a directory excludes everything below it;
//! - `!pattern` re-includes what an earlier pattern excluded; the last
//!   matching line wins.

use std::path::Path;

use anyhow::{Context, Result};
use globset::{GlobBuilder, GlobMatcher};

/// The file name, in the build context root, that holds the rules.
pub const IGNORE_FILE: &str = ".wharfignore";

/// The parsed rules of one `.wharfignore`.
#[derive(Debug, Default)]
pub struct IgnoreRules {
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    matcher: GlobMatcher,
    exception: bool,
}

impl IgnoreRules {
    /// Reads `.wharfignore` from the context root; no file means no rules.
    pub fn load(context: &Path) -> Result<Self> {
        let path = context.join(IGNORE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text).with_context(|| format!("in {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Parses the text of an ignore file.
    pub fn parse(text: &str) -> Result<Self> {
        let mut rules = Vec::new();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, line) in text.lines().enumerate() {
            let mut pattern = line.trim();
            if pattern.is_empty() || pattern.starts_with('#') {
                continue;
            }
            let exception = pattern.starts_with('!');
            if exception {
                pattern = pattern[1..].trim();
            }
            let pattern = clean(pattern);
            if pattern.is_empty() {
                continue;
            }
            let glob = GlobBuilder::new(&escape_braces(&pattern))
                .literal_separator(true)
                .backslash_escape(cfg!(not(windows)))
                .build()
                .with_context(|| {
                    format!("line {}: invalid pattern '{}'", index + 1, line.trim())
                })?;
            rules.push(Rule {
                matcher: glob.compile_matcher(),
                exception,
            });
        }
        Ok(Self { rules })
    }

    /// Whether `path` (relative to the context root, `/`-separated) is
    /// excluded.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = clean(path);
        if path.is_empty() {
            return false; // the context root itself is never excluded
        }
        let path = path.as_str();
        let mut excluded = false;
        for rule in &self.rules {
            // An exclusion cannot change an excluded path, nor an exception
            // an included one.
            if rule.exception != excluded {
                continue;
            }
            if matches_or_parent_matches(&rule.matcher, path) {
                excluded = !rule.exception;
            }
        }
        excluded
    }

    /// Whether some `!` exception could re-include a path below an excluded
    /// directory, so that a walk must still descend into it.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.exception)
    }
}

fn matches_or_parent_matches(matcher: &GlobMatcher, path: &str) -> bool {
    if matcher.is_match(path) {
        return true;
    }
    path.match_indices('/')
        .any(|(i, _)| matcher.is_match(&path[..i]))
}

/// Lexically cleans a pattern as Go's `filepath.Clean` would, and makes it
/// relative to the context root.
fn clean(pattern: &str) -> String {
    let pattern = pattern.replace('\\', if cfg!(windows) { "/" } else { "\\" });
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// Docker's patterns have no `{a,b}` alternation: braces are literal.
fn escape_braces(pattern: &str) -> String {
    pattern.replace('{', "[{]").replace('}', "[}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> IgnoreRules {
        IgnoreRules::parse(text).unwrap()
    }

    #[test]
    fn plain_names_match_at_the_root_and_everything_below() {
        let r = rules(".git\nnode_modules\n");
        assert!(r.is_excluded(".git"));
        assert!(r.is_excluded(".git/HEAD"));
        assert!(r.is_excluded("node_modules/a/b.js"));
        assert!(!r.is_excluded("src/node_modules"));
        assert!(!r.is_excluded("app.py"));
    }

    #[test]
    fn single_star_stays_in_one_component_and_double_star_crosses() {
        let r = rules("*.pyc\n**/*.log\n");
        assert!(r.is_excluded("a.pyc"));
        assert!(!r.is_excluded("pkg/a.pyc"));
        assert!(r.is_excluded("x.log"));
        assert!(r.is_excluded("deep/er/x.log"));
    }

    #[test]
    fn exceptions_reinclude_and_the_last_match_wins() {
        let r = rules("*.md\n!README.md\n");
        assert!(r.is_excluded("NOTES.md"));
        assert!(!r.is_excluded("README.md"));

        let r = rules("!README.md\n*.md\n");
        assert!(r.is_excluded("README.md"));
        assert!(r.has_exceptions());
    }

    #[test]
    fn comments_blank_lines_and_leading_slashes_are_handled() {
        let r = rules("# secrets\n\n/.env\n  ./build/  \n");
        assert!(r.is_excluded(".env"));
        assert!(r.is_excluded("build/out.bin"));
        assert!(!r.is_excluded("# secrets"));
        assert!(!r.has_exceptions());
    }

    #[test]
    fn braces_are_literal_as_in_docker() {
        let r = rules("{a,b}.txt\n");
        assert!(r.is_excluded("{a,b}.txt"));
        assert!(!r.is_excluded("a.txt"));
    }

    #[test]
    fn question_marks_and_classes_match_one_character() {
        let r = rules("file?.txt\n[ab].bin\n");
        assert!(r.is_excluded("file1.txt"));
        assert!(!r.is_excluded("file10.txt"));
        assert!(r.is_excluded("a.bin"));
        assert!(!r.is_excluded("c.bin"));
    }

    #[test]
    fn paths_are_cleaned_and_the_root_is_never_excluded() {
        let r = rules("?\n");
        assert!(!r.is_excluded("."));
        assert!(!r.is_excluded(""));
        assert!(r.is_excluded("./a/"));
        assert!(r.is_excluded("a/./b"));
        assert!(!r.is_excluded("./below"));
    }

    #[test]
    fn invalid_patterns_name_their_line() {
        let err = IgnoreRules::parse("ok\n[unclosed\n").unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }
}
