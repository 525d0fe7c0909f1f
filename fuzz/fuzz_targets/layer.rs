//! Any bytes given as a layer (plain tar, or gzip when they start like
//! gzip) unpack or fail; nothing is ever written outside the target
//! directory, and nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::layer::{ModuleIndex, apply_layer};

fuzz_target!(|bytes: &[u8]| {
    let arena = tempfile::tempdir().unwrap();
    let target = arena.path().join("tree");
    std::fs::create_dir(&target).unwrap();
    let root = cap_std::fs::Dir::open_ambient_dir(&target, cap_std::ambient_authority()).unwrap();
    let mut modules = ModuleIndex::new();
    let _ = if bytes.starts_with(&[0x1f, 0x8b]) {
        apply_layer(flate2::read::GzDecoder::new(bytes), &root, &mut modules)
    } else {
        apply_layer(bytes, &root, &mut modules)
    };
    // Only the tree itself may exist beside it.
    let beside: Vec<_> = std::fs::read_dir(arena.path()).unwrap().collect();
    assert_eq!(beside.len(), 1, "the layer wrote outside its tree");
    for (path, _) in modules {
        assert!(path.starts_with('/') && !path.contains("/../"), "{path}");
    }
});
