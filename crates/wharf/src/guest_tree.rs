//! The guest's one file tree, by names and paths alone: which of a run's
//! directories (the image's root, `/tmp`, each mount) a guest path lands
//! in, with `..` resolved as Linux resolves it at a mount point; which
//! mount points a directory lists; and whether a symlink's target stays
//! in the directory that holds it.
//!
//! Nothing here touches a file. The runtime asks a callback to resolve the
//! symlinks of a path inside one directory (cap-std does it there), and
//! hands every actual access to wasmtime-wasi.

use std::io;

use crate::guest_path;

/// The directories of a run, each at its absolute guest path. The first is
/// `/`: the tree's root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountTable {
    points: Vec<String>,
}

/// Where a path, given relative to a directory of the tree, lands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// It stays inside the mount of the directory it was given relative
    /// to and has no `..`: the directory can resolve it as it is
    /// (wasmtime-wasi refuses `..` above a directory descriptor, which
    /// Linux allows, so every `..` is resolved by the tree).
    Direct,
    /// In mount `index`, at `rel`: a path relative to the mount's root
    /// (`.` for the root itself; a trailing `/` kept, as it asks for a
    /// directory).
    Mount {
        /// Which mount of the table.
        index: usize,
        /// The path below it.
        rel: String,
    },
}

impl MountTable {
    /// A table of `points` (absolute guest paths, cleaned as
    /// [`guest_path::resolve`] cleans them). `/` is added first when it is
    /// missing; a point given twice is kept once, where it first came.
    pub fn new<I, S>(points: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut table = vec!["/".to_owned()];
        for point in points {
            let point = guest_path::resolve("/", point.as_ref());
            if !table.contains(&point) {
                table.push(point);
            }
        }
        Self { points: table }
    }

    /// The mount points, `/` first, in the order given.
    pub fn points(&self) -> &[String] {
        &self.points
    }

    /// The mount an absolute, cleaned guest path lies in: the one with the
    /// longest point that holds it.
    pub fn mount_of(&self, guest: &str) -> usize {
        self.points
            .iter()
            .enumerate()
            .filter(|(_, point)| guest_path::is_within(guest, point))
            .max_by_key(|(_, point)| point.len())
            .map_or(0, |(index, _)| index)
    }

    /// The names of the mount points directly inside the directory `dir`
    /// (an absolute, cleaned guest path), in table order: what a listing of
    /// `dir` must show besides what the directory itself holds.
    pub fn children(&self, dir: &str) -> Vec<&str> {
        self.points
            .iter()
            .filter(|point| point.as_str() != "/" && parent(point) == dir)
            .map(|point| guest_path::file_name(point))
            .collect()
    }

