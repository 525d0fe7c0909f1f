//! Any text given as a Dockerfile converts or fails with an error; it never
//! panics, and what it converts to is a manifest wharf reads.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wharf::convert::{ConvertOptions, convert};
use wharf::manifest::Manifest;

fuzz_target!(|text: &str| {
    if let Ok(conversion) = convert(text, &ConvertOptions::default()) {
        if let Err(error) = Manifest::parse(&conversion.manifest, Path::new("wharf.toml")) {
            panic!("{error}\n{}", conversion.manifest);
        }
        assert!(conversion.notes.iter().all(|n| n.line.is_none_or(|l| l >= 1)));
    }
});
