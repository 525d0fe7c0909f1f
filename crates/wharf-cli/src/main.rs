//! The `wharf` command: a thin shell over the `wharf` library. Flags become
//! the library's values, its results are printed, and exit statuses are
//! decided here.

mod commands;
mod exit;

#[cfg(all(target_os = "linux", feature = "prefault-alloc"))]
mod alloc;

fn main() {
    std::process::exit(commands::main());
}

/// On Linux with the `prefault-alloc` feature, blocks allocated while a
/// compiled module loads get their pages up front; see [`alloc`].
#[cfg(all(target_os = "linux", feature = "prefault-alloc"))]
#[global_allocator]
static ALLOCATOR: alloc::Prefaulting = alloc::Prefaulting;