    /// Routes `path`, relative to the directory at the absolute guest path
    /// `base`: [`Route::Direct`] when it neither enters another mount nor
    /// has a `..` (the common case, left to the directory to resolve,
    /// symlinks and all); otherwise the mount it lands in and the path
    /// below that mount's root.
    ///
    /// `..` in the tree goes to the parent as Linux does: at a mount point,
    /// to the mount point's parent; inside a mount, to the parent of the
    /// directory its symlinks lead to, which `canonical(index, rel)` finds
    /// (the symlink-free form of `rel` inside mount `index`, relative to
    /// its root; empty for the root). `..` at `/` stays at `/`: no path
    /// leaves the tree. An absolute or empty `path` is [`Route::Direct`]:
    /// the directory refuses it as it refuses it today.
    ///
    /// # Errors
    ///
    /// What `canonical` returns (a directory that does not exist, a
    /// symlink that would leave its mount).
    pub fn route(
        &self,
        base: &str,
        path: &str,
        mut canonical: impl FnMut(usize, &str) -> io::Result<String>,
    ) -> io::Result<Route> {
        if path.is_empty() || path.starts_with('/') {
            return Ok(Route::Direct);
        }
        if !self.leaves(base, path) {
            return Ok(Route::Direct);
        }
        let mut stack: Vec<String> = components(base).map(str::to_owned).collect();
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if stack.is_empty() {
                        continue; // `/..` is `/`
                    }
                    let here = join(&stack);
                    let index = self.mount_of(&here);
                    let rel = guest_path::relative(&here[self.points[index].len()..]);
                    if !rel.is_empty() {
                        // Inside a mount: where its symlinks lead.
                        let resolved = canonical(index, rel)?;
                        stack = components(&self.points[index])
                            .chain(components(&resolved))
                            .map(str::to_owned)
                            .collect();
                    }
                    stack.pop();
                }
                name => stack.push(name.to_owned()),
            }
        }
        let here = join(&stack);
        let index = self.mount_of(&here);
        let below = guest_path::relative(&here[self.points[index].len()..]);
        let mut rel = if below.is_empty() {
            ".".to_owned()
        } else {
            below.to_owned()
        };
        if path.ends_with('/') {
            rel.push('/');
        }
        Ok(Route::Mount { index, rel })
    }

    /// Whether `path`, from `base`, enters another mount or has a `..`,
    /// read lexically.
    fn leaves(&self, base: &str, path: &str) -> bool {
        let base_mount = &self.points[self.mount_of(base)];
        // The path so far, and where each component of it starts: grown
        // and cut in place, so that a long path costs its length.
        let mut here = String::from(base.trim_end_matches('/'));
        for part in path.split('/') {
            match part {
                "" | "." => {}
                // `..` goes where the directory's symlinks lead, which
                // only a walk through the tree can tell (`route`).
                ".." => return true,
                name => {
                    here.push('/');
                    here.push_str(name);
                    if here != *base_mount && self.points.contains(&here) {
                        return true;
                    }
                }
            }
        }
        false
    }
}

/// Whether a symlink whose target is `target` stays in the directory that
/// holds it: a relative target whose `..` components never climb above
/// that directory. Whether a chain of links leaves a mount cannot be told
/// from one link (`s/d -> ..` and `s/x -> d/..` each look harmless; `s/x`
/// is `s/..`), so every link is held to its own directory. Absolute
/// targets never stay: the tree a host program sees is not the guest's.
pub fn symlink_stays_home(target: &str) -> bool {
    if target.starts_with('/') || target.is_empty() {
        return false;
    }
    let mut depth: usize = 0;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(up) => depth = up,
                None => return false,
            },
            _ => depth += 1,
        }
    }
    true
}

/// The components of a path, without empty and `.` ones (a directory's
/// own canonical form is `.`).
fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
}

