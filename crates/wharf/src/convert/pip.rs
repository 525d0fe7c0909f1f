//! `RUN pip install …`, the one kind of RUN a wharf manifest has an
//! equivalent for: `[python] requirements`.

/// What one command of a RUN is, for the translation.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// `pip install` of requirements files and packages, with the options
    /// that change what pip installs (which the manifest cannot say).
    Install {
        files: Vec<String>,
        packages: Vec<String>,
        options: Vec<String>,
    },
    /// Upgrading pip, setuptools or wheel: pip runs on the host.
    UpgradePip,
    /// `python -m compileall`: the build compiles bytecode itself.
    Compile,
    /// `pip cache purge` and the like: nothing to keep in an image that
    /// pip never ran in.
    Nothing,
    /// Anything else.
    Other,
}

/// pip options that change nothing in a wharf build, and whether each
/// takes a value.
const IGNORED: [(&str, bool); 24] = [
    ("--no-cache-dir", false),
    ("--no-cache", false),
    ("-U", false),
    ("--upgrade", false),
    ("--user", false),
    ("-q", false),
    ("-qq", false),
    ("-qqq", false),
    ("--quiet", false),
    ("-v", false),
    ("--verbose", false),
    ("--disable-pip-version-check", false),
    ("--no-warn-script-location", false),
    ("--no-warn-conflicts", false),
    ("--no-compile", false),
    ("--compile", false),
    ("--root-user-action", true),
    ("--progress-bar", true),
    ("--break-system-packages", false),
    ("--no-input", false),
    ("--upgrade-strategy", true),
    ("--force-reinstall", false),
    ("--ignore-installed", false),
    ("-I", false),
];

/// pip options that take a value (so that it is not read as a package).
const WITH_VALUE: [&str; 14] = [
    "-i",
    "--index-url",
    "--extra-index-url",
    "-c",
    "--constraint",
    "-f",
    "--find-links",
    "--only-binary",
    "--no-binary",
    "--trusted-host",
    "-t",
    "--target",
    "--prefix",
    "--platform",
];

/// Reads one command of a RUN, split into words.
pub(super) fn step(words: &[String]) -> Step {
    let Some(rest) = pip_arguments(words) else {
        let is_python = words.first().is_some_and(|w| is_python(w));
        if is_python && words.get(1..3).is_some_and(|w| w == ["-m", "compileall"]) {
            return Step::Compile;
        }
        return Step::Other;
    };
    // pip's general options may come before the command.
    let mut at = 0;
    while at < rest.len() && rest[at].starts_with('-') {
        at += 1 + usize::from(takes_value(&rest[at]));
    }
    match rest.get(at).map(String::as_str) {
        Some("install") => install(&rest[at + 1..]),
        Some("cache" | "check" | "list" | "freeze") => Step::Nothing,
        _ => Step::Other,
    }
}

/// The arguments after `pip`, `pip3`, `pip3.11` or `python -m pip`.
fn pip_arguments(words: &[String]) -> Option<&[String]> {
    let first = base_name(words.first()?);
    let is_pip = first == "pip"
        || first
            .strip_prefix("pip")
            .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'));
    if is_pip {
        return Some(&words[1..]);
    }
    if is_python(first) && words.get(1..3)? == ["-m", "pip"] {
        return Some(&words[3..]);
    }
    None
}

/// `python`, `python3`, `python3.11`, by any path.
pub(super) fn is_python(word: &str) -> bool {
    base_name(word)
        .strip_prefix("python")
        .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

fn base_name(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

fn takes_value(option: &str) -> bool {
    !option.contains('=')
        && (WITH_VALUE.contains(&option)
            || IGNORED.iter().any(|(o, value)| *value && *o == option)
            || ["-r", "--requirement", "-e", "--editable"].contains(&option))
}

fn install(args: &[String]) -> Step {
    let mut files = Vec::new();
    let mut packages = Vec::new();
    let mut options = Vec::new();
    let mut upgrade = false;
    let mut at = 0;
    while at < args.len() {
        let arg = args[at].as_str();
        at += 1;
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_owned())),
            _ => (arg, None),
        };
        let mut value = || {
            inline.clone().or_else(|| {
                let value = args.get(at).cloned();
                at += 1;
                value
            })
        };
        if name == "-r" || name == "--requirement" {
            files.extend(value());
        } else if let Some(file) = name.strip_prefix("-r").filter(|f| !f.is_empty()) {
            files.push(file.to_owned());
        } else if name == "-U" || name == "--upgrade" {
            upgrade = true;
        } else if let Some((_, with_value)) = IGNORED.iter().find(|(o, _)| *o == name) {
            if *with_value {
                value();
            }
        } else if name.starts_with('-') {
            let mut option = arg.to_owned();
            if inline.is_none()
                && takes_value(name)
                && let Some(v) = value()
            {
                option = format!("{arg} {v}");
            }
            options.push(option);
        } else {
            packages.push(arg.to_owned());
        }
    }
    let tools = ["pip", "setuptools", "wheel"];
    if files.is_empty()
        && options.is_empty()
        && upgrade
        && !packages.is_empty()
        && packages.iter().all(|p| tools.contains(&p.as_str()))
    {
        return Step::UpgradePip;
    }
    Step::Install {
        files,
        packages,
        options,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(command: &str) -> Step {
        let words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
        step(&words)
    }

    fn install(files: &[&str], packages: &[&str], options: &[&str]) -> Step {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Step::Install {
            files: owned(files),
            packages: owned(packages),
            options: owned(options),
        }
    }

    #[test]
    fn every_way_of_calling_pip_is_recognised() {
        for command in [
            "pip install -r requirements.txt",
            "pip3 install --no-cache-dir -r requirements.txt",
            "pip3.11 install -U -q -r requirements.txt",
            "python -m pip install --requirement requirements.txt",
            "python3 -m pip install --requirement=requirements.txt --root-user-action ignore",
            "/usr/local/bin/pip --no-cache-dir install -rrequirements.txt",
            "pip install --progress-bar off --disable-pip-version-check -r requirements.txt",
        ] {
            assert_eq!(
                read(command),
                install(&["requirements.txt"], &[], &[]),
                "{command}"
            );
        }
    }

    #[test]
    fn packages_and_meaningful_options_are_kept_apart() {
        assert_eq!(
            read("pip install flask==3.0 gunicorn"),
            install(&[], &["flask==3.0", "gunicorn"], &[])
        );
        assert_eq!(
            read("pip install --index-url https://x/simple --no-deps -r r.txt"),
            install(
                &["r.txt"],
                &[],
                &["--index-url https://x/simple", "--no-deps"]
            )
        );
        assert_eq!(read("pip install -e ."), install(&[], &[], &["-e ."]));
    }

    #[test]
    fn the_rest_is_told_apart() {
        assert_eq!(
            read("pip install --upgrade pip setuptools wheel"),
            Step::UpgradePip
        );
        assert_eq!(read("python -m pip install -U pip"), Step::UpgradePip);
        assert_eq!(read("pip cache purge"), Step::Nothing);
        assert_eq!(read("python -m compileall /app"), Step::Compile);
        assert_eq!(read("apt-get install -y curl"), Step::Other);
        assert_eq!(read("pipx install black"), Step::Other);
        assert_eq!(read("python app.py"), Step::Other);
    }
}
