//! What a build asks of the runtime: programs run inside an image, as
//! Docker's `RUN` runs them in a container of the image built so far.
//!
//! The build itself knows nothing of wasmtime (a server may build images
//! without it, see the `runtime` feature); it hands the runtime a
//! [`BuildRuntime`] call for each step that needs a guest: taking a
//! `[snapshot]`, and compiling Python sources to bytecode with the image's
//! own interpreter.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use super::snapshot::Snapshot;
use crate::image::Image;

/// The runtime a build runs guests with; wharf's runtime implements it.
pub trait BuildRuntime {
    /// Runs `image`'s program (its entrypoint and cmd, resolved as a run
    /// would) until `preload` is done, with randomness drawn from `seed`,
    /// and returns its state as a new module.
    fn snapshot(&self, image: &Image, preload: &[String], seed: [u8; 32]) -> Result<Snapshot>;

    /// Runs `step.argv` in `image` as `wharf run --entrypoint` would (its
    /// tree read-only, a private `/tmp`, its environment and `[launch]`),
    /// with `step.output` mounted writable at `step.output_at`; returns how
    /// it ended and what it wrote. An error means the step could not run at
    /// all; a guest that fails is an [`StepOutcome`] that says so.
    fn run(&self, image: &Image, step: &Step) -> Result<StepOutcome>;
}

/// A program a build runs in an image.
#[derive(Clone, Debug)]
pub struct Step {
    /// The command line; `argv[0]` is found on the image's `PATH`.
    pub argv: Vec<String>,
    /// Variables set over the image's environment.
    pub env: Vec<(String, String)>,
    /// What the program reads from stdin.
    pub stdin: Vec<u8>,
    /// A host directory the program may write to.
    pub output: PathBuf,
    /// Where the program sees [`Step::output`]: an absolute guest path.
    pub output_at: String,
    /// How long it may run before it is stopped; `None` runs it on the
    /// code `wharf run` compiles (without the checks a deadline needs, see
    /// `wharf::runtime::TimeoutBy`), sharing its cached artifact.
    pub timeout: Option<Duration>,
}

/// How a build step's program ended.
#[derive(Clone, Debug)]
pub struct StepOutcome {
    /// `None` when it exited with status 0; else how it ended, in words
    /// ("the guest exited with status 1", "the guest ran out of time").
    pub failure: Option<String>,
    /// What it wrote to stdout (the first MiB).
    pub stdout: String,
    /// What it wrote to stderr (the first MiB).
    pub stderr: String,
}
