//! The runtime's side of a build: [`BuildRuntime`] for [`Runtime`].

use anyhow::Result;

use super::call::{Call, Output, TimeoutBy};
use super::filesystem::Mount;
use super::{LoadOptions, Runtime, Source};
use crate::build::{BuildRuntime, Snapshot, Step, StepOutcome};
use crate::image::Image;

/// How much of a step's stdout and of its stderr is kept.
const OUTPUT_KEPT: usize = 1 << 20;

impl BuildRuntime for Runtime {
    fn snapshot(&self, image: &Image, preload: &[String], seed: [u8; 32]) -> Result<Snapshot> {
        self.take_snapshot(image, preload, seed)
    }

    fn run(&self, image: &Image, step: &Step) -> Result<StepOutcome> {
        let config = image.run_config();
        let limits = config.limits()?;
        // As `wharf run` loads it: counting fuel only if the image limits
        // it, with deadline checks only if the step has a deadline.
        let options = LoadOptions::new()
            .interruptible(step.timeout.is_some())
            .fuel(limits.fuel.is_some());
        let app = self.load_with(Source::Image(image.id.to_string()), options)?;
        let mut call = Call::new()
            .stdin(step.stdin.clone())
            .stdout(Output::capture(OUTPUT_KEPT))
            .stderr(Output::capture(OUTPUT_KEPT))
            .mount(Mount {
                host: step.output.clone(),
                guest: step.output_at.clone(),
                read_only: false,
            });
        match step.timeout {
            Some(timeout) => call = call.timeout(timeout),
            // The image's own `[limits] timeout` is for its runs: a step
            // without a deadline runs without one.
            None => call.timeout_by = TimeoutBy::Caller,
        }
        call.entrypoint = Some(step.argv.clone());
        call.args = Some(Vec::new());
        for (key, value) in &step.env {
            call = call.env(key, value);
        }
        let outcome = app.call(call)?;
        Ok(StepOutcome {
            failure: (!outcome.exit.success()).then(|| outcome.exit.to_string()),
            stdout: outcome.stdout.text(),
            stderr: outcome.stderr.text(),
        })
    }
}
