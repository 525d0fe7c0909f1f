#!/usr/bin/env python3
"""wharf's benchmark: start-up time and peak memory, each against a baseline
measured in the same run on the same machine.

  (a) `wharf run` of the C hello image vs a minimal wasmtime embedding
      (bench/embed: same wasmtime, same configuration, the same precompiled
      artifact, no image logic) vs the same program built natively with gcc;
  (b) `wharf run python:3.12 python -c "print('hi')"` vs the minimal
      embedding running python.wasm, vs native python3 (and python3 -S),
      vs python.wasm compiled on every run (no cache);
  (c) building the seed's app image on a cached base, first and again;
  (d) the first compile of python.wasm (building python:3.12);
  (e) Docker itself, side by side (see docker.py);
  (f) a pandas app's start on python:3.15-sci, resumed from a build-time
      snapshot vs started afresh, vs native CPython with pandas installed
      from PyPI in a venv, vs python:3.12's hello; and `print('hi')` on the
      snapshotted image vs native python3, right after the build and again
      once the compiled module has been dropped from the page cache and read
      back (as for an image built a while ago) (BENCH_SCI=0 skips it: its
      builds take a few minutes and 2.5 GB; the venv needs python3's venv
      module, Debian's python3-venv).
  (g) guest work: what the guest computes, apart from start-up (a large
      input minus a small one), as instructions counted by valgrind's
      callgrind and as wall time, for a C kernel, a pure-Python loop on
      python:3.12 and a pandas computation on the snapshotted
      python:3.15-sci: under a stock wasmtime 48 embedding with wasmtime's
      default Config, `wharf run`, `wharf run --timeout`, a run through the
      library that the guest's own epoch checks can stop (bench/api), and
      natively (BENCH_WORK=0 skips it; the pandas rows count instructions
      only with BENCH_CALLGRIND_SCI=1, since compiling the interpreter under
      valgrind takes about a quarter of an hour per configuration).
  (h) plugin calls through the library (bench/api): a trivial plugin
      called one call after another through `App::call_async`, each in a
      fresh sandbox from the pool, against a raw wasmtime loop that
      instantiates and calls the same module with the same engine (sync,
      async as wharf calls, and async doing by hand the same work as a
      wharf call: captured output, a memory limit, epoch yields), also
      counted in instructions per call by callgrind, and against Extism 1.41 (PyPI extism-sys's
      libextism through its C API, bench/extism/calls.c) calling the same
      work, on one instance and on a fresh one per call: calls per second
      and p50/p99 latency, medians of alternated rounds; the per-call cost
      of a plugin on the snapshotted python:3.15-sci; and the resident
      memory of 1,000 sandboxes at once, each blocked reading its stdin.
  (i) the default build against the one with packed artifact tables
      (`make build-packed`, vendor/README.md), run alternately
      (BENCH_PACKED=0 skips it: the build takes about ten minutes).
  (j) serving HTTP (bench/serve.py): `wharf serve` against `wasmtime
      serve` on the same wasi:http/proxy hello component, and a WSGI hello
      through CGI on the snapshotted python:3.15-sci against native CPython
      as CGI and as a long-lived wsgiref server, loaded by wrk
      (BENCH_SERVE=0 skips it).
  (k) Python apps with dependencies (bench/python_apps.py): the start of
      a requests app and of a click + rich CLI (bench/guests), built with
      `[python] requirements`, under `wharf run`, under native CPython in a
      venv with the same pins, and under `docker run` of an image that
      pip-installs them on docker.py's Debian python3 (needs root, as (e);
      BENCH_DOCKER=0 leaves Docker out); and each app's build, first and
      unchanged. The same apps on python:3.15-sci with a build-time
      snapshot (bench/guests/*/sci.toml), run side by side with those
      (their first build, which takes the snapshot, timed once), and an
      edit of the app (a comment appended to a copy of app.py) rebuilt,
      which should reuse the snapshot, and run; the same edit and rebuild
      for guest-examples/pandas-report, and its run against native CPython
      with pandas, as in (f). Targets: a rebuild after an edit ≤ 10 s, and
      pandas-report's run ≤ 0.1× native. The python:3.15-sci rows use the
      image (f) builds, and are not measured with BENCH_SCI=0
      (BENCH_PYAPPS=0 skips (k)).
  (l) containerd (bench/containerd.py): sequential `ctr run --rm` of the C
      hello image through wharf's shim against `busybox true` through runc,
      in tasks per second, and the seed's app through the shim against
      `wharf run` (needs root, as (e); BENCH_CTR=0 skips it).

Times are whole-process wall times: the median of RUNS runs (BENCH_RUNS,
default 20) after WARMUP warm-up runs (BENCH_WARMUP, default 3). A command
and the baseline it is compared with are measured side by side, their runs
alternating, so that the machine's drift weighs on both alike. Peak memory
is the process's maximum resident set (from wait4), median over the runs.
Results go to stdout and bench/RESULTS.md. This is a benchmark, not a
test: nothing here passes or fails on a time.
"""

import json
import os
import platform
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
EMBED = ROOT / "target" / "release" / "embed"
API = ROOT / "target" / "release" / "bench-api"
RUNS = int(os.environ.get("BENCH_RUNS", "20"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "3"))


def sh(*args, **kwargs):
    return subprocess.run([str(a) for a in args], check=True, **kwargs)


PEAK = WORK / "peak"


def measure(argv, runs=RUNS, warmup=WARMUP, env=None, expect=0):
    """Median wall time (ms) and median peak RSS (MiB) of a command.

    Times come from runs started with posix_spawn; peak memory from five
    more runs under bench/peak.c (see there why)."""
    return measure_side_by_side([(argv, env)], runs, warmup, expect)[0]


