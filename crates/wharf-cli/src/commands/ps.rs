//! `wharf ps` and `wharf container …`: Docker habits with nothing to act
//! on, since wharf keeps no containers. Each says so in one line and exits
//! 125, as an unknown command does: an empty listing with status 0 would
//! tell a script that nothing is running while `wharf run`s may well be
//! (each one a process of its own, which the system's process list shows).

use clap::Args;

use crate::exit;

/// What `ps` and `container ls` say.
const NO_CONTAINERS: &str = "there are no containers to list: each `wharf run` is a process of its own, \
     which your system's process list shows";

/// Docker's `ps`: refused (hidden from the help).
#[derive(Debug, Args)]
pub struct PsCommand {
    /// Whatever Docker's `ps` would take (`-a`, `-q`…): ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    args: Vec<String>,
}

impl PsCommand {
    pub fn execute(self) -> i32 {
        super::style::error(NO_CONTAINERS);
        exit::WHARF_ERROR
    }
}

/// Docker's `container` commands: refused (hidden from the help).
#[derive(Debug, Args)]
pub struct ContainerCommand {
    /// The `container` subcommand and its arguments: ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    args: Vec<String>,
}

impl ContainerCommand {
    pub fn execute(self) -> i32 {
        match self.args.first().map(String::as_str) {
            Some("ls" | "list" | "ps") => super::style::error(NO_CONTAINERS),
            _ => super::style::error(
                "wharf has no containers to manage: each `wharf run` is a process \
                 of its own (see `wharf --help` for the commands)",
            ),
        }
        exit::WHARF_ERROR
    }
}
