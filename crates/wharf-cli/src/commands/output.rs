//! How listings are printed: aligned columns for people, one JSON document
//! for scripts (`--format json`).

use std::io::Write;
use std::time::SystemTime;

use clap::ValueEnum;
use serde::Serialize;

use wharf::units::human_age;

/// The `--format` of a listing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Columns aligned for reading, as Docker prints them.
    #[default]
    Table,
    /// One JSON document on stdout, for scripts: sizes in bytes, times in
    /// RFC 3339.
    Json,
}

/// Prints `value` as one pretty JSON document and a newline.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    emit(&text)
}

/// Writes `text` to stdout. A reader that stopped reading (`wharf images |
/// head -1`) is no error: the listing ends quietly, as a program killed by
/// `SIGPIPE` would, rather than with a panic.
pub fn emit(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to stdout"))
        }
        _ => Ok(()),
    }
}

/// Lays rows out in columns separated by three spaces, as Docker does.
/// Rows have the same number of cells.
pub fn table<R: AsRef<[String]>>(rows: &[R]) -> String {
    let columns = rows.first().map_or(0, |row| row.as_ref().len());
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row.as_ref()) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.as_ref().iter().enumerate() {
            line.push_str(cell);
            if i + 1 < columns {
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// How long ago `time` was, as Docker says it ("3 minutes ago"); `N/A`
/// for a time unknown or in the future.
pub fn since(time: Option<SystemTime>) -> String {
    time.and_then(|t| SystemTime::now().duration_since(t).ok())
        .map(|age| human_age(age.as_secs()))
        .unwrap_or_else(|| "N/A".to_owned())
}

/// `text` cut to `width` characters, the last of them `…`, as Docker
/// truncates a column unless given `--no-trunc`.
pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let rows = [
            ["REPOSITORY".to_owned(), "TAG".to_owned()],
            ["a".to_owned(), "latest".to_owned()],
        ];
        assert_eq!(table(&rows), "REPOSITORY   TAG\na            latest\n");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(truncate("COPY app/ /app", 45), "COPY app/ /app");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abcdef", 4).chars().count(), 4);
    }
}
