"""Prints, as JSON, every registration the program makes for a stack under the recording
mocks, run from each of the given checkouts in turn:
`python -m tests.infra.program_dump dev /path/a /path/b`.

For each checkout it works as the Pulumi CLI would: the working directory is the checkout,
and the program's own packages are imported afresh from it (only the SDKs, whose first
import is the expensive part, stay loaded). Assets are shown as the engine sees them: each
file's path as registered and the SHA-256 of the bytes the engine would read there (it
resolves relative paths against the program's working directory).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pulumi

OWN_PACKAGES = {"components", "contract", "handlers", "local", "tests"}
"""The checkout's packages the program (and the harness) import."""


def plain(value: Any) -> Any:
    """`value` with assets and archives replaced by what identifies their content."""
    if isinstance(value, pulumi.FileAsset):
        path = str(value.path)
        return {"asset": path, "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": {name: plain(asset) for name, asset in sorted(value.assets.items())}}
    if isinstance(value, pulumi.FileArchive):
        return {"directory": str(value.path)}
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def dump(stack: str, checkout: Path) -> dict[str, Any]:
    """{urn: inputs} of every registration the program in `checkout` makes, or the error and
    how many registrations preceded it."""
    os.chdir(checkout)
    sys.path[0] = str(checkout)
    for module in [m for m in sys.modules if m.partition(".")[0] in OWN_PACKAGES]:
        del sys.modules[module]
    harness = importlib.import_module("tests.infra.harness")
    assert Path(str(harness.__file__)).is_relative_to(checkout)
    result = harness.run(stack)
    if result.error is not None:
        return {"error": str(result.error), "registered": len(result.records)}
    return {r.urn: plain(r.inputs) for r in result.records}


if __name__ == "__main__":
    stack, *checkouts = sys.argv[1:]
    json.dump([dump(stack, Path(c)) for c in checkouts], sys.stdout, sort_keys=True)
