// How the `wharf` binary is linked. (bench/embed, the benchmark's
// baseline, includes this file to be linked the same way.)

fn main() {
    println!("cargo:rerun-if-env-changed=WHARF_PIE");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || env != "gnu" {
        return;
    }
    // The binary holds some 57,000 pointers (wasmtime's and Cranelift's
    // tables, vtables) that a position-independent executable has the
    // dynamic loader relocate on every start, copying the 850 KB of pages
    // they sit in: about 0.7 ms of a 8 ms run. Linked at a fixed address,
    // the binary starts without that. Its own code is then not randomised
    // (shared libraries, stacks, the heap and every guest's code and memory
    // still are); docs/SECURITY.md weighs this. `WHARF_PIE=1` builds a
    // position-independent binary instead, with its relocations packed
    // (DT_RELR: glibc 2.36, binutils 2.38), which saves part of the time.
    if std::env::var_os("WHARF_PIE").is_some_and(|v| v == "1") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    } else {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
