//! A real containerd for the tests (Debian's containerd 1.6), started as
//! root in the foreground with its own config, root, state and socket in a
//! temporary directory, and the shim built beside `wharf` on its `PATH`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::Outcome;

/// The namespace the tests' images and containers live in.
pub const NAMESPACE: &str = "wharf-test";

/// The runtime containerd maps to `containerd-shim-wharf-v1`.
pub const RUNTIME: &str = "io.containerd.wharf.v1";

/// A running containerd, stopped (with what is left of its containers)
/// when dropped.
pub struct Containerd {
    child: Child,
    dir: tempfile::TempDir,
}

/// `target/<profile>/containerd-shim-wharf-v1`, built with the workspace
/// (`cargo test --workspace` builds it for its own tests).
pub fn shim() -> PathBuf {
    let shim = Path::new(env!("CARGO_BIN_EXE_wharf")).with_file_name("containerd-shim-wharf-v1");
    assert!(
        shim.is_file(),
        "{} is missing: build it with `cargo build --release -p containerd-shim-wharf` (make test does)",
        shim.display()
    );
    shim
}

impl Containerd {
    /// Starts containerd; the shim's cache of compiled modules is in the
    /// same temporary directory.
    pub fn start() -> Self {
        assert!(
            is_root(),
            "the containerd tests need root (containerd mounts the containers' root filesystems)"
        );
        let dir = tempfile::Builder::new()
            .prefix("wharf-containerd-")
            .tempdir()
            .unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\n\
                 root = \"{root}\"\n\
                 state = \"{state}\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{sock}\"\n\
                 [ttrpc]\n  address = \"{sock}.ttrpc\"\n\
                 [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{opt}\"\n",
                root = dir.path().join("root").display(),
                state = dir.path().join("state").display(),
                sock = dir.path().join("containerd.sock").display(),
                opt = dir.path().join("opt").display(),
            ),
        )
        .unwrap();
        let path = format!(
            "{}:{}",
            shim().parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let log = std::fs::File::create(dir.path().join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .env("PATH", path)
            .env("WHARF_SHIM_CACHE", dir.path().join("shim-cache"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("containerd (Debian package containerd) must be installed");
        let containerd = Self { child, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if containerd.ctr(["version"]).code == 0 {
                return containerd;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("containerd did not start:\n{}", containerd.log());
    }

    /// Runs `ctr` against this containerd, in the tests' namespace.
    pub fn ctr<I, S>(&self, args: I) -> Outcome
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let output = Command::new("ctr")
            .arg("--address")
            .arg(self.dir.path().join("containerd.sock"))
            .args(["--namespace", NAMESPACE])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ctr (Debian package containerd) must be installed");
        Outcome::from_output(output)
    }

    /// `ctr run --rm --runtime io.containerd.wharf.v1 [FLAGS] IMAGE ID
    /// [ARGS]`.
    pub fn run(&self, flags: &[&str], image: &str, id: &str, args: &[&str]) -> Outcome {
        let mut all = vec!["run", "--rm", "--runtime", RUNTIME];
        all.extend_from_slice(flags);
        all.extend([image, id]);
        all.extend_from_slice(args);
        self.ctr(all)
    }

    /// Imports a `wharf save` archive for the `wasi/wasm` platform.
    #[track_caller]
    pub fn import(&self, archive: &Path) {
        self.ctr([
            "images".as_ref(),
            "import".as_ref(),
            "--platform".as_ref(),
            "wasi/wasm".as_ref(),
            archive.as_os_str(),
        ])
        .ok();
    }

    /// containerd's socket (what `ctr --address` and `CONTAINERD_ADDRESS`
    /// take).
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    /// The shim's cache of compiled modules.
    pub fn shim_cache(&self) -> PathBuf {
        self.dir.path().join("shim-cache")
    }

    /// What containerd (and the shims, through it) logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Tasks a failed test left behind, then containerd itself.
        let tasks = self.ctr(["tasks", "list", "--quiet"]);
        for id in tasks.stdout.lines() {
            let _ = self.ctr(["tasks", "kill", "--signal", "SIGKILL", id]);
            std::thread::sleep(Duration::from_millis(200));
            let _ = self.ctr(["tasks", "delete", "--force", id]);
        }
        let containers = self.ctr(["containers", "list", "--quiet"]);
        for id in containers.stdout.lines() {
            let _ = self.ctr(["containers", "delete", id]);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether this process runs as root.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
