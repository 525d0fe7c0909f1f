#!/usr/bin/env python3
"""Benchmark (k): Python apps with dependencies from PyPI, their start-up.

Two apps, in bench/guests, each a wharf manifest on python:3.12 whose
`[python] requirements` installs pinned pure-Python packages at build time:

  - requests-app: `import requests` and print its version (requests 2.32.3);
  - click-app: a click command whose `--title` option titles a rich table of
    three rows, printed to stdout (click 8.1.8, rich 13.9.4).

Each app runs three ways, side by side, their runs alternating: `wharf run`
of its image; the same app.py under the host's /usr/bin/python3 in a venv
(made once under target/bench) with the same pins installed by pip, which
compiles their bytecode; and `docker run --rm --network none` of an image
built FROM docker.py's `bench-python:3.11` (a debootstrapped Debian with
Debian's python3: no registry is reachable) whose Dockerfile pip-installs
the same pins, with bytecode, from wheels downloaded beforehand on the host.
The Docker rows need root to start a dockerd of its own (as docker.py does;
BENCH_DOCKER=0 leaves them out). Also timed: each app's wharf build, the
first one (image and its pip-cache entry removed) and unchanged again, and
the same for `docker build`.

On python:3.15-sci, with a build-time snapshot: each app also has a second
manifest, sci.toml, on python:3.15-sci with the same requirements and a
`[snapshot]` that preloads what the app imports. Its image runs side by
side with the others above (a run resumes the snapshot); its first build is
timed once (image removed, and `wharf build --no-cache`: pip installs the
pins again and it takes the snapshot, a minute or more); then an edit of the app: a comment
line appended to app.py in a copy of the app's directory (the repository's
files are left alone), rebuilt (BENCH_PYAPPS_BUILDS times, one more line
each time: the median), which should reuse the snapshot (the build says
`SNAPSHOT preload … (cached)` on stderr, and the row says whether it did),
and the edited image's run, side by side with the others. The same edit and
rebuild for guest-examples/pandas-report (snapshotted after `import pandas,
numpy`), copied to a temporary directory and built there once before the
edit, and its run on the example's data (`wharf run -v DATA:/input:ro -v
OUT:/output`), before and after the edit, against the same report.py under
native CPython with pandas from PyPI in a venv (run.py's `native_pandas`,
as (f)). Targets: a rebuild after an edit ≤ 10 s, and pandas-report's run
≤ 0.1× native CPython. These rows need python:3.15-sci in the store: run.py's
(f) builds it into the bench's store before (k) runs; run alone, this builds
it when it is missing (a few minutes: fetch.py, then compiling the
interpreter). With BENCH_SCI=0 (which also skips run.py's (f)), they say
"not measured: python:3.15-sci not built (BENCH_SCI=0)".

Uses the store WHARF_HOME names (run.py passes the bench's), building
python:3.12 (and python:3.15-sci, unless BENCH_SCI=0) into it when missing;
without WHARF_HOME, a store of its own under target/bench, removed at the
end. BENCH_RUNS and BENCH_WARMUP set the runs (see run.py),
BENCH_PYAPPS_BUILDS the first builds timed on python:3.12 and the edits
timed on python:3.15-sci (default 3).

    python3 bench/python_apps.py          # the markdown section on stdout
    python3 bench/python_apps.py --json   # {"markdown", "targets"}, for run.py

This is a benchmark, not a test: the targets are stated, and nothing passes
or fails on a time.
"""

import contextlib
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "target" / "bench"
WHARF = ROOT / "target" / "release" / "wharf"
GUESTS = ROOT / "bench" / "guests"
BUILDS = int(os.environ.get("BENCH_PYAPPS_BUILDS", "3"))
NATIVE_PY = "/usr/bin/python3"
DOCKER_BASE = "bench-python:3.11"
SCI_BASE = "python:3.15-sci"
PANDAS_REPORT = ROOT / "guest-examples" / "pandas-report"
# The targets for an edit and rebuild, and for pandas-report's run.
EDIT_TARGET_MS = 10_000
PANDAS_TARGET = 0.1
sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (PANDAS_VERSION, PEAK, RUNS, WARMUP, measure, measure_side_by_side, native_pandas,  # noqa: E402
                 once, wharf_env)
import docker as docker_side  # noqa: E402  (bench/docker.py)


def log(message):
    print(message, file=sys.stderr, flush=True)


