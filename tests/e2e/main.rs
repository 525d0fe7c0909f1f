//! End-to-end tests: the real `wharf` binary, real Wasm guests built by the
//! scripts in `guest-examples/`, a real store on disk.

mod build;
mod cache;
mod containerd;
mod containerd_support;
mod convert;
mod crash;
// The examples' shell sessions run under `sh`.
#[cfg(unix)]
mod docs;
mod errors;
mod escape;
mod guests;
mod hostile;
mod housekeeping;
mod images;
mod init;
mod interrupt;
mod launch;
mod limits;
mod messages;
mod python;
mod python_sci;
mod registry;
mod registry_support;
mod run;
mod save;
mod serve;
mod shell;
mod snapshot;
mod store;
mod support;
mod tree;
mod walkthrough;
