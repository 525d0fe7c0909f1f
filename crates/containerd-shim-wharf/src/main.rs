//! `containerd-shim-wharf-v1`: containerd's runtime `io.containerd.wharf.v1`,
//! which runs wharf images (and other `wasi/wasm` images) in wharf's
//! sandbox, so that the images `wharf build` makes run on a node of a
//! Kubernetes cluster as they run under `wharf run`.
//!
//! containerd starts the shim for each container (or pod). runwasi's
//! `containerd-shim-wasm` does the containerd side: the shim API, the
//! container's root filesystem, namespaces, mounts and cgroup (through
//! youki's libcontainer), and in the container's own process hands over to
//! [`sandbox::WharfSandbox`], which runs the image with the `wharf` library
//! as `wharf run` does. See docs/kubernetes.md.

#[cfg(target_os = "linux")]
mod container;
#[cfg(target_os = "linux")]
mod node;
#[cfg(target_os = "linux")]
mod sandbox;

#[cfg(target_os = "linux")]
fn main() {
    use containerd_shim_wasm::shim::{Cli, Config};
    // Before containerd asks for any container: each container's process
    // is a copy of this one, and inherits the open cache.
    node::open();
    sandbox::WharfShim::run(Config::default());
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!(
        "containerd-shim-wharf-v1 runs on Linux only: containerd's Wasm shims need Linux namespaces and cgroups (use `wharf run` here)"
    );
    std::process::exit(1);
}
