"""The source files the program builds from: the ones git tracks, by path relative to the
checkout, so what it registers is the same from any clone, at any path, under any umask, with
or without caches or scratch files in the tree.

Relative paths are what the engine and the providers get: Pulumi runs the program (and
resolves asset paths, and pulumi-docker-build its context and Dockerfile) in the project
directory, so the checkout's own location never reaches the state.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pulumi


class SourcesError(pulumi.RunError):
    """The checkout's tracked files could not be listed (not a git checkout, no git)."""


def tracked_files(root: Path, paths: Sequence[str]) -> tuple[str, ...]:
    """The files git tracks under `paths` of the checkout at `root` that exist in its work
    tree, as sorted POSIX paths relative to `root`."""
    git = shutil.which("git") or "git"
    try:
        # Fixed arguments; `paths` are the program's own constants.
        listed = subprocess.run(  # noqa: S603
            [git, "-C", str(root), "ls-files", "-z", "--cached", "--", *paths],
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", b"") or str(e).encode()
        raise SourcesError(
            f"cannot list the tracked files of {', '.join(paths)} in {root}: the program "
            f"builds the image and the Lambda from a git checkout's tracked files only "
            f"({detail.decode(errors='replace').strip()})"
        ) from e
    names = {name for name in listed.decode().split("\0") if name}
    return tuple(sorted(name for name in names if (root / name).is_file()))


def content_digest(root: Path, files: Sequence[str], *extra: str) -> str:
    """SHA-256 over each file's path and bytes, then `extra` (settings that change the
    build's result): the same inputs always give the same digest, any change another."""
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    for value in extra:
        digest.update(b"extra\0" + value.encode() + b"\0")
    return digest.hexdigest()


def as_registered(path: Path) -> str:
    """`path` as the engine and the providers should get it: relative to the program's working
    directory (the project directory), which is where they resolve relative paths."""
    return Path(os.path.relpath(path, Path.cwd())).as_posix()
