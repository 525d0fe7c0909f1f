#!/usr/bin/env python3
"""Builds hello-http.wasm, a wasi:http/proxy component, from app.py with
componentize-py 0.25.1 and the WIT of wasi:http 0.2.6 that spin-sdk 5.0.0
ships (the recipe in docs/serve.md). Both wheels come from PyPI, pinned by
their SHA-256, and are unpacked under .tools/ once.

    python3 guest-examples/hello-http-python/build.py
"""

import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "manifests"))
import pypi_artifact  # noqa: E402

TOOLS = HERE / ".tools"
WHEELS = {
    "componentize-py==0.25.1": (
        "8623cd8cab8453cb0cd8bf03f3c7103420d06f2f3d360186a280a70a1ca5e89f",
        ("componentize_py/",),
        TOOLS / "componentize-py",
    ),
    "spin-sdk==5.0.0": (
        "274117c4d1210f2ba22b8d76338e966c7dcfd637c2e8b57dbd2e96af4adda7cc",
        ("spin_sdk/wit/",),
        TOOLS / "spin-sdk",
    ),
}
WORLD = "wasi:http/proxy@0.2.6"
OUTPUT = HERE / "hello-http.wasm"


def componentize_py(*args: str) -> None:
    code = (
        "import sys, componentize_py; "
        "sys.argv = ['componentize-py', *sys.argv[1:]]; componentize_py.script()"
    )
    subprocess.run(
        [sys.executable, "-c", code, *args],
        check=True,
        env={"PYTHONPATH": str(TOOLS / "componentize-py"), "PATH": "/usr/bin:/bin"},
    )


def main() -> int:
    TOOLS.mkdir(exist_ok=True)
    for package, (sha, prefixes, target) in WHEELS.items():
        status = pypi_artifact.fetch_tree(package, sha, prefixes, target)
        if status != 0:
            return status
    sources = [HERE / "app.py", HERE / "build.py"]
    if OUTPUT.exists() and all(s.stat().st_mtime <= OUTPUT.stat().st_mtime for s in sources):
        print(f"{OUTPUT.name}: up to date")
        return 0
    wit = str(TOOLS / "spin-sdk" / "spin_sdk" / "wit")
    bindings = TOOLS / "bindings"
    componentize_py("-d", wit, "-w", WORLD, "bindings", str(bindings))
    staged = OUTPUT.with_name(OUTPUT.name + ".partial")
    componentize_py(
        "-d", wit, "-w", WORLD, "componentize",
        "-p", str(HERE), "-p", str(bindings), "app", "-o", str(staged),
    )
    staged.replace(OUTPUT)
    print(f"{OUTPUT.name}: built")
    return 0


if __name__ == "__main__":
    sys.exit(main())
