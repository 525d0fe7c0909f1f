//! The module that implements the `wharf build` command.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use wharf::build::{BuildOptions, build_with_runtime};
use wharf::reference::ImageRef;
use wharf::runtime::PrecompileProgress;

/// Build an image from a wharf.toml and a build context.
#[derive(Debug, Args)]
pub struct BuildCommand {
    /// Name and optionally a tag (NAME[:TAG]); repeat for several.
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    tags: Vec<ImageRef>,

    /// The manifest (default: CONTEXT/wharf.toml).
    #[arg(short = 'f', long = "file", value_name = "MANIFEST", value_hint = clap::ValueHint::FilePath)]
    file: Option<PathBuf>,

    /// Print nothing but the image ID.
    #[arg(short, long)]
    quiet: bool,

    /// Run every step afresh: pip installs the requirements again (an
    /// unpinned one to its newest version) and snapshots are taken again,
    /// as `docker build --no-cache` does.
    #[arg(long)]
    no_cache: bool,

    /// The build context: the directory COPY sources are read from.
    #[arg(value_name = "CONTEXT", value_hint = clap::ValueHint::DirPath)]
    context: PathBuf,
}

impl BuildCommand {
    /// `-q`: the build says nothing but the image ID, and the library's
    /// notes (a compile starting) are left out too.
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    pub fn execute(self) -> Result<()> {
        let store = super::open_store()?;
        let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(text) if !text.is_empty() => Some(
                text.parse::<u64>()
                    .ok()
                    .filter(|secs| *secs <= 253_402_300_799)
                    .with_context(|| {
                        format!("SOURCE_DATE_EPOCH must be seconds since 1970, before the year 10000, not '{text}'")
                    })?,
            ),
            _ => None,
        };
        let options = BuildOptions {
            context: self.context,
            manifest: self.file,
            tags: self.tags,
            source_date_epoch,
            no_cache: self.no_cache,
        };
        let quiet = self.quiet;
        let runtime = super::runtime(&store)?;
        let steps = StepSpinner::new(quiet);
        let output = build_with_runtime(
            &store,
            &options,
            &mut |line| steps.line(line),
            Some(&runtime),
        );
        steps.done();
        let output = output?;
        // Compile what the image runs now, so that its first run is fast.
        let started = std::time::Instant::now();
        let bar = CompileBar::new(quiet);
        let report = runtime.precompile(&output.image, &bar)?;
        bar.done();
        if !quiet {
            if !report.compiled.is_empty() {
                eprintln!(
                    "compiled {} ahead of time in {:.1}s",
                    report.compiled.join(", "),
                    started.elapsed().as_secs_f64()
                );
            }
            for (path, why) in &report.failed {
                super::style::warning(format_args!("{path} will not run: {why}"));
            }
        }
        if !quiet {
            for tag in &output.tags {
                eprintln!("Successfully tagged {tag}");
            }
        }
        println!("{}", output.id);
        Ok(())
    }
}

/// The build's step lines, and on a terminal a spinner under the step
/// that runs with the time it has taken (a pip install or a snapshot takes
/// seconds to minutes). Elsewhere, the lines alone.
struct StepSpinner {
    bar: indicatif::ProgressBar,
    quiet: bool,
}

impl StepSpinner {
    fn new(quiet: bool) -> Self {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = if quiet || !terminal {
            indicatif::ProgressBar::hidden()
        } else {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} [{elapsed}]")
                    .expect("a valid template"),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            super::progress::drawing(&bar);
            bar
        };
        Self { bar, quiet }
    }

    fn line(&self, line: &str) {
        if !self.quiet {
            self.bar.suspend(|| eprintln!("{line}"));
            self.bar.reset_elapsed();
        }
    }

    fn done(&self) {
        super::progress::done();
        self.bar.finish_and_clear();
    }
}

/// A progress bar for compiling, shown on a terminal once compiling takes
/// more than a moment.
pub(crate) struct CompileBar {
    /// Hidden until there is something to compile.
    bar: indicatif::ProgressBar,
    quiet: bool,
    /// Say, in one line, that compiling starts, where no bar can be drawn.
    announce: bool,
}

impl CompileBar {
    pub(crate) fn new(quiet: bool) -> Self {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} compiling ahead of time {pos}/{len} [{elapsed}] {msg}",
            )
            .expect("a valid template"),
        );
        let announce = !quiet && !std::io::IsTerminal::is_terminal(&std::io::stderr());
        Self {
            bar,
            quiet,
            announce,
        }
    }

    pub(crate) fn done(&self) {
        super::progress::done();
        self.bar.finish_and_clear();
    }
}

impl PrecompileProgress for CompileBar {
    fn starting(&self, count: usize) {
        self.bar.set_length(count as u64);
        if count > 0 && self.announce {
            eprintln!(
                "compiling {count} program{} ahead of time (a large module takes a while)…",
                if count == 1 { "" } else { "s" }
            );
        }
        if count > 0 && !self.quiet {
            self.bar
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
            self.bar
                .enable_steady_tick(std::time::Duration::from_millis(120));
            super::progress::drawing(&self.bar);
        }
    }

    fn finished(&self, guest_path: &str) {
        self.bar.set_message(guest_path.to_owned());
        self.bar.inc(1);
    }
}
