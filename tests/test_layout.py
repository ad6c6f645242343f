"""The suite's own structure: test modules share code through helper modules only.

A test module imported by another gets its tests collected twice, and ties the two together
by accident; a conftest is pytest's fixture mechanism, not a library. Shared helpers live in
plain modules (tests/wait.py, tests/<area>/helpers.py and the like)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO_ROOT = TESTS.parent


def imported_modules(source: str, module: str) -> set[str]:
    """Every module `source` (the text of `module`) imports, as absolute dotted names, at any
    depth (in functions too); `from pkg import name` counts as `pkg.name`, since the name may
    be a submodule."""
    package = module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def collected_module(name: str) -> str | None:
    """The test module or conftest of this suite that `name` is or lies in, if any."""
    parts = name.split(".")
    if parts[0] != "tests":
        return None
    for end in range(2, len(parts) + 1):
        last = parts[end - 1]
        if last.startswith("test_") or last == "conftest":
            return ".".join(parts[:end])
    return None


def violations(source: str, module: str) -> set[str]:
    imported = (collected_module(name) for name in imported_modules(source, module))
    return {name for name in imported if name is not None}


def test_no_test_module_imports_another_test_module() -> None:
    paths = sorted({*TESTS.rglob("test_*.py"), *TESTS.rglob("conftest.py")})
    assert len(paths) > 40  # the walk found the suite
    found = [
        f"{path.relative_to(REPO_ROOT)} imports {imported}"
        for path in paths
        for imported in sorted(
            violations(
                path.read_text(), ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
            )
        )
    ]
    assert found == [], "move what they share into a helper module"


@pytest.mark.parametrize(
    ("source", "imported"),
    [
        ("from tests.handler.test_poller import send_event\n", "tests.handler.test_poller"),
        ("from tests.app.conftest import start_app\n", "tests.app.conftest"),
        ("import tests.e2e.test_load\n", "tests.e2e.test_load"),
        ("from tests.infra import test_iam\n", "tests.infra.test_iam"),
        ("from .conftest import wait_until\n", "tests.e2e.conftest"),
        ("from . import test_load\n", "tests.e2e.test_load"),
        ("def f():\n    from tests.e2e.conftest import wait_until\n", "tests.e2e.conftest"),
    ],
)
def test_every_form_of_import_is_caught(source: str, imported: str) -> None:
    assert violations(source, "tests.e2e.test_faults") == {imported}


def test_helper_modules_and_the_code_under_test_may_be_imported() -> None:
    source = (
        "from tests.app.helpers import start_app\n"
        "from tests.handler import sqs_events\n"
        "from tests.wait import wait_until\n"
        "import local.stack\n"
        "from contract import parse_event\n"
    )
    assert violations(source, "tests.app.test_service") == set()
