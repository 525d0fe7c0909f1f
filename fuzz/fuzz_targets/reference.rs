//! Any text parses as an image reference or is refused; what parses
//! prints back to something that parses to the same reference.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::reference::ImageRef;

fuzz_target!(|text: &str| {
    if let Ok(reference) = text.parse::<ImageRef>() {
        let again: ImageRef = reference.to_string().parse().expect("a printed reference parses");
        assert_eq!(again, reference);
    }
});
