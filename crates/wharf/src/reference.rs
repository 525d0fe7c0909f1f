//! Image references (`python:3.12`, `localhost:5000/me/app:1`,
//! `app@sha256:…`), parsed with Docker's grammar.

use std::fmt;
use std::str::FromStr;

use oci_spec::image::Digest;

use crate::digest;

/// The tag a reference without one means.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed image reference: `[domain/]path[:tag][@digest]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    domain: Option<String>,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a reference did not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid reference format '{text}': {reason}")]
pub struct RefError {
    text: String,
    reason: &'static str,
}

impl ImageRef {
    /// The repository: `[domain/]path`, without tag or digest.
    pub fn repository(&self) -> String {
        match &self.domain {
            Some(domain) => format!("{domain}/{}", self.path),
            None => self.path.clone(),
        }
    }

    /// The registry host (and port), when the reference names one.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The path within the registry (`me/app`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag as written, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The tag, or `latest` when the reference names neither tag nor digest.
    pub fn tag_or_default(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => Some(tag),
            (None, None) => Some(DEFAULT_TAG),
            (None, Some(_)) => None,
        }
    }

    /// The digest, when the reference pins one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `repository:tag` with the default tag filled in: the key under which
    /// the store records a tag. `None` for a digest-only reference.
    pub fn tagged_name(&self) -> Option<String> {
        self.tag_or_default()
            .map(|tag| format!("{}:{tag}", self.repository()))
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Self, RefError> {
        format!("{}:{tag}", self.repository()).parse()
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = RefError;

    fn from_str(text: &str) -> Result<Self, RefError> {
        let fail = |reason| RefError {
            text: text.to_owned(),
            reason,
        };
        if text.is_empty() {
            return Err(fail("the reference is empty"));
        }
        if text.len() > 255 + 1 + 128 + 1 + 71 {
            return Err(fail("the reference is too long"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (
                rest,
                Some(
                    digest::parse_sha256(digest)
                        .map_err(|_| fail("the digest must be sha256:<64 hex digits>"))?,
                ),
            ),
            None => (text, None),
        };
        // A tag follows the last ':' that comes after the last '/'; a ':'
        // before that belongs to a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(fail(
                "a tag is 1 to 128 of [A-Za-z0-9_.-] and cannot start with '.' or '-'",
            ));
        }
        if name.len() > 255 {
            return Err(fail("the repository name is longer than 255 characters"));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, rest)) if looks_like_domain(first) => (Some(first), rest),
            _ => (None, name),
        };
        if let Some(domain) = domain
            && !valid_domain(domain)
        {
            return Err(fail("the registry host is not a valid host[:port]"));
        }
        if path.is_empty() || !path.split('/').all(valid_path_component) {
            return Err(fail(
                "repository names use lowercase letters, digits and single separators (. _ __ -), \
                 in components separated by '/'",
            ));
        }
        Ok(ImageRef {
            domain: domain.map(str::to_owned),
            path: path.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }
}

/// The longest name [`repository_name_from`] makes.
const SUGGESTED_NAME_MAX: usize = 64;

/// A repository name made from free text, such as the name of the
/// directory an app lives in: what `wharf init` suggests to tag its image
/// with. ASCII letters are lowercased and kept with digits, `.` and `_`;
/// every other run of characters (spaces, `-`, `+`, letters outside ASCII…)
/// becomes one `-`; separators Docker's grammar refuses (`..`, `._`) become
/// `-` too, and the name is trimmed to start and end with a letter or
/// digit and cut at 64 characters. `My App` gives `my-app`, `web_2.0`
/// stays as it is. Docker Compose names a project from its directory the
/// same way, but drops what it cannot keep rather than turn it into `-`.
///
/// Returns `None` when nothing usable is left (`/`, `---`, `日本`). What it
/// returns always parses as an [`ImageRef`] of one path component.
pub fn repository_name_from(text: &str) -> Option<String> {
    let mut name = String::new();
    let mut separators = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if !name.is_empty() && !separators.is_empty() {
                let valid = matches!(separators.as_str(), "." | "_" | "__");
                name.push_str(if valid { &separators } else { "-" });
            }
            separators.clear();
            if name.len() == SUGGESTED_NAME_MAX {
                break;
            }
            name.push(c);
        } else {
            separators.push(if matches!(c, '.' | '_') { c } else { '-' });
        }
    }
    // A separator pushed just before the cut may end the name.
    while name.len() > SUGGESTED_NAME_MAX || name.ends_with(['.', '_', '-']) {
        name.pop();
    }
    (!name.is_empty()).then_some(name)
}

