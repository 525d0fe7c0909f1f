//! Hostile images: layers crafted to write outside the store when they are
//! unpacked. Each is planted in a store as it would arrive from a registry
//! or an archive, then run; wharf must refuse it with a clear error and
//! nothing outside the store may change.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::support::Wharf;

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn put_blob(home: &Path, bytes: &[u8]) -> String {
    let hex = sha256_hex(bytes);
    std::fs::write(home.join("blobs/sha256").join(&hex), bytes).unwrap();
    format!("sha256:{hex}")
}

/// One raw tar entry, its name and link bytes written as given, so that
/// nothing on the way cleans them.
fn entry(out: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: &str, mode: u32, data: &[u8]) {
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_entry_type(kind);
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// Plants an image whose single layer is `tar` (uncompressed bytes) under
/// `name:latest`, as `wharf pull` or `load` would leave it.
fn plant(wharf: &Wharf, name: &str, mut tar: Vec<u8>) {
    wharf.run(["images"]).ok(); // creates the store
    tar.extend_from_slice(&[0u8; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let layer = gz.finish().unwrap();
    let home = wharf.home();
    let layer_digest = put_blob(home, &layer);
    let config = serde_json::to_vec(&json!({
        "architecture": "wasm", "os": "wasi",
        "config": {"Entrypoint": ["/x.wasm"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&tar))]},
    }))
    .unwrap();
    let config_digest = put_blob(home, &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}],
    }))
    .unwrap();
    let manifest_digest = put_blob(home, &manifest);
    let index_path = home.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index["manifests"].as_array_mut().unwrap().push(json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest, "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": format!("{name}:latest")},
    }));
    std::fs::write(index_path, serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Plants `tar`, runs it, and checks the refusal and that the directory
/// beside the store is untouched.
fn refused(tar: Vec<u8>, message: &str) {
    let parent = tempfile::tempdir().unwrap();
    let victim = parent.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("file"), "original").unwrap();
    let wharf = Wharf::new();
    plant(&wharf, "hostile", tar);
    let out = wharf
        .command(["run", "hostile"])
        .env("WHARF_HOME", wharf.home())
        .current_dir(parent.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.contains(message),
        "stderr lacks {message:?}:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 1);
    assert_eq!(
        std::fs::read_to_string(victim.join("file")).unwrap(),
        "original"
    );
    // Nothing half-unpacked is left visible in the store.
    assert_eq!(
        std::fs::read_dir(wharf.home().join("rootfs"))
            .unwrap()
            .count(),
        0
    );
    let store_parent: Vec<_> = std::fs::read_dir(wharf.home().parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("pwned"))
        .collect();
    assert!(store_parent.is_empty(), "a file appeared beside the store");
}

use tar::EntryType::{Block, Char, Directory, Fifo, Link, Regular, Symlink};

#[test]
fn a_layer_climbing_out_with_dotdot_is_refused() {
    let mut tar = Vec::new();
    entry(&mut tar, "../../../../pwned", Regular, "", 0o644, b"x");
    refused(tar, "climbs out of the image with '..'");
}

#[test]
fn a_layer_with_absolute_paths_is_refused() {
    let mut tar = Vec::new();
    entry(&mut tar, "/tmp/pwned", Regular, "", 0o644, b"x");
    refused(tar, "is an absolute path");
}

#[test]
fn a_layer_writing_through_its_own_symlink_is_refused() {
    let mut tar = Vec::new();
    entry(
        &mut tar,
        "escape",
        Symlink,
        "../../../../../../../../../..",
        0o777,
        b"",
    );
    entry(&mut tar, "escape/tmp/pwned", Regular, "", 0o644, b"x");
    refused(tar, "cannot");
}

#[test]
fn a_layer_hard_linking_outside_is_refused() {
    let mut tar = Vec::new();
    entry(
        &mut tar,
        "passwd",
        Link,
        "../../../../etc/passwd",
        0o644,
        b"",
    );
    refused(tar, "climbs out of the image with '..'");
    let mut tar = Vec::new();
    entry(&mut tar, "passwd", Link, "/etc/passwd", 0o644, b"");
    refused(tar, "is an absolute path");
}

#[test]
fn a_layer_with_devices_or_pipes_is_refused() {
    for kind in [Char, Block, Fifo] {
        let mut tar = Vec::new();
        entry(&mut tar, "dev/thing", kind, "", 0o644, b"");
        refused(tar, "is a device or pipe");
    }
}

#[test]
fn a_layer_with_setuid_files_is_refused() {
    let mut tar = Vec::new();
    entry(&mut tar, "bin", Directory, "", 0o755, b"");
    entry(&mut tar, "bin/su.wasm", Regular, "", 0o4755, b"\0asm");
    refused(tar, "set-id");
}

#[test]
fn a_layer_that_does_not_match_its_digest_is_refused() {
    let mut tar = Vec::new();
    entry(&mut tar, "x.wasm", Regular, "", 0o644, b"\0asm\x01\0\0\0");
    let parent = tempfile::tempdir().unwrap();
    let wharf = Wharf::new();
    plant(&wharf, "tampered", tar);
    // Flip a byte of the layer blob after the fact.
    let blobs = wharf.home().join("blobs/sha256");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(wharf.home().join("index.json")).unwrap()).unwrap();
    let manifest_hex = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blobs.join(manifest_hex)).unwrap()).unwrap();
    let layer = blobs.join(
        manifest["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:"),
    );
    let mut bytes = std::fs::read(&layer).unwrap();
    let last = bytes.len() - 5;
    bytes[last] ^= 0xff;
    std::fs::write(&layer, bytes).unwrap();
    drop(parent);
    wharf
        .run(["run", "tampered"])
        .code(125)
        .stderr_has(&["is corrupt"]);
    assert_eq!(
        std::fs::read_dir(wharf.home().join("rootfs"))
            .unwrap()
            .count(),
        0
    );
}
