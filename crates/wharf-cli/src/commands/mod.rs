//! The `wharf` command line: parses flags and prints; the library decides.
//! One module per subcommand, each a struct of flags with an `execute`.

mod build;
mod convert;
mod history;
mod images;
mod init;
mod inspect;
mod output;
mod progress;
mod ps;
#[cfg(test)]
mod reference;
mod rmi;
mod run;
mod save;
mod serve;
mod shell;
mod style;
mod system;
mod tag;
mod transfer;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::exit;
use wharf::runtime::Runtime;
use wharf::store::Store;

/// The tokio runtime a command's async work (registry transfers, guests)
/// runs on: one thread, the command's own.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    Ok(runtime.block_on(future))
}

/// Shows what the library says through `tracing` on stderr, as `wharf:
/// message`: what a user should know always (only warnings under `build
/// -q`), why wharf decided what it did with `--verbose`.
fn diagnostics(verbose: bool, quiet: bool) {
    let level = if verbose {
        tracing::Level::DEBUG
    } else if quiet {
        tracing::Level::WARN
    } else {
        tracing::Level::INFO
    };
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(progress::Stderr)
        .without_time()
        .with_target(false)
        .with_level(false)
        .with_ansi(false)
        .event_format(Prefixed)
        .finish();
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Formats an event as `wharf: message`, as wharf's own messages are.
struct Prefixed;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for Prefixed
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "wharf: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Build, ship and run WebAssembly apps the way containers are built,
/// shipped and run.
#[derive(Debug, Parser)]
#[command(name = "wharf", about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// Say what wharf decides and why (on stderr).
    #[arg(long, global = true, help_heading = "Global Options")]
    verbose: bool,

    /// When to colour what wharf prints on stderr: auto colours a terminal
    /// unless NO_COLOR is set.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value_t,
        help_heading = "Global Options"
    )]
    color: style::ColorWhen,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Init(init::InitCommand),
    Build(build::BuildCommand),
    Convert(convert::ConvertCommand),
    Run(run::RunCommand),
    Serve(serve::ServeCommand),
    Images(images::ImagesCommand),
    History(history::HistoryCommand),
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
    Completions(shell::CompletionsCommand),
    #[command(hide = true)]
    ManPages(shell::ManPagesCommand),
    #[command(hide = true)]
    Ps(ps::PsCommand),
    /// Docker's `container …` and its verbs for containers (`stop`,
    /// `logs`, `exec`…): each says that wharf keeps no containers.
    #[command(
        hide = true,
        aliases = ["stop", "kill", "logs", "exec", "start", "restart", "attach", "top", "wait", "rm", "create"]
    )]
    Container(ps::ContainerCommand),
}

/// What `wharf --version` says: wharf's version, the commit it was built
/// from (`git describe`, `-modified` when the tree had changes), and the
/// wasmtime it runs guests with.
pub fn version() -> String {
    let commit = git_version::git_version!(
        args = ["--always", "--dirty=-modified", "--abbrev=12"],
        fallback = "unknown"
    );
    format!(
        "{} (commit {commit}, wasmtime {})",
        env!("CARGO_PKG_VERSION"),
        wharf::runtime::WASMTIME_VERSION
    )
}

/// The command line's definition, with its version.
pub fn command() -> clap::Command {
    Cli::command().version(version())
}

