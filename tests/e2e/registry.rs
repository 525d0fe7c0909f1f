//! Shipping images: push and pull through a real registry, save and load
//! as OCI archives, interop with images and Wasm artifacts other tools
//! publish, and failures that lose nothing.

use serde_json::Value;

use crate::registry_support::{Fault, Proxy, TestRegistry, http_get, oras, skopeo};
use crate::support::{Wharf, hello_c, hello_context, hello_store, python_store};

/// Copies the image `tag` of the OCI layout `dir` to `name` in a registry
/// with skopeo, every platform of an index when `all`.
fn copy_to_registry(dir: &std::path::Path, tag: &str, name: &str, all: bool) {
    let source = format!("oci:{}:{tag}", dir.display());
    let target = format!("docker://{name}");
    let mut args = vec!["copy", "--dest-tls-verify=false"];
    if all {
        args.push("--all");
    }
    args.extend([source.as_str(), target.as_str()]);
    skopeo(&args);
}

/// A wharf whose credentials live in a directory of its own, so that the
/// host's Docker config plays no part.
fn isolated(wharf: &Wharf, args: &[&str]) -> crate::support::Outcome {
    let config = wharf.home().join("config");
    let out = wharf
        .command(args)
        .env("WHARF_CONFIG", &config)
        .env("DOCKER_CONFIG", wharf.home().join("docker-config"))
        .output()
        .unwrap();
    crate::support::Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn blob_count(wharf: &Wharf) -> usize {
    std::fs::read_dir(wharf.home().join("blobs/sha256")).map_or(0, |d| d.count())
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs docker-registry, skopeo and oras (tests/install-deps.sh)"
)]
#[test]
fn the_seed_app_goes_through_a_registry_and_runs_elsewhere() {
    let registry = TestRegistry::start();
    let source = python_store();
    let name = format!("{}/me/app:1", registry.host());
    source.run(["tag", "my-first-image", &name]).ok();
    let out = source.run(["push", &name]).ok();
    let pushed = out.stdout.trim().rsplit(' ').next().unwrap().to_owned();
    out.stderr_has(&["Pushed"]);

    let target = Wharf::new();
    let out = isolated(&target, &["pull", &name]).ok();
    out.stdout_has(&[&format!("Pulled {name} ({pushed})")]);
    // The same digest on both sides.
    let inspect: Value = serde_json::from_str(&target.run(["inspect", &name]).ok().stdout).unwrap();
    assert_eq!(inspect[0]["Id"], pushed.as_str());
    let out = target.run(["run", "-e", "APP_ENV=Staging", &name]).ok();
    assert_eq!(out.lines()[2], "Custom Environment Variable: Staging");
    // Pulled images are compiled ahead of time like built ones.
    let verbose = target.run(["--verbose", "run", &name]).ok();
    assert!(!verbose.stderr.contains("compiling"), "{verbose}");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs docker-registry, skopeo and oras (tests/install-deps.sh)"
)]
#[test]
fn pushing_again_sends_nothing_twice_and_pull_takes_digests() {
    let registry = TestRegistry::start();
    let wharf = hello_store();
    let name = format!("{}/me/hello:v1", registry.host());
    wharf.run(["tag", "hello-c", &name]).ok();
    wharf.run(["push", &name]).ok().stderr_has(&["Pushed"]);
    let again = wharf.run(["push", &name]).ok();
    again.stderr_has(&["already exists"]);
    assert!(!again.stderr.contains("Pushed"), "{again}");
    let digest = again.stdout.trim().rsplit(' ').next().unwrap().to_owned();

    let other = Wharf::new();
    let by_digest = format!("{}/me/hello@{digest}", registry.host());
    other.run(["pull", &by_digest]).ok();
    other
        .run(["run", &by_digest, "--quiet", "--exit", "5"])
        .code(5);
    // A digest that does not exist is a clear error.
    let missing = format!("{}/me/hello@sha256:{}", registry.host(), "0".repeat(64));
    other
        .run(["pull", &missing])
        .code(1)
        .stderr_has(&["was not found on", "(404)"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs docker-registry, skopeo and oras (tests/install-deps.sh)"
)]
#[test]
fn pull_picks_the_wasi_image_from_a_multi_platform_index() {
    let registry = TestRegistry::start();
    let wharf = hello_store();
    // An OCI layout with a wasi/wasm image and a linux/amd64 one, copied to
    // the registry by skopeo.
    let layout = tempfile::tempdir().unwrap();
    wharf
        .run([
            "save",
            "-o",
            layout.path().join("hello.tar").to_str().unwrap(),
            "hello-c",
        ])
        .ok();
    let dir = layout.path().join("oci");
    skopeo(&[
        "copy",
        &format!("oci-archive:{}", layout.path().join("hello.tar").display()),
        &format!("oci:{}:wasi", dir.display()),
    ]);
    let index_path = dir.join("index.json");
    let mut index: Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let mut wasi = index["manifests"][0].clone();
    wasi["platform"] = serde_json::json!({"os": "wasi", "architecture": "wasm"});
    let mut linux = wasi.clone();
    // The linux entry points at a manifest the registry will have, but not
    // for this platform: if it were picked, the platform check would fail.
    linux["platform"] = serde_json::json!({"os": "linux", "architecture": "amd64"});
    let nested = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [linux, wasi],
    });
    let nested_bytes = serde_json::to_vec(&nested).unwrap();
    let nested_hex = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&nested_bytes))
    };
    std::fs::write(dir.join("blobs/sha256").join(&nested_hex), &nested_bytes).unwrap();
    index["manifests"] = serde_json::json!([{
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": format!("sha256:{nested_hex}"),
        "size": nested_bytes.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi"},
    }]);
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let name = format!("{}/me/multi:1", registry.host());
    copy_to_registry(&dir, "multi", &name, true);

    let other = Wharf::new();
    other.run(["pull", &name]).ok();
    other.run(["run", &name, "--quiet", "--exit", "9"]).code(9);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs docker-registry, skopeo and oras (tests/install-deps.sh)"
)]
#[test]
fn a_cncf_wasm_artifact_from_another_tool_runs_as_its_module() {
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(hello_c(), dir.path().join("hello.wasm")).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"architecture":"wasm","os":"wasip1"}"#,
    )
    .unwrap();
    let name = format!("{}/oras/hello:1", registry.host());
    oras(
        &format!(
            "import oras.client\noras.client.OrasClient(insecure=True).push(target='{name}', \
             files=['hello.wasm:application/wasm'], \
             manifest_config='config.json:application/vnd.wasm.config.v0+json', disable_path_validation=True)"
        ),
        dir.path(),
    );
    let wharf = Wharf::new();
    wharf.run(["pull", &name]).ok();
    let out = wharf.run(["run", "-e", "K=v", &name, "x"]).ok();
    out.stdout_has(&["argv[0]=/hello.wasm\n", "argv[1]=x\n", "env K=v\n"]);
    wharf
        .run(["run", &name, "--quiet", "--ls", "/"])
        .ok()
        .stdout_has(&["/:\n  hello.wasm\n"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs docker-registry, skopeo and oras (tests/install-deps.sh)"
)]
#[test]
fn a_standard_oci_image_from_skopeo_runs_its_wasm_entrypoint() {
    // What containerd's Wasm shims run: an OCI image of platform wasi/wasm
    // whose entrypoint names a .wasm file in its file tree, made here by
    // hand and copied to the registry by skopeo.
    let registry = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        use sha2::Digest;
        let hex = hex::encode(sha2::Sha256::digest(bytes));
        std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let mut tar = tar::Builder::new(Vec::new());
    let module = std::fs::read(hello_c()).unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_size(module.len() as u64);
    header.set_mode(0o755);
    tar.append_data(&mut header, "opt/app/hello.wasm", &module[..])
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let (layer, layer_size) = put(&gz.finish().unwrap());
    let diff_id = {
        use sha2::Digest;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&tar)))
    };
    let (config, config_size) = put(&serde_json::to_vec(&serde_json::json!({
        "architecture": "wasm", "os": "wasi",
        "config": {"Entrypoint": ["/opt/app/hello.wasm"], "Env": ["FROM_SHIM_IMAGE=1"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap());
    let (manifest, manifest_size) = put(&serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_size}],
    })).unwrap());
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest, "size": manifest_size,
                       "annotations": {"org.opencontainers.image.ref.name": "shim"}}],
    })).unwrap()).unwrap();
    let name = format!("{}/shim/hello:1", registry.host());
    copy_to_registry(&layout, "shim", &name, false);

    let wharf = Wharf::new();
    wharf.run(["pull", &name]).ok();
    wharf
        .run(["run", &name])
        .ok()
        .stdout_has(&["argv[0]=/opt/app/hello.wasm", "env FROM_SHIM_IMAGE=1"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs docker-registry, skopeo and oras (tests/install-deps.sh)"
)]
#[test]
fn push_artifact_publishes_the_module_for_other_wasm_tools() {
    let registry = TestRegistry::start();
    let wharf = hello_store();
    let name = format!("{}/me/hello:artifact", registry.host());
    wharf.run(["tag", "hello-c", &name]).ok();
    wharf.run(["push", "--artifact", &name]).ok();
    // What an independent client sees.
    let reply = http_get(registry.port(), "/v2/me/hello/manifests/artifact").unwrap();
    let body = &reply[reply.find("\r\n\r\n").unwrap() + 4..];
    let manifest: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    let dir = tempfile::tempdir().unwrap();
    oras(
        &format!(
            "import oras.client\noras.client.OrasClient(insecure=True).pull(target='{name}', outdir='out')"
        ),
        dir.path(),
    );
    assert_eq!(
        std::fs::read(dir.path().join("out/hello.wasm")).unwrap(),
        std::fs::read(hello_c()).unwrap(),
        "the artifact's layer is the module, byte for byte"
    );
    // And wharf runs it back.
    let other = Wharf::new();
    other.run(["pull", &name]).ok();
    other.run(["run", &name, "--quiet", "--exit", "4"]).code(4);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs docker-registry, skopeo and oras (tests/install-deps.sh)"
)]
#[test]
fn push_artifact_leaves_nothing_in_the_store_on_success_or_error() {
    let registry = TestRegistry::start();
    let wharf = hello_store();
    let leftovers = |wharf: &Wharf| {
        let out = wharf.run(["system", "check"]).ok();
        out.stdout_has(&["(0 leftovers of interrupted writes in tmp/)"]);
        assert_eq!(
            std::fs::read_dir(wharf.home().join("tmp")).unwrap().count(),
            0
        );
    };
    let name = format!("{}/me/hello:artifact", registry.host());
    wharf.run(["tag", "hello-c", &name]).ok();
    wharf.run(["push", "--artifact", &name]).ok();
    leftovers(&wharf);
    // A registry that refuses the upload.
    let proxy = Proxy::start(registry.port(), Fault::RefuseUploads);
    let refused = format!("{}/me/other:artifact", proxy.host());
    wharf.run(["tag", "hello-c", &refused]).ok();
    wharf
        .run(["push", "--artifact", &refused])
        .code(1)
        .stderr_has(&["cannot push"]);
    leftovers(&wharf);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs docker-registry, skopeo and oras (tests/install-deps.sh)"
)]
#[test]
fn save_and_load_round_trip_through_skopeo_with_digests_unchanged() {
    let wharf = hello_store();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("hello.tar");
    wharf
        .run(["save", "-o", archive.to_str().unwrap(), "hello-c"])
        .ok();
    let id = wharf.run(["images", "-q"]).ok().stdout.trim().to_owned();

    let other = Wharf::new();
    other
        .run(["load", "-i", archive.to_str().unwrap()])
        .ok()
        .stdout_has(&["Loaded image: hello-c:latest"]);
    assert_eq!(other.run(["images", "-q"]).ok().stdout.trim(), id);
    other
        .run(["run", "hello-c", "--quiet", "--exit", "2"])
        .code(2);

    // skopeo reads what wharf saves, and wharf loads what skopeo writes.
    let copied = dir.path().join("copied");
    skopeo(&[
        "copy",
        &format!("oci-archive:{}", archive.display()),
        &format!("oci:{}:copied", copied.display()),
    ]);
    let resaved = dir.path().join("resaved.tar");
    skopeo(&[
        "copy",
        &format!("oci:{}:copied", copied.display()),
        &format!("oci-archive:{}:resaved:2", resaved.display()),
    ]);
    let third = Wharf::new();
    third
        .run(["load", "-i", resaved.to_str().unwrap()])
        .ok()
        .stdout_has(&["Loaded image: resaved:2"]);
    assert_eq!(third.run(["images", "-q"]).ok().stdout.trim(), id);
    third.run(["run", "resaved:2", "--quiet"]).ok();
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn a_damaged_archive_loads_nothing() {
    let wharf = hello_store();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("hello.tar");
    wharf
        .run(["save", "-o", archive.to_str().unwrap(), "hello-c"])
        .ok();
    let mut bytes = std::fs::read(&archive).unwrap();
    // Flip a byte in the last blob's content (the archive ends with two
    // zero blocks).
    let at = bytes.len() - 2048 - 600;
    bytes[at] ^= 0xff;
    std::fs::write(&archive, &bytes).unwrap();
    let other = Wharf::new();
    other
        .run(["load", "-i", archive.to_str().unwrap()])
        .code(1)
        .stderr_has(&["is corrupt"]);
    assert_eq!(other.run(["images", "-q"]).ok().stdout, "");
    assert_eq!(blob_count(&other), 0);
    let truncated = dir.path().join("short.tar");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    other
        .run(["load", "-i", truncated.to_str().unwrap()])
        .code(1);
    assert_eq!(other.run(["images", "-q"]).ok().stdout, "");
}

/// Pushes hello-c to a fresh registry; returns the registry and the name.
fn published() -> (TestRegistry, String) {
    let registry = TestRegistry::start();
    let wharf = hello_store();
    let name = format!("{}/me/hello:1", registry.host());
    wharf.run(["tag", "hello-c", &name]).ok();
    wharf.run(["push", &name]).ok();
    (registry, "me/hello:1".to_owned())
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs docker-registry, skopeo and oras (tests/install-deps.sh)"
)]
#[test]
fn a_connection_cut_mid_blob_stores_nothing_and_a_retry_succeeds() {
    let (registry, path) = published();
    let proxy = Proxy::start(registry.port(), Fault::CutBlobs);
    let wharf = Wharf::new();
    let through_proxy = format!("{}/{path}", proxy.host());
    wharf
        .run(["pull", &through_proxy])
        .code(1)
        .stderr_has(&["nothing was stored; try again"]);
    assert_eq!(wharf.run(["images", "-q"]).ok().stdout, "");
    assert_eq!(blob_count(&wharf), 0);
    wharf.run(["system", "check"]).ok();
    let healthy = Proxy::start(registry.port(), Fault::None);
    let retry = format!("{}/{path}", healthy.host());
    wharf.run(["pull", &retry]).ok();
    wharf.run(["run", &retry, "--quiet"]).ok();
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs docker-registry, skopeo and oras (tests/install-deps.sh)"
)]
#[test]
fn a_blob_that_does_not_match_its_digest_is_refused() {
    let (registry, path) = published();
    let proxy = Proxy::start(registry.port(), Fault::CorruptBlobs);
    let wharf = Wharf::new();
    wharf
        .run(["pull", &format!("{}/{path}", proxy.host())])
        .code(1)
        .stderr_has(&["does not match its digest"]);
    assert_eq!(blob_count(&wharf), 0);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs docker-registry, skopeo and oras (tests/install-deps.sh)"
)]
#[test]
fn registry_errors_are_one_clear_line() {
    let (registry, path) = published();
    for (status, expected) in [
        (401, "(401 unauthorized): log in with `wharf login"),
        (403, "(403 forbidden)"),
        (404, "was not found on"),
        (500, "failed with HTTP 500"),
        (503, "failed with HTTP 503"),
    ] {
        let proxy = Proxy::start(registry.port(), Fault::Status(status));
        let wharf = Wharf::new();
        let out = isolated(&wharf, &["pull", &format!("{}/{path}", proxy.host())]).code(1);
        out.stderr_has(&[expected]);
        assert_eq!(
            out.stderr.lines().count(),
            1,
            "one line for {status}:\n{out}"
        );
    }
    // Nothing listening at all.
    let wharf = Wharf::new();
    let out = wharf.run(["pull", "127.0.0.1:9/me/hello:1"]).code(1);
    out.stderr_has(&["cannot reach the registry 127.0.0.1:9"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs docker-registry, skopeo and oras (tests/install-deps.sh)"
)]
#[test]
fn login_credentials_and_docker_config_are_used_and_logout_forgets() {
    use base64::Engine;
    let (registry, path) = published();
    let basic = base64::engine::general_purpose::STANDARD.encode("wharfy:s3cret");
    let proxy = Proxy::start(
        registry.port(),
        Fault::RequireAuth(format!("Basic {basic}")),
    );
    let name = format!("{}/{path}", proxy.host());
    let wharf = Wharf::new();
    isolated(&wharf, &["pull", &name])
        .code(1)
        .stderr_has(&["wharf login"]);

    login(&wharf, &proxy.host(), "wharfy", "s3cret").ok();
    isolated(&wharf, &["pull", &name]).ok();
    isolated(&wharf, &["logout", &proxy.host()])
        .ok()
        .stdout_has(&["Removing login credentials"]);
    isolated(&wharf, &["rmi", &name]).ok();
    isolated(&wharf, &["pull", &name]).code(1);

    // Docker's config.json works as well.
    let docker = wharf.home().join("docker-config");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        serde_json::to_vec(&serde_json::json!({"auths": {proxy.host(): {"auth": basic}}})).unwrap(),
    )
    .unwrap();
    isolated(&wharf, &["pull", &name]).ok();
    isolated(&wharf, &["rmi", &name]).ok();

    // And its credential helpers: `docker-credential-NAME get`.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let bin = wharf.home().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let helper = bin.join("docker-credential-wharftest");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread server\necho \"{\\\"ServerURL\\\":\\\"$server\\\",\\\"Username\\\":\\\"wharfy\\\",\\\"Secret\\\":\\\"s3cret\\\"}\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            docker.join("config.json"),
            serde_json::to_vec(&serde_json::json!({"credHelpers": {proxy.host(): "wharftest"}}))
                .unwrap(),
        )
        .unwrap();
        let out = wharf
            .command(["pull", &name])
            .env("WHARF_CONFIG", wharf.home().join("config"))
            .env("DOCKER_CONFIG", &docker)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn plain_http_is_only_for_loopback_or_insecure() {
    let wharf = hello_store();
    wharf
        .run(["tag", "hello-c", "registry.invalid:5000/me/hello:1"])
        .ok();
    // registry.invalid cannot resolve: the error says how to reach it.
    let out = wharf
        .run(["push", "registry.invalid:5000/me/hello:1"])
        .code(1);
    out.stderr_has(&[
        "cannot reach the registry registry.invalid:5000",
        "--insecure",
    ]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn push_needs_a_local_image_with_that_name() {
    let wharf = hello_store();
    wharf
        .run(["push", "127.0.0.1:1/none/here:1"])
        .code(1)
        .stderr_has(&["tag the image first: wharf tag IMAGE 127.0.0.1:1/none/here:1"]);
}

/// An image of the C guest whose environment says `VERSION=version`.
fn versioned(wharf: &Wharf, tag: &str, version: u32) {
    let ctx = hello_context(&format!(
        "from = \"scratch\"\nentrypoint = [\"/hello.wasm\"]\n[env]\nVERSION = \"{version}\"\n\
         [[copy]]\nsrc = \"hello.wasm\"\ndest = \"/\"\n"
    ));
    wharf.build(tag, ctx.path());
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs docker-registry, skopeo and oras (tests/install-deps.sh)"
)]
#[test]
fn run_pulls_an_image_that_names_a_registry_as_docker_run_does() {
    let (registry, path) = published();
    let name = format!("{}/{path}", registry.host());
    let wharf = Wharf::new();
    let out = wharf.run(["run", &name, "--quiet", "--exit", "6"]).code(6);
    out.stderr_has(&[
        &format!("unable to find image '{name}' locally"),
        "Downloaded",
        &format!("Pulled {name} (sha256:"),
    ]);
    assert_eq!(out.stdout, "", "stdout is the guest's alone:\n{out}");
    wharf
        .run(["images"])
        .ok()
        .stdout_has(&[&format!("{}/me/hello", registry.host())]);
    // Present now: no second pull.
    let again = wharf.run(["run", &name, "--quiet"]).ok();
    assert_eq!(again.stderr, "", "{again}");

    // --pull never keeps the old error and status.
    let never = Wharf::new();
    never
        .run(["run", "--pull", "never", &name])
        .code(125)
        .stderr_has(&[&format!("no such image: {name}")]);
    assert_eq!(never.run(["images", "-q"]).ok().stdout, "");

    // A short name is never pulled; the error says what to do.
    never.run(["run", "hello"]).code(125).stderr_has(&[
        "no such image: hello; wharf has no default registry: name one, e.g. \
             localhost:5000/hello, or build it",
    ]);

    // A registry that cannot be reached: wharf's error, 125, as docker run.
    never
        .run(["run", "127.0.0.1:9/me/hello:1"])
        .code(125)
        .stderr_has(&["cannot reach the registry 127.0.0.1:9"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs docker-registry, skopeo and oras (tests/install-deps.sh)"
)]
#[test]
fn run_pull_always_follows_a_tag_pushed_again() {
    let registry = TestRegistry::start();
    let publisher = Wharf::new();
    let name = format!("{}/me/app:1", registry.host());
    versioned(&publisher, &name, 1);
    publisher.run(["push", &name]).ok();

    let wharf = Wharf::new();
    wharf
        .run(["run", &name])
        .ok()
        .stdout_has(&["env VERSION=1"]);
    versioned(&publisher, &name, 2);
    publisher.run(["push", &name]).ok();
    // The default policy keeps what the store has.
    wharf
        .run(["run", &name])
        .ok()
        .stdout_has(&["env VERSION=1"]);
    let out = wharf.run(["run", "--pull", "always", &name]).ok();
    out.stdout_has(&["env VERSION=2"]);
    out.stderr_has(&[&format!("Pulled {name}")]);
    assert!(!out.stderr.contains("unable to find"), "{out}");
    wharf
        .run(["run", "--pull", "never", &name])
        .ok()
        .stdout_has(&["env VERSION=2"]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs docker-registry, skopeo and oras (tests/install-deps.sh)"
)]
#[test]
fn run_and_serve_pull_with_insecure_and_serve_pulls_too() {
    let (registry, path) = published();
    // 127.1 is 127.0.0.1, but not a name wharf knows for the loopback
    // interface: HTTPS unless --insecure, as for any other host.
    let name = format!("127.1:{}/{path}", registry.port());
    let wharf = Wharf::new();
    wharf
        .run(["run", &name, "--quiet"])
        .code(125)
        .stderr_has(&["cannot reach the registry 127.1:", "--insecure"]);
    assert_eq!(wharf.run(["images", "-q"]).ok().stdout, "");
    wharf.run(["run", "--insecure", &name, "--quiet"]).ok();

    let served = Wharf::new();
    let server = crate::serve::Served::start(&served, &["--insecure", &name]);
    let log = server.log().join("\n");
    assert!(log.contains(&format!("Pulled {name}")), "{log}");
    drop(server);
    served
        .run(["images"])
        .ok()
        .stdout_has(&[&format!("127.1:{}/me/hello", registry.port())]);
    Wharf::new()
        .run(["serve", "-p", "0", "--pull", "never", &name])
        .code(125)
        .stderr_has(&[&format!("no such image: {name}")]);
}

/// bcrypt of `s3cret` at cost 5, as `htpasswd -nbB` writes it: the
/// password the registries of the login tests know `wharfy` by.
const S3CRET_BCRYPT: &str = "$2b$05$jhUbMvah513bxiFt6ib5DeVgLFszAln9qv9eaaIc/NGyult489m0.";

/// `wharf login -u USER --password-stdin REGISTRY` with `password` on
/// stdin, credentials kept in the store's own config directory.
fn login(wharf: &Wharf, registry: &str, user: &str, password: &str) -> crate::support::Outcome {
    let mut child = wharf
        .command(["login", "-u", user, "--password-stdin", registry])
        .env("WHARF_CONFIG", wharf.home().join("config"))
        .env("DOCKER_CONFIG", wharf.home().join("docker-config"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, format!("{password}\n").as_bytes()).unwrap();
    drop(stdin);
    crate::support::Outcome::from_output(child.wait_with_output().unwrap())
}

fn saved_logins(wharf: &Wharf) -> Value {
    match std::fs::read(wharf.home().join("config/auth.json")) {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes).unwrap()["auths"].clone(),
        Err(_) => Value::Null,
    }
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs docker-registry, skopeo and oras (tests/install-deps.sh)"
)]
#[test]
fn login_checks_credentials_with_a_registry_that_asks_for_them() {
    let registry = TestRegistry::with_htpasswd("wharfy", S3CRET_BCRYPT);
    let host = registry.host();
    let wharf = hello_store();
    let name = format!("{host}/me/hello:1");
    wharf.run(["tag", "hello-c", &name]).ok();
    isolated(&wharf, &["push", &name])
        .code(1)
        .stderr_has(&["(401 unauthorized): log in with `wharf login"]);

    // Wrong password, wrong user: refused, nothing saved.
    for (user, password) in [("wharfy", "wrong"), ("nobody", "s3cret")] {
        let out = login(&wharf, &host, user, password).code(77);
        out.stderr_has(&[&format!("login to {host} failed: unauthorized")]);
        assert_eq!(saved_logins(&wharf), Value::Null, "{out}");
    }
    // Nothing listening: a status of its own, nothing saved.
    login(&wharf, "127.0.0.1:9", "wharfy", "s3cret")
        .code(69)
        .stderr_has(&["cannot reach the registry 127.0.0.1:9"]);
    assert_eq!(saved_logins(&wharf), Value::Null);

    login(&wharf, &host, "wharfy", "s3cret")
        .ok()
        .stdout_has(&[&format!("Login Succeeded: credentials for {host} saved in")]);
    assert!(saved_logins(&wharf)[&host].is_object());
    // What was saved works for push and pull.
    isolated(&wharf, &["push", &name]).ok();
    isolated(&wharf, &["rmi", &name]).ok();
    isolated(&wharf, &["pull", &name]).ok();
    // A wrong password later leaves the good one saved.
    login(&wharf, &host, "wharfy", "wrong").code(77);
    isolated(&wharf, &["pull", &name]).ok();
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs docker-registry, skopeo and oras (tests/install-deps.sh)"
)]
#[test]
fn login_follows_a_bearer_challenge_to_the_token_service() {
    use base64::Engine;
    let (registry, path) = published();
    let basic = base64::engine::general_purpose::STANDARD.encode("wharfy:s3cret");
    let proxy = Proxy::start(
        registry.port(),
        Fault::RequireBearer {
            basic: format!("Basic {basic}"),
            token: "t0ken".into(),
        },
    );
    let host = proxy.host();
    let wharf = Wharf::new();
    login(&wharf, &host, "wharfy", "wrong")
        .code(77)
        .stderr_has(&[&format!("login to {host} failed: unauthorized")]);
    assert_eq!(saved_logins(&wharf), Value::Null);
    login(&wharf, &host, "wharfy", "s3cret").ok();
    isolated(&wharf, &["pull", &format!("{host}/{path}")]).ok();
}
