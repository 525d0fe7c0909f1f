//! Any text given as `wharf.toml` parses or fails with an error that points
//! into it; it never panics.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wharf::manifest::Manifest;

fuzz_target!(|text: &str| {
    match Manifest::parse(text, Path::new("wharf.toml")) {
        Ok(manifest) => {
            for copy in &manifest.copies {
                let _ = manifest.error_at(copy.dest.span(), "check").to_string();
            }
        }
        Err(error) => {
            let rendered = error.to_string();
            assert!(rendered.starts_with("wharf.toml:"), "{rendered}");
            assert!(error.line() >= 1 && error.column() >= 1);
        }
    }
});
