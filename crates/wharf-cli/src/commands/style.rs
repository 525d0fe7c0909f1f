//! Colours on stderr: `error:` in red, `warning:` in yellow, manifest
//! excerpts as rustc colours them. `--color auto` (the default) colours
//! only a terminal and follows the conventions of <https://no-color.org>
//! (`NO_COLOR`) and <https://bixense.com/clicolors/> (`CLICOLOR_FORCE`),
//! through `anstream`, as clap and cargo do; `--color always|never`
//! overrides them.

use anstyle::{AnsiColor, Style};
use clap::ValueEnum;

/// When to colour (`--color`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    // (Plain comments: a doc comment here would be repeated, as a list of
    // values, in every command's --help.)
    // On a terminal, unless `NO_COLOR` is set (or `CLICOLOR_FORCE` asks for
    // colours anywhere).
    #[default]
    Auto,
    // Always, even into a pipe or a file.
    Always,
    // Never.
    Never,
}

impl ColorWhen {
    /// Makes this the choice of every `anstream` write in the process
    /// (the CLI's only process-wide setting besides the tracing
    /// subscriber).
    pub fn apply(self) {
        let choice = match self {
            Self::Auto => anstream::ColorChoice::Auto,
            Self::Always => anstream::ColorChoice::Always,
            Self::Never => anstream::ColorChoice::Never,
        };
        choice.write_global();
    }

    /// The same choice for clap's help and usage errors.
    pub fn for_clap(self) -> clap::ColorChoice {
        match self {
            Self::Auto => clap::ColorChoice::Auto,
            Self::Always => clap::ColorChoice::Always,
            Self::Never => clap::ColorChoice::Never,
        }
    }

    /// `--color WHEN` or `--color=WHEN` from raw arguments, read before
    /// clap parses them so that clap's own errors follow it too. The last
    /// one wins, as clap would decide; anything else is `auto` here and
    /// clap's error later.
    pub fn from_args(args: &[std::ffi::OsString]) -> Self {
        let mut when = Self::Auto;
        let mut words = args.iter().skip(1).map(|a| a.to_string_lossy());
        while let Some(word) = words.next() {
            if word == "--" {
                break;
            }
            let value = if word == "--color" {
                words.next()
            } else {
                word.strip_prefix("--color=").map(|v| v.to_owned().into())
            };
            if let Some(parsed) = value.and_then(|v| Self::from_str(&v, false).ok()) {
                when = parsed;
            }
        }
        when
    }
}

/// `error:`
pub const ERROR: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
/// `warning:`
pub const WARNING: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
/// `note:`
pub const NOTE: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));

/// Prints `wharf: error: MESSAGE` on stderr.
pub fn error(message: impl std::fmt::Display) {
    anstream::eprintln!("wharf: {ERROR}error:{ERROR:#} {message}");
}

/// Prints `wharf: warning: MESSAGE` on stderr.
pub fn warning(message: impl std::fmt::Display) {
    anstream::eprintln!("wharf: {WARNING}warning:{WARNING:#} {message}");
}

#[cfg(test)]
mod tests {
    use super::ColorWhen;

    fn parse(args: &[&str]) -> ColorWhen {
        let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        ColorWhen::from_args(&args)
    }

    #[test]
    fn color_is_read_from_either_form_and_the_last_wins() {
        assert_eq!(parse(&["wharf", "images"]), ColorWhen::Auto);
        assert_eq!(
            parse(&["wharf", "--color", "never", "images"]),
            ColorWhen::Never
        );
        assert_eq!(
            parse(&["wharf", "images", "--color=always"]),
            ColorWhen::Always
        );
        assert_eq!(
            parse(&["wharf", "--color=never", "images", "--color", "always"]),
            ColorWhen::Always
        );
        // After `--` the words are the guest's.
        assert_eq!(
            parse(&["wharf", "run", "img", "--", "--color", "always"]),
            ColorWhen::Auto
        );
        assert_eq!(parse(&["wharf", "--color", "bogus"]), ColorWhen::Auto);
    }
}