/// Runs the command line and returns the process exit status.
pub fn main() -> i32 {
    let args = help_alias(std::env::args_os().collect());
    let color = style::ColorWhen::from_args(&args);
    color.apply();
    let first_word = first_word(&args);
    let parsed = command()
        .color(color.for_clap())
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        // An unknown command (not `system`'s, whose tip clap makes well).
        Err(e)
            if e.kind() == clap::error::ErrorKind::InvalidSubcommand
                && invalid_word(&e) == first_word.as_deref() =>
        {
            unknown_command(&e);
            return exit::WHARF_ERROR;
        }
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
    cli.color.apply();
    let quiet = matches!(&cli.command, Command::Build(build) if build.quiet());
    diagnostics(cli.verbose, quiet);
    // The TLS provider registries are reached through: the library leaves
    // the choice to whoever embeds it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let result = match cli.command {
        Command::Init(command) => return command.execute(),
        Command::Run(command) => return command.execute(),
        Command::Serve(command) => return command.execute(),
        Command::Ps(command) => return command.execute(),
        Command::Container(command) => return command.execute(),
        Command::Convert(command) => return command.execute(),
        Command::Build(command) => command.execute(),
        Command::Images(command) => command.execute(),
        Command::History(command) => command.execute(),
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
        Command::Completions(command) => command.execute(),
        Command::ManPages(command) => command.execute(),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            report(&e);
            exit::for_error(&e)
        }
    }
}

/// An unknown command: clap's own tip would suggest hidden commands too
/// (`man-pages` for `imagse`), so the tip is made here, from the commands
/// `wharf --help` lists, by the same measure (Jaro, as clap and cargo).
fn unknown_command(error: &clap::Error) {
    let typed = invalid_word(error).unwrap_or_default();
    let command = command();
    let mut close: Vec<(f64, &str)> = command
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| (strsim::jaro(typed, s.get_name()), s.get_name()))
        .filter(|(score, _)| *score > 0.8)
        .collect();
    close.sort_by(|a, b| b.0.total_cmp(&a.0));
    let tip = match close.first() {
        Some((_, name)) => format!("; did you mean `{name}`?"),
        None => String::new(),
    };
    style::error(format_args!(
        "unrecognized command '{typed}'{tip} (`wharf --help` lists them)"
    ));
}

/// The word clap took for an unknown subcommand.
fn invalid_word(error: &clap::Error) -> Option<&str> {
    match error.get(clap::error::ContextKind::InvalidSubcommand) {
        Some(clap::error::ContextValue::String(typed)) => Some(typed.as_str()),
        _ => None,
    }
}

/// The command word: the first argument that is no global flag.
fn first_word(args: &[std::ffi::OsString]) -> Option<String> {
    let mut words = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(word) = words.next() {
        if word == "--color" {
            words.next();
        } else if !word.starts_with('-') {
            return Some(word.into_owned());
        }
    }
    None
}

/// `wharf run -h` with nothing after it is `wharf run --help`: `-h`
/// before IMAGE is Docker's `--hostname` (which `run` refuses with a
/// word), but alone it can only be a request for help.
fn help_alias(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let words: Vec<&std::ffi::OsStr> = args
        .iter()
        .skip(1)
        .filter(|a| *a != "--verbose")
        .map(|a| a.as_os_str())
        .collect();
    if words == ["run", "-h"]
        && let Some(h) = args.iter().rposition(|a| a == "-h")
    {
        args[h] = "--help".into();
    }
    args
}

/// Prints an error and its causes, one line each: `wharf: error: …`; a
/// manifest's excerpt in colour where colours are on.
pub fn report(error: &anyhow::Error) {
    match error.downcast_ref::<wharf::manifest::ManifestError>() {
        Some(manifest) if colors_on_stderr() => style::error(manifest.colored()),
        _ => style::error(error),
    }
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

/// Whether `anstream` keeps colours on stderr (`--color`, `NO_COLOR`, a
/// terminal).
fn colors_on_stderr() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
}

fn open_store() -> anyhow::Result<Store> {
    Store::open_default()
}

/// The runtime a command uses: no pool of sandboxes (it runs a guest or
/// two), and with the `packed-tables` feature, modules kept mapped until
/// the process exits so that their tables are read in place.
fn runtime(store: &Store) -> anyhow::Result<Runtime> {
    let builder = Runtime::builder().store(store).on_demand();
    #[cfg(feature = "packed-tables")]
    let builder = builder.pin_loaded_modules();
    builder.build()
}
