//! The `wharf` command line: parses flags and prints; the library decides.
//! One module per subcommand, each a struct of flags with an `execute`.

mod build;
mod images;
mod inspect;
mod rmi;
mod run;
mod save;
mod system;
mod tag;
mod transfer;

use clap::{Parser, Subcommand};

use crate::exit;
use crate::store::Store;

/// Build, ship and run WebAssembly apps the way containers are built,
/// shipped and run.
#[derive(Debug, Parser)]
#[command(name = "wharf", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// Say what wharf decides and why (on stderr).
    #[arg(long, global = true)]
    verbose: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Build(build::BuildCommand),
    Run(run::RunCommand),
    Images(images::ImagesCommand),
    Rmi(rmi::RmiCommand),
    Tag(tag::TagCommand),
    Inspect(inspect::InspectCommand),
    System(system::SystemCommand),
    Save(save::SaveCommand),
    Load(save::LoadCommand),
    Push(transfer::PushCommand),
    Pull(transfer::PullCommand),
    Login(transfer::LoginCommand),
    Logout(transfer::LogoutCommand),
}

/// Runs the command line and returns the process exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => exit::WHARF_ERROR,
            };
        }
    };
    crate::diagnostics::set_verbose(cli.verbose);
    let result = match cli.command {
        Command::Run(command) => return command.execute(),
        Command::Build(command) => command.execute(),
        Command::Images(command) => command.execute(),
        Command::Rmi(command) => command.execute(),
        Command::Tag(command) => command.execute(),
        Command::Inspect(command) => command.execute(),
        Command::System(command) => command.execute(),
        Command::Save(command) => command.execute(),
        Command::Load(command) => command.execute(),
        Command::Push(command) => command.execute(),
        Command::Pull(command) => command.execute(),
        Command::Login(command) => command.execute(),
        Command::Logout(command) => command.execute(),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            report(&e);
            exit::FAILURE
        }
    }
}

/// Prints an error and its causes, one line each: `wharf: error: …`.
pub fn report(error: &anyhow::Error) {
    eprintln!("wharf: error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

fn open_store() -> anyhow::Result<Store> {
    Store::open_default()
}
