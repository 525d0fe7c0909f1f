//! `wharf history`, `wharf system df` and `--format json`: what a store
//! holds, told to people and to scripts.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::support::{Wharf, hello_context, hello_store};

fn json(wharf: &Wharf, args: &[&str]) -> Value {
    let out = wharf.run(args).ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The bytes of the regular files under `dir`, and how many there are.
fn files(dir: &Path) -> (u64, usize) {
    let mut total = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            let (bytes, count) = files(&entry.path());
            total = (total.0 + bytes, total.1 + count);
        } else if kind.is_file() {
            total = (total.0 + entry.metadata().unwrap().len(), total.1 + 1);
        }
    }
    total
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn history_lists_each_layer_with_the_step_that_made_it_newest_first() {
    let wharf = hello_store();
    let long_dest = format!("/{}/", "deep".repeat(15));
    let ctx = hello_context(&format!(
        "from = \"hello-c\"\n[[copy]]\nsrc = \"hello.wasm\"\ndest = \"/again/\"\n\
         [[copy]]\nsrc = \"hello.wasm\"\ndest = \"{long_dest}\"\n"
    ));
    wharf.build("stacked", ctx.path());
    let inspect = json(&wharf, &["inspect", "stacked"]);
    let layers = inspect[0]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 4, "base, two COPYs, labels");

    let out = wharf.run(["history", "stacked"]).ok();
    let lines = out.lines();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["LAYER", "CREATED", "BY", "SIZE", "COMMENT"],
        "no CREATED column without recorded dates:\n{out}"
    );
    assert_eq!(lines.len(), 6, "{out}");
    // Where the base ends: a step with no layer, naming the base pinned.
    let base = json(&wharf, &["inspect", "hello-c"])[0]["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let from: Vec<&str> = lines[4].split_whitespace().collect();
    assert_eq!(from[..2], ["<none>", "FROM"], "{out}");
    assert!(format!("hello-c@{base}").starts_with(from[2].trim_end_matches('…')));
    assert_eq!(from[3..], ["0B", "wharf", "build"]);
    // Docker's width: 45 characters, the last an ellipsis.
    let long_step = format!("COPY hello.wasm {long_dest}");
    let cut = format!("{}…", &long_step[..44]);
    let steps = [
        "LABELS copied into /.wharf/labels.json",
        &cut,
        "COPY hello.wasm /again/",
        "COPY hello.wasm /usr/bin/",
    ];
    let layered = lines[1..4].iter().chain(&lines[5..]);
    for ((line, layer), step) in layered.zip(layers.iter().rev()).zip(steps) {
        let digest = layer["Digest"].as_str().unwrap();
        assert!(line.starts_with(&digest[7..19]), "{line} for {digest}");
        assert!(line.contains(step), "{line} lacks {step}");
        assert!(line.ends_with("wharf build"), "{line}");
    }

    let whole = wharf.run(["history", "--no-trunc", "stacked"]).ok();
    whole.stdout_has(&[
        &format!("COPY hello.wasm {long_dest}"),
        layers[0]["Digest"].as_str().unwrap(),
    ]);

    let quiet = wharf.run(["history", "-q", "--no-trunc", "stacked"]).ok();
    let newest_first: Vec<&str> = layers
        .iter()
        .rev()
        .map(|l| l["Digest"].as_str().unwrap())
        .collect();
    assert_eq!(quiet.lines(), newest_first);

    let steps = json(&wharf, &["history", "--format", "json", "stacked"]);
    let mut steps = steps.as_array().unwrap().clone();
    assert_eq!(steps.len(), 5);
    let from = steps.remove(3);
    assert_eq!(from["Layer"], Value::Null);
    assert_eq!(from["Size"], 0);
    assert_eq!(from["CreatedBy"], format!("FROM hello-c@{base}").as_str());
    for (step, layer) in steps.iter().zip(layers.iter().rev()) {
        assert_eq!(step["Layer"], layer["Digest"]);
        assert_eq!(step["Size"], layer["Size"]);
        assert_eq!(step["Snapshot"], false);
        assert_eq!(step["CreatedAt"], Value::Null);
    }
    assert_eq!(steps[2]["CreatedBy"], "COPY hello.wasm /again/");

    wharf
        .run(["history", "no-such-image"])
        .code(1)
        .stderr_has(&["no such image: no-such-image"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn history_shows_when_each_step_ran_for_a_dated_build() {
    let wharf = hello_store();
    let ctx =
        hello_context("from = \"hello-c\"\n[[copy]]\nsrc = \"hello.wasm\"\ndest = \"/again/\"\n");
    let out = wharf
        .command(["build", "-q", "-t", "dated"])
        .arg(ctx.path())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = wharf.run(["history", "dated"]).ok();
    assert_eq!(
        out.lines()[0].split_whitespace().collect::<Vec<_>>(),
        ["LAYER", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    );
    // 2023-11-14: years ago, whenever the test runs; the base was built
    // without a date.
    assert!(out.lines()[1].contains(" years ago "), "{out}");
    assert!(out.lines()[3].contains(" years ago "), "{out}");
    assert!(out.lines()[4].contains(" N/A "), "{out}");
    let steps = json(&wharf, &["history", "--format", "json", "dated"]);
    assert_eq!(steps[0]["CreatedAt"], "2023-11-14T22:13:20Z");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn images_format_json_gives_every_tag_with_its_id_time_and_size() {
    let wharf = hello_store();
    wharf
        .run(["tag", "hello-c", "registry.example:5000/team/greeter:v1"])
        .ok();
    let inspect = json(&wharf, &["inspect", "hello-c"]);
    let images = json(&wharf, &["images", "--format", "json"]);
    let images = images.as_array().unwrap();
    assert_eq!(images.len(), 2);
    let mut names: Vec<(String, String)> = images
        .iter()
        .map(|i| {
            (
                i["Repository"].as_str().unwrap().to_owned(),
                i["Tag"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("hello-c".to_owned(), "latest".to_owned()),
            (
                "registry.example:5000/team/greeter".to_owned(),
                "v1".to_owned()
            )
        ]
    );
    for image in images {
        assert_eq!(image["ID"], inspect[0]["Id"]);
        assert_eq!(image["Size"], inspect[0]["Size"]);
        assert_eq!(image["CreatedSince"], "Less than a minute ago");
        let created = humantime::parse_rfc3339(image["CreatedAt"].as_str().unwrap()).unwrap();
        assert!(SystemTime::now().duration_since(created).unwrap() < Duration::from_secs(3600));
    }
    wharf
        .run(["images", "--format", "yaml"])
        .code(125)
        .stderr_has(&["invalid value 'yaml'", "json"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn system_df_counts_what_prune_would_free_and_prune_frees_it() {
    let wharf = hello_store();
    let ctx = hello_context(
        "from = \"hello-c\"\nentrypoint = [\"/extra/hello.wasm\"]\n[[copy]]\nsrc = \"hello.wasm\"\ndest = \"/extra/\"\n",
    );
    wharf.build("extra", ctx.path());
    wharf.run(["run", "extra", "--quiet"]).ok();
    // Leftovers of interrupted writes: one two hours old, one just made.
    let tmp = wharf.home().join("tmp");
    let old = std::fs::File::create(tmp.join(".tmpOLD")).unwrap();
    old.set_len(1000).unwrap();
    old.set_modified(SystemTime::now() - Duration::from_secs(7200))
        .unwrap();
    std::fs::write(tmp.join(".tmpNEW"), [0u8; 500]).unwrap();

    let df = json(&wharf, &["system", "df", "--format", "json"]);
    let (blob_bytes, blobs) = files(&wharf.home().join("blobs"));
    assert_eq!(df["Images"]["Count"], 2);
    assert_eq!(
        df["Images"]["Bytes"], blob_bytes,
        "every blob belongs to an image"
    );
    assert_eq!(df["Images"]["ReclaimableBytes"], 0);
    assert_eq!(df["UnreferencedBlobs"]["Count"], 0);
    assert_eq!(df["Snapshots"]["Count"], 0);
    let trees = std::fs::read_dir(wharf.home().join("rootfs"))
        .unwrap()
        .count();
    assert_eq!(df["UnpackedTrees"]["Count"], trees);
    assert_eq!(df["UnpackedTrees"]["ReclaimableCount"], 0);
    let (artifact_bytes, artifacts) = files(&wharf.home().join("artifacts"));
    assert!(artifacts >= 1);
    assert_eq!(df["CompiledArtifacts"]["Count"], artifacts);
    assert_eq!(df["CompiledArtifacts"]["Bytes"], artifact_bytes);
    assert_eq!(
        df["CompiledArtifacts"]["ReclaimableBytes"], 0,
        "both trees need it"
    );
    assert_eq!(df["Staging"]["Count"], 2);
    assert_eq!(df["Staging"]["Bytes"], 1500);
    assert_eq!(
        df["Staging"]["ReclaimableBytes"], 1000,
        "only the old leftover"
    );
    assert_eq!(df["Total"]["ReclaimableBytes"], 1000);
    assert_eq!(df["Store"], wharf.home().to_str().unwrap());

    let table = wharf.run(["system", "df"]).ok();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["TYPE", "TOTAL", "SIZE", "RECLAIMABLE"]);
    assert_eq!(rows[1][..2], ["Images", "2"]);
    assert_eq!(rows.last().unwrap()[0], "Total");
    let staging = table
        .lines()
        .into_iter()
        .find(|l| l.starts_with("Staging (tmp/)"))
        .unwrap();
    assert_eq!(
        staging.split_whitespace().collect::<Vec<_>>(),
        ["Staging", "(tmp/)", "2", "1.50kB", "1.00kB", "(66%)"]
    );

    // Without images, every tree goes at once and every artifact becomes
    // reclaimable; prune then frees exactly what df promised.
    wharf.run(["rmi", "extra", "hello-c"]).ok();
    assert_eq!(
        files(&wharf.home().join("blobs")),
        (0, 0),
        "{blobs} blobs collected"
    );
    let df = json(&wharf, &["system", "df", "--format", "json"]);
    assert_eq!(df["Images"]["Count"], 0);
    assert_eq!(df["UnpackedTrees"]["Count"], 0);
    assert_eq!(df["CompiledArtifacts"]["ReclaimableBytes"], artifact_bytes);
    let promised = df["Total"]["ReclaimableBytes"].as_u64().unwrap();
    assert_eq!(promised, artifact_bytes + 1000);
    let freed = wharf.run(["system", "prune", "-f"]).ok();
    freed.stdout_has(&[&format!("{} freed", wharf::units::human_size(promised))]);
    let df = json(&wharf, &["system", "df", "--format", "json"]);
    assert_eq!(df["Total"]["ReclaimableBytes"], 0);
    assert_eq!(df["CompiledArtifacts"]["Count"], 0);
    assert_eq!(df["Staging"]["Count"], 1, "the fresh leftover stays");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_listing_read_only_in_part_ends_quietly() {
    let wharf = hello_store();
    for tag in ["a", "b", "c"] {
        wharf.run(["tag", "hello-c", tag]).ok();
    }
    for args in [
        &["images"][..],
        &["history", "hello-c"],
        &["system", "df"],
        &["images", "--format", "json"],
    ] {
        // A pipe whose reader is gone: every write meets it closed.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = wharf
            .command(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// Runs `wharf system prune ARGS` with `answer` on its stdin.
fn prune_answering(wharf: &Wharf, args: &[&str], answer: &str) -> crate::support::Outcome {
    use std::io::Write;
    let mut child = wharf
        .command(["system", "prune"].iter().chain(args))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    crate::support::Outcome::from_output(child.wait_with_output().unwrap())
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn prune_asks_first_and_removes_untagged_images_then_with_all_every_image() {
    let wharf = hello_store();
    let ctx =
        hello_context("from = \"hello-c\"\n[[copy]]\nsrc = \"hello.wasm\"\ndest = \"/again/\"\n");
    let out = wharf
        .command(["build", "-q"])
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let df = json(&wharf, &["system", "df", "--format", "json"]);
    assert_eq!(df["Images"]["Count"], 2);
    assert_eq!(df["Images"]["ReclaimableCount"], 1, "the untagged one");
    let reclaimable = df["Images"]["ReclaimableBytes"].as_u64().unwrap();
    assert!(reclaimable > 0 && reclaimable < df["Images"]["Bytes"].as_u64().unwrap());

    for answer in ["n\n", "", "maybe\n"] {
        prune_answering(&wharf, &[], answer).code(1).stderr_has(&[
            "WARNING! This will remove:",
            "images without a tag",
            "[y/N]",
            "nothing was removed: not confirmed (pass -f",
        ]);
        assert_eq!(
            json(&wharf, &["images", "--format", "json"])
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
    let out = prune_answering(&wharf, &[], "y\n").ok();
    out.stdout_has(&[&format!("Deleted: {id}"), "removed 1 image,"]);
    wharf
        .run(["run", &id])
        .code(125)
        .stderr_has(&["no such image"]);
    wharf.run(["run", "hello-c", "--quiet"]).ok();

    // A guest running on an image keeps it through `--all`.
    let mut running = wharf
        .command([
            "run",
            "hello-c",
            "--quiet",
            "--write",
            "/tmp/kept",
            "x",
            "--sleep",
            "600",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !std::fs::read_dir(wharf.home().join("tmp"))
        .unwrap()
        .any(|run| run.unwrap().path().join("kept").exists())
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let kept = wharf.run(["system", "prune", "--all", "-f"]).ok();
    kept.stdout_has(&["removed 0 images"]);
    assert_eq!(
        json(&wharf, &["images", "--format", "json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    running.kill().unwrap();
    running.wait().unwrap();

    let out = prune_answering(&wharf, &["--all"], "yes\n").ok();
    out.stderr_has(&["every image no running guest is using"]);
    out.stdout_has(&["Untagged: hello-c:latest", "removed 1 image,"]);
    assert_eq!(wharf.run(["images", "-q"]).ok().stdout, "");
    assert_eq!(files(&wharf.home().join("blobs")), (0, 0));
}
