//! `wharf build`: manifests, COPY, .wharfignore and the flags, checked
//! through what the built image holds and does.

use serde_json::Value;

use crate::support::{Wharf, context, hello_context, hello_store, repo};

fn inspect(wharf: &Wharf, image: &str) -> Value {
    let out = wharf.run(["inspect", image]).ok();
    serde_json::from_str::<Value>(&out.stdout).unwrap()[0].clone()
}

/// Lists `dir` inside `image` with the C guest.
fn ls(wharf: &Wharf, image: &str, dir: &str) -> Vec<String> {
    let out = wharf
        .run([
            "run",
            "--entrypoint",
            "/usr/bin/hello.wasm",
            image,
            "--quiet",
            "--ls",
            dir,
        ])
        .ok();
    out.lines()
        .iter()
        .skip(1)
        .map(|l| l.trim().to_owned())
        .collect()
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn build_prints_steps_and_the_image_id_and_quiet_prints_only_the_id() {
    let wharf = Wharf::new();
    crate::support::hello_c();
    let ctx = repo().join("guest-examples/hello-c");
    let out = wharf
        .run(["build", "-t", "hello-c", ctx.to_str().unwrap()])
        .ok();
    assert!(out.stdout.trim().starts_with("sha256:"), "{out}");
    assert_eq!(out.lines().len(), 1, "{out}");
    out.stderr_has(&[
        "[1/3] FROM scratch",
        "COPY hello.wasm /usr/bin/",
        "Successfully tagged hello-c:latest",
    ]);

    let quiet = wharf.run(["build", "-q", ctx.to_str().unwrap()]).ok();
    assert_eq!(quiet.stdout, out.stdout);
    assert_eq!(quiet.stderr, "");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn several_tags_and_another_manifest_file_are_honoured() {
    let wharf = Wharf::new();
    let ctx = hello_context("");
    std::fs::write(
        ctx.path().join("other.toml"),
        "from = \"scratch\"\nentrypoint = [\"/hello.wasm\"]\n[[copy]]\nsrc = \"hello.wasm\"\ndest = \"/\"\n",
    )
    .unwrap();
    let manifest = ctx.path().join("other.toml");
    let out = wharf
        .run([
            "build",
            "-t",
            "multi:1",
            "-t",
            "multi:2",
            "--tag",
            "localhost:5000/me/multi",
            "-f",
            manifest.to_str().unwrap(),
            ctx.path().to_str().unwrap(),
        ])
        .ok();
    let id = out.stdout.trim();
    let images = wharf.run(["images"]).ok();
    for (repo, tag) in [
        ("multi", "1"),
        ("multi", "2"),
        ("localhost:5000/me/multi", "latest"),
    ] {
        assert!(
            images
                .lines()
                .iter()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()[..3]
                    == [repo, tag, &id["sha256:".len().."sha256:".len() + 12]]),
            "{repo}:{tag} missing:\n{images}"
        );
    }
    wharf
        .run(["run", "multi:2", "--quiet", "--exit", "3"])
        .code(3);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn env_workdir_cmd_and_labels_build_on_the_base_like_docker() {
    let wharf = hello_store();
    let ctx = hello_context(
        r#"
from = "hello-c"
workdir = "/srv/app"
cmd = ["--ls", "."]
labels = { "org.opencontainers.image.title" = "child", "team" = "wharf" }

[env]
GREETING = "from the child"
EXTRA = 42

[[copy]]
src = "hello.wasm"
dest = "bin/"
"#,
    );
    wharf.build("child", ctx.path());
    let image = inspect(&wharf, "child");
    let config = &image["Config"];
    assert_eq!(config["WorkingDir"], "/srv/app");
    // ENTRYPOINT is inherited; CMD is the child's.
    assert_eq!(config["Entrypoint"], serde_json::json!(["hello"]));
    assert_eq!(config["Cmd"], serde_json::json!(["--ls", "."]));
    assert_eq!(config["Labels"]["team"], "wharf");
    let env: Vec<&str> = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(env, ["GREETING=from the child", "EXTRA=42"]);
    // The relative destination landed under the working directory, which
    // relative paths in the guest resolve from.
    let out = wharf.run(["run", "child"]).ok();
    out.stdout_has(&["env GREETING=from the child", ".:\n  bin\n"]);

    // A relative workdir builds on the base's.
    let nested = hello_context("from = \"child\"\nworkdir = \"bin\"\n");
    wharf.build("grandchild", nested.path());
    assert_eq!(
        inspect(&wharf, "grandchild")["Config"]["WorkingDir"],
        "/srv/app/bin"
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_new_entrypoint_drops_the_inherited_cmd() {
    let wharf = hello_store();
    let base = hello_context("from = \"hello-c\"\ncmd = [\"--exit\", \"9\"]\n");
    wharf.build("with-cmd", base.path());
    wharf.run(["run", "with-cmd", "--quiet"]).code(0);
    wharf.run(["run", "with-cmd"]).code(9);
    let child = hello_context("from = \"with-cmd\"\nentrypoint = [\"/usr/bin/hello.wasm\"]\n");
    wharf.build("new-entry", child.path());
    assert_eq!(inspect(&wharf, "new-entry")["Config"]["Cmd"], Value::Null);
    wharf.run(["run", "new-entry"]).code(0);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn copy_handles_files_directories_globs_and_renames() {
    let wharf = hello_store();
    let ctx = hello_context(
        r#"
from = "hello-c"
workdir = "/w"

[[copy]]
src = "src"
dest = "/code"

[[copy]]
src = "*.cfg"
dest = "/etc/app/"

[[copy]]
src = "notes.txt"
dest = "/doc/README"

[[copy]]
src = ["src/a.py", "notes.txt"]
dest = "."
"#,
    );
    for (path, text) in [
        ("src/a.py", "a"),
        ("src/pkg/b.py", "b"),
        ("one.cfg", "1"),
        ("two.cfg", "2"),
        ("notes.txt", "n"),
    ] {
        let path = ctx.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    wharf.build("copies", ctx.path());
    // A directory source copies its contents, as Docker's COPY does.
    assert_eq!(ls(&wharf, "copies", "/code"), ["a.py", "pkg"]);
    assert_eq!(ls(&wharf, "copies", "/code/pkg"), ["b.py"]);
    assert_eq!(ls(&wharf, "copies", "/etc/app"), ["one.cfg", "two.cfg"]);
    assert_eq!(ls(&wharf, "copies", "/doc"), ["README"]);
    assert_eq!(ls(&wharf, "copies", "/w"), ["a.py", "notes.txt"]);
    let out = wharf
        .run([
            "run",
            "copies",
            "--quiet",
            "--cat",
            "/doc/README",
            "--cat",
            "/code/pkg/b.py",
        ])
        .ok();
    assert_eq!(out.stdout, "nb");
    // Each COPY is a layer on top of the base's, and the image's labels
    // are one more, which replaces the base's (docs/kubernetes.md).
    assert_eq!(
        inspect(&wharf, "copies")["Layers"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn wharfignore_patterns_doublestar_and_exceptions_follow_dockerignore() {
    let wharf = hello_store();
    let ctx = hello_context("from = \"hello-c\"\n[[copy]]\nsrc = \".\"\ndest = \"/ctx/\"\n");
    for path in [
        "keep.txt",
        "drop.log",
        "deep/er/drop.log",
        "deep/keep.md",
        "secret/key",
        "secret/public.pem",
        "notes.md",
        "README.md",
    ] {
        let path = ctx.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "x").unwrap();
    }
    std::fs::write(
        ctx.path().join(".wharfignore"),
        "# comments are skipped\n**/*.log\nsecret\n!secret/public.pem\n*.md\n!README.md\nhello.wasm\n",
    )
    .unwrap();
    wharf.build("ignored", ctx.path());
    assert_eq!(
        ls(&wharf, "ignored", "/ctx"),
        [
            ".wharfignore",
            "README.md",
            "deep",
            "keep.txt",
            "secret",
            "wharf.toml"
        ]
    );
    assert_eq!(ls(&wharf, "ignored", "/ctx/deep"), ["er", "keep.md"]);
    assert!(ls(&wharf, "ignored", "/ctx/deep/er").is_empty());
    assert_eq!(ls(&wharf, "ignored", "/ctx/secret"), ["public.pem"]);
}

#[test]
fn copying_an_ignored_file_by_name_is_an_error() {
    let wharf = Wharf::new();
    let ctx = context(&[
        (
            "wharf.toml",
            "from = \"scratch\"\n[[copy]]\nsrc = \".env\"\ndest = \"/\"\n",
        ),
        (".env", "SECRET=1"),
        (".wharfignore", ".env\n"),
    ]);
    wharf
        .run(["build", ctx.path().to_str().unwrap()])
        .code(1)
        .stderr_has(&["wharf.toml:3:7", "'.env' is excluded by .wharfignore"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn limits_are_parsed_and_stored_in_the_image() {
    let wharf = Wharf::new();
    let ctx = hello_context(
        "from = \"scratch\"\n[limits]\nmemory = \"256MiB\"\ntimeout = \"30s\"\nfuel = 1000000\n[[copy]]\nsrc = \"hello.wasm\"\ndest = \"/\"\n",
    );
    wharf.build("limited", ctx.path());
    assert_eq!(
        inspect(&wharf, "limited")["Config"]["Limits"],
        serde_json::json!({"memory": 268435456, "timeout": 30000, "fuel": 1000000})
    );
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn building_without_a_tag_keeps_the_image_until_removed() {
    let wharf = Wharf::new();
    let ctx = hello_context(
        "from = \"scratch\"\nentrypoint = [\"/hello.wasm\"]\n[[copy]]\nsrc = \"hello.wasm\"\ndest = \"/\"\n",
    );
    let out = wharf
        .run(["build", "-q", ctx.path().to_str().unwrap()])
        .ok();
    let id = out.stdout.trim().to_owned();
    let images = wharf.run(["images"]).ok();
    assert!(images.stdout.contains("<none>"), "{images}");
    // Runnable by ID prefix, as with docker.
    wharf
        .run([
            "run",
            &id["sha256:".len()..][..12],
            "--quiet",
            "--exit",
            "5",
        ])
        .code(5);
    wharf.run(["rmi", &id]).ok();
    assert_eq!(wharf.run(["images", "-q"]).ok().stdout, "");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_pinned_base_is_used_as_pinned_and_recorded_in_the_image() {
    let wharf = hello_store();
    let base = inspect(&wharf, "hello-c")["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ctx = hello_context(&format!(
        "from = \"hello-c:latest@{base}\"\n[[copy]]\nsrc = \"hello.wasm\"\ndest = \"/again/\"\n"
    ));
    let out = wharf
        .run(["build", "-t", "pinned", ctx.path().to_str().unwrap()])
        .ok();
    assert!(!out.stderr.contains("not pinned"), "{out}");
    let image = inspect(&wharf, "pinned");
    let labels = &image["Config"]["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.base.digest"],
        base.as_str()
    );
    assert_eq!(
        labels["org.opencontainers.image.base.name"],
        format!("hello-c:latest@{base}").as_str()
    );
    let history = image["History"].as_array().unwrap();
    assert_eq!(
        history[1]["created_by"],
        format!("FROM hello-c:latest@{base}").as_str()
    );
    assert_eq!(history[1]["empty_layer"], true);
    let listed = wharf.run(["history", "pinned"]).ok();
    let from: Vec<&str> = listed.lines()[3].split_whitespace().collect();
    assert_eq!(from[..2], ["<none>", "FROM"], "{listed}");
    assert!(from[2].starts_with("hello-c:latest@sha256:"), "{listed}");

    // The tag moves on; the pinned base does not.
    wharf.run(["tag", "hello-c", "old-hello"]).ok();
    wharf.build("hello-c", ctx.path());
    let moved = inspect(&wharf, "hello-c")["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(moved, base);
    let out = wharf
        .run(["build", "-t", "pinned-again", ctx.path().to_str().unwrap()])
        .ok();
    out.stderr_has(&[&format!(
        "hello-c:latest is {} in the store; building on the pinned {}",
        &moved[7..19],
        &base[7..19]
    )]);
    assert_eq!(
        inspect(&wharf, "pinned-again")["Config"]["Labels"]["org.opencontainers.image.base.digest"],
        base.as_str()
    );

    // A pinned image the store does not hold: say what it holds instead.
    wharf
        .run(["rmi", "old-hello", "pinned", "pinned-again"])
        .ok();
    wharf
        .run(["build", ctx.path().to_str().unwrap()])
        .code(1)
        .stderr_has(&[
            &format!("base image hello-c:latest@{base} is not in the local store"),
            &format!("hello-c:latest is {} there", &moved[7..19]),
            &format!("from = \"hello-c:latest@{moved}\""),
        ]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_base_without_a_tag_or_tagged_latest_gets_one_warning() {
    let wharf = hello_store();
    wharf.run(["tag", "hello-c", "hello-c:1.0"]).ok();
    let id = inspect(&wharf, "hello-c")["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (from, warned) in [
        ("hello-c", true),
        ("hello-c:latest", true),
        ("hello-c:1.0", false),
    ] {
        let ctx = hello_context(&format!("from = \"{from}\"\n"));
        let out = wharf
            .run(["build", "-q", ctx.path().to_str().unwrap()])
            .ok();
        let warnings = out.stderr.matches("is not pinned").count();
        assert_eq!(warnings, usize::from(warned), "{from}: {out}");
        if warned {
            out.stderr_has(&[&format!("pin it as hello-c@{id}")]);
        }
    }
}
