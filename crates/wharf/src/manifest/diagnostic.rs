//! Errors that point into the manifest: `file:line:column: message`, with the
//! offending line underlined, as a compiler would report them.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// An error at a place in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    path: PathBuf,
    line: usize,
    column: usize,
    message: String,
    source_line: Option<String>,
    underline: usize,
}

impl ManifestError {
    /// An error about the bytes `span` of `source`, read from `path`.
    pub fn at(
        path: &Path,
        source: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        let Some(span) = span else {
            return Self {
                path: path.to_owned(),
                line: 1,
                column: 1,
                message,
                source_line: None,
                underline: 0,
            };
        };
        let start = span.start.min(source.len());
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let line = source[..start].matches('\n').count() + 1;
        let column = source[line_start..start].chars().count() + 1;
        let text = source[line_start..line_end].trim_end_matches('\r');
        let underline = source[start..span.end.clamp(start, line_end)]
            .chars()
            .count()
            .max(1);
        Self {
            path: path.to_owned(),
            line,
            column,
            message,
            source_line: Some(text.to_owned()),
            underline,
        }
    }

    /// The 1-based line of the error.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The 1-based column (in characters) of the error.
    pub fn column(&self) -> usize {
        self.column
    }

    /// What is wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ManifestError {
    /// `file:line:column: message` and the line underlined, or `file:
    /// message` for an error about the whole file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(text) = &self.source_line else {
            return write!(f, "{}: {}", self.path.display(), self.message);
        };
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.column,
            self.message
        )?;
        let gutter = self.line.to_string().len();
        write!(
            f,
            "\n{:gutter$} |\n{} | {}\n{:gutter$} | {}{}",
            "",
            self.line,
            text,
            "",
            " ".repeat(self.column - 1),
            "^".repeat(self.underline),
        )
    }
}

impl std::error::Error for ManifestError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let source = "from = \"scratch\"\nfrm = 1\n";
        let err = ManifestError::at(
            Path::new("wharf.toml"),
            source,
            Some(17..20),
            "unknown field",
        );
        assert_eq!((err.line(), err.column()), (2, 1));
        let text = err.to_string();
        assert!(text.starts_with("wharf.toml:2:1: unknown field"), "{text}");
        assert!(text.contains("2 | frm = 1"), "{text}");
        assert!(text.contains("  | ^^^"), "{text}");
    }
}
