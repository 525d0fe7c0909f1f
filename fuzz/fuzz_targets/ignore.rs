//! Any `.wharfignore` parses or fails with a message; matching any path
//! against what parsed never panics, and a pattern that excludes a
//! directory excludes what is below it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::ignore::IgnoreRules;

fuzz_target!(|input: &str| {
    // The rules, then the paths to match, after a NUL.
    let (rules, paths) = input.split_once('\0').unwrap_or((input, "a/b/c"));
    let Ok(rules) = IgnoreRules::parse(rules) else { return };
    for path in paths.split('\0') {
        let excluded = rules.is_excluded(path);
        if excluded && !rules.has_exceptions() && !path.is_empty() {
            assert!(rules.is_excluded(&format!("{path}/below")), "{path}");
        }
    }
});