def measure_side_by_side(commands, runs=RUNS, warmup=WARMUP, expect=0):
    """`measure` for several (argv, env) commands at once: their runs
    alternate, so that the machine getting slower or faster meanwhile weighs
    on each alike, which keeps the ratios between them honest."""
    commands = [([str(a) for a in argv], env) for argv, env in commands]
    programs = [argv[0] if "/" in argv[0] else shutil.which(argv[0], path=(env or os.environ).get("PATH"))
                for argv, env in commands]
    times = [[] for _ in commands]
    peaks = [[] for _ in commands]
    with tempfile.TemporaryFile() as stderr:
        def spawn(args, path, env):
            stderr.seek(0)
            stderr.truncate()
            actions = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                       (os.POSIX_SPAWN_DUP2, stderr.fileno(), 2)]
            start = time.perf_counter()
            pid = os.posix_spawn(path, args, env if env is not None else os.environ, file_actions=actions)
            _, status, _ = os.wait4(pid, 0)
            elapsed = time.perf_counter() - start
            code = os.waitstatus_to_exitcode(status)
            stderr.seek(0)
            output = stderr.read().decode(errors="replace")
            if code != expect:
                raise SystemExit(f"{' '.join(args)} exited {code}:\n{output}")
            return elapsed, output

        for i in range(warmup + runs):
            for n, ((argv, env), program) in enumerate(zip(commands, programs)):
                elapsed, _ = spawn(argv, program, env)
                if i >= warmup:
                    times[n].append(elapsed * 1000)
        for _ in range(5):
            for n, ((argv, env), program) in enumerate(zip(commands, programs)):
                _, output = spawn([str(PEAK), program, *argv[1:]], str(PEAK), env)
                peaks[n].append(int(output.strip().splitlines()[-1]) / 1024)
    return [(statistics.median(t), statistics.median(p)) for t, p in zip(times, peaks)]


def once(argv, env=None):
    """Wall time (ms) and peak RSS (MiB) of a single run of a command."""
    start = time.perf_counter()
    result = subprocess.run([str(PEAK), *map(str, argv)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    elapsed = (time.perf_counter() - start) * 1000
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} exited {result.returncode}:\n{result.stderr}")
    return elapsed, int(result.stderr.strip().splitlines()[-1]) / 1024


# (f)'s app: import pandas and compute on a small DataFrame.
PANDAS_APP = ("import pandas as pd; df = pd.DataFrame({'k': list('abcabc'), 'v': range(6)}); "
              "print(df.groupby('k').v.sum().to_dict())")
PANDAS_VERSION = "3.1.1"


def drop_page_cache(directory):
    """Asks the kernel to drop the cached pages of every file under
    `directory` (no privileges needed; the next reads go to the disk)."""
    for path in Path(directory).rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def native_pandas():
    """A venv with pandas from PyPI for the host's python3, made once."""
    venv = WORK / f"venv-pandas-{PANDAS_VERSION}"
    python = venv / "bin" / "python"
    if not python.exists():
        sh(shutil.which("python3", path="/usr/bin") or "python3", "-m", "venv", venv)
        sh(python, "-m", "pip", "install", "--quiet", f"pandas=={PANDAS_VERSION}")
    return python


def pandas_start(env, store, python312_hello_ms):
    """(f): returns its table and its targets."""
    sci = Table("(f) a pandas app's start, and `print('hi')`, on python:3.15-sci",
                f"The app is `python -c \"{PANDAS_APP}\"`. `pandas-report` is guest-examples/pandas-report, "
                "whose image is snapshotted after `import pandas, numpy`; `pandas-report-fresh` is the same "
                "manifest without `[snapshot]`. Native: the host's python3 with pandas "
                f"{PANDAS_VERSION} installed from PyPI in a venv. Ratios are against native.")
    sh(sys.executable, ROOT / "manifests/python-3.15-sci/fetch.py")
    base_ms, base_mib = once([WHARF, "build", "-q", "-t", "python:3.15-sci", ROOT / "manifests/python-3.15-sci"],
                             env=env)
    report_dir = ROOT / "guest-examples/pandas-report"
    snap_ms, snap_mib = once([WHARF, "build", "-q", "-t", "pandas-report", report_dir], env=env)
    fresh = WORK / "pandas-report-fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(report_dir, fresh)
    manifest = (fresh / "wharf.toml").read_text()
    (fresh / "wharf.toml").write_text(manifest.split("[snapshot]")[0])
    sh(WHARF, "build", "-q", "-t", "pandas-report-fresh", fresh, env=env, stdout=subprocess.DEVNULL)
    python = native_pandas()

    (native_ms, native_mib), (snapped_ms, snapped_mib) = measure_side_by_side([
        ([python, "-c", PANDAS_APP], None),
        ([WHARF, "run", "pandas-report", "python", "-c", PANDAS_APP], env),
    ])
    fresh_ms, fresh_mib = measure([WHARF, "run", "pandas-report-fresh", "python", "-c", PANDAS_APP], env=env,
                                  runs=5, warmup=1)
    native_py = shutil.which("python3", path="/usr/bin") or "python3"
    # Twice the runs: the two are close, and each takes only milliseconds.
    hello = [([WHARF, "run", "pandas-report", "python", "-c", "print('hi')"], env),
             ([native_py, "-c", "print('hi')"], None)]
    (hi_ms, hi_mib), (native_hi_ms, native_hi_mib) = measure_side_by_side(hello, runs=2 * RUNS)
    # The store was just built, so the compiled modules are still in the page
    # cache as they were written. An image built a while ago runs from pages
    # the kernel dropped and read back in, which maps more slowly: measure that
    # too, after dropping them (the warm-up runs read them back).
    drop_page_cache(store / "artifacts")
    (reread_ms, reread_mib), (native_reread_ms, _) = measure_side_by_side(hello, runs=2 * RUNS)
    out = WORK / "pandas-report-out"
    out.mkdir(exist_ok=True)
    report_ms, report_mib = measure([WHARF, "run", "-v", f"{report_dir / 'data'}:/input:ro", "-v", f"{out}:/output",
                                     "pandas-report"], env=env)
    native_report_ms, native_report_mib = measure([python, report_dir / "report.py", report_dir / "data/sales.csv",
                                                   out / "native.md"])
    sci.add("wharf, snapshot", snapped_ms, snapped_mib, native_ms)
    sci.add("wharf, no snapshot", fresh_ms, fresh_mib, native_ms, "5 runs")
    sci.add(f"native python3 + pandas {PANDAS_VERSION}", native_ms, native_mib, native_ms)
    sci.add("wharf, python:3.12 `print('hi')`", python312_hello_ms, None, native_ms, "from (b)")
    sci.add("wharf, snapshot, `print('hi')`", hi_ms, hi_mib, native_hi_ms,
            f"vs native python3 -c, {2 * RUNS} runs each, alternating")
    sci.add(f"native {native_py} -c `print('hi')`", native_hi_ms, native_hi_mib, native_hi_ms)
    sci.add("wharf, snapshot, `print('hi')`, module re-read", reread_ms, reread_mib, native_reread_ms,
            f"the compiled module dropped from the page cache first; native: {native_reread_ms:.1f} ms")
    sci.add("pandas-report (CSV in, report out), snapshot", report_ms, report_mib, native_report_ms,
            "vs native on the same files")
    sci.add("pandas-report, native", native_report_ms, native_report_mib, native_report_ms)
    sci.add("python:3.15-sci, first build", base_ms, base_mib, None, "once; compiles python.wasm")
    sci.add("pandas-report, first build", snap_ms, snap_mib, None, "once; takes and compiles the snapshot")
    targets = [
        ("(f) pandas app with a snapshot ≤ 0.1× native", f"{snapped_ms / native_ms:.3f}×",
         snapped_ms / native_ms <= 0.1),
        ("(f) `print('hi')` with a snapshot ≤ 1.0× native python3, right after the build",
         f"{hi_ms / native_hi_ms:.2f}×", hi_ms / native_hi_ms <= 1.0),
        ("(f) the same, its compiled module read back into the page cache",
         f"{reread_ms / native_reread_ms:.2f}×", reread_ms / native_reread_ms <= 1.0),
    ]
    return sci, targets


# (g)'s kernels: each takes its size as its last argument.
KERNEL_SIZES = (1000, 6000000)
PY_LOOP = "import sys\nt = 0\nfor i in range(int(sys.argv[1])): t += i * i % 7\nprint(t)"
PY_LOOP_SIZES = (10, 200000)
PANDAS_WORK = ("import sys, numpy as np, pandas as pd\n"
               "n = int(sys.argv[1])\n"
               "df = pd.DataFrame({'k': np.arange(n) % 97, 'v': np.sin(np.arange(n, dtype=float))})\n"
               "g = df.groupby('k')['v'].agg(['sum', 'mean', 'std']).sort_values('sum')\n"
               "print(round(float(g['sum'].sum()), 6), len(g))")
PANDAS_WORK_SIZES = (1000, 2000000)
# Hash randomisation changes how much work a Python loop does from one run
# to the next; fixed, the instruction counts repeat exactly.
HASH_SEED = {"PYTHONHASHSEED": "0"}
# A fuel budget no kernel uses up.
FUEL = str(10 ** 15)


def instructions(argv, env=None):
    """Instructions a whole run of a command executes, counted by callgrind."""
    result = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                             *map(str, argv)], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} under callgrind exited {result.returncode}:\n{result.stderr}")
    refs = next(l for l in result.stderr.splitlines() if "refs:" in l)
    return int(refs.split("refs:")[1].strip().replace(",", ""))


