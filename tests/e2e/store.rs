//! The store on disk: a valid OCI image layout, reproducible digests, and
//! no corruption when several wharf processes work at once.

use std::path::Path;

use serde_json::Value;

use crate::support::{Wharf, hello_context, hello_store};

/// The paths inside a tar+gzip layer blob, in archive order.
pub fn layer_paths(blob: &Path) -> Vec<String> {
    let file = std::fs::File::open(blob).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_owned()
        })
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// Checks every blob named in the layout against its digest and returns
/// the tags of index.json.
fn verify_layout(home: &Path) -> Vec<String> {
    assert_eq!(
        read_json(&home.join("oci-layout")),
        serde_json::json!({"imageLayoutVersion": "1.0.0"})
    );
    let index = read_json(&home.join("index.json"));
    assert_eq!(index["schemaVersion"], 2);
    let blob = |digest: &str| {
        home.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let mut tags = Vec::new();
    for entry in index["manifests"].as_array().unwrap() {
        assert_eq!(
            entry["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        let digest = entry["digest"].as_str().unwrap();
        assert_eq!(format!("sha256:{}", sha256_hex(&blob(digest))), digest);
        let manifest = read_json(&blob(digest));
        assert_eq!(manifest["schemaVersion"], 2);
        assert_eq!(
            manifest["config"]["mediaType"],
            "application/vnd.oci.image.config.v1+json"
        );
        let config_digest = manifest["config"]["digest"].as_str().unwrap();
        assert_eq!(
            format!("sha256:{}", sha256_hex(&blob(config_digest))),
            config_digest
        );
        let config = read_json(&blob(config_digest));
        assert_eq!(
            (config["os"].as_str(), config["architecture"].as_str()),
            (Some("wasi"), Some("wasm"))
        );
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(
            layers.len(),
            config["rootfs"]["diff_ids"].as_array().unwrap().len()
        );
        for layer in layers {
            assert_eq!(
                layer["mediaType"],
                "application/vnd.oci.image.layer.v1.tar+gzip"
            );
            let d = layer["digest"].as_str().unwrap();
            assert_eq!(format!("sha256:{}", sha256_hex(&blob(d))), d);
            assert_eq!(
                std::fs::metadata(blob(d)).unwrap().len(),
                layer["size"].as_u64().unwrap()
            );
        }
        if let Some(name) = entry["annotations"]["org.opencontainers.image.ref.name"].as_str() {
            tags.push(name.to_owned());
        }
    }
    tags
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn the_store_is_a_valid_oci_image_layout_with_wasi_wasm_images() {
    let wharf = hello_store();
    let tags = verify_layout(wharf.home());
    assert_eq!(tags, vec!["hello-c:latest"]);
    let out = wharf.run(["inspect", "hello-c"]).ok();
    let image: Value = serde_json::from_str(&out.stdout).unwrap();
    let config = &image[0]["Config"];
    assert_eq!(config["Entrypoint"], serde_json::json!(["hello"]));
    assert_eq!(config["WorkingDir"], "/");
    assert!(
        config["Env"]
            .as_array()
            .unwrap()
            .contains(&"GREETING=from the image".into())
    );
    assert_eq!(image[0]["Os"], "wasi");
    assert_eq!(image[0]["Architecture"], "wasm");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn the_same_context_builds_the_same_digest_anywhere() {
    let manifest = "from = \"scratch\"\nentrypoint = [\"hello\"]\n[[copy]]\nsrc = [\"hello.wasm\", \"data\"]\ndest = \"/opt/\"\n";
    let first = hello_context(manifest);
    std::fs::create_dir_all(first.path().join("data/b")).unwrap();
    std::fs::write(first.path().join("data/a.txt"), "a").unwrap();
    std::fs::write(first.path().join("data/b/c.txt"), "c").unwrap();
    let id1 = Wharf::new().build("repro", first.path());

    // Another directory, other file times, files created in another order,
    // another store.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = hello_context(manifest);
    std::fs::create_dir_all(second.path().join("data/b")).unwrap();
    std::fs::write(second.path().join("data/b/c.txt"), "c").unwrap();
    std::fs::write(second.path().join("data/a.txt"), "a").unwrap();
    let id2 = Wharf::new().build("other-name", second.path());
    assert_eq!(id1, id2);

    // A change of content changes the digest.
    std::fs::write(second.path().join("data/a.txt"), "A").unwrap();
    assert_ne!(Wharf::new().build("repro", second.path()), id1);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn concurrent_builds_and_runs_leave_a_consistent_store() {
    let wharf = hello_store();
    let contexts: Vec<_> = (0..6)
        .map(|i| {
            hello_context(&format!(
                "from = \"hello-c\"\n[env]\nN = \"{i}\"\n[[copy]]\nsrc = \"hello.wasm\"\ndest = \"/srv/{i}/\"\n"
            ))
        })
        .collect();
    let children: Vec<_> = contexts
        .iter()
        .enumerate()
        .flat_map(|(i, ctx)| {
            let build = wharf
                .command([
                    "build",
                    "-q",
                    "-t",
                    &format!("parallel:{i}"),
                    ctx.path().to_str().unwrap(),
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let run = wharf
                .command(["run", "hello-c", "--quiet", "--exit", "7"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            [build, run]
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        let expected = if i % 2 == 0 { 0 } else { 7 };
        assert_eq!(
            out.status.code(),
            Some(expected),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut tags = verify_layout(wharf.home());
    tags.sort();
    let mut expected: Vec<String> = (0..6).map(|i| format!("parallel:{i}")).collect();
    expected.push("hello-c:latest".into());
    expected.sort();
    assert_eq!(tags, expected);
    for i in 0..6 {
        let out = wharf
            .run([
                "run",
                &format!("parallel:{i}"),
                "--quiet",
                "--ls",
                &format!("/srv/{i}"),
            ])
            .ok();
        assert!(out.stdout.contains("hello.wasm"), "{out}");
    }
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn removing_images_deletes_unreferenced_blobs_only() {
    let wharf = hello_store();
    let ctx =
        hello_context("from = \"hello-c\"\n[[copy]]\nsrc = \"hello.wasm\"\ndest = \"/extra/\"\n");
    wharf.build("derived", ctx.path());
    let blobs = |w: &Wharf| {
        std::fs::read_dir(w.home().join("blobs/sha256"))
            .unwrap()
            .count()
    };
    let before = blobs(&wharf);
    wharf
        .run(["rmi", "derived"])
        .ok()
        .stdout_has(&["Untagged: derived:latest", "Deleted: sha256:"]);
    // The derived image's layer, its labels layer (which names its base),
    // config and manifest are gone; the base's stay.
    assert_eq!(blobs(&wharf), before - 4);
    verify_layout(wharf.home());
    wharf.run(["run", "hello-c", "--quiet"]).ok();
}

#[test]
fn the_store_directory_is_created_where_wharf_home_points() {
    let parent = tempfile::tempdir().unwrap();
    let home = parent.path().join("nested/store");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("images")
        .env_clear()
        .env("WHARF_HOME", &home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(home.join("index.json").is_file());
    assert!(home.join("oci-layout").is_file());
}

/// The `tree/data/big.bin` of every unpacked tree in the store.
#[cfg(unix)]
fn big_files(home: &Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(home.join("rootfs"))
        .unwrap()
        .map(|e| e.unwrap().path().join("tree/data/big.bin"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
}

#[cfg(unix)]
#[test]
fn an_image_built_on_another_shares_its_unpacked_files() {
    use std::os::unix::fs::MetadataExt;
    let wharf = Wharf::new();
    let base = crate::support::context(&[
        (
            "wharf.toml",
            "from = \"scratch\"\nentrypoint = [\"/main.wasm\"]\n\
             [[copy]]\nsrc = \"main.wasm\"\ndest = \"/\"\n\
             [[copy]]\nsrc = \"big.bin\"\ndest = \"/data/\"\n",
        ),
        ("big.bin", &"x".repeat(1 << 20)),
    ]);
    crate::support::wat_file(
        base.path(),
        "main.wasm",
        r#"(module (func (export "_start")))"#,
    );
    wharf.build("base:1", base.path());
    let app = crate::support::context(&[
        (
            "wharf.toml",
            "from = \"base:1\"\n[[copy]]\nsrc = \"note\"\ndest = \"/app/\"\n",
        ),
        ("note", "mine"),
    ]);
    wharf.build("app:1", app.path());
    wharf.run(["run", "base:1"]).ok();
    wharf.run(["run", "app:1"]).ok();

    // The base's tree and the app's, each with the one below its labels
    // (where an image built on it starts): one file.
    let copies = big_files(wharf.home());
    assert_eq!(copies.len(), 4, "{copies:?}");
    let inodes: std::collections::HashSet<_> = copies
        .iter()
        .map(|p| {
            let meta = std::fs::metadata(p).unwrap();
            (meta.dev(), meta.ino())
        })
        .collect();
    assert_eq!(inodes.len(), 1, "each tree holds its own copy");
    // Each image's tree holds its own labels file, and the trees below
    // the labels layers none: a tree shared with an image built on it
    // never shows that image another's labels.
    let labels_files: Vec<String> = std::fs::read_dir(wharf.home().join("rootfs"))
        .unwrap()
        .filter_map(|e| {
            std::fs::read_to_string(e.unwrap().path().join("tree/.wharf/labels.json")).ok()
        })
        .collect();
    assert_eq!(labels_files.len(), 2, "{labels_files:?}");
    let config_labels = |image: &str| {
        let out = wharf.run(["inspect", image]).ok();
        let json: Value = serde_json::from_str(&out.stdout).unwrap();
        json[0]["Config"]["Labels"].clone()
    };
    for image in ["base:1", "app:1"] {
        let wanted = config_labels(image);
        assert!(
            labels_files
                .iter()
                .any(|f| serde_json::from_str::<Value>(f).unwrap() == wanted),
            "no tree holds {image}'s labels {wanted}: {labels_files:?}"
        );
    }
    wharf.run(["system", "check"]).ok();

    // After a crash: the trees the images run from are gone and the index
    // of those below their labels is damaged. Those are passed over, and
    // the runs unpack what they need from the layers.
    for entry in std::fs::read_dir(wharf.home().join("rootfs")).unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("tree/.wharf/labels.json").exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        } else {
            std::fs::write(dir.join("modules.json"), "{damaged").unwrap();
        }
    }
    wharf.run(["run", "app:1"]).ok();
    wharf.run(["run", "base:1"]).ok();

    // The trees go with their images: the app's first, then the base's.
    wharf.run(["rmi", "app:1"]).ok();
    assert_eq!(big_files(wharf.home()).len(), 2);
    wharf.run(["run", "base:1"]).ok();
    wharf.run(["rmi", "base:1"]).ok();
    assert!(big_files(wharf.home()).is_empty());
}
