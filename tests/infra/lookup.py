"""Exact lookups over recorded registrations: a missing or duplicated resource fails loudly."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.harness import Recorded, Run

SECRET_SIG = "4dabf18193072939515e22adb298388d"


def of_type(run: Run, type_: str) -> list[Recorded]:
    return [r for r in run.records if r.type == type_]


def one(run: Run, type_: str, name: str | None = None) -> Recorded:
    """The single registration of `type_` (named `name` when given)."""
    found = [r for r in of_type(run, type_) if name is None or r.name == name]
    assert len(found) == 1, f"expected exactly one {type_} {name or ''}, found {len(found)}"
    return found[0]


def unwrap(value: Any) -> Any:
    """The plain value of a secret-wrapped input."""
    if isinstance(value, dict) and SECRET_SIG in value:
        return value["value"]
    return value


def policy(record: Recorded, key: str = "policy") -> dict[str, Any]:
    return json.loads(record.inputs[key])


def statements(record: Recorded, key: str = "policy") -> list[dict[str, Any]]:
    return policy(record, key)["Statement"]
