//! A run that is interrupted cleans up as a finished one does, and what a
//! killed run could not clean up, `system prune` removes at once.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::hello_store;

/// The names in the store's `tmp/`.
fn leftovers(home: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(home.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[cfg(unix)]
#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn an_interrupted_run_removes_its_tmp_and_exits_with_the_signal() {
    let wharf = hello_store();
    for (signal, status) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        let child = wharf
            .command([
                "run",
                "hello-c",
                "--quiet",
                "--write",
                "/tmp/kept",
                "data",
                "--sleep",
                "600",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The guest has written into its /tmp: the run is under way.
        let started = Instant::now();
        while !leftovers(wharf.home())
            .iter()
            .any(|run| wharf.home().join("tmp").join(run).join("kept").exists())
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the run never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let sent = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(status), "SIG{signal}");
        // Nothing is lost silently: the guest could not flush.
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!(
                "wharf: SIG{signal}: the guest was stopped where it was; output it had not \
                 written yet is lost (WASI has no signals, see docs/docker.md)\n"
            )
        );
        assert_eq!(
            leftovers(wharf.home()),
            Vec::<String>::new(),
            "SIG{signal} left the run's /tmp"
        );
    }
}

#[cfg(target_os = "linux")]
#[cfg_attr(
    not(feature = "toolchain-tests"),
    ignore = "needs clang and wasi-libc (tests/install-deps.sh)"
)]
#[test]
fn prune_removes_the_leftovers_of_runs_whose_process_is_gone_at_once() {
    let wharf = hello_store();
    let tmp = wharf.home().join("tmp");
    // A run killed outright (its process is gone), and one still going
    // (this test's own process).
    let gone = tmp.join("run-4000000000-abcdef");
    let going = tmp.join(format!("run-{}-abcdef", std::process::id()));
    for dir in [&gone, &going] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("file"), "guest data").unwrap();
    }
    wharf.run(["system", "prune", "-f"]).ok();
    assert!(!gone.exists(), "a dead run's /tmp was kept");
    assert!(going.exists(), "a live run's /tmp was removed");
}
