"""The docs state only what stays true: no figure that goes stale with every commit (the
number of tests, of components) and no path of the machine they were written on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([REPO_ROOT / "README.md", *(REPO_ROOT / "docs").glob("*.md")])

NUMBER = r"\b(?:\d[\d,]*|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
# Each: what it catches, its pattern, and a sentence it must catch (so the check can fail).
STALE = {
    "a test count": (
        re.compile(NUMBER + r"\s+(?:new\s+)?(?:tests|test cases|passed)(?![/\w])", re.IGNORECASE),
        "the suite (703 tests, 4 min) and 620 passed",
    ),
    "a component count": (
        re.compile(NUMBER + r"\s+(?:components|ComponentResources)\b", re.IGNORECASE),
        "Six ComponentResources, one per concern",
    ),
    "a machine's path": (
        re.compile(r"(?<![\w.~-])/(?:work|home|Users|tmp|root|mnt)/|\b[A-Z]:\\"),
        "see `/work/shared/notes` or C:\\Users\\me",
    ),
}


@pytest.mark.parametrize("kind", STALE)
def test_the_check_catches_its_example(kind: str) -> None:
    pattern, example = STALE[kind]
    assert pattern.search(example)


def test_the_docs_are_found() -> None:
    assert REPO_ROOT / "README.md" in DOCS
    assert REPO_ROOT / "docs" / "infra.md" in DOCS


@pytest.mark.parametrize("kind", STALE)
def test_no_stale_figure_in_the_docs(kind: str) -> None:
    pattern, _ = STALE[kind]
    found = [
        f"{doc.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
        for doc in DOCS
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == [], f"{kind} in the docs (it goes stale; say it without the figure):"
