//! The guest's environment: exactly the image's variables, then
//! `--env-file`, then `-e`, each overriding the one before. Nothing comes
//! from the host unless a flag names it; a flag that names a variable the
//! host lacks removes it, as Docker does.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// One variable: a name and its value.
pub type EnvVar = (String, String);

/// What one `-e` flag or env-file line asks for: a variable's name and its
/// value, or no value when it names a host variable the host lacks (the
/// guest then has no such variable, whatever its image says).
pub type EnvFlag = (String, Option<String>);

/// Parses a `-e` argument: `KEY=VALUE` sets a value; a bare `KEY` copies
/// the host's value, and removes `KEY` when the host has none (as Docker
/// does).
pub fn parse_env_flag(text: &str) -> Result<EnvFlag> {
    match text.split_once('=') {
        Some((key, value)) => {
            check_name(key, text)?;
            Ok((key.to_owned(), Some(value.to_owned())))
        }
        None => {
            check_name(text, text)?;
            Ok((text.to_owned(), std::env::var(text).ok()))
        }
    }
}

/// Reads an env file in Docker's format: `KEY=VALUE` lines taken
/// literally (no quotes, no expansion), `KEY` alone copies the host's
/// value (and is skipped when the host has none, as Docker skips it: unlike
/// `-e KEY`, it removes nothing), `#` comment lines and blank lines are
/// skipped.
pub fn read_env_file(path: &Path) -> Result<Vec<EnvFlag>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read env file {}", path.display()))?;
    parse_env_file(&text).with_context(|| format!("in env file {}", path.display()))
}

/// Parses the text of an env file; see [`read_env_file`].
pub fn parse_env_file(text: &str) -> Result<Vec<EnvFlag>> {
    let mut vars = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        // A bare name the host lacks is skipped, as Docker's env-file
        // parser skips it: the image's value stays.
        let (key, value) =
            parse_env_flag(trimmed).with_context(|| format!("line {}", index + 1))?;
        if value.is_some() {
            vars.push((key, value));
        }
    }
    Ok(vars)
}

fn check_name(name: &str, whole: &str) -> Result<()> {
    if name.is_empty() {
        bail!(
            "invalid environment variable '{whole}': the name is empty; expected KEY=VALUE or KEY"
        );
    }
    if name.chars().any(char::is_whitespace) {
        bail!("invalid environment variable '{whole}': the name '{name}' contains whitespace");
    }
    if name.contains('\0') {
        bail!("invalid environment variable '{whole}': the name contains a NUL byte");
    }
    Ok(())
}

/// Applies `overrides` on top of `base`: a known name keeps its place and
/// takes the new value, a new name is appended.
pub fn merge(base: &[EnvVar], overrides: &[EnvVar]) -> Vec<EnvVar> {
    let mut merged = base.to_vec();
    for (key, value) in overrides {
        match merged.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.clone(),
            None => merged.push((key.clone(), value.clone())),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_set_values_or_copy_the_host() {
        assert_eq!(
            parse_env_flag("APP_ENV=Staging").unwrap(),
            ("APP_ENV".into(), Some("Staging".into()))
        );
        assert_eq!(
            parse_env_flag("EMPTY=").unwrap(),
            ("EMPTY".into(), Some(String::new()))
        );
        assert_eq!(
            parse_env_flag("X=a=b").unwrap(),
            ("X".into(), Some("a=b".into()))
        );
        assert_eq!(
            parse_env_flag("WHARF_SURELY_UNSET_VARIABLE").unwrap(),
            ("WHARF_SURELY_UNSET_VARIABLE".into(), None)
        );
        let path = std::env::var("PATH").unwrap();
        assert_eq!(parse_env_flag("PATH").unwrap(), ("PATH".into(), Some(path)));
    }

    #[test]
    fn malformed_flags_say_what_is_wrong() {
        for bad in ["=value", "MY VAR=1", ""] {
            let err = parse_env_flag(bad).unwrap_err().to_string();
            assert!(err.contains("invalid environment variable"), "{bad}: {err}");
        }
    }

    #[test]
    fn env_files_are_literal_and_skip_comments() {
        let vars = parse_env_file("# comment\n\nA=1\nB=\"quoted\"\n  C=spaced value\n").unwrap();
        assert_eq!(
            vars,
            vec![
                ("A".into(), Some("1".into())),
                ("B".into(), Some("\"quoted\"".into())),
                ("C".into(), Some("spaced value".into())),
            ]
        );
        assert_eq!(
            parse_env_file("WHARF_SURELY_UNSET_VARIABLE\nA=1\n").unwrap(),
            vec![("A".into(), Some("1".into()))],
            "a bare name the host lacks is skipped"
        );
        let err = parse_env_file("OK=1\nBAD KEY=2\n").unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }

    #[test]
    fn later_sources_override_in_place() {
        let base = vec![("A".into(), "1".into()), ("B".into(), "2".into())];
        let merged = merge(&base, &[("B".into(), "3".into()), ("C".into(), "4".into())]);
        assert_eq!(
            merged,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "3".into()),
                ("C".into(), "4".into())
            ]
        );
    }
}
