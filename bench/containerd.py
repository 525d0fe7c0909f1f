#!/usr/bin/env python3
"""Benchmark (l): containers per second under containerd, through wharf's
shim and through runc.

Debian's containerd 1.6, started here as root in the foreground with its own
config (root, state and socket in a temporary directory; the CRI plugin
off), runs `ctr run --rm` of a trivial program again and again, one after
another:

  - the C hello image (`hello --quiet`: start, exit 0) through
    `containerd-shim-wharf-v1` (runtime io.containerd.wharf.v1), its
    compiled module in the shim's cache after the first run;
  - `busybox true` through runc (io.containerd.runc.v2), from an image made
    here of Debian's busybox-static (one layer: /bin/busybox);
  - the seed's Python app (my-first-image) through the shim, against
    `wharf run my-first-image` on the same machine.

TASKS runs of each (BENCH_CTR_TASKS, default 200), in rounds that alternate
the two runtimes; tasks per second is TASKS over the time they took. runwasi
publishes 330 tasks/s for its wasmtime shim against 85 for runc from its own
parallel stress harness: context, not a figure measured here. Needs root,
containerd, runc and busybox-static (Debian packages), and the shim built
with wharf (make shim). Prints a JSON object on stdout: `markdown`, the
section, and `targets`, rows for the summary. Uses the store WHARF_HOME
names when it holds python:3.12 (run.py's), else one of its own.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "target" / "bench"
RELEASE = ROOT / "target" / "release"
WHARF = RELEASE / "wharf"
SHIM = RELEASE / "containerd-shim-wharf-v1"
TASKS = int(os.environ.get("BENCH_CTR_TASKS", "200"))
ROUNDS = 4
PY_RUNS = int(os.environ.get("BENCH_RUNS", "20"))
NAMESPACE = "wharf-bench"
WHARF_RUNTIME = "io.containerd.wharf.v1"
RUNC_RUNTIME = "io.containerd.runc.v2"


def log(message):
    print(message, file=sys.stderr, flush=True)


def blob(layout, data):
    """Writes `data` into the OCI layout's blobs; returns its descriptor
    fields (digest, size)."""
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def busybox_archive(tmp):
    """An OCI archive of a linux/amd64 image holding Debian's
    busybox-static as /bin/busybox, named busybox:bench."""
    busybox = Path("/bin/busybox")
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tar.gettarinfo(busybox, arcname="bin/busybox")
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        with busybox.open("rb") as f:
            tar.addfile(info, f)
    raw = layer.getvalue()
    layout = tmp / "busybox"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    layer_desc = blob(layout, gzip.compress(raw, mtime=0))
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["/bin/busybox"], "Cmd": ["true"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(raw).hexdigest()}"]},
    }
    config_desc = blob(layout, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer_desc}],
    }
    manifest_desc = blob(layout, json.dumps(manifest).encode())
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest_desc,
        "annotations": {"io.containerd.image.name": "docker.io/library/busybox:bench",
                        "org.opencontainers.image.ref.name": "bench"}}]}
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    archive = tmp / "busybox.tar"
    with tarfile.open(archive, "w") as tar:
        for entry in sorted(layout.rglob("*")):
            tar.add(entry, arcname=str(entry.relative_to(layout)), recursive=False)
    return archive


class Containerd:
    """containerd in the foreground with its own config, stopped on exit."""

    def __init__(self, tmp):
        self.dir = tmp / "containerd"
        self.dir.mkdir()
        self.sock = self.dir / "containerd.sock"
        config = self.dir / "config.toml"
        config.write_text(
            f'version = 2\nroot = "{self.dir / "root"}"\nstate = "{self.dir / "state"}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{self.sock}"\n[ttrpc]\n  address = "{self.sock}.ttrpc"\n'
            f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{self.dir / "opt"}"\n')
        env = dict(os.environ, PATH=f"{RELEASE}:{os.environ.get('PATH', '')}",
                   WHARF_SHIM_CACHE=str(self.dir / "shim-cache"))
        self.log = open(self.dir / "containerd.log", "w")
        self.process = subprocess.Popen(["containerd", "--config", config], env=env,
                                        stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.ctr("version", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise SystemExit("containerd did not start")

    def ctr(self, *args, check=True):
        return subprocess.run(["ctr", "--address", self.sock, "--namespace", NAMESPACE, *args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=check)

    def stop(self):
        self.process.terminate()
        self.process.wait()
        self.log.close()


def timed_runs(containerd, runtime, image, args, count, prefix):
    """Seconds each of `count` sequential `ctr run --rm` took."""
    times = []
    for i in range(count):
        start = time.perf_counter()
        containerd.ctr("run", "--rm", "--runtime", runtime, image, f"{prefix}-{i}", *args)
        times.append(time.perf_counter() - start)
    return times


def main():
    if os.geteuid() != 0:
        raise SystemExit("needs root (containerd mounts the containers' root filesystems)")
    for tool in ("containerd", "ctr", "runc"):
        if shutil.which(tool) is None:
            raise SystemExit(f"needs {tool} (Debian package containerd)")
    if not Path("/bin/busybox").is_file():
        raise SystemExit("needs /bin/busybox (Debian package busybox-static)")
    log("building the shim…")
    subprocess.run(["make", "-s", "shim"], cwd=ROOT, check=True)
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        tmp = Path(tmp)
        env = dict(os.environ)
        if "WHARF_HOME" not in env:
            env["WHARF_HOME"] = str(tmp / "store")
        subprocess.run(["sh", ROOT / "guest-examples/hello-c/build.sh"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([WHARF, "build", "-q", "-t", "hello-c", ROOT / "guest-examples/hello-c"], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        has_python = subprocess.run([WHARF, "inspect", "python:3.12"], env=env,
                                    capture_output=True).returncode == 0
        if not has_python:
            subprocess.run([sys.executable, ROOT / "manifests/python-3.12/fetch.py", "--wharf", WHARF],
                           check=True, stdout=subprocess.DEVNULL)
            subprocess.run([WHARF, "build", "-q", "-t", "python:3.12", ROOT / "manifests/python-3.12"],
                           env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([WHARF, "build", "-q", "-t", "my-first-image", ROOT / "guest-examples/python-app"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        archives = {}
        for image in ("hello-c", "my-first-image"):
            archives[image] = tmp / f"{image}.tar"
            subprocess.run([WHARF, "save", "-o", archives[image], image], env=env, check=True)
        archives["busybox"] = busybox_archive(tmp)

        containerd = Containerd(tmp)
        try:
            containerd.ctr("images", "import", "--platform", "wasi/wasm", archives["hello-c"])
            containerd.ctr("images", "import", "--platform", "wasi/wasm", archives["my-first-image"])
            containerd.ctr("images", "import", "--platform", "linux/amd64", archives["busybox"])
            hello = ("docker.io/library/hello-c:latest", ["hello", "--quiet"])
            busybox = ("docker.io/library/busybox:bench", ["/bin/busybox", "true"])
            seed = "docker.io/library/my-first-image:latest"
            # Warm-up: the shim compiles the modules into its cache.
            timed_runs(containerd, WHARF_RUNTIME, hello[0], hello[1], 3, "warm-hello")
            timed_runs(containerd, RUNC_RUNTIME, busybox[0], busybox[1], 3, "warm-busybox")
            timed_runs(containerd, WHARF_RUNTIME, seed, [], 2, "warm-seed")

            log(f"{TASKS} ctr runs each, wharf's shim and runc alternating…")
            wharf_times, runc_times = [], []
            per_round = max(TASKS // ROUNDS, 1)
            for r in range(ROUNDS):
                wharf_times += timed_runs(containerd, WHARF_RUNTIME, *hello, per_round, f"w{r}")
                runc_times += timed_runs(containerd, RUNC_RUNTIME, *busybox, per_round, f"r{r}")

            log("the seed's app: ctr run through the shim and wharf run…")
            seed_ctr, seed_wharf = [], []
            for i in range(PY_RUNS):
                seed_ctr += timed_runs(containerd, WHARF_RUNTIME, seed, [], 1, f"seed-{i}")
                start = time.perf_counter()
                subprocess.run([WHARF, "run", "my-first-image"], env=env, check=True, stdout=subprocess.DEVNULL)
                seed_wharf.append(time.perf_counter() - start)
        finally:
            containerd.stop()

    wharf_rate = len(wharf_times) / sum(wharf_times)
    runc_rate = len(runc_times) / sum(runc_times)
    ms = lambda times: statistics.median(times) * 1000  # noqa: E731
    lines = [
        "### (l) containerd: containers per second",
        "",
        f"`ctr run --rm` one after another under containerd 1.6 (its own config, started by the bench): "
        f"{len(wharf_times)} runs of each, in {ROUNDS} rounds alternating the runtimes. The trivial program is "
        "`hello --quiet` (the C hello image: start, exit 0) through wharf's shim, and `busybox true` (Debian's "
        "busybox-static in a one-layer image) through runc. runwasi publishes 330 tasks/s for its wasmtime shim "
        "against 85 for runc from its own parallel stress harness: context, not measured here.",
        "",
        "| runtime | tasks/s | median per `ctr run` | vs runc |",
        "|---|---:|---:|---:|",
        f"| wharf shim (io.containerd.wharf.v1), hello-c | {wharf_rate:.1f} | {ms(wharf_times):.0f} ms | "
        f"{wharf_rate / runc_rate:.2f}× |",
        f"| runc (io.containerd.runc.v2), busybox true | {runc_rate:.1f} | {ms(runc_times):.0f} ms | 1.00× |",
        "",
        f"The seed's Python app (my-first-image), medians of {PY_RUNS} runs alternating: `ctr run --rm` through "
        f"the shim {ms(seed_ctr):.0f} ms, `wharf run` {ms(seed_wharf):.0f} ms "
        f"({ms(seed_ctr) - ms(seed_wharf):+.0f} ms for containerd, its shim and the container).",
        "",
    ]
    targets = [("(l) wharf shim ≥ runc in tasks/s (sequential ctr run)", f"{wharf_rate / runc_rate:.2f}×",
                wharf_rate >= runc_rate)]
    print(json.dumps({"markdown": "\n".join(lines), "targets": targets}))


if __name__ == "__main__":
    main()
