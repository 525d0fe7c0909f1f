// How the `wharf` binary is linked. (bench/embed, the benchmark's
// baseline, includes this file to be linked the same way.)

fn main() {
    // The binary holds some 57,000 pointers (wasmtime's and Cranelift's
    // tables, vtables) that a position-independent executable has the
    // dynamic loader relocate on every start, copying the 850 KB of pages
    // they sit in: about 0.7 ms of a 8 ms run. With the `no-pie` feature
    // (Linux with glibc), the binary is linked at a fixed address and
    // starts without that. Its own code is then not randomised (shared
    // libraries, stacks, the heap and every guest's code and memory still
    // are); docs/SECURITY.md weighs this. Without it, the binary is
    // position-independent, with its relocations packed (DT_RELR, glibc
    // 2.36 and binutils 2.38) where the linker can, which saves part of the
    // time.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || env != "gnu" {
        return;
    }
    if std::env::var_os("CARGO_FEATURE_NO_PIE").is_some() {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
