//! Hostile paths through the guest's one file tree: routing never panics,
//! never lands outside the tree, and, where no symlink is involved, lands
//! exactly where Linux's lexical resolution would; a symlink target that
//! is allowed never climbs above its directory.
//!
//! Input: mount points (comma-separated), a newline, the directory a path
//! is relative to, a newline, the path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::guest_path;
use wharf::guest_tree::{MountTable, Route, symlink_stays_home};

fuzz_target!(|text: &str| {
    let mut lines = text.splitn(3, '\n');
    let (Some(points), Some(base), Some(path)) = (lines.next(), lines.next(), lines.next()) else {
        return;
    };
    let table = MountTable::new(points.split(',').filter(|p| !p.is_empty()).take(16));
    let base = guest_path::resolve("/", base);
    let identity = |_: usize, rel: &str| -> std::io::Result<String> { Ok(rel.to_owned()) };
    let expected = guest_path::resolve(&base, path);
    match table.route(&base, path, identity).expect("no symlinks, no errors") {
        Route::Direct => {
            if !path.starts_with('/') && !path.is_empty() {
                assert!(guest_path::is_within(&expected, &base), "{expected} left {base}");
                assert_eq!(table.mount_of(&expected), table.mount_of(&base));
            }
        }
        Route::Mount { index, rel } => {
            assert!(index < table.points().len());
            assert!(!rel.is_empty() && !rel.starts_with('/'), "{rel:?}");
            assert!(rel.split('/').all(|part| part != ".."), "{rel:?} climbs");
            let landed = guest_path::resolve(&table.points()[index], &rel);
            assert_eq!(landed, expected);
            assert_eq!(table.mount_of(&landed), index);
        }
    }
    if symlink_stays_home(path) {
        let dir = "/link/dir";
        assert!(guest_path::is_within(&guest_path::resolve(dir, path), dir), "{path}");
    }
});
