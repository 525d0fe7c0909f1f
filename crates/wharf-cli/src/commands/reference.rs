//! The command-line reference generated from the parser's own definitions:
//! every command's `--help`, pinned by snapshot tests and written into
//! docs/cli-reference.md, so that neither can drift from what `wharf`
//! accepts.

/// The width help is laid out to in the reference and the snapshots, so
/// that they do not depend on the terminal the tests run in.
pub const WIDTH: usize = 100;

/// Every command, subcommands depth first, with its full name (`wharf
/// system df`) and its long help as `wharf … --help` prints it.
pub fn helps() -> Vec<(String, String)> {
    let mut root = super::command().term_width(WIDTH);
    root.build();
    let mut out = Vec::new();
    collect(&mut root, "wharf", &mut out);
    out
}

fn collect(command: &mut clap::Command, name: &str, out: &mut Vec<(String, String)>) {
    out.push((name.to_owned(), command.render_long_help().to_string()));
    for sub in command.get_subcommands_mut() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let full = format!("{name} {}", sub.get_name());
        collect(sub, &full, out);
    }
}

/// docs/cli-reference.md's text.
pub fn markdown() -> String {
    let mut text = String::from(
        "# Command-line reference: every `--help`\n\n\
         Generated from the parser's definitions (`crates/wharf-cli/src/commands/reference.rs`);\n\
         a test fails when this file and `wharf` disagree, and\n\
         `WHARF_BLESS=1 cargo test -p wharf-cli reference` rewrites it.\n\
         [The command-line guide](cli.md) explains the commands with examples.\n",
    );
    for (name, help) in helps() {
        text.push_str(&format!(
            "\n## `{name}`\n\n```text\n{}\n```\n",
            help.trim_end()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_help_text_is_pinned() {
        let helps = helps();
        assert!(helps.len() > 15, "every command is listed");
        for (name, help) in helps {
            insta::assert_snapshot!(name.replace(' ', "-"), help);
        }
    }

    #[test]
    fn the_reference_in_docs_is_what_the_parser_says() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli-reference.md");
        let generated = markdown();
        if std::env::var_os("WHARF_BLESS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let written = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            written == generated,
            "docs/cli-reference.md is out of date: run WHARF_BLESS=1 cargo test -p wharf-cli reference"
        );
    }
}
