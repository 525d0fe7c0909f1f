// The baseline is linked exactly as wharf is, so that the benchmark
// compares what the two do, not how they were linked.
include!("../../crates/wharf-cli/build.rs");