def under_valgrind(argv, env=None):
    """Runs a command once under valgrind without a tool: what a command
    compiles under valgrind (whose CPU differs from the machine's, so that
    wasmtime compiles anew) is then cached for the counted runs."""
    sh("valgrind", "-q", "--tool=none", *argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def tree_holding(store, guest_path, digest):
    """The unpacked tree in the store whose file at `guest_path` has `digest`."""
    for tree in (store / "rootfs").glob("*/tree"):
        path = tree / guest_path.lstrip("/")
        if path.is_file():
            actual = subprocess.run(["sha256sum", str(path)], check=True, capture_output=True,
                                    text=True).stdout[:64]
            if f"sha256:{actual}" == digest:
                return tree
    raise SystemExit(f"no unpacked tree in {store} holds {guest_path} with {digest}")


def work_rows(rows, sizes, count=True):
    """For each (name, argv-without-size, env, native-argv-or-None) row: the
    instructions (when `count`) and the wall time of the work the size
    difference adds. Returns [(name, instructions or None, ms)]."""
    small, large = sizes
    counted = []
    for name, argv, env, precount in rows:
        if not count:
            counted.append(None)
            continue
        if precount:
            precount()
        counted.append(instructions([*argv, large], env) - instructions([*argv, small], env))
    timed = [measure_side_by_side([([*argv, size], env) for _, argv, env, _ in rows], runs=max(RUNS // 2, 5))
             for size in sizes]
    return [(name, counted[i], timed[1][i][0] - timed[0][i][0]) for i, (name, *_rest) in enumerate(rows)]


def guest_work(env, store, tree_312, python_wasm, sci_built):
    """(g): returns its table and its targets."""
    table = WorkTable("(g) guest work: what the guest computes, without start-up",
                      "Each kernel runs at a small and a large size; the figures are the large run minus the "
                      "small one, so that only the work the size adds remains. Instructions are counted by "
                      "valgrind's callgrind (every configuration compiled under valgrind, whose CPU model "
                      "differs from the machine's); times are medians of alternated runs. Ratios are against "
                      "the stock wasmtime 48 embedding with wasmtime's default `Config` (bench/embed "
                      "`--config default`). `wharf run --timeout 1h` is ended by its watchdog, not by checks "
                      "in the code; the epoch-checked call is a run through the library whose deadline the "
                      "guest's own code checks (`TimeoutBy::Guest`, bench/api), as a server's plugin calls "
                      "and `wharf serve`'s requests are.")
    targets = []
    wenv = {**env, **HASH_SEED}
    # Artifacts of an earlier run may come from another build of the
    # embedding: each run compiles its own.
    for stale in WORK.glob("*-default*.cwasm"):
        stale.unlink()

    # The C kernel.
    kernel_wasm = WORK / "kernel.wasm"
    sh("clang", "--target=wasm32-wasi", "-O2", "-s", "-Wall", "-Werror", "-o", kernel_wasm,
       ROOT / "bench/guests/kernel.c", "-lm")
    native_kernel = WORK / "kernel-native"
    sh("gcc", "-O2", "-Wall", "-o", native_kernel, ROOT / "bench/guests/kernel.c", "-lm")
    context = WORK / "kernel-context"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir()
    shutil.copy(kernel_wasm, context)
    (context / "wharf.toml").write_text('from = "scratch"\nentrypoint = ["kernel"]\n\n'
                                        '[[copy]]\nsrc = "kernel.wasm"\ndest = "/usr/bin/"\n')
    sh(WHARF, "build", "-q", "-t", "kernel", context, env=env, stdout=subprocess.DEVNULL)
    native_cwasm, valgrind_cwasm = WORK / "kernel-default.cwasm", WORK / "kernel-default-vg.cwasm"
    sh(EMBED, "--config", "default", "--precompile", kernel_wasm, native_cwasm)

    def stock(wasm, native, counted, *flags):
        """The stock embedding's argv for native runs, and a callable that
        prepares its valgrind artifact before counting."""
        def prepare():
            if not counted.exists():
                under_valgrind([EMBED, "--config", "default", "--precompile", wasm, counted])
        return [EMBED, "--config", "default", "--artifact", native, *flags], prepare

    def warm(argv, env, size):
        return lambda: under_valgrind([*argv, size], env)

    embed_argv, embed_prepare = stock(kernel_wasm, native_cwasm, valgrind_cwasm)
    small = KERNEL_SIZES[0]
    kernel_rows = [
        ("stock wasmtime 48, default Config", embed_argv + ["--", "kernel"], None,
         lambda: (embed_prepare(), None)),
        ("wharf run", [WHARF, "run", "kernel"], env, warm([WHARF, "run", "kernel"], env, small)),
        ("wharf run --timeout 1h", [WHARF, "run", "--timeout", "1h", "kernel"], env, None),
        ("wharf run -m 64MiB", [WHARF, "run", "-m", "64MiB", "kernel"], env, None),
        ("wharf run --fuel (fuel counted)", [WHARF, "run", "--fuel", FUEL, "kernel"], env,
         warm([WHARF, "run", "--fuel", FUEL, "kernel"], env, small)),
        ("epoch-checked call (library)", [API, "run-interruptible", "kernel"], env,
         warm([API, "run-interruptible", "kernel"], env, small)),
        ("native (gcc -O2)", [native_kernel], None, None),
    ]
    # The counted runs load the valgrind artifact; the timed ones the native one.
    counted_rows = [(n, [valgrind_cwasm if a == native_cwasm else a for a in argv], e, p)
                    for n, argv, e, p in kernel_rows]
    counts = work_rows(counted_rows, KERNEL_SIZES)
    times = work_rows(kernel_rows, KERNEL_SIZES, count=False)
    table.kernel("C sieve + matrix product (n = 1,000 → 6,000,000)",
                 [(n, c, t) for (n, c, _), (_, _, t) in zip(counts, times)])

    # The Python loop on python:3.12.
    py_native, py_vg = WORK / "python-default.cwasm", WORK / "python-default-vg.cwasm"
    if not py_native.exists():
        sh(EMBED, "--config", "default", "--precompile", python_wasm, py_native)
    dirs = ["--dir", f"{tree_312}::/", "--env", "PYTHONHOME=/opt/python", "--env", "PYTHONHASHSEED=0"]
    embed_argv, embed_prepare = stock(python_wasm, py_native, py_vg, *dirs)
    native_py = shutil.which("python3", path="/usr/bin") or "python3"
    run_py = ["python:3.12", "python", "-c", PY_LOOP]
    small = PY_LOOP_SIZES[0]
    py_rows = [
        ("stock wasmtime 48, default Config", embed_argv + ["--", "python", "-c", PY_LOOP], None,
         lambda: (embed_prepare(), None)),
        ("wharf run", [WHARF, "run", "-e", "PYTHONHASHSEED=0", *run_py], env,
         warm([WHARF, "run", "-e", "PYTHONHASHSEED=0", *run_py], env, small)),
        ("wharf run --timeout 1h", [WHARF, "run", "--timeout", "1h", "-e", "PYTHONHASHSEED=0", *run_py], env, None),
        ("wharf run -m 256MiB", [WHARF, "run", "-m", "256MiB", "-e", "PYTHONHASHSEED=0", *run_py], env, None),
        ("wharf run --fuel (fuel counted)", [WHARF, "run", "--fuel", FUEL, "-e", "PYTHONHASHSEED=0", *run_py], env,
         warm([WHARF, "run", "--fuel", FUEL, "-e", "PYTHONHASHSEED=0", *run_py], env, small)),
        ("epoch-checked call (library)", [API, "run-interruptible", "-e", "PYTHONHASHSEED=0", *run_py], env,
         warm([API, "run-interruptible", "-e", "PYTHONHASHSEED=0", *run_py], env, small)),
        (f"native {native_py}", [native_py, "-c", PY_LOOP], wenv, None),
    ]
    counted_rows = [(n, [py_vg if a == py_native else a for a in argv], e, p) for n, argv, e, p in py_rows]
    counts = work_rows(counted_rows, PY_LOOP_SIZES)
    times = work_rows(py_rows, PY_LOOP_SIZES, count=False)
    table.kernel("pure-Python loop on python:3.12 (200,000 iterations)",
                 [(n, c, t) for (n, c, _), (_, _, t) in zip(counts, times)])
    for name, kernel_counts in (("C kernel", table.sections[0][1]), ("Python loop", table.sections[1][1])):
        stock_count = kernel_counts[0][1]
        for row, count, _ in kernel_counts[1:4]:
            targets.append((f"(g) {name}: {row} within 2% of stock wasmtime's instructions",
                            f"{count / stock_count:.3f}×", count / stock_count <= 1.02))

    # The pandas computation on the snapshotted python:3.15-sci.
    if sci_built:
        inspect = json.loads(subprocess.run([WHARF, "inspect", "pandas-report"], env=env, check=True,
                                            capture_output=True, text=True).stdout)[0]
        labels = inspect["Config"]["Labels"]
        snapshot = json.loads(labels["dev.wharf.snapshot"])
        launch = json.loads(labels["dev.wharf.launch"])
        tree = tree_holding(store, snapshot["module"], snapshot["digest"])
        module = tree / snapshot["module"].lstrip("/")
        image_env = dict(e.split("=", 1) for e in inspect["Config"]["Env"])
        sci_native, sci_vg = WORK / "sci-snapshot-default.cwasm", WORK / "sci-snapshot-default-vg.cwasm"
        sh(EMBED, "--config", "default", "--precompile", module, sci_native)
        count = os.environ.get("BENCH_CALLGRIND_SCI") == "1"

        def stock_pandas(artifact, size):
            request = launch["snapshot"]["resume"].replace(
                "{argv}", json.dumps(["python", "-c", PANDAS_WORK, str(size)])).replace(
                "{env}", json.dumps(image_env))
            return [EMBED, "--config", "default", "--artifact", artifact, "--dir", f"{tree}::/",
                    "--answer", "host::call=-1", "--request", launch["snapshot"]["alloc"],
                    launch["snapshot"]["call"], request]

        python = native_pandas()
        run_pd = ["pandas-report", "python", "-c", PANDAS_WORK]
        pd_rows = [
            ("wharf run", [WHARF, "run", *run_pd], env, None),
            ("wharf run --timeout 1h", [WHARF, "run", "--timeout", "1h", *run_pd], env, None),
            ("epoch-checked call (library)", [API, "run-interruptible", *run_pd], env, None),
            (f"native python3 + pandas {PANDAS_VERSION}", [python, "-c", PANDAS_WORK], None, None),
        ]
        # The stock embedding's request holds the size, so it is timed on its own terms.
        timed = [measure_side_by_side([(stock_pandas(sci_native, size), None)] +
                                      [([*argv, size], e) for _, argv, e, _ in pd_rows], runs=max(RUNS // 2, 5))
                 for size in PANDAS_WORK_SIZES]
        ms = [timed[1][i][0] - timed[0][i][0] for i in range(len(pd_rows) + 1)]
        counts = [None] * (len(pd_rows) + 1)
        if count:
            under_valgrind([EMBED, "--config", "default", "--precompile", module, sci_vg])
            for size in PANDAS_WORK_SIZES[:1]:
                for _, argv, e, _ in pd_rows[:3]:
                    under_valgrind([*argv, size], e)
            counts[0] = (instructions(stock_pandas(sci_vg, PANDAS_WORK_SIZES[1]))
                         - instructions(stock_pandas(sci_vg, PANDAS_WORK_SIZES[0])))
            for i, (_, argv, e, _) in enumerate(pd_rows):
                counts[i + 1] = (instructions([*argv, PANDAS_WORK_SIZES[1]], e)
                                 - instructions([*argv, PANDAS_WORK_SIZES[0]], e))
        names = ["stock wasmtime 48, default Config"] + [n for n, *_ in pd_rows]
        table.kernel("pandas groupby on snapshotted python:3.15-sci (1,000 → 2,000,000 rows)"
                     + ("" if count else "; instructions not counted (BENCH_CALLGRIND_SCI=1 counts them)"),
                     list(zip(names, counts, ms)))
    return table, targets


class WorkTable:
    """(g)'s table: per kernel, rows of instructions and wall time of the
    work, with ratios to the first row."""

    def __init__(self, title, note):
        self.title, self.note, self.sections = title, note, []

    def kernel(self, name, rows):
        self.sections.append((name, rows))

    def markdown(self):
        out = [f"### {self.title}", "", self.note, ""]
        for name, rows in self.sections:
            out += [f"**{name}**", "", "| | instructions | ratio | wall time | ratio |", "|---|---:|---:|---:|---:|"]
            base_count, base_ms = rows[0][1], rows[0][2]
            for row, count, ms in rows:
                counted = f"{count / 1e6:,.1f} M" if count is not None else "not counted"
                ratio = f"{count / base_count:.3f}×" if count is not None and base_count else ""
                time_ratio = f"{ms / base_ms:.2f}×" if base_ms > 0 else ""
                out.append(f"| {row} | {counted} | {ratio} | {ms:.1f} ms | {time_ratio} |")
            out.append("")
        return "\n".join(out)


EXTISM_SYS = "1.41.0"
EXTISM_SYS_SHA256 = "ec20105dc6f80a545b421717a89e849b80677a9337f3ed7f0367f4c89ad6e998"


def extism_harness():
    """bench/extism/calls.c linked against libextism from PyPI's
    extism-sys wheel (hash-checked), made once."""
    lib_dir = WORK / f"extism-sys-{EXTISM_SYS}"
    library = lib_dir / "extism_sys" / "libextism_sys.so"
    if not library.exists():
        download = WORK / "extism-download"
        shutil.rmtree(download, ignore_errors=True)
        sh(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--platform", "manylinux2014_x86_64", f"extism-sys=={EXTISM_SYS}", "-d", download)
        wheel = next(download.glob("extism_sys-*.whl"))
        digest = subprocess.run(["sha256sum", str(wheel)], check=True, capture_output=True, text=True).stdout[:64]
        if digest != EXTISM_SYS_SHA256:
            raise SystemExit(f"{wheel.name}: SHA-256 {digest}, expected {EXTISM_SYS_SHA256}")
        import zipfile
        with zipfile.ZipFile(wheel) as archive:
            archive.extract("extism_sys/libextism_sys.so", lib_dir)
    harness = WORK / "extism-calls"
    sh("gcc", "-O2", "-Wall", "-o", harness, ROOT / "bench/extism/calls.c", f"-L{library.parent}",
       "-l:libextism_sys.so", f"-Wl,-rpath,{library.parent}")
    return harness


def json_run(argv, env=None):
    out = subprocess.run([str(a) for a in argv], env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def plugin_calls(env, sci_built):
    """(h): returns its table and its targets."""
    noop = ROOT / "bench/guests/noop.wat"
    noop_extism = WORK / "noop-extism.wasm"
    sh(API, "wasm", ROOT / "bench/guests/noop-extism.wat", noop_extism)
    harness = extism_harness()
    calls = 100000
    commands = [
        ("wharf `App::call_async`, fresh sandbox", [API, "calls", noop, calls]),
        ("raw wasmtime, sync instantiate + call", [API, "raw", noop, calls]),
        ("raw wasmtime, async instantiate + call", [API, "raw-async", noop, calls]),
        ("raw wasmtime, async, doing what a wharf call does", [API, "raw-async-equal", noop, calls]),
        ("Extism, one instance for every call", [harness, "reuse", noop_extism, calls]),
        ("Extism, a fresh instance per call", [harness, "fresh", noop_extism, calls // 20]),
    ]
    rounds = {name: [] for name, _ in commands}
    for _ in range(5):
        for name, argv in commands:
            rounds[name].append(json_run(argv))
    medians = {name: {key: statistics.median(r[key] for r in runs) for key in ("calls_per_s", "p50_us", "p99_us")}
               for name, runs in rounds.items()}
    table = CallTable("(h) plugin calls through the library",
                      "A trivial plugin (a WASI command that returns at once; for Extism, an export returning 0) "
                      "called one call after another on one thread, medians of 5 alternated rounds of "
                      f"{calls:,} calls (Extism's fresh instances: {calls // 20:,}). wharf gives every call a fresh "
                      "instance from its pool, with its own WASI context, captured stdout and stderr, limits and "
                      "a deadline it can be stopped at (epoch checks compiled in); the raw loops instantiate the "
                      "same module with the same engine and no more; the async ones run on a fiber, as wharf "
                      "does, so that the guest's stack is wasmtime's whatever the caller's thread; the last one "
                      "also does by hand what a wharf call gives its guest (an argument, stdout and stderr "
                      "captured into 1 MiB buffers through wasmtime-wasi's `MemoryOutputPipe`, a memory limit "
                      "through `StoreLimits`, a yield at every epoch tick).")
    raw_sync = medians["raw wasmtime, sync instantiate + call"]["calls_per_s"]
    raw_async = medians["raw wasmtime, async instantiate + call"]["calls_per_s"]
    raw_equal = medians["raw wasmtime, async, doing what a wharf call does"]["calls_per_s"]
    for name, _ in commands:
        m = medians[name]
        table.add(name, m, m["calls_per_s"] / raw_sync, m["calls_per_s"] / raw_async, m["calls_per_s"] / raw_equal)
    wharf = medians["wharf `App::call_async`, fresh sandbox"]["calls_per_s"]
    targets = [
        ("(h) wharf ≥ 0.9× a raw async wasmtime loop's calls per second", f"{wharf / raw_async:.2f}×",
         wharf / raw_async >= 0.9),
        ("(h) wharf ≥ 0.9× a raw sync wasmtime loop's calls per second", f"{wharf / raw_sync:.2f}×",
         wharf / raw_sync >= 0.9),
        ("(h) wharf ≥ 0.9× a raw async loop doing the same work", f"{wharf / raw_equal:.2f}×",
         wharf / raw_equal >= 0.9),
    ]
    # Instructions per call, which this noisy machine cannot blur: callgrind
    # over two lengths of run, so that start-up cancels out. A pool of two
    # sandboxes, as valgrind cannot reserve the default pool's address space.
    per_call = {}
    for mode in ("calls", "raw-async", "raw-async-equal", "raw"):
        short, long = (instructions([API, mode, noop, n, 2]) for n in (1000, 11000))
        per_call[mode] = (long - short) / 11000  # each run adds a tenth unmeasured
    table.note("Instructions per call (callgrind, the difference of 12,100 and 1,100 calls, pool of 2): "
               f"wharf {per_call['calls']:,.0f}; raw sync {per_call['raw']:,.0f}; raw async "
               f"{per_call['raw-async']:,.0f} ({per_call['raw-async'] / per_call['calls']:.2f}× wharf's "
               f"throughput in instructions); raw async doing the same work {per_call['raw-async-equal']:,.0f} "
               f"({per_call['raw-async-equal'] / per_call['calls']:.2f}×).")
    idle = json_run([API, "idle", ROOT / "bench/guests/reader.wat", 1000])
    table.note(f"1,000 sandboxes at once, each instantiated and blocked reading its stdin: "
               f"{idle['per_sandbox_kib']:.1f} KiB of resident memory each (the process: "
               f"{idle['before_kib'] / 1024:.1f} MiB before, {idle['with_kib'] / 1024:.1f} MiB with them; "
               "the plugin's linear memory is one 64 KiB page, of which it touches one 4 KiB page).")
    targets.append(("(h) an idle sandbox ≤ 1 MiB of resident memory", f"{idle['per_sandbox_kib']:.1f} KiB",
                    idle["per_sandbox_kib"] <= 1024))
    if sci_built:
        # The first round compiles the snapshot with epoch checks (about a
        # minute, once); the second is measured.
        json_run([API, "image-calls", "pandas-report", 30, "python", "-c", "pass"], env=env)
        sci = json_run([API, "image-calls", "pandas-report", 200, "python", "-c", "pass"], env=env)
        table.note(f"A plugin call on the snapshotted python:3.15-sci (`python -c pass` on pandas-report, "
                   f"the app loaded once): {sci['p50_us'] / 1000:.2f} ms p50, {sci['p99_us'] / 1000:.2f} ms p99, "
                   f"{sci['calls_per_s']:.0f} calls a second on one thread.")
    return table, targets


class CallTable:
    """(h)'s table: calls per second and latency per row, with notes."""

    def __init__(self, title, note):
        self.title, self.intro, self.rows, self.notes = title, note, [], []

    def add(self, name, m, vs_sync, vs_async, vs_equal):
        self.rows.append(f"| {name} | {m['calls_per_s']:,.0f} | {m['p50_us']:.2f} µs | {m['p99_us']:.2f} µs "
                         f"| {vs_sync:.2f}× | {vs_async:.2f}× | {vs_equal:.2f}× |")

    def note(self, text):
        self.notes.append(text)

    def markdown(self):
        out = [f"### {self.title}", "", self.intro, "",
               "| | calls/s | p50 | p99 | vs raw sync | vs raw async | vs raw async, same work |",
               "|---|---:|---:|---:|---:|---:|---:|"]
        out += self.rows
        out += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(out) + "\n"


def packed_build(env, sci_built):
    """(i): the default build against the packed-tables build."""
    sh("make", "build-packed", cwd=ROOT, stdout=subprocess.DEVNULL)
    packed = ROOT / "target" / "packed" / "release" / "wharf"
    table = Table("(i) the default build against the packed-tables build",
                  "`target/release/wharf` (stock wasmtime 48.0.8, `make build`) against "
                  "`target/packed/release/wharf` (wasmtime-environ patched with packed artifact tables, "
                  "`make build-packed`), the same store, alternating. Each build compiles its own artifacts "
                  "(their formats differ); the warm-up runs do that. Ratios are against the default build.")
    hi = ["-c", "print('hi')"]
    cases = [("hello-c", ["run", "hello-c", "--quiet"]), ("python:3.12 `print('hi')`", ["run", "python:3.12", "python", *hi])]
    if sci_built:
        cases.append(("snapshotted python:3.15-sci `print('hi')`", ["run", "pandas-report", "python", *hi]))
    for name, args in cases:
        for binary in (WHARF, packed):
            sh(binary, *args, env=env, stdout=subprocess.DEVNULL)
        (default_ms, default_mib), (packed_ms, packed_mib) = measure_side_by_side(
            [([WHARF, *args], env), ([packed, *args], env)])
        table.add(f"{name}, default build", default_ms, default_mib, default_ms)
        table.add(f"{name}, packed tables", packed_ms, packed_mib, default_ms)
    return table


def wharf_env(store):
    env = dict(os.environ)
    env["WHARF_HOME"] = str(store)
    return env


def artifact_of(store, module):
    digest = subprocess.run(["sha256sum", str(module)], check=True, capture_output=True, text=True).stdout[:64]
    found = list((store / "artifacts").glob(f"*/{digest}.cwasm"))
    if not found:
        raise SystemExit(f"no compiled artifact for {module} in {store}")
    return found[0]


def machine():
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / (1 << 20):.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}"


class Table:
    def __init__(self, title, baseline_note):
        self.title, self.note, self.rows = title, baseline_note, []

    def add(self, name, ms, mib, baseline_ms=None, extra=""):
        ratio = f"{ms / baseline_ms:.2f}×" if baseline_ms else ""
        self.rows.append((name, f"{ms:.1f} ms", f"{mib:.1f} MiB" if mib is not None else "", ratio, extra))

    def markdown(self):
        out = [f"### {self.title}", "", self.note, "", "| | median time | peak memory | ratio | |", "|---|---:|---:|---:|---|"]
        out += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} |" for r in self.rows]
        return "\n".join(out) + "\n"


def section(script, title, env, targets):
    """Runs bench/SCRIPT (with its arguments), which prints {"markdown",
    "targets"}: returns the markdown and adds its targets to `targets`; a
    script that fails gives a section saying so."""
    result = subprocess.run([sys.executable, ROOT / "bench" / script[0], *script[1:]], env=env,
                            stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        return f"### {title}\n\nnot measured: bench/{script[0]} failed (see its output above)\n"
    out = json.loads(result.stdout)
    targets += [tuple(t) for t in out["targets"]]
    return out["markdown"]


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    print("building wharf, the embedding and the guests…", flush=True)
    # The `wharf` command as `make build` builds it (with the CLI's Linux
    # tunings), and the baselines linked the same way.
    sh("cargo", "build", "--release", "--locked", "-p", "wharf-cli", "-p", "wharf-bench-embed", "-p", "wharf-bench-api",
       "--features", "wharf-cli/tuning wharf-bench-embed/no-pie", cwd=ROOT)
    sh("sh", ROOT / "guest-examples/hello-c/build.sh")
    native_hello = WORK / "hello-native"
    sh("gcc", "-O2", "-o", native_hello, ROOT / "guest-examples/hello-c/hello.c")
    sh("gcc", "-O2", "-static", "-o", PEAK, ROOT / "bench/peak.c")
    sh(sys.executable, ROOT / "manifests/python-3.12/fetch.py", "--wharf", WHARF)
    python_wasm = ROOT / "manifests/python-3.12/python-3.12.0.wasm"
    tables = []

    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        store = Path(tmp) / "store"
        env = wharf_env(store)

        # (d) the first compile of python.wasm, inside the first build of
        # python:3.12.
        start = time.perf_counter()
        sh(WHARF, "build", "-q", "-t", "python:3.12", ROOT / "manifests/python-3.12", env=env, stdout=subprocess.DEVNULL)
        first_base = (time.perf_counter() - start) * 1000
        compile_ms, compile_mib = measure([EMBED, "--compile", python_wasm, "--", "python", "-c", "pass"], runs=3, warmup=0)

        sh(WHARF, "build", "-q", "-t", "hello-c", ROOT / "guest-examples/hello-c", env=env, stdout=subprocess.DEVNULL)

        # (a) hello
        hello = Table("(a) hello: the C guest",
                      "`wharf run hello-c --quiet` against the minimal embedding loading the same artifact, "
                      "and the same C program built natively with gcc.")
        (embed_ms, embed_mib), (wharf_ms, wharf_mib), (native_ms, native_mib) = measure_side_by_side([
            ([EMBED, "--artifact", artifact_of(store, ROOT / "guest-examples/hello-c/hello.wasm"),
              "--", "hello", "--quiet"], None),
            ([WHARF, "run", "hello-c", "--quiet"], env),
            ([native_hello, "--quiet"], None),
        ])
        hello.add("wharf run", wharf_ms, wharf_mib, embed_ms, "vs minimal embedding")
        hello.add("minimal embedding", embed_ms, embed_mib, embed_ms)
        hello.add("native (gcc -O2)", native_ms, native_mib, embed_ms)
        tables.append(hello)

        # (b) python
        py = Table("(b) python: `print('hi')`",
                   "`wharf run python:3.12 python -c \"print('hi')\"` against the minimal embedding running the same "
                   "python.wasm artifact, Debian's native CPython, and python.wasm compiled on every run.")
        hi = ["-c", "print('hi')"]
        # The embedding gets the image's file tree and the environment that
        # points Python at its unpacked standard library, as wharf does.
        tree = next(t for t in (store / "rootfs").glob("*/tree") if (t / "opt" / "python").is_dir())
        native_py = shutil.which("python3", path="/usr/bin") or "python3"
        (py_embed_ms, py_embed_mib), (py_wharf_ms, py_wharf_mib), (py_native_ms, py_native_mib) = \
            measure_side_by_side([
                ([EMBED, "--artifact", artifact_of(store, python_wasm), "--dir", f"{tree}::/",
                  "--env", "PYTHONHOME=/opt/python", "--", "python", *hi], None),
                ([WHARF, "run", "python:3.12", "python", *hi], env),
                ([native_py, *hi], None),
            ])
        py_native_s_ms, py_native_s_mib = measure([native_py, "-S", *hi])
        py_nocache_ms, py_nocache_mib = measure([EMBED, "--compile", python_wasm, "--dir", f"{tree}::/",
                                                 "--env", "PYTHONHOME=/opt/python", "--", "python", *hi],
                                                runs=3, warmup=0)
        py.add("wharf run", py_wharf_ms, py_wharf_mib, py_embed_ms,
               f"adds {py_wharf_ms - py_embed_ms:+.1f} ms over the embedding")
        py.add("minimal embedding", py_embed_ms, py_embed_mib, py_embed_ms)
        py.add(f"native {native_py}", py_native_ms, py_native_mib, py_embed_ms)
        py.add(f"native {native_py} -S", py_native_s_ms, py_native_s_mib, py_embed_ms)
        py.add("python.wasm compiled every run", py_nocache_ms, py_nocache_mib, py_embed_ms, "3 runs")
        tables.append(py)

        # (c) builds of the seed's app on the cached base, and (d).
        builds = Table("(c, d) builds",
                       "The seed's app on a cached `python:3.12`: built the first time (the image is removed before "
                       "each run) and built again unchanged; the first build of `python:3.12` itself, which "
                       "compiles python.wasm; and that compile alone.")
        app = ROOT / "guest-examples/python-app"
        first_ms, first_mib = measure(["sh", "-c", f'"{WHARF}" rmi -f my-first-image >/dev/null 2>&1; '
                                                   f'exec "{WHARF}" build -q -t my-first-image "{app}"'],
                                      env=env)
        again_ms, again_mib = measure([WHARF, "build", "-q", "-t", "my-first-image", app], env=env)
        rmi_ms, _ = measure(["sh", "-c", f'"{WHARF}" rmi -f my-first-image >/dev/null 2>&1; true'], env=env)
        builds.add("seed app, first build", max(first_ms - rmi_ms, 0), first_mib, None,
                   f"{first_ms:.1f} ms with an `rmi` of {rmi_ms:.1f} ms subtracted")
        builds.add("seed app, rebuilt unchanged", again_ms, again_mib)
        builds.add("python:3.12, first build", first_base, None, None, "once")
        builds.add("python.wasm compile (embedding --compile)", compile_ms, compile_mib, None, "3 runs")
        tables.append(builds)

        # A cache hit: loading the compiled artifact (checked against its
        # record, then mapped), from wharf's own timings of a run.
        loads = []
        for _ in range(RUNS):
            out = subprocess.run([WHARF, "--verbose", "run", "python:3.12", "python", *hi], env=env,
                                 capture_output=True, text=True, check=True).stderr
            line = next(l for l in out.splitlines() if "timing:" in l)
            loads.append(float(line.split("load ")[1].split("ms")[0]))
        cache_hit_ms = statistics.median(loads)

        sci_targets = []
        sci_built = os.environ.get("BENCH_SCI", "1") != "0"
        if sci_built:
            sci, sci_targets = pandas_start(env, store, py_wharf_ms)
            tables.append(sci)

        work_targets = []
        if os.environ.get("BENCH_WORK", "1") != "0":
            work, work_targets = guest_work(env, store, tree, python_wasm, sci_built)
            tables.append(work)

        plugin_table, plugin_targets = plugin_calls(env, sci_built)
        tables.append(plugin_table)
        work_targets += plugin_targets

        if os.environ.get("BENCH_PACKED", "1") != "0":
            tables.append(packed_build(env, sci_built))

        serve_md = ""
        if os.environ.get("BENCH_SERVE", "1") != "0":
            result = subprocess.run([sys.executable, ROOT / "bench" / "serve.py"], env=env,
                                    stdout=subprocess.PIPE, text=True)
            if result.returncode == 0:
                served = json.loads(result.stdout)
                serve_md = served["markdown"]
                work_targets += [tuple(t) for t in served["targets"]]
            else:
                serve_md = "### (j) serving HTTP\n\nnot measured: bench/serve.py failed (see its output above)\n"

        pyapps_md = ""
        if os.environ.get("BENCH_PYAPPS", "1") != "0":
            pyapps_md = section(["python_apps.py", "--json"], "(k) Python apps with dependencies", env,
                                work_targets)

        containerd_md = ""
        if os.environ.get("BENCH_CTR", "1") != "0":
            containerd_md = section(["containerd.py"], "(l) containerd: containers per second", env, work_targets)

    docker_md = ""
    docker_script = ROOT / "bench" / "docker.py"
    if os.environ.get("BENCH_DOCKER", "1") != "0":
        result = subprocess.run([sys.executable, docker_script], capture_output=True, text=True)
        docker_md = result.stdout if result.returncode == 0 else (
            "### (e) Docker\n\nnot measured: " + (result.stderr.strip().splitlines() or ["unknown error"])[-1] + "\n")

    targets = [
        ("(a) wharf ≤ 1.1× the minimal embedding", f"{wharf_ms / embed_ms:.2f}×", wharf_ms / embed_ms <= 1.1),
        ("(a) wharf ≤ 5 ms median", f"{wharf_ms:.1f} ms", wharf_ms <= 5),
        ("(b) wharf adds ≤ 2 ms over the embedding (python)", f"{py_wharf_ms - py_embed_ms:+.1f} ms",
         py_wharf_ms - py_embed_ms <= 2),
        ("(c) rebuild ≤ 300 ms", f"{again_ms:.1f} ms", again_ms <= 300),
        ("(c) a cache hit adds ≤ 1 ms (load phase)", f"{cache_hit_ms:.2f} ms", cache_hit_ms <= 1),
    ] + sci_targets + work_targets
    summary = ["### Targets", "", "| target | measured | met |", "|---|---:|---|"]
    summary += [f"| {name} | {value} | {'yes' if ok else 'no'} |" for name, value, ok in targets]

    report = [
        "# wharf benchmark results",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}, "
        f"with `make bench` (bench/run.py): medians of {RUNS} runs after {WARMUP} warm-ups "
        "(a command and its baseline alternating), whole-process wall time and peak resident memory.",
        "",
        *[t.markdown() for t in tables],
        serve_md,
        pyapps_md,
        containerd_md,
        docker_md,
        "\n".join(summary),
        "",
    ]
    text = "\n".join(report)
    (ROOT / "bench" / "RESULTS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
