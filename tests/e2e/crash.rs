//! The store survives crashes: builds killed at many points leave no
//! half-written image or tag, and `wharf system check` finds every
//! corrupted blob.

use std::time::Duration;

use crate::support::{hello_context, hello_store};

/// Bytes that do not compress much, so that writing a layer takes a while.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn builds_killed_at_any_point_leave_a_consistent_store() {
    let wharf = hello_store();
    let ctx = hello_context(
        "from = \"hello-c\"\n[[copy]]\nsrc = \"a.bin\"\ndest = \"/data/\"\n[[copy]]\nsrc = \"b.bin\"\ndest = \"/data/\"\n[[copy]]\nsrc = \"c.bin\"\ndest = \"/data/\"\n",
    );
    let context = ctx.path().to_str().unwrap().to_owned();
    for (round, delay_ms) in [
        0u64, 1, 2, 4, 7, 10, 15, 20, 30, 40, 55, 70, 90, 120, 150, 200,
    ]
    .into_iter()
    .enumerate()
    {
        for (i, name) in ["a.bin", "b.bin", "c.bin"].iter().enumerate() {
            std::fs::write(
                ctx.path().join(name),
                noise(3 << 20, (round * 3 + i) as u64),
            )
            .unwrap();
        }
        let mut child = wharf
            .command(["build", "-q", "-t", "crashy", &context])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SIGKILL on Unix, TerminateProcess on Windows: no chance to clean up.
        let _ = child.kill();
        child.wait().unwrap();

        let check = wharf.run(["system", "check"]);
        assert_eq!(check.code, 0, "after a kill at {delay_ms} ms:\n{check}");
        check.stdout_has(&["no problems"]);
        // Whatever tags exist point at complete, runnable images.
        let images = wharf.run(["images"]).ok();
        if images.stdout.contains("crashy") {
            wharf
                .run(["run", "crashy", "--quiet", "--ls", "/data"])
                .ok();
        }
        wharf.run(["run", "hello-c", "--quiet"]).ok();
    }
    // A build that is left alone still works, and prune clears leftovers.
    wharf.run(["build", "-q", "-t", "crashy", &context]).ok();
    wharf
        .run(["run", "crashy", "--quiet", "--ls", "/data"])
        .ok()
        .stdout_has(&["a.bin", "b.bin", "c.bin"]);
    wharf.run(["system", "prune", "-f"]).ok();
    wharf.run(["system", "check"]).ok();
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn check_names_corrupt_and_missing_blobs() {
    let wharf = hello_store();
    wharf
        .run(["system", "check"])
        .ok()
        .stdout_has(&["no problems"]);
    let blobs = wharf.home().join("blobs/sha256");
    let mut entries: Vec<_> = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    // The largest blob is the layer: flip one of its bytes.
    let layer = entries.last().unwrap().clone();
    let mut bytes = std::fs::read(&layer).unwrap();
    bytes[10] ^= 0x55;
    std::fs::write(&layer, bytes).unwrap();
    let name = layer.file_name().unwrap().to_string_lossy().into_owned();
    wharf
        .run(["system", "check"])
        .code(1)
        .stdout_has(&[&format!("problem: blob sha256:{name} is corrupt")]);
    std::fs::remove_file(&layer).unwrap();
    wharf
        .run(["system", "check"])
        .code(1)
        .stdout_has(&[&format!("layer sha256:{name} is missing")]);
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn prune_removes_what_no_image_needs() {
    let wharf = hello_store();
    let ctx = hello_context(
        "from = \"hello-c\"\nentrypoint = [\"/extra/hello.wasm\"]\n[[copy]]\nsrc = \"hello.wasm\"\ndest = \"/extra/\"\n",
    );
    wharf.build("extra", ctx.path());
    wharf.run(["run", "extra", "--quiet"]).ok();
    let artifacts = || walk_count(&wharf.home().join("artifacts"));
    let before = artifacts();
    assert!(before >= 1);
    wharf.run(["rmi", "extra", "hello-c"]).ok();
    let out = wharf.run(["system", "prune", "-f"]).ok();
    out.stdout_has(&["compiled artifacts"]);
    assert_eq!(artifacts(), 0, "{out}");
}

fn walk_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() { walk_count(&path) } else { 1 }
        })
        .sum()
}
