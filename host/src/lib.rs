//! wharf: build, ship and run WebAssembly apps the way containers are built,
//! shipped and run.
//!
//! The crate is both the library behind the `wharf` command and an embedding
//! API. The pieces, in the order an image flows through them:
//!
//! - [`manifest`]: parses `wharf.toml`, the Dockerfile of wharf;
//! - [`build`]: turns a manifest and its build context into an OCI image;
//! - [`store`]: the local image store (an OCI image layout on disk);
//! - [`runtime`]: runs an image, or a bare `.wasm` file, under wasmtime with a
//!   capability-scoped filesystem and environment.
//!
//! ```no_run
//! use wharf::{runtime::{Runtime, RunSpec, Program}, store::Store};
//!
//! # fn main() -> anyhow::Result<()> {
//! let store = Store::open_default()?;
//! let runtime = Runtime::new(&store)?;
//! let spec = RunSpec::new(Program::Image("my-first-image".into()))
//!     .env("APP_ENV", "Staging");
//! let exit = runtime.run(&spec)?;
//! std::process::exit(exit.code());
//! # }
//! ```

pub mod archive;
pub mod build;
#[macro_use]
pub mod diagnostics;
#[cfg(all(feature = "runtime", feature = "registry"))]
pub mod cli;
pub mod digest;
#[cfg(feature = "runtime")]
pub mod exit;
pub mod guest_path;
pub mod ignore;
pub mod image;
pub mod launch;
pub mod layer;
pub mod manifest;
pub mod reference;
#[cfg(feature = "registry")]
pub mod registry;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod store;
pub mod units;
