//! Telling a Dockerfile from a manifest, so that one handed to `wharf
//! build` is named for what it is rather than reported as broken TOML.

use std::path::{Path, PathBuf};

/// What wharf says about a Dockerfile where it wanted its manifest, after
/// saying where.
pub const READS_WHARF_TOML: &str = "wharf builds from a wharf.toml manifest: `wharf convert` \
     writes one from a Dockerfile (docs/docker.md), and docs/manifest.md maps each instruction";

/// The names Docker, BuildKit and Podman look for, or give by convention:
/// `Dockerfile`, `Containerfile`, `NAME.Dockerfile`, `Dockerfile.NAME`
/// (any case, as Docker accepts `dockerfile`), but never a `.toml` file,
/// which is meant to be a manifest whatever its name.
pub fn is_dockerfile_name(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let name = name.to_ascii_lowercase();
    if name.ends_with(".toml") {
        return false;
    }
    ["dockerfile", "containerfile"].iter().any(|stem| {
        name == *stem
            || name.ends_with(&format!(".{stem}"))
            || name.starts_with(&format!("{stem}."))
    })
}

/// Whether `source` reads as a Dockerfile: its first line is a parser
/// directive (`# syntax=…`, `# escape=…`), or its first instruction,
/// after blank lines and comments, is `FROM` or `ARG` (the only ones
/// allowed before `FROM`), written in capitals as Dockerfiles are, so
/// that a manifest's `from python:3.12` (a forgotten `=`) stays a TOML
/// error.
pub fn looks_like_dockerfile(source: &str) -> bool {
    let mut lines = source.lines().map(str::trim).filter(|l| !l.is_empty());
    let Some(first) = lines.clone().next() else {
        return false;
    };
    if let Some(comment) = first.strip_prefix('#') {
        let directive = comment.trim_start().to_ascii_lowercase();
        if ["syntax", "escape", "check"].iter().any(|d| {
            directive
                .strip_prefix(d)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        }) {
            return true;
        }
    }
    // `FROM image`, not the TOML key `FROM = "image"` of a manifest whose
    // keys are in the wrong case.
    lines.find(|l| !l.starts_with('#')).is_some_and(|l| {
        let mut words = l.split_whitespace();
        words.next().is_some_and(|w| w == "FROM" || w == "ARG")
            && words.next().is_some_and(|w| !w.starts_with('='))
    })
}

/// The Dockerfile (or Containerfile) of a build context, if it has one.
pub fn dockerfile_in(context: &Path) -> Option<PathBuf> {
    ["Dockerfile", "Containerfile", "dockerfile", "containerfile"]
        .iter()
        .map(|name| context.join(name))
        .find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfiles_are_known_by_name() {
        for name in [
            "Dockerfile",
            "dockerfile",
            "Containerfile",
            "api.Dockerfile",
            "Dockerfile.dev",
            "ctx/Dockerfile",
        ] {
            assert!(is_dockerfile_name(Path::new(name)), "{name}");
        }
        for name in [
            "wharf.toml",
            "Dockerfile.toml",
            "docker.toml",
            "Makefile",
            "",
        ] {
            assert!(!is_dockerfile_name(Path::new(name)), "{name}");
        }
    }

    #[test]
    fn dockerfiles_are_known_by_their_first_instruction() {
        for text in [
            "FROM python:3.12\nCOPY . .\n",
            "# syntax=docker/dockerfile:1\nfrom python:3.12\n",
            "#escape=`\nFROM x\n",
            "\n# a comment\n\nARG VERSION=3.12\nFROM python:${VERSION}\n",
            "  FROM scratch",
        ] {
            assert!(looks_like_dockerfile(text), "{text:?}");
        }
        for text in [
            "from = \"python:3.12\"\n",
            "from python:3.12\n",
            "# FROM in a comment\nfrom = \"scratch\"\n",
            "",
            "workdir = \"/app\"\nFROM x\n",
            // A manifest with its keys in capitals is a manifest.
            "FROM = \"python:3.12\"\n",
            "ARG =1\n",
        ] {
            assert!(!looks_like_dockerfile(text), "{text:?}");
        }
    }
}
