//! Paths inside an image or guest: always `/`-separated and absolute, on
//! every host OS. Host paths use `std::path`; these never do.

/// Resolves `path` against the directory `cwd` (both guest paths) and
/// cleans the result: `.` vanishes, `..` stops at `/`, as in a chroot.
pub fn resolve(cwd: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{cwd}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The path relative to `/` (no leading slash; empty for the root itself).
pub fn relative(path: &str) -> &str {
    path.trim_start_matches('/')
}

/// Whether `path` is `dir` or lies below it.
pub fn is_within(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    dir.is_empty()
        || path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The last component of a guest path.
pub fn file_name(path: &str) -> &str {
    path.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_cleans_like_a_chroot() {
        assert_eq!(resolve("/app", "app.py"), "/app/app.py");
        assert_eq!(resolve("/app", "./x/../y"), "/app/y");
        assert_eq!(resolve("/app", "/etc/x"), "/etc/x");
        assert_eq!(resolve("/", "../../x"), "/x");
        assert_eq!(resolve("/app", "."), "/app");
    }

    #[test]
    fn within_checks_whole_components() {
        assert!(is_within("/app/x", "/app"));
        assert!(is_within("/app", "/app"));
        assert!(!is_within("/apple", "/app"));
        assert!(is_within("/anything", "/"));
    }

    #[test]
    fn file_names_ignore_trailing_slashes() {
        assert_eq!(file_name("/usr/bin/python"), "python");
        assert_eq!(file_name("lib/"), "lib");
    }
}