fn join<S: AsRef<str>>(parts: &[S]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.as_ref().len() + 1).sum());
    for part in parts {
        out.push('/');
        out.push_str(part.as_ref());
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The parent of an absolute, cleaned guest path (`/` for `/`).
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(at) => &path[..at],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> MountTable {
        MountTable::new(["/", "/tmp", "/data", "/app/out"])
    }

    /// A canonicalizer for trees without symlinks: the path as it is.
    fn plain(_: usize, rel: &str) -> io::Result<String> {
        Ok(rel.to_owned())
    }

    fn mount(index: usize, rel: &str) -> Route {
        Route::Mount {
            index,
            rel: rel.to_owned(),
        }
    }

    #[test]
    fn paths_inside_one_mount_are_left_to_it() {
        let t = table();
        assert_eq!(t.route("/", "app/app.py", plain).unwrap(), Route::Direct);
        assert_eq!(t.route("/app", "app.py", plain).unwrap(), Route::Direct);
        assert_eq!(t.route("/tmp", "a/../b", plain).unwrap(), mount(1, "b"));
        assert_eq!(t.route("/app/out", "f", plain).unwrap(), Route::Direct);
        assert_eq!(t.route("/", "/etc/passwd", plain).unwrap(), Route::Direct);
    }

    #[test]
    fn entering_a_mount_routes_to_it() {
        let t = table();
        assert_eq!(t.route("/", "tmp/x", plain).unwrap(), mount(1, "x"));
        assert_eq!(t.route("/", "app/out/f", plain).unwrap(), mount(3, "f"));
        assert_eq!(t.route("/app", "out", plain).unwrap(), mount(3, "."));
        assert_eq!(t.route("/app", "out/", plain).unwrap(), mount(3, "./"));
        assert_eq!(t.route("/", "data/a/b/", plain).unwrap(), mount(2, "a/b/"));
    }

    #[test]
    fn dot_dot_at_a_mount_point_goes_to_its_parent_in_the_tree() {
        let t = table();
        assert_eq!(
            t.route("/", "data/../app/app.py", plain).unwrap(),
            mount(0, "app/app.py")
        );
        assert_eq!(
            t.route("/tmp", "../etc/x", plain).unwrap(),
            mount(0, "etc/x")
        );
        assert_eq!(t.route("/app/out", "..", plain).unwrap(), mount(0, "app"));
        assert_eq!(
            t.route("/app/out", "../../data/f", plain).unwrap(),
            mount(2, "f")
        );
        assert_eq!(
            t.route("/app", "../conf/app.ini", plain).unwrap(),
            mount(0, "conf/app.ini"),
            "above the directory given, its mount's root resolves it"
        );
    }

    #[test]
    fn nothing_climbs_out_of_the_tree() {
        let t = table();
        assert_eq!(
            t.route("/tmp", "../../../../etc/x", plain).unwrap(),
            mount(0, "etc/x")
        );
        assert_eq!(t.route("/data", "../..", plain).unwrap(), mount(0, "."));
    }

    #[test]
    fn dot_dot_inside_a_mount_follows_where_symlinks_lead() {
        let t = table();
        // /data/link -> deep/er: /data/link/../.. is /data/deep/er/../.. = /data.
        let canonical = |index: usize, rel: &str| -> io::Result<String> {
            assert_eq!(index, 2);
            Ok(match rel {
                "link" => "deep/er".to_owned(),
                "deep" => "deep".to_owned(),
                other => other.to_owned(),
            })
        };
        assert_eq!(
            t.route("/data", "link/../../../tmp/x", canonical).unwrap(),
            mount(1, "x")
        );
    }

    #[test]
    fn dot_dot_through_a_link_to_a_mount_root_leaves_the_mount() {
        let t = table();
        // /tmp/s -> . : its canonical form is the mount's root, `.`.
        let canonical = |_: usize, rel: &str| -> io::Result<String> {
            Ok(if rel == "s" { ".".into() } else { rel.into() })
        };
        assert_eq!(
            t.route("/tmp", "s/../etc/passwd", canonical).unwrap(),
            mount(0, "etc/passwd")
        );
    }

    #[test]
    fn a_failed_resolution_is_the_error() {
        let t = table();
        let missing =
            |_: usize, _: &str| -> io::Result<String> { Err(io::ErrorKind::NotFound.into()) };
        let err = t.route("/data", "nope/../../x", missing).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn directories_list_the_mount_points_inside_them() {
        let t = MountTable::new(["/tmp", "/app/out", "/data", "/data/in"]);
        assert_eq!(t.children("/"), vec!["tmp", "data"]);
        assert_eq!(t.children("/app"), vec!["out"]);
        assert_eq!(t.children("/data"), vec!["in"]);
        assert!(t.children("/usr").is_empty());
    }

    #[test]
    fn the_longest_point_holds_a_path() {
        let t = table();
        assert_eq!(t.mount_of("/"), 0);
        assert_eq!(t.mount_of("/app/outer"), 0);
        assert_eq!(t.mount_of("/app/out"), 3);
        assert_eq!(t.mount_of("/app/out/x/y"), 3);
        assert_eq!(t.mount_of("/tmpx"), 0);
    }

    #[test]
    fn links_may_not_climb_above_their_directory() {
        for ok in ["f", "d/f", "d/../f", "./f", "a/b/../../c"] {
            assert!(symlink_stays_home(ok), "{ok}");
        }
        for bad in ["..", "../victim", "d/../../x", "/etc/passwd", "", "a/../.."] {
            assert!(!symlink_stays_home(bad), "{bad}");
        }
    }
}
