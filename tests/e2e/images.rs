//! `wharf images`, `tag`, `rmi` and `inspect`.

use serde_json::Value;

use crate::support::{hello_context, hello_store};

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn images_lists_repository_tag_id_created_and_size() {
    let wharf = hello_store();
    let out = wharf.run(["images"]).ok();
    let lines = out.lines();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    );
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[..2], ["hello-c", "latest"]);
    assert_eq!(row[2].len(), 12);
    assert!(row[2].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(row[3..row.len() - 1].join(" "), "Less than a minute ago");
    assert!(row.last().unwrap().ends_with("kB"), "{out}");
    let quiet = wharf.run(["images", "-q"]).ok();
    assert_eq!(quiet.stdout.trim(), row[2]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn tag_adds_a_name_and_rmi_removes_names_then_the_image() {
    let wharf = hello_store();
    wharf.run(["tag", "hello-c", "greeter:v1"]).ok();
    wharf
        .run(["tag", "greeter:v1", "registry.example:5000/team/greeter"])
        .ok();
    let out = wharf.run(["images"]).ok();
    assert_eq!(out.lines().len(), 4, "{out}");
    wharf
        .run(["run", "greeter:v1", "--quiet", "--exit", "4"])
        .code(4);

    // By ID, an image with several tags needs -f.
    let id = wharf.run(["images", "-q"]).ok().stdout.trim().to_owned();
    wharf
        .run(["rmi", &id])
        .code(1)
        .stderr_has(&["is tagged as", "-f"]);

    let out = wharf.run(["rmi", "greeter:v1", "hello-c"]).ok();
    assert_eq!(
        out.stdout,
        "Untagged: greeter:v1\nUntagged: hello-c:latest\n"
    );
    let out = wharf
        .run(["rmi", "registry.example:5000/team/greeter"])
        .ok();
    assert!(out.stdout.contains("Deleted: sha256:"), "{out}");
    assert_eq!(wharf.run(["images", "-q"]).ok().stdout, "");
    assert_eq!(
        std::fs::read_dir(wharf.home().join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(wharf.home().join("rootfs"))
            .unwrap()
            .count(),
        0
    );
    wharf
        .run(["rmi", "hello-c"])
        .code(1)
        .stderr_has(&["no such image: hello-c"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn rmi_force_removes_every_tag_of_an_image() {
    let wharf = hello_store();
    wharf.run(["tag", "hello-c", "second"]).ok();
    let id = wharf.run(["images", "-q"]).ok().stdout.trim().to_owned();
    let out = wharf.run(["rmi", "-f", &id]).ok();
    out.stdout_has(&[
        "Untagged: hello-c:latest",
        "Untagged: second:latest",
        "Deleted: sha256:",
    ]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn rmi_of_a_base_says_which_images_keep_its_layers() {
    let wharf = hello_store();
    let ctx =
        hello_context("from = \"hello-c\"\n[[copy]]\nsrc = \"hello.wasm\"\ndest = \"/again/\"\n");
    wharf.build("my-first-image", ctx.path());
    let blobs = || {
        std::fs::read_dir(wharf.home().join("blobs/sha256"))
            .unwrap()
            .count()
    };
    let before = blobs();
    let out = wharf.run(["rmi", "hello-c"]).ok();
    out.stdout_has(&["Untagged: hello-c:latest", "Deleted: sha256:"]);
    assert_eq!(
        out.stderr,
        "wharf: hello-c's layers stay in the store while my-first-image uses them\n"
    );
    // Its manifest, config and labels layer went (my-first-image's labels
    // name its base, so its labels layer is its own); the layers
    // my-first-image is built on stayed.
    assert_eq!(blobs(), before - 3);
    wharf.run(["run", "my-first-image", "--quiet"]).ok();
    // Removing the image built on it says nothing, and neither does one
    // removed together with what uses it.
    wharf.build(
        "hello-c",
        &crate::support::repo().join("guest-examples/hello-c"),
    );
    let out = wharf.run(["rmi", "my-first-image"]).ok();
    assert_eq!(out.stderr, "");
    wharf.build("my-first-image", ctx.path());
    let out = wharf.run(["rmi", "hello-c", "my-first-image"]).ok();
    assert_eq!(out.stderr, "");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn inspect_shows_digest_config_layers_and_sizes() {
    let wharf = hello_store();
    let ctx =
        hello_context("from = \"hello-c\"\n[[copy]]\nsrc = \"hello.wasm\"\ndest = \"/again/\"\n");
    let id = wharf.build("two-layers", ctx.path());
    let out = wharf.run(["inspect", "two-layers", "hello-c"]).ok();
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    let image = &json[0];
    assert_eq!(image["Id"], id.as_str());
    assert_eq!(image["RepoTags"], serde_json::json!(["two-layers:latest"]));
    let layers = image["Layers"].as_array().unwrap();
    // The base's layer, the COPY's, and the one that holds the image's
    // labels in its tree, which replaces the base's (docs/kubernetes.md).
    assert_eq!(layers.len(), 3);
    assert_eq!(json[1]["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(layers[0], json[1]["Layers"][0], "the base layer is shared");
    // Its labels name its base (org.opencontainers.image.base.*): a
    // labels layer of its own.
    assert_ne!(layers[2], json[1]["Layers"][1]);
    let layer_bytes: u64 = layers.iter().map(|l| l["Size"].as_u64().unwrap()).sum();
    assert!(image["Size"].as_u64().unwrap() > layer_bytes);
    assert!(
        layers
            .iter()
            .all(|l| l["DiffID"].as_str().unwrap().starts_with("sha256:"))
    );
    let base = json[1]["Id"].as_str().unwrap();
    assert_eq!(
        image["History"][1]["created_by"],
        format!("FROM hello-c@{base}")
    );
    assert_eq!(image["History"][1]["empty_layer"], true);
    assert_eq!(image["History"][2]["created_by"], "COPY hello.wasm /again/");
    assert_eq!(
        image["History"][3]["created_by"],
        "LABELS copied into /.wharf/labels.json"
    );
    wharf
        .run(["inspect", "nothing-here"])
        .code(1)
        .stderr_has(&["no such image"]);
}