/// Docker's rule: a name's first component is a registry host when it has
/// a `.` or a `:`, is `localhost`, or has an uppercase letter (which a
/// repository path cannot).
fn looks_like_domain(component: &str) -> bool {
    component.contains('.')
        || component.contains(':')
        || component == "localhost"
        || component.bytes().any(|b| b.is_ascii_uppercase())
}

fn valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    host_ok && port_ok
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ImageRef {
        text.parse()
            .unwrap_or_else(|e| panic!("{text} should parse: {e}"))
    }

    #[test]
    fn plain_names_default_to_latest() {
        let r = parse("my-first-image");
        assert_eq!(r.repository(), "my-first-image");
        assert_eq!(r.tag(), None);
        assert_eq!(r.tagged_name().unwrap(), "my-first-image:latest");
    }

    #[test]
    fn tags_registries_and_ports_are_told_apart() {
        let r = parse("python:3.12");
        assert_eq!((r.repository().as_str(), r.tag()), ("python", Some("3.12")));

        let r = parse("localhost:5000/me/app:1");
        assert_eq!(r.domain(), Some("localhost:5000"));
        assert_eq!(r.path(), "me/app");
        assert_eq!(r.tag(), Some("1"));

        let r = parse("localhost:5000/me/app");
        assert_eq!(r.tagged_name().unwrap(), "localhost:5000/me/app:latest");

        let r = parse("ghcr.io/org/tool");
        assert_eq!(r.domain(), Some("ghcr.io"));

        // Docker's rule for what names a registry.
        assert_eq!(parse("localhost/app").domain(), Some("localhost"));
        assert_eq!(parse("Registry/app").domain(), Some("Registry"));
        assert_eq!(parse("me/app").domain(), None);
        assert_eq!(parse("app").domain(), None);
    }

    #[test]
    fn digests_pin_an_image() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = parse(&format!("app@{d}"));
        assert_eq!(r.digest().unwrap().to_string(), d);
        assert_eq!(r.tagged_name(), None);
        assert_eq!(r.to_string(), format!("app@{d}"));
    }

    #[test]
    fn bad_references_are_refused_with_a_reason() {
        for bad in [
            "",
            "UPPER",
            "a//b",
            "app:",
            "app:-x",
            "-app",
            "app@sha256:123",
            "a..b",
            "app:tag with space",
        ] {
            let err = bad.parse::<ImageRef>().unwrap_err().to_string();
            assert!(err.contains("invalid reference format"), "{bad}: {err}");
        }
    }

    #[test]
    fn names_are_suggested_from_directory_names() {
        for (text, name) in [
            ("hello", Some("hello")),
            ("My App", Some("my-app")),
            ("web_2.0", Some("web_2.0")),
            ("a__b", Some("a__b")),
            ("a---b", Some("a-b")),
            ("a..b", Some("a-b")),
            ("a._b", Some("a-b")),
            ("a___b", Some("a-b")),
            ("_hidden.", Some("hidden")),
            ("Ünïcode app", Some("n-code-app")),
            ("C++ tools", Some("c-tools")),
            ("2024", Some("2024")),
            ("", None),
            ("---", None),
            ("日本", None),
        ] {
            assert_eq!(repository_name_from(text).as_deref(), name, "{text:?}");
        }
        let long = "x".repeat(63) + "-yz";
        assert_eq!(repository_name_from(&long).unwrap(), "x".repeat(63));
        assert_eq!(repository_name_from(&"a".repeat(300)).unwrap().len(), 64);
    }

    #[test]
    fn suggested_names_always_parse() {
        for text in [
            "My App", "web_2.0", "a.-b", "-x-", "x.y_z__w", "A.B", "über_", "name:tag", "a/b",
            "x@y", " lead", "(paren)",
        ] {
            let name = repository_name_from(text).unwrap();
            let parsed = parse(&name);
            assert_eq!(
                (parsed.repository(), parsed.tag()),
                (name.clone(), None),
                "{text:?}"
            );
        }
    }

    #[test]
    fn separators_follow_dockers_grammar() {
        for good in ["a_b", "a__b", "a.b", "a---b", "a/b/c", "x9"] {
            parse(good);
        }
    }
}
