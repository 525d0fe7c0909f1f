#!/usr/bin/env python3
"""Benchmark (e): Docker itself, side by side with wharf.

Starts its own dockerd (as root, with its own data root, exec root and
socket, no iptables, no bridge), makes the images locally since no registry
is reachable:

  - a busybox image from Debian's busybox-static, for `docker run … true`;
  - a Python base from a debootstrapped minimal Debian with Debian's
    python3 (cached in target/bench/cache), imported with `docker import`;
  - the seed walkthrough's Dockerfile built on that base;

then measures `docker run --rm --network none` of each against `wharf run`
of the same app and of the C hello, and the images' sizes. Prints a markdown
section on stdout; stops the daemon however it ends. Needs root, Debian's
docker.io and debootstrap (installed when missing).
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "target" / "bench"
CACHE = WORK / "cache"
WHARF = ROOT / "target" / "release" / "wharf"
RUNS = int(os.environ.get("BENCH_RUNS", "20"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import measure, wharf_env  # noqa: E402


def log(message):
    print(message, file=sys.stderr, flush=True)


def ensure_packages():
    missing = [p for p, tool in [("docker.io", "dockerd"), ("debootstrap", "debootstrap"),
                                 ("busybox-static", "busybox")] if not shutil.which(tool)]
    if missing:
        log(f"installing {' '.join(missing)}")
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, stdout=subprocess.DEVNULL)


class Daemon:
    def __init__(self, base):
        self.base = base
        self.sock = base / "docker.sock"
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.sock}"}
        self.proc = None

    def __enter__(self):
        (self.base / "data").mkdir(parents=True, exist_ok=True)
        (self.base / "exec").mkdir(parents=True, exist_ok=True)
        self.log = open(self.base / "dockerd.log", "w")
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", self.base / "data", "--exec-root", self.base / "exec",
             "-H", f"unix://{self.sock}", "--pidfile", self.base / "docker.pid",
             "--iptables=false", "--bridge=none", "--storage-driver=overlay2"],
            stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            if self.docker("version", check=False).returncode == 0:
                return self
            time.sleep(0.2)
        raise SystemExit("dockerd did not start; see " + str(self.base / "dockerd.log"))

    def __exit__(self, *exc):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def docker(self, *args, check=True, extra_env=None):
        return subprocess.run(["docker", *map(str, args)], env={**self.env, **(extra_env or {})}, check=check,
                              capture_output=True, text=True)


def tar_dir(source, target):
    with tarfile.open(target, "w") as tar:
        for entry in sorted(os.listdir(source)):
            tar.add(source / entry, arcname=entry)


def busybox_tar(tmp):
    rootfs = tmp / "busybox"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy(shutil.which("busybox"), rootfs / "bin" / "busybox")
    for applet in ["sh", "true", "echo"]:
        os.symlink("busybox", rootfs / "bin" / applet)
    target = tmp / "busybox.tar"
    tar_dir(rootfs, target)
    return target


def python_tar():
    target = CACHE / "debian-python3.tar"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    rootfs = CACHE / "rootfs-python"
    if not (rootfs / "usr" / "bin" / "python3").exists():
        log("debootstrapping a minimal Debian with python3 (once; cached)")
        shutil.rmtree(rootfs, ignore_errors=True)
        subprocess.run(["debootstrap", "--variant=minbase", "--include=python3", "bookworm", rootfs,
                        "http://deb.debian.org/debian"], check=True, stdout=subprocess.DEVNULL)
    partial = target.with_suffix(".partial")
    tar_dir(rootfs, partial)
    partial.replace(target)
    return target


def docker_measure(daemon, args, runs=RUNS):
    return measure(["docker", *args], runs=runs, env=daemon.env)


def main():
    if os.geteuid() != 0:
        raise SystemExit("the Docker comparison needs root to start dockerd")
    ensure_packages()
    python_base = python_tar()
    with tempfile.TemporaryDirectory(dir=WORK) as tmp_name:
        tmp = Path(tmp_name)
        with Daemon(tmp / "docker") as daemon:
            daemon.docker("import", busybox_tar(tmp), "bench-busybox:latest")
            daemon.docker("import", python_base, "bench-python:3.11")
            app = tmp / "app"
            app.mkdir()
            shutil.copy(ROOT / "guest-examples/python-app/app.py", app / "app.py")
            (app / "Dockerfile").write_text(
                "FROM bench-python:3.11\nWORKDIR /app\nCOPY app.py .\nENV APP_ENV=Production\n"
                "CMD [\"python3\", \"app.py\"]\n")
            daemon.docker("build", "-q", "-t", "my-first-image", app, extra_env={"DOCKER_BUILDKIT": "0"})
            size = int(daemon.docker("image", "inspect", "-f", "{{.Size}}", "my-first-image").stdout)

            store = tmp / "store"
            env = wharf_env(store)
            subprocess.run([WHARF, "build", "-q", "-t", "python:3.12", ROOT / "manifests/python-3.12"], env=env,
                           check=True, stdout=subprocess.DEVNULL)
            subprocess.run([WHARF, "build", "-q", "-t", "my-first-image", ROOT / "guest-examples/python-app"], env=env,
                           check=True, stdout=subprocess.DEVNULL)
            subprocess.run([WHARF, "build", "-q", "-t", "hello-c", ROOT / "guest-examples/hello-c"], env=env,
                           check=True, stdout=subprocess.DEVNULL)
            wharf_bytes = sum(f.stat().st_size for f in (store / "blobs").rglob("*") if f.is_file())

            runs = max(10, RUNS // 2)
            d_app_ms, _ = docker_measure(daemon, ["run", "--rm", "--network", "none", "my-first-image"], runs)
            d_true_ms, _ = docker_measure(daemon, ["run", "--rm", "--network", "none", "bench-busybox", "true"], runs)
            peak = daemon.docker("run", "--rm", "--network", "none", "my-first-image", "python3", "-c",
                                 "exec(open('app.py').read()); import resource; "
                                 "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)").stdout
            d_app_mib = int(peak.strip().splitlines()[-1]) / 1024
            w_app_ms, w_app_mib = measure([WHARF, "run", "my-first-image"], env=env)
            w_hello_ms, w_hello_mib = measure([WHARF, "run", "hello-c", "--quiet"], env=env)

    rows = [
        ("the seed's app: `docker run --rm --network none my-first-image`", d_app_ms, f"{d_app_mib:.1f} MiB (python3 inside)",
         f"{size / 1e6:.0f} MB", ""),
        ("the seed's app: `wharf run my-first-image`", w_app_ms, f"{w_app_mib:.1f} MiB (all of wharf)",
         f"{wharf_bytes / 1e6:.1f} MB (whole store)", f"{w_app_ms / d_app_ms:.3f}× Docker"),
        ("`docker run --rm --network none bench-busybox true`", d_true_ms, "", "", ""),
        ("`wharf run hello-c --quiet`", w_hello_ms, f"{w_hello_mib:.1f} MiB", "", f"{w_hello_ms / d_true_ms:.3f}× Docker's true"),
    ]
    print("### (e) Docker, side by side\n")
    print("Docker 20.10 (Debian's docker.io) started by the benchmark with its own data root; images made locally: "
          "busybox from Debian's busybox-static, a debootstrapped minimal Debian bookworm with python3 imported as "
          "`bench-python:3.11`, and the seed's Dockerfile built on it. Docker's memory column is the peak of the "
          "python3 process inside the container only (dockerd, containerd and the shim come on top); wharf's is the "
          "whole wharf process.\n")
    print("| | median time | peak memory | image size | ratio |")
    print("|---|---:|---:|---:|---|")
    for name, ms, mem, img, ratio in rows:
        print(f"| {name} | {ms:.1f} ms | {mem} | {img} | {ratio} |")
    print()
    print(f"Targets: the seed's app in wharf ≤ 0.2× Docker: **{w_app_ms / d_app_ms:.3f}×** "
          f"({'met' if w_app_ms / d_app_ms <= 0.2 else 'missed'}); hello in wharf ≤ 0.02× Docker's busybox `true`: "
          f"**{w_hello_ms / d_true_ms:.4f}×** ({'met' if w_hello_ms / d_true_ms <= 0.02 else 'missed'}).\n")


if __name__ == "__main__":
    main()
