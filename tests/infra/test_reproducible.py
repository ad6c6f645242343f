"""A second `up` from another checkout changes nothing: what the program registers depends on
the tracked sources and the config only, never on the checkout's path, caches or scratch
files; a checkout whose image would differ (another umask's file modes, untracked files in
the build context) is refused; a change in app/ reaches only the image and the Deployment,
one in handlers/ only the Lambda.

Under these conditions the registered inputs also fix what pulumi-docker-build hashes to
decide on a rebuild (each context file's path, bytes and mode, after .dockerignore): the
tracked files' bytes are in the content tag, their modes are git's, and nothing else is there.

Each checkout is a git clone of this one (with its uncommitted edits to tracked files laid
over, so the test checks the code as it is) and runs the program from its own directory with
its own modules, as the Pulumi CLI would (tests/infra/program_dump.py: one process for all,
since the SDKs' first import is most of a run's cost).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.sources import tracked_files
from tests.infra.harness import ROOT

IMAGE = "docker-build:index:Image"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
FUNCTION = "aws:lambda/function:Function"
GIT = shutil.which("git") or "git"


def clone(dest: Path, umask: int) -> Path:
    """A clone of this checkout at `dest`, holding its tracked files as they are now, made
    under `umask`."""

    def with_umask() -> None:
        os.umask(umask)

    subprocess.run(
        [GIT, "clone", "-q", "--no-hardlinks", str(ROOT), str(dest)],
        check=True,
        preexec_fn=with_umask,
    )
    here = set(tracked_files(ROOT, (".",)))
    for name in set(tracked_files(dest, (".",))) - here:
        (dest / name).unlink()
    for name in here:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / name).read_bytes())
    subprocess.run([GIT, "-C", str(dest), "add", "-A"], check=True)
    return dest


def registrations(checkouts: list[Path]) -> list[dict[str, Any]]:
    """Every registration of the dev stack, run from each checkout."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [sys.executable, "-m", "tests.infra.program_dump", "dev", *map(str, checkouts)],
        cwd=checkouts[0],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def edited(path: Path, change: Callable[[str], str]) -> None:
    path.write_text(change(path.read_text()))


def changed_types(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    assert before.keys() == after.keys()
    return sorted(
        urn.rsplit("::", 2)[1].rsplit("$", 1)[-1] for urn in before if before[urn] != after[urn]
    )


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    base = tmp_path_factory.mktemp("checkouts")
    plain = clone(base / "laptop", 0o022)
    # Another path (deeper), bytecode caches all over the tree (tests ran there) and a scratch
    # file outside the image's context: none of it may show.
    used = clone(base / "ci" / "runner" / "work" / "checkout", 0o022)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(used)], check=True)
    (used / "handlers" / "scratch.py").write_text("print('not tracked')\n")
    # Another umask changes the files' modes, which pulumi-docker-build hashes with the
    # context and the image keeps; an untracked file in the context would be built in.
    other_umask = clone(base / "umask-077", 0o077)
    (other_umask / "app" / "notes.txt").write_text("not tracked\n")
    app_changed = clone(base / "app-changed", 0o022)
    edited(app_changed / "app" / "main.py", lambda text: text + "\n# a change in the app\n")
    handler_changed = clone(base / "handler-changed", 0o022)
    edited(handler_changed / "handlers" / "consumer.py", lambda text: text + "\n# a change\n")
    found = registrations([plain, used, other_umask, app_changed, handler_changed])
    return dict(zip(["plain", "used", "umask", "app", "handler"], found, strict=True))


def test_another_checkout_registers_exactly_the_same(dumps: dict[str, dict[str, Any]]) -> None:
    assert "error" not in dumps["plain"], dumps["plain"]
    assert len(dumps["plain"]) > 50  # the whole program ran
    assert dumps["used"] == dumps["plain"]


def test_a_checkout_that_would_build_another_image_is_refused_before_anything_is_created(
    dumps: dict[str, dict[str, Any]],
) -> None:
    refused = dumps["umask"]
    assert refused["registered"] == 0
    message = refused["error"]
    assert "the image's build context differs from the tracked sources" in message
    assert "  - app/main.py has mode 0600, git records 0644" in message
    assert "  - contract/event.py has mode 0600, git records 0644" in message
    assert "  - app/notes.txt is not tracked" in message
    assert "chmod -R u+rwX,go=rX app contract .dockerignore" in message


def test_a_change_in_the_app_reaches_only_the_image_and_the_deployment(
    dumps: dict[str, dict[str, Any]],
) -> None:
    assert changed_types(dumps["plain"], dumps["app"]) == [IMAGE, DEPLOYMENT]


def test_a_change_in_the_handlers_reaches_only_the_lambda(
    dumps: dict[str, dict[str, Any]],
) -> None:
    assert changed_types(dumps["plain"], dumps["handler"]) == [FUNCTION]
