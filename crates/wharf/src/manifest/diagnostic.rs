//! Errors that point into the manifest: `file:line:column: message`, with
//! the offending line underlined as rustc underlines it (rendered by
//! `annotate-snippets`, rustc's own renderer), and a hint when one helps
//! (`did you mean `workdir`?`).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};

/// An error at a place in a manifest (boxed: errors travel in `Result`s
/// that are otherwise small).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError(Box<Located>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Located {
    path: PathBuf,
    line: usize,
    column: usize,
    message: String,
    /// The line the error is on, and the span within it (bytes).
    excerpt: Option<(String, Range<usize>)>,
    help: Option<String>,
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
        let help = suggestion(&message);
        let Some(span) = span else {
            return Self(Box::new(Located {
                path: path.to_owned(),
                line: 1,
                column: 1,
                message,
                excerpt: None,
                help,
            }));
        };
        let start = floor_char_boundary(source, span.start.min(source.len()));
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let line = source[..start].matches('\n').count() + 1;
        let column = source[line_start..start].chars().count() + 1;
        let text = source[line_start..line_end].trim_end_matches('\r');
        // A span starting in the `\r`s trimmed off points at the line's end.
        let start = start.min(line_start + text.len());
        let end = floor_char_boundary(source, span.end.clamp(start, line_start + text.len()));
        Self(Box::new(Located {
            path: path.to_owned(),
            line,
            column,
            message,
            excerpt: Some((text.to_owned(), start - line_start..end - line_start)),
            help,
        }))
    }

    /// The same error with a hint of what to do, shown under it.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.0.help = Some(help.into());
        self
    }

    /// The 1-based line of the error.
    pub fn line(&self) -> usize {
        self.0.line
    }

    /// The 1-based column (in characters) of the error.
    pub fn column(&self) -> usize {
        self.0.column
    }

    /// What is wrong, without the position.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The hint shown under the error, if any.
    pub fn help(&self) -> Option<&str> {
        self.0.help.as_deref()
    }
}

impl fmt::Display for ManifestError {
    /// `file:line:column: message` and the line underlined, or `file:
    /// message` for an error about the whole file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f, Renderer::plain())
    }
}

impl ManifestError {
    /// The same text as `Display`, with ANSI colours as rustc's: for a
    /// terminal that shows them (the caller decides; `NO_COLOR` and the
    /// like are its business).
    pub fn colored(&self) -> String {
        struct Colored<'a>(&'a ManifestError);
        impl fmt::Display for Colored<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.render(f, Renderer::styled())
            }
        }
        Colored(self).to_string()
    }

    fn render(&self, f: &mut fmt::Formatter<'_>, renderer: Renderer) -> fmt::Result {
        let error = &self.0;
        let title = format!(
            "{}:{}:{}: {}",
            error.path.display(),
            error.line,
            error.column,
            error.message
        );
        let Some((text, span)) = &error.excerpt else {
            // An error about the whole file: `file: message`.
            write!(f, "{}: {}", error.path.display(), error.message)?;
            if let Some(help) = &error.help {
                write!(f, "\n  = help: {help}")?;
            }
            return Ok(());
        };
        let mut snippet = Snippet::source(text.as_str()).line_start(error.line);
        // An empty span (the end of the file) still gets one caret.
        let span = if span.is_empty() {
            let width = text[span.start..].chars().next().map_or(0, char::len_utf8);
            span.start..span.start + width
        } else {
            span.clone()
        };
        let mut annotation = AnnotationKind::Primary.span(span);
        if let Some(help) = &error.help {
            annotation = annotation.label(help.as_str());
        }
        snippet = snippet.annotation(annotation);
        let report = [Level::ERROR.no_name().primary_title(title).element(snippet)];
        write!(f, "{}", renderer.render(&report))
    }
}

impl std::error::Error for ManifestError {}

/// The largest index at most `index` that starts a character of `text`.
fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// A hint for serde's `unknown field `X`, expected one of `a`, `b`…` and
/// `unknown variant` messages: the expected name closest to what was
/// written, when one is close (Jaro–Winkler similarity above 0.8, as
/// cargo's and clap's suggestions use).
fn suggestion(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (written, rest) = rest.split_once('`')?;
    let expected = rest.split_once("expected ")?.1;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|name| (strsim::jaro_winkler(written, name), name))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| format!("did you mean `{name}`?"))
}

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

    #[test]
    fn an_unknown_field_close_to_a_known_one_is_named() {
        let source = "from = \"scratch\"\nwrokdir = \"/app\"\n";
        let message = "unknown field `wrokdir`, expected one of `from`, `workdir`, `entrypoint`";
        let err = ManifestError::at(Path::new("wharf.toml"), source, Some(17..24), message);
        assert_eq!(err.help(), Some("did you mean `workdir`?"));
        let text = err.to_string();
        assert!(text.ends_with("^^^^^^^ did you mean `workdir`?"), "{text}");
        let far = "unknown field `zzz`, expected one of `from`, `workdir`";
        assert_eq!(
            ManifestError::at(Path::new("w"), source, None, far).help(),
            None
        );
    }

    #[test]
    fn a_span_in_the_middle_of_a_character_or_past_the_end_is_safe() {
        let source = "from = \"é\"";
        let err = ManifestError::at(Path::new("w"), source, Some(9..10), "bad");
        assert_eq!((err.line(), err.column()), (1, 9));
        let end = ManifestError::at(Path::new("w"), source, Some(50..60), "eof");
        assert!(end.to_string().contains("1 | from"), "{end}");
        for (source, span) in [
            ("a = 1\r\r\n", 6..6),
            ("a = 1\r", 6..7),
            ("a = \"é\"", 5..5),
        ] {
            let err = ManifestError::at(Path::new("w"), source, Some(span), "odd");
            assert!(err.to_string().contains("1 | a = "), "{err}");
        }
    }
}
