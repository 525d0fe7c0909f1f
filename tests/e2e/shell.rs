//! `wharf --version`, `wharf completions` and `make install`: what a shell
//! needs of wharf.

use std::process::Command;

use crate::support::{Wharf, repo};

/// The version of a package as Cargo.lock records it.
fn locked_version(package: &str) -> String {
    let lock = std::fs::read_to_string(repo().join("Cargo.lock")).unwrap();
    let entry = format!("name = \"{package}\"\nversion = \"");
    let start = lock.find(&entry).unwrap() + entry.len();
    lock[start..].split('"').next().unwrap().to_owned()
}

#[test]
fn version_names_wharf_its_commit_and_wasmtime() {
    let out = Wharf::new().run(["--version"]).ok();
    let line = out.stdout.trim_end();
    let expected_start = format!("wharf {} (commit ", env!("CARGO_PKG_VERSION"));
    let expected_end = format!(", wasmtime {})", locked_version("wasmtime"));
    assert!(line.starts_with(&expected_start), "{line}");
    assert!(line.ends_with(&expected_end), "{line}");
    let commit = &line[expected_start.len()..line.len() - expected_end.len()];
    let commit = commit.strip_suffix("-modified").unwrap_or(commit);
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(repo())
            .output()
            .unwrap()
    };
    if git(&["rev-parse", "HEAD"]).status.success() {
        // The commit the binary was built from: this checkout's, or one
        // before it when commits were made since the build.
        assert!(commit.len() >= 7, "{commit}");
        let full = git(&["rev-parse", "--verify", &format!("{commit}^{{commit}}")]);
        assert!(
            full.status.success(),
            "{commit} is no commit of this repository"
        );
        let full = String::from_utf8(full.stdout).unwrap();
        let ancestor = git(&["merge-base", "--is-ancestor", full.trim(), "HEAD"]);
        assert!(
            ancestor.status.success(),
            "{commit} is not HEAD or before it"
        );
    } else {
        // Built from a tarball, not a clone: git has nothing to say.
        assert_eq!(commit, "unknown");
    }
    assert_eq!(Wharf::new().run(["-V"]).ok().stdout, out.stdout);
}

/// Runs bash completion for `line` (the words typed so far, the last one
/// being completed) with the script `wharf completions bash` prints.
fn complete_in_bash(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let words_array = words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let program = format!(
        "source '{}'; COMP_WORDS=({words_array}); COMP_CWORD={}; COMP_LINE='{}'; COMP_POINT=${{#COMP_LINE}}; \
         _wharf wharf '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words.len() - 1,
        words.join(" "),
        words[words.len() - 1],
        words[words.len().saturating_sub(2)],
    );
    let out = Command::new("bash")
        .args(["-c", &program])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[cfg_attr(not(feature = "toolchain-tests"), ignore = "needs make")]
#[test]
fn make_install_puts_the_binary_man_pages_and_completions_in_place() {
    let staging = tempfile::tempdir().unwrap();
    let out = Command::new("make")
        .args(["-s", "install-built", "PREFIX=/usr"])
        .arg(format!("WHARF={}", env!("CARGO_BIN_EXE_wharf")))
        .arg(format!("DESTDIR={}", staging.path().display()))
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let usr = staging.path().join("usr");

    let installed = usr.join("bin/wharf");
    let version = Command::new(&installed).arg("--version").output().unwrap();
    assert!(
        String::from_utf8(version.stdout)
            .unwrap()
            .starts_with("wharf ")
    );

    let man = usr.join("share/man/man1");
    let page = std::fs::read_to_string(man.join("wharf.1")).unwrap();
    assert!(page.starts_with(".ie \\n(.g .ds Aq"), "roff");
    assert!(page.contains(".TH wharf 1"), "{page}");
    for sub in ["build", "run", "history", "system-df", "completions"] {
        let page = std::fs::read_to_string(man.join(format!("wharf-{sub}.1"))).unwrap();
        assert!(page.contains(&format!(".TH wharf-{sub} 1")), "{sub}");
    }
    assert!(
        !man.join("wharf-man-pages.1").exists(),
        "the hidden command has no page"
    );

    let bash = usr.join("share/bash-completion/completions/wharf");
    assert_eq!(complete_in_bash(&bash, &["wharf", "hi"]), ["history"]);
    let mut system = complete_in_bash(&bash, &["wharf", "system", ""]);
    system.retain(|w| !w.starts_with('-'));
    system.sort();
    assert_eq!(system, ["check", "df", "help", "prune"]);
    assert!(complete_in_bash(&bash, &["wharf", "run", "--ti"]).contains(&"--timeout".to_owned()));
    // What is hidden is not offered: the commands and Docker flags that
    // exist only to say what to do instead.
    let top = complete_in_bash(&bash, &["wharf", ""]);
    assert!(top.contains(&"build".to_owned()), "{top:?}");
    for hidden in ["ps", "container", "man-pages"] {
        assert!(!top.contains(&hidden.to_owned()), "{hidden} in {top:?}");
    }
    let run = complete_in_bash(&bash, &["wharf", "run", "-"]);
    assert!(run.contains(&"--memory".to_owned()), "{run:?}");
    assert!(
        run.contains(&"--color".to_owned()),
        "global flags too: {run:?}"
    );
    for hidden in ["-p", "--publish", "-d", "--detach", "--name", "--hostname"] {
        assert!(!run.contains(&hidden.to_owned()), "{hidden} in {run:?}");
    }
    // (bash falls back to file names for a build context; zsh completes
    // directories, below.)

    let zsh = std::fs::read_to_string(usr.join("share/zsh/site-functions/_wharf")).unwrap();
    assert!(zsh.starts_with("#compdef wharf"), "{zsh}");
    assert!(
        zsh.contains(":context -- The build context") && zsh.contains("_files -/"),
        "a build context completes as a directory: {zsh}"
    );
    let fish =
        std::fs::read_to_string(usr.join("share/fish/vendor_completions.d/wharf.fish")).unwrap();
    assert!(fish.contains("complete -c wharf"), "{fish}");
}

#[test]
fn completions_know_every_shell_and_refuse_others() {
    let wharf = Wharf::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = wharf.run(["completions", shell]).ok();
        assert!(out.stdout.contains("history"), "{shell}: {out}");
    }
    wharf
        .run(["completions", "tcsh"])
        .code(125)
        .stderr_has(&["invalid value 'tcsh'", "bash"]);
}
