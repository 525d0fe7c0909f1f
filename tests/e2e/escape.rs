//! The sandbox under attack: `tests/escape/escape.c` tries every way out
//! it knows (`..`, absolute host paths, symlinks made by the host and by
//! the guest, dangling, looping and trailing-slash symlinks, hard links and
//! renames into a read-only mount, O_TRUNC, writes to the image, a file
//! swapped for a symlink mid-use, device names, host variables, hidden
//! descriptors). The test then checks on the host that nothing outside
//! the mounts changed, modelled on moby's `TestUntarInvalidSymlink`: a
//! victim directory beside the mounts must stay exactly as it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::support::{Wharf, repo};

const SECRET: &str = "TOP-SECRET\n";

/// `tests/escape/escape.wasm`, built by the script beside it.
fn escape_wasm() -> PathBuf {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    CELL.get_or_init(|| {
        let script = repo().join("tests/escape/build.sh");
        assert!(
            std::process::Command::new("sh")
                .arg(&script)
                .status()
                .unwrap()
                .success()
        );
        repo().join("tests/escape/escape.wasm")
    })
    .clone()
}

/// Everything under `dir`, without following symlinks: path -> content,
/// `dir`, or `-> target`.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let value = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&path).unwrap().display()).into_bytes()
            } else if meta.is_dir() {
                stack.push(path.clone());
                b"dir".to_vec()
            } else {
                std::fs::read(&path).unwrap()
            };
            out.insert(path.strip_prefix(dir).unwrap().to_owned(), value);
        }
    }
    out
}

fn symlink(target: &str, link: &Path) {
    #[cfg(unix)]
    std::os::unix::fs::symlink(target, link).unwrap();
    #[cfg(windows)]
    {
        // Creating symlinks on Windows needs Developer Mode; without it the
        // guest meets plain missing files, which it must not escape either.
        let _ = std::os::windows::fs::symlink_dir(target, link);
    }
}

struct Arena {
    base: tempfile::TempDir,
}

impl Arena {
    fn new() -> Self {
        let base = tempfile::Builder::new()
            .prefix("wharf-escape-")
            .tempdir()
            .unwrap();
        let p = base.path();
        for dir in ["victim/dir", "rw/sub", "rw/race", "ro"] {
            std::fs::create_dir_all(p.join(dir)).unwrap();
        }
        std::fs::write(p.join("victim/secret.txt"), SECRET).unwrap();
        std::fs::write(p.join("rw/file.txt"), "rw file\n").unwrap();
        std::fs::write(p.join("rw/race/target"), "harmless\n").unwrap();
        std::fs::write(p.join("ro/readonly.txt"), "read only\n").unwrap();
        symlink("../victim", &p.join("rw/host-rel-link"));
        symlink(
            p.join("victim").to_str().unwrap(),
            &p.join("rw/host-abs-link"),
        );
        symlink("../victim/secret.txt", &p.join("rw/host-file-link"));
        symlink(
            "../victim/created-through-host-link",
            &p.join("rw/host-dangling-link"),
        );
        symlink("../victim/", &p.join("rw/host-evil"));
        Self { base }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.base.path().join(rel)
    }

    /// Swaps `rw/race/target` between a file and a symlink to the secret
    /// until `stop` is set.
    fn swapper(&self, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
        let target = self.path("rw/race/target");
        std::thread::spawn(move || {
            let mut swaps = 0;
            while !stop.load(Ordering::Relaxed) {
                let _ = std::fs::remove_file(&target);
                symlink("../../victim/secret.txt", &target);
                let _ = std::fs::remove_file(&target);
                let _ = std::fs::write(&target, "harmless\n");
                swaps += 1;
            }
            swaps
        })
    }
}

fn escape_image(wharf: &Wharf) {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy(escape_wasm(), ctx.path().join("escape.wasm")).unwrap();
    std::fs::write(
        ctx.path().join("wharf.toml"),
        "from = \"scratch\"\nentrypoint = [\"escape\"]\n[[copy]]\nsrc = \"escape.wasm\"\ndest = \"/usr/bin/\"\n",
    )
    .unwrap();
    wharf.build("escape", ctx.path());
}

/// Runs the escape guest with `extra` flags; returns its stdout after
/// checking that nothing outside the mounts changed.
fn attack(extra: &[&str]) -> String {
    let wharf = Wharf::new();
    escape_image(&wharf);
    let arena = Arena::new();
    let victim_before = snapshot(&arena.path("victim"));
    let ro_before = snapshot(&arena.path("ro"));
    let image_before = snapshot(&wharf.home().join("rootfs"));

    let rw = format!("{}:/data", arena.path("rw").display());
    let ro = format!("{}:/ro:ro", arena.path("ro").display());
    let secret_path = arena.path("victim/secret.txt");
    let mut args = vec!["run", "-v", &rw, "-v", &ro];
    args.extend_from_slice(extra);
    args.extend(["escape", secret_path.to_str().unwrap(), "3000"]);
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = arena.swapper(stop.clone());
    let child = wharf
        .command(&args)
        .env("WHARF_ESCAPE_SECRET", "must stay on the host")
        .env("HOME", "/root")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert!(swaps > 0, "the swapper never ran");
    let escapes: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ESCAPE")).collect();
    assert!(escapes.is_empty(), "escapes:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("escapes 0"),
        "the guest did not finish:\n{stdout}\n{stderr}"
    );
    let attempts = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(attempts >= 60, "only {attempts} attempts ran:\n{stdout}");

    // The host's view: the victim, the read-only mount and the image are
    // exactly as they were, and nothing appeared beside the mounts.
    assert_eq!(
        snapshot(&arena.path("victim")),
        victim_before,
        "the victim changed"
    );
    assert_eq!(
        snapshot(&arena.path("ro")),
        ro_before,
        "the read-only mount changed"
    );
    assert_eq!(
        snapshot(&wharf.home().join("rootfs")),
        image_before,
        "the image changed"
    );
    let mut beside: Vec<String> = std::fs::read_dir(arena.base.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    assert_eq!(beside, ["ro", "rw", "victim"]);
    // The guest's links that climb above their directory were refused
    // (docs/SECURITY.md): none is on the host for a host program to follow.
    for made in [
        "rw/g-rel",
        "rw/s/d",
        "rw/g-up",
        "rw/g-dangling",
        "rw/chain-2",
        "rw/evil",
        "rw/evil-file",
    ] {
        assert!(
            std::fs::symlink_metadata(arena.path(made)).is_err(),
            "the guest made {made}"
        );
    }
    assert!(
        std::fs::symlink_metadata(arena.path("rw/s/x")).is_ok(),
        "a link that stays in its directory is made"
    );
    stdout
}

fn preopens(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("preopen "))
        .collect()
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn the_escape_guest_gets_nowhere() {
    let stdout = attack(&[]);
    // One tree: the guest is handed `/`, and reaches /tmp, /data and /ro
    // through it.
    assert_eq!(preopens(&stdout), ["/"]);
    assert!(stdout.contains("hidden directories 3\n"), "{stdout}");
}

#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn the_escape_guest_gets_nowhere_from_a_working_directory_in_a_mount() {
    let stdout = attack(&["-w", "/data"]);
    assert_eq!(preopens(&stdout), ["/"]);
}