class App:
    def __init__(self, name, args, expect):
        self.name = name
        self.dir = GUESTS / name
        self.image = f"bench-pyapps-{name}"
        # The same app on python:3.15-sci, with a snapshot (sci.toml).
        self.sci_manifest = self.dir / "sci.toml"
        self.sci_image = f"bench-pyapps-{name}-sci"
        # The arguments after `python app.py`; `expect` checks the output.
        self.args = args
        self.expect = expect
        self.requirements = self.dir / "requirements.txt"
        self.pins = [tuple(line.split("==")) for line in self.requirements.read_text().splitlines()
                     if line.strip() and not line.startswith("#")]

    def key(self):
        return hashlib.sha256(self.requirements.read_bytes()).hexdigest()[:12]


APPS = [
    App("requests-app", [], lambda out: out.strip() == "requests 2.32.3"),
    App("click-app", ["--title", "Start-up"],
        lambda out: "Start-up" in out and all(name in out for name in ("wharf", "docker", "native"))),
]


def run_out(argv, env=None):
    result = subprocess.run([str(a) for a in argv], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} exited {result.returncode}:\n{result.stderr}")
    return result.stdout


# wharf

def has_image(env, repository, tag):
    images = run_out([WHARF, "images"], env=env)
    return re.search(rf"^{re.escape(repository)}\s+{re.escape(tag)}\s", images, re.M) is not None


