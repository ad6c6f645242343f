"""app/requirements.txt is exactly the uv lock's `app` group, so the image cannot drift."""

from __future__ import annotations

import subprocess

from tests.app.helpers import ROOT

EXPORT = [
    "export",
    "--only-group",
    "app",
    "--no-emit-project",
    "--format",
    "requirements-txt",
    "--frozen",
]


def test_requirements_match_the_lock():
    result = subprocess.run(
        [str(ROOT / ".tools" / "bin" / "uv"), *EXPORT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    committed = (ROOT / "app" / "requirements.txt").read_text()

    def body(text: str) -> list[str]:
        # The header repeats the command line, which differs from the one that wrote the file.
        return [line for line in text.splitlines() if not line.startswith("#")]

    assert body(result.stdout) == body(committed), (
        "app/requirements.txt is stale: run .tools/bin/uv export --only-group app "
        "--no-emit-project --format requirements-txt -o app/requirements.txt"
    )
    pinned = [line.split("==")[0] for line in body(committed) if "==" in line]
    assert {"aiohttp", "boto3", "fastjsonschema", "pyjwt", "cryptography"} <= set(pinned)
    assert all("--hash=sha256:" in chunk for chunk in committed.split("==")[1:])
