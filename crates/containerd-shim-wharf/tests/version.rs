//! The shim binary answers containerd's version query. (Its runs under a
//! real containerd are tested with the `wharf` command's end-to-end
//! tests, tests/e2e/containerd.rs, which build the images it runs.)

use std::process::Command;

#[test]
fn says_its_runtime_and_version() {
    let output = Command::new(env!("CARGO_BIN_EXE_containerd-shim-wharf-v1"))
        .arg("-v")
        .output()
        .expect("the shim runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("containerd-shim-wharf-v1:"), "{stdout}");
    assert!(stdout.contains("Runtime: wharf"), "{stdout}");
    assert!(
        stdout.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
}
