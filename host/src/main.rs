//! The `wharf` command.

fn main() {
    std::process::exit(wharf::cli::main());
}
