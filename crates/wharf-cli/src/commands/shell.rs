//! The modules that implement `wharf completions` and the man pages `make
//! install` writes: both generated from the command line's definition, so
//! that they cannot drift from it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use clap_complete::Shell;

/// Print a completion script for a shell: `wharf completions bash >
/// /etc/bash_completion.d/wharf` (bash, zsh, fish, powershell, elvish).
#[derive(Debug, Args)]
pub struct CompletionsCommand {
    /// The shell the script is for.
    #[arg(value_enum)]
    shell: Shell,
}

impl CompletionsCommand {
    pub fn execute(self) -> Result<()> {
        let mut command = completable(&super::command());
        let mut script = Vec::new();
        clap_complete::generate(self.shell, &mut command, "wharf", &mut script);
        super::output::emit(&String::from_utf8_lossy(&script))
    }
}

/// `command` without its hidden subcommands and flags, which
/// clap_complete would offer otherwise: `ps`, `man-pages`, and the Docker
/// flags `run` refuses (`-p`, `-d`, `--name`…) are for typing by habit
/// and being told what to do instead, not for tab completion.
fn completable(command: &clap::Command) -> clap::Command {
    let mut shown = clap::Command::new(command.get_name().to_owned())
        .args(
            command
                .get_arguments()
                .filter(|a| !a.is_hide_set())
                .cloned(),
        )
        .subcommands(
            command
                .get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(completable),
        )
        .visible_aliases(command.get_visible_aliases().map(str::to_owned));
    if let Some(about) = command.get_about() {
        shown = shown.about(about.clone());
    }
    if let Some(version) = command.get_version() {
        shown = shown.version(version.to_owned());
    }
    if command.is_disable_help_flag_set() {
        shown = shown.disable_help_flag(true);
    }
    shown
}

/// Write the man pages (`wharf.1`, `wharf-build.1`, …) into a directory.
#[derive(Debug, Args)]
pub struct ManPagesCommand {
    /// Where to write them (created if missing).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

impl ManPagesCommand {
    pub fn execute(self) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        clap_mangen::generate_to(super::command(), &self.dir)
            .with_context(|| format!("cannot write the man pages into {}", self.dir.display()))
    }
}