def ensure_base(env):
    if has_image(env, "python", "3.12"):
        return
    log("building python:3.12 into the bench's store…")
    subprocess.run([sys.executable, ROOT / "manifests/python-3.12/fetch.py", "--wharf", WHARF], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([WHARF, "build", "-q", "-t", "python:3.12", ROOT / "manifests/python-3.12"], env=env,
                   check=True, stdout=subprocess.DEVNULL)


def ensure_sci(env):
    """None when python:3.15-sci is in the store, else why the rows that
    need it are not measured. run.py's (f) builds it into the bench's store
    before (k) runs, unless BENCH_SCI=0; run alone, this builds it when it
    is missing."""
    if os.environ.get("BENCH_SCI", "1") == "0":
        return f"{SCI_BASE} not built (BENCH_SCI=0)"
    if has_image(env, "python", "3.15-sci"):
        return None
    log(f"building {SCI_BASE} into the store (fetching it, then compiling the interpreter: a few minutes)…")
    try:
        subprocess.run([sys.executable, ROOT / "manifests/python-3.15-sci/fetch.py"], check=True,
                       stdout=subprocess.DEVNULL)
        start = time.perf_counter()
        subprocess.run([WHARF, "build", "-q", "-t", SCI_BASE, ROOT / "manifests/python-3.15-sci"], env=env,
                       check=True, stdout=subprocess.DEVNULL)
    except subprocess.CalledProcessError as e:
        return f"{SCI_BASE} could not be built ({e})"
    log(f"built {SCI_BASE} in {time.perf_counter() - start:.0f} s")
    return None


def timed_build(argv, env):
    """One `wharf build` (not -q: its steps are wanted), timed: wall time
    (ms), peak RSS (MiB), and the steps it printed on stderr."""
    start = time.perf_counter()
    result = subprocess.run([str(PEAK), *map(str, argv)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    elapsed = (time.perf_counter() - start) * 1000
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} exited {result.returncode}:\n{result.stderr}")
    lines = result.stderr.rstrip().splitlines()
    return elapsed, int(lines[-1]) / 1024, "\n".join(lines[:-1])


def snapshot_step(steps):
    """The build's `SNAPSHOT preload …` step, without its number, and
    whether the snapshot came from the store's cache (`(cached)`)."""
    line = next((line for line in steps.splitlines() if "SNAPSHOT preload" in line), None)
    if line is None:
        raise SystemExit(f"the build printed no SNAPSHOT step:\n{steps}")
    line = line[line.index("SNAPSHOT preload"):].strip()
    return line, line.endswith("(cached)")


def pip_cache_entries(store, app):
    """The store's cached installs (python.rs's pip-cache) of the app's
    pins: each holds their .dist-info directories."""
    root = store / "pip-cache"
    if not root.is_dir():
        return set()
    wanted = [f"{name.replace('-', '_')}-{version}.dist-info" for name, version in app.pins]
    return {entry for entry in root.iterdir()
            if entry.is_dir() and all((entry / "site-packages" / w).is_dir() for w in wanted)}


def wharf_builds(app, env, store):
    """First builds (image and cached install removed before each) and
    unchanged rebuilds: (ms, MiB) each, and whether the cache was found."""
    argv = [WHARF, "build", "-q", "-t", app.image, app.dir]
    firsts, peaks, cleared = [], [], True
    for _ in range(BUILDS):
        subprocess.run([WHARF, "rmi", "-f", app.image], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        for entry in pip_cache_entries(store, app):
            shutil.rmtree(entry)
        ms, mib = once(argv, env=env)
        firsts.append(ms)
        peaks.append(mib)
        # Were the pins' cached installs found, to be removed next time?
        cleared = cleared and bool(pip_cache_entries(store, app))
    first = (statistics.median(firsts), statistics.median(peaks))
    again = measure(argv, env=env, runs=max(5, RUNS // 2), warmup=1)
    return first, again, cleared


def sci_first_build(app, env):
    """The first build of the app on python:3.15-sci, once: the image
    removed, and built with --no-cache, so that pip installs the pins again
    and the snapshot is taken again. Returns (ms, MiB) and its SNAPSHOT
    step."""
    subprocess.run([WHARF, "rmi", "-f", app.sci_image], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    ms, mib, steps = timed_build([WHARF, "build", "--no-cache", "-f", app.sci_manifest, "-t", app.sci_image,
                                  app.dir], env)
    return (ms, mib), snapshot_step(steps)[0]


def edit_rebuilds(copy, script, manifest, image, env):
    """An edit of the app, BUILDS times: a comment line appended to
    `script` in `copy` (a copy of the app's directory, its image built
    unedited before), then
    `wharf build -f manifest -t image copy`. Returns the median (ms, MiB),
    the SNAPSHOT step of the last build, and whether every build reused the
    snapshot."""
    times, peaks, reused, step = [], [], True, None
    for n in range(1, max(BUILDS, 1) + 1):
        with open(copy / script, "a") as f:
            f.write(f"# edit {n}, by bench/python_apps.py\n")
        ms, mib, steps = timed_build([WHARF, "build", "-f", copy / manifest, "-t", image, copy], env)
        step, cached = snapshot_step(steps)
        times.append(ms)
        peaks.append(mib)
        reused = reused and cached
    return (statistics.median(times), statistics.median(peaks)), step, reused


# native

def native_venv(app):
    """A venv for the host's /usr/bin/python3 with the app's pins, made once."""
    venv = WORK / f"venv-pyapps-{app.name}-{app.key()}"
    python = venv / "bin" / "python"
    done = venv / ".complete"
    if not done.exists():
        log(f"making {venv.name} (once)…")
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([NATIVE_PY, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "-r", app.requirements], check=True)
        done.touch()
    return python


# Docker

def wheels_for(app):
    """The app's pins and their dependencies for Debian's Python 3.11, and
    pip itself (bench-python has none), as pure-Python wheels: cached."""
    target = docker_side.CACHE / f"pyapps-wheels-{app.name}-{app.key()}"
    done = target / ".complete"
    if not done.exists():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        "--only-binary=:all:", "--platform", "any", "--implementation", "py",
                        "--python-version", "3.11", "-d", target, "-r", app.requirements, "pip"], check=True)
        done.touch()
    return target


DOCKERFILE = """\
FROM {base}
WORKDIR /app
COPY wheels /tmp/wheels
COPY requirements.txt app.py ./
RUN python3 /tmp/wheels/{pip}/pip install --quiet --disable-pip-version-check --root-user-action=ignore \\
        --break-system-packages --no-index --find-links /tmp/wheels -r requirements.txt \\
    && rm -rf /tmp/wheels
CMD ["python3", "app.py"]
"""


def docker_context(app, tmp):
    context = tmp / f"context-{app.name}"
    context.mkdir()
    shutil.copy(app.dir / "app.py", context)
    shutil.copy(app.requirements, context)
    shutil.copytree(wheels_for(app), context / "wheels", ignore=shutil.ignore_patterns(".complete"))
    pip = next(w.name for w in (context / "wheels").glob("pip-*.whl"))
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=DOCKER_BASE, pip=pip))
    return context


def docker_builds(daemon, app, context):
    """`docker build` (the legacy builder) with --no-cache, and unchanged."""
    argv = ["docker", "build", "-q", "--network", "none", "-t", app.image, context]
    env = {**daemon.env, "DOCKER_BUILDKIT": "0"}
    firsts = [once([*argv[:2], "--no-cache", *argv[2:]], env=env)[0] for _ in range(BUILDS)]
    again, _ = measure(argv, env=env, runs=5, warmup=1)
    return statistics.median(firsts), again


@contextlib.contextmanager
def docker_daemon(tmp):
    """Yields docker.py's Daemon, or the reason there is none as a string."""
    if os.environ.get("BENCH_DOCKER", "1") == "0":
        yield "BENCH_DOCKER=0"
        return
    if os.geteuid() != 0:
        yield "starting dockerd needs root"
        return
    daemon = docker_side.Daemon(tmp / "docker")
    try:
        docker_side.ensure_packages()
        base = docker_side.python_tar()
        daemon.__enter__()
        daemon.docker("import", base, DOCKER_BASE)
    except (SystemExit, Exception) as e:  # noqa: BLE001
        if daemon.proc:
            daemon.__exit__(None, None, None)
        reason = str(e).strip().splitlines()
        yield reason[-1] if reason else type(e).__name__
        return
    try:
        yield daemon
    finally:
        daemon.__exit__(None, None, None)


# the section

def ratio(ms, native_ms):
    return f"{ms / native_ms:.2f}× native"


def table(rows):
    out = ["| | median time | peak memory | |", "|---|---:|---:|---|"]
    for name, ms, mib, extra in rows:
        out.append(f"| {name} | {f'{ms:.1f} ms' if ms is not None else ''} | "
                   f"{f'{mib:.1f} MiB' if mib is not None else ''} | {extra} |")
    return out


def edit_note(step, reused):
    edits = (f"median of {BUILDS} edits, each a comment line appended" if BUILDS > 1
             else "1 edit, a comment line appended")
    return (f"{edits}; snapshot "
            + (f"reused: `{step}`" if reused else f"**not** reused: `{step}`, taken again"))


def app_section(app, env, store, daemon, sci_reason, tmp):
    """Returns the app's markdown table and its targets."""
    log(f"{app.name}: wharf builds…")
    (first_ms, first_mib), (again_ms, again_mib), cleared = wharf_builds(app, env, store)
    python = native_venv(app)
    extra_args = ["python", "app.py", *app.args] if app.args else []
    sides = {
        "wharf": ([WHARF, "run", app.image, *extra_args], env),
        "native": ([python, app.dir / "app.py", *app.args], None),
    }
    docker_rows = None
    if not isinstance(daemon, str):
        with tempfile.TemporaryDirectory(dir=WORK) as docker_tmp:
            context = docker_context(app, Path(docker_tmp))
            log(f"{app.name}: docker builds…")
            docker_rows = docker_builds(daemon, app, context)
        sides["docker"] = (["docker", "run", "--rm", "--network", "none", app.image]
                           + (["python3", "app.py", *app.args] if app.args else []), daemon.env)
    if sci_reason is None:
        log(f"{app.name}: first build on {SCI_BASE}, with its snapshot (a minute or more)…")
        (sci_first_ms, sci_first_mib), sci_first_step = sci_first_build(app, env)
        log(f"{app.name}: {sci_first_ms / 1000:.1f} s; edits of app.py, rebuilt…")
        copy = tmp / f"edit-{app.name}"
        shutil.copytree(app.dir, copy, ignore=shutil.ignore_patterns("__pycache__"))
        edited = f"{app.sci_image}-edited"
        (edit_ms, edit_mib), edit_step, edit_reused = edit_rebuilds(copy, "app.py", "sci.toml", edited, env)
        sides["sci"] = ([WHARF, "run", app.sci_image, *extra_args], env)
        sides["sci-edited"] = ([WHARF, "run", edited, *extra_args], env)
    outputs = {side: run_out(argv, side_env) for side, (argv, side_env) in sides.items()}
    for side, out in outputs.items():
        if not app.expect(out):
            raise SystemExit(f"{app.name} under {side} printed something else:\n{out}")
    if len(set(outputs.values())) != 1:
        log(f"note: {app.name}'s output differs between sides: {outputs}")
    log(f"{app.name} prints:\n{outputs['wharf'].rstrip()}")
    log(f"{app.name}: {RUNS} runs after {WARMUP} warm-ups, {', '.join(outputs)} alternating…")
    results = dict(zip(sides, measure_side_by_side(list(sides.values()))))
    (wharf_ms, wharf_mib), (native_ms, native_mib) = results["wharf"], results["native"]

    shown = " ".join(["python", "app.py", *app.args])
    rows = [
        (f"`wharf run {app.image}" + (f" {shown}`" if app.args else "`"), wharf_ms, wharf_mib, ratio(wharf_ms, native_ms)),
        (f"native: `venv/bin/python {shown[len('python '):]}`", native_ms, native_mib, ratio(native_ms, native_ms)),
    ]
    if docker_rows is not None:
        docker_ms = results["docker"][0]
        rows.append((f"`docker run --rm --network none {app.image}"
                     + (f" python3 {shown[len('python '):]}`" if app.args else "`"),
                     docker_ms, None, ratio(docker_ms, native_ms)))
    else:
        rows.append(("`docker run`: not measured", None, None, daemon))
    if sci_reason is None:
        (sci_ms, sci_mib), (sci_edited_ms, sci_edited_mib) = results["sci"], results["sci-edited"]
        preload = ", ".join(f"`{m}`" for m in sci_first_step[len("SNAPSHOT preload "):].split(", "))
        rows += [
            (f"`wharf run {app.sci_image}" + (f" {shown}`" if app.args else "`"), sci_ms, sci_mib,
             f"{ratio(sci_ms, native_ms)}; {SCI_BASE}, snapshot after importing {preload}"),
            ("the same, app.py edited and rebuilt", sci_edited_ms, sci_edited_mib,
             f"{ratio(sci_edited_ms, native_ms)}; {sci_edited_ms - sci_ms:+.1f} ms against before the edit"),
        ]
    else:
        rows.append((f"`wharf run` on {SCI_BASE} with a snapshot", None, None, f"not measured: {sci_reason}"))
    note = "pip-cache entry removed first" if cleared else "pip-cache entry not found: may have been cached"
    rows += [
        ("wharf build, first", first_ms, first_mib, f"median of {BUILDS}; image and {note}; pip's own download cache kept"),
        ("wharf build, unchanged", again_ms, again_mib, ""),
    ]
    if docker_rows is not None:
        rows += [
            ("docker build --no-cache", docker_rows[0], None, f"median of {BUILDS}; legacy builder, wheels local"),
            ("docker build, unchanged", docker_rows[1], None, ""),
        ]
    if sci_reason is None:
        rows += [
            (f"wharf build on {SCI_BASE} (sci.toml), first", sci_first_ms, sci_first_mib,
             f"{sci_first_ms / 1000:.0f} s, once; image removed, `--no-cache` (pip installs the pins and the "
             f"snapshot is taken again; pip's own download cache kept): `{sci_first_step}`"),
            (f"wharf build on {SCI_BASE}, after an edit of app.py", edit_ms, edit_mib,
             edit_note(edit_step, edit_reused)),
        ]
    else:
        rows.append((f"wharf build on {SCI_BASE}, first and after an edit", None, None,
                     f"not measured: {sci_reason}"))
    out = [f"**{app.name}** ({', '.join(f'{n}=={v}' for n, v in app.pins)})", "", *table(rows)]

    targets = [(f"(k) {app.name}: wharf ≤ 2× native CPython", f"{wharf_ms / native_ms:.2f}× native",
                wharf_ms / native_ms <= 2)]
    text = [f"wharf ≤ 2× native CPython: **{wharf_ms / native_ms:.2f}× native**"]
    if docker_rows is not None:
        targets.append((f"(k) {app.name}: wharf faster than docker run", f"{wharf_ms / docker_ms:.2f}× docker run",
                        wharf_ms < docker_ms))
        text.append(f"wharf faster than docker run: **{wharf_ms / docker_ms:.2f}× docker run**")
    else:
        text.append(f"wharf faster than docker run: not measured ({daemon})")
    if sci_reason is None:
        value = f"{edit_ms / 1000:.2f} s, snapshot {'reused' if edit_reused else 'taken again'}"
        targets.append((f"(k) {app.name} on {SCI_BASE}: rebuild after an edit ≤ 10 s", value,
                        edit_ms <= EDIT_TARGET_MS))
        text.append(f"on {SCI_BASE}, rebuild after an edit ≤ 10 s: **{value}**")
    else:
        text.append(f"on {SCI_BASE}, rebuild after an edit ≤ 10 s: not measured")
    out += ["", "Targets: " + "; ".join(text) + ".", ""]
    return "\n".join(out), targets


def pandas_report_section(env, sci_reason, tmp):
    """guest-examples/pandas-report: an edit and rebuild, and its run
    against native CPython with pandas. Returns markdown and targets."""
    title = (f"**pandas-report** (guest-examples/pandas-report on {SCI_BASE}, snapshotted after "
             f"`import pandas, numpy`)")
    if sci_reason is not None:
        return "\n".join([title, "", f"not measured: {sci_reason}", "",
                          "Targets: rebuild after an edit ≤ 10 s; run ≤ 0.1× native CPython: not measured.", ""]), []
    image = "bench-pyapps-pandas-report"
    edited = f"{image}-edited"
    copy = tmp / "pandas-report"
    shutil.copytree(PANDAS_REPORT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    log("pandas-report: first build of a copy (minutes, unless its snapshot is cached already)…")
    first_ms, first_mib, steps = timed_build([WHARF, "build", "-t", image, copy], env)
    first_step, first_cached = snapshot_step(steps)
    log(f"pandas-report: {first_ms / 1000:.1f} s; edits of report.py, rebuilt…")
    (edit_ms, edit_mib), edit_step, edit_reused = edit_rebuilds(copy, "report.py", "wharf.toml", edited, env)

    python = native_pandas()
    data = PANDAS_REPORT / "data"
    outs = {name: tmp / f"pandas-report-out-{name}" for name in ("wharf", "wharf-edited", "native")}
    for directory in outs.values():
        directory.mkdir()
    sides = {
        "wharf": ([WHARF, "run", "-v", f"{data}:/input:ro", "-v", f"{outs['wharf']}:/output", image], env),
        "wharf-edited": ([WHARF, "run", "-v", f"{data}:/input:ro", "-v", f"{outs['wharf-edited']}:/output", edited],
                         env),
        "native": ([python, PANDAS_REPORT / "report.py", data / "sales.csv", outs["native"] / "report.md"], None),
    }
    # Each prints `wrote PATH: N orders, top region …` and writes the report.
    printed = {side: run_out(argv, side_env).strip() for side, (argv, side_env) in sides.items()}
    for side, out in printed.items():
        if not out.startswith("wrote ") or not (outs[side] / "report.md").is_file():
            raise SystemExit(f"pandas-report under {side} printed something else:\n{out}")
    if len({out.split(": ", 1)[-1] for out in printed.values()}) != 1 or \
            len({(outs[side] / "report.md").read_text() for side in outs}) != 1:
        log(f"note: pandas-report's output differs between sides: {printed}")
    log(f"pandas-report prints:\n{printed['wharf']}")
    log(f"pandas-report: {RUNS} runs after {WARMUP} warm-ups, {', '.join(sides)} alternating…")
    results = dict(zip(sides, measure_side_by_side(list(sides.values()))))
    (run_ms, run_mib), (edited_ms, edited_mib) = results["wharf"], results["wharf-edited"]
    native_ms, native_mib = results["native"]

    rows = [
        (f"`wharf run -v DATA:/input:ro -v OUT:/output {image}`", run_ms, run_mib, ratio(run_ms, native_ms)),
        ("the same, report.py edited and rebuilt", edited_ms, edited_mib,
         f"{ratio(edited_ms, native_ms)}; {edited_ms - run_ms:+.1f} ms against before the edit"),
        (f"native: `venv/bin/python report.py DATA/sales.csv OUT/report.md`, pandas {PANDAS_VERSION}",
         native_ms, native_mib, ratio(native_ms, native_ms)),
        ("wharf build of the copy, first", first_ms, first_mib,
         f"{first_ms / 1000:.0f} s, once; `{first_step}`" + (" (the same snapshot as an earlier build's, such as (f)'s)" if first_cached
                                    else ": takes the snapshot")),
        ("wharf build, after an edit of report.py", edit_ms, edit_mib, edit_note(edit_step, edit_reused)),
    ]
    rebuild = f"{edit_ms / 1000:.2f} s, snapshot {'reused' if edit_reused else 'taken again'}"
    run_ratio = edited_ms / native_ms
    targets = [
        ("(k) pandas-report: rebuild after an edit ≤ 10 s", rebuild, edit_ms <= EDIT_TARGET_MS),
        ("(k) pandas-report: run ≤ 0.1× native CPython", f"{run_ratio:.3f}× native", run_ratio <= PANDAS_TARGET),
    ]
    out = [title, "", *table(rows), "",
           f"Targets: rebuild after an edit ≤ 10 s: **{rebuild}**; run (the edited image's) ≤ 0.1× native "
           f"CPython: **{run_ratio:.3f}× native**.", ""]
    return "\n".join(out), targets


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    if not PEAK.exists():
        subprocess.run(["gcc", "-O2", "-static", "-o", PEAK, ROOT / "bench/peak.c"], check=True)
    version = run_out([NATIVE_PY, "-c", "import platform; print(platform.python_version())"]).strip()
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        tmp = Path(tmp)
        if os.environ.get("WHARF_HOME"):
            env = dict(os.environ)
        else:
            env = wharf_env(tmp / "store")
        store = Path(env["WHARF_HOME"])
        ensure_base(env)
        sci_reason = ensure_sci(env)
        sections, targets = [], []
        with docker_daemon(tmp) as daemon:
            docker_note = (f"`docker run --rm --network none` (Docker started by the benchmark, as in (e)) of an "
                           f"image built FROM `{DOCKER_BASE}` (docker.py's debootstrapped Debian bookworm with "
                           f"Debian's python3) whose Dockerfile pip-installs the same pins, with bytecode, from "
                           f"wheels downloaded beforehand (no registry is reachable); its memory column is left "
                           f"empty, as only the docker client's could be measured here"
                           if not isinstance(daemon, str) else f"Docker: not measured ({daemon})")
            for app in APPS:
                markdown, app_targets = app_section(app, env, store, daemon, sci_reason, tmp)
                sections.append(markdown)
                targets += app_targets
        markdown, report_targets = pandas_report_section(env, sci_reason, tmp)
        sections.append(markdown)
        targets += report_targets
    intro = [
        "### (k) Python apps with dependencies", "",
        f"Two apps in bench/guests, each a wharf image on python:3.12 whose `[python] requirements` installs "
        f"pinned pure-Python packages from PyPI at build time: requests-app imports requests and prints its "
        f"version; click-app is a click command whose `--title` option titles a rich table of three rows, "
        f"printed to stdout. Each runs as `wharf run` of its image; natively, the same app.py under the host's "
        f"{NATIVE_PY} (CPython {version}) in a venv with the same pins installed by pip (with bytecode); and "
        f"{docker_note}. Medians of {RUNS} runs after {WARMUP} warm-ups, the sides alternating; whole-process "
        f"wall time and peak resident memory. Builds: the first (the image and the store's cached install of "
        f"the pins removed before each; pip still downloads through its own cache) and unchanged again.",
        "",
        f"On {SCI_BASE} with a build-time snapshot: each app also has a manifest sci.toml on {SCI_BASE} with the "
        f"same requirements and a `[snapshot]` preloading what it imports; its image runs side by side with the "
        f"others (a run resumes the snapshot). Its first build is timed once (the image removed first, and built "
        f"with `--no-cache`: it installs the pins and takes the snapshot again). Then an edit: a "
        f"comment line appended to app.py in a temporary copy of the app's directory, and the image rebuilt from "
        f"it ({f'{BUILDS} times, one line more each time: the median' if BUILDS > 1 else 'once'}), which should "
        f"reuse the snapshot, taken over the base and the requirements only (the build then says "
        f"`SNAPSHOT preload … (cached)`); the edited image runs side by side too. The same for "
        f"guest-examples/pandas-report (snapshotted after `import pandas, numpy`): copied to a temporary "
        f"directory, built there, report.py edited and the copy rebuilt; its run, `wharf run -v DATA:/input:ro "
        f"-v OUT:/output` on the example's sales.csv before and after the edit, against the same report.py "
        f"under {NATIVE_PY} with pandas {PANDAS_VERSION} from PyPI in a venv (as (f))."
        + (f" Not measured here: {sci_reason}." if sci_reason else ""),
        "",
        "Targets, stated and not enforced: wharf ≤ 2× native CPython, and wharf faster than docker run (on "
        f"python:3.12); on {SCI_BASE}, a rebuild after an edit ≤ 10 s; and pandas-report's run ≤ 0.1× native "
        "CPython.",
        "",
    ]
    markdown = "\n".join(intro + sections)
    if "--json" in sys.argv[1:]:
        print(json.dumps({"markdown": markdown, "targets": targets}))
    else:
        print(markdown)


if __name__ == "__main__":
    main()
