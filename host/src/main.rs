//! The `wharf` command.

fn main() {
    std::process::exit(wharf::cli::main());
}

/// On Linux, blocks allocated while a compiled module loads get their pages
/// up front; see [`wharf::runtime::alloc`].
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: wharf::runtime::alloc::Prefaulting = wharf::runtime::alloc::Prefaulting;
