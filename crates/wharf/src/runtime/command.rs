//! The command a run executes: Docker's rules for entrypoint, cmd and their
//! overrides, and the search of `PATH` for the Wasm binary `argv[0]` names.

use anyhow::Result;

use super::RunError;
use super::filesystem::GuestFs;
use crate::guest_path;
use crate::image::RunConfig;

/// The full argument vector: entrypoint, then cmd. `--entrypoint`
/// replaces the image's entrypoint and drops its cmd; arguments given to
/// `run` replace the cmd.
pub fn command_line(
    config: &RunConfig,
    entrypoint: Option<&[String]>,
    args: &[String],
) -> Result<Vec<String>> {
    let (entrypoint, default_cmd) = match entrypoint {
        Some(e) => (e.to_vec(), Vec::new()),
        None => (config.entrypoint.clone(), config.cmd.clone()),
    };
    let cmd = if args.is_empty() {
        default_cmd
    } else {
        args.to_vec()
    };
    let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        return Err(RunError::NoCommand.into());
    }
    Ok(argv)
}

/// Finds the Wasm binary `argv0` names, as a shell would: a name with a
/// `/` is a path (relative to `workdir`); a bare name is looked up in each
/// `PATH` directory as `NAME`, then `NAME.wasm`. Returns its guest path.
pub fn locate(fs: &GuestFs, argv0: &str, path_var: &str, workdir: &str) -> Result<String> {
    let try_path =
        |candidate: &str| -> Option<String> { fs.is_file(candidate).then(|| candidate.to_owned()) };
    if argv0.contains('/') {
        let path = guest_path::resolve(workdir, argv0);
        for candidate in [path.clone(), format!("{path}.wasm")] {
            if let Some(found) = try_path(&candidate) {
                return Ok(found);
            }
        }
    } else {
        for dir in path_var.split(':').filter(|d| d.starts_with('/')) {
            for name in [argv0.to_owned(), format!("{argv0}.wasm")] {
                if let Some(found) = try_path(&guest_path::resolve(dir, &name)) {
                    return Ok(found);
                }
            }
        }
    }
    Err(RunError::CommandNotFound {
        command: argv0.to_owned(),
        path: path_var.to_owned(),
    }
    .into())
}

/// The index of the script in a `python` command line (`python [OPTIONS]
/// SCRIPT [ARGS]`), as CPython's own parser reads its options: none for
/// `-c`, `-m`, `-` (stdin) or no script. Options that take a value (`-W`,
/// `-X`, `--check-hash-based-pycs`) take the next argument unless it is
/// attached; short flags may be combined (`-uB`).
pub fn python_script(argv: &[String]) -> Option<usize> {
    let mut i = 1;
    while let Some(arg) = argv.get(i) {
        if arg == "--" {
            return (i + 1 < argv.len()).then_some(i + 1);
        }
        if arg == "-" {
            return None;
        }
        if let Some(long) = arg.strip_prefix("--") {
            i += if long == "check-hash-based-pycs" {
                2
            } else {
                1
            };
            continue;
        }
        let Some(flags) = arg.strip_prefix('-') else {
            return Some(i);
        };
        let mut step = 1;
        for (at, flag) in flags.char_indices() {
            match flag {
                'c' | 'm' => return None,
                'W' | 'X' => {
                    if at + 1 == flags.len() {
                        step = 2;
                    }
                    break;
                }
                _ => {}
            }
        }
        i += step;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(entrypoint: &[&str], cmd: &[&str]) -> RunConfig {
        RunConfig {
            entrypoint: entrypoint.iter().map(|s| s.to_string()).collect(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            ..RunConfig::default()
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments_replace_cmd_but_not_entrypoint() {
        let c = config(&["python"], &["app.py"]);
        assert_eq!(
            command_line(&c, None, &[]).unwrap(),
            strings(&["python", "app.py"])
        );
        assert_eq!(
            command_line(&c, None, &strings(&["-c", "1"])).unwrap(),
            strings(&["python", "-c", "1"])
        );
    }

    #[test]
    fn an_entrypoint_override_drops_the_image_cmd() {
        let c = config(&[], &["python", "app.py"]);
        assert_eq!(
            command_line(&c, Some(&strings(&["hello"])), &[]).unwrap(),
            strings(&["hello"])
        );
        assert_eq!(
            command_line(&c, Some(&strings(&["hello"])), &strings(&["x"])).unwrap(),
            strings(&["hello", "x"])
        );
    }

    #[test]
    fn the_script_of_a_python_command_line_is_found_past_its_options() {
        let at = |items: &[&str]| python_script(&strings(items));
        assert_eq!(at(&["python", "app.py", "-c"]), Some(1));
        assert_eq!(at(&["python", "-u", "-B", "app.py"]), Some(3));
        assert_eq!(at(&["python", "-uB", "app.py"]), Some(2));
        assert_eq!(at(&["python", "-W", "ignore", "app.py"]), Some(3));
        assert_eq!(at(&["python", "-Wignore", "app.py"]), Some(2));
        assert_eq!(at(&["python", "-X", "dev", "-u", "a/b.py", "x"]), Some(4));
        assert_eq!(
            at(&["python", "--check-hash-based-pycs", "never", "s.py"]),
            Some(3)
        );
        assert_eq!(at(&["python", "--", "-weird.py"]), Some(2));
        assert_eq!(at(&["python", "-c", "print(1)"]), None);
        assert_eq!(at(&["python", "-uc", "print(1)"]), None);
        assert_eq!(at(&["python", "-m", "http.server"]), None);
        assert_eq!(at(&["python", "-"]), None);
        assert_eq!(at(&["python", "-i"]), None);
        assert_eq!(at(&["python"]), None);
    }

    #[test]
    fn nothing_to_run_is_an_error() {
        let err = command_line(&config(&[], &[]), None, &[]).unwrap_err();
        assert!(matches!(
            err.downcast_ref::<RunError>(),
            Some(RunError::NoCommand)
        ));
    }
}
