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


def _git_list(root: Path, *args: str) -> list[str]:
    """The NUL-separated entries git prints for `git -C root <args>`."""
    git = shutil.which("git") or "git"
    try:
        # Fixed arguments; the paths are the program's own constants.
        listed = subprocess.run(  # noqa: S603
            [git, "-C", str(root), *args], check=True, capture_output=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", b"") or str(e).encode()
        raise SourcesError(
            f"cannot list the tracked files in {root}: the program builds the image and the "
            f"Lambda from a git checkout's tracked files only "
            f"({detail.decode(errors='replace').strip()})"
        ) from e
    return [entry for entry in listed.decode().split("\0") if entry]


def tracked_files(root: Path, paths: Sequence[str]) -> tuple[str, ...]:
    """The files git tracks under `paths` of the checkout at `root` that exist in its work
    tree, as sorted POSIX paths relative to `root`."""
    names = set(_git_list(root, "ls-files", "-z", "--cached", "--", *paths))
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


_CACHES = {"__pycache__"}


def build_context_problems(root: Path, paths: Sequence[str]) -> list[str]:
    """What would make the image (and pulumi-docker-build's hash of its context, which covers
    each file's bytes, path and mode) differ from another checkout's with the same tracked
    sources: a tracked file whose permissions are not the ones git records (a checkout made
    under another umask: 0600 files would also be unreadable to the app's user), and files
    git does not track (caches aside, which .dockerignore keeps out)."""
    problems = []
    for entry in _git_list(root, "ls-files", "-z", "--stage", "--", *paths):
        info, _, name = entry.partition("\t")
        recorded = 0o755 if info.split()[0] == "100755" else 0o644
        path = root / name
        if path.is_file() and (actual := path.stat().st_mode & 0o777) != recorded:
            problems.append(f"{name} has mode {actual:04o}, git records {recorded:04o}")
    problems.extend(
        f"{name} is not tracked"
        for name in _git_list(root, "ls-files", "-z", "--others", "--", *paths)
        if not _CACHES.intersection(Path(name).parts) and not name.endswith(".pyc")
    )
    return problems


def check_build_context(root: Path, paths: Sequence[str]) -> None:
    """Raise SourcesError naming every build_context_problems finding, and the fix."""
    problems = build_context_problems(root, paths)
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise SourcesError(
            "the image's build context differs from the tracked sources, so this checkout "
            "would build another image than any other (and re-push its tag):\n"
            f"{listed}\nFix: `chmod -R u+rwX,go=rX {' '.join(paths)}` for modes (git's "
            "own, under umask 022), and remove or commit the untracked files."
        )
