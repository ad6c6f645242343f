"""The committed, pre-generated event validator matches the schema it was generated from."""

from __future__ import annotations

from typing import Any

import fastjsonschema
import pytest

from contract import EVENT_SCHEMA, _validator, build_validator


def test_committed_validator_is_what_the_generator_writes_today():
    committed = build_validator.TARGET.read_text()
    assert committed == build_validator.render(), (
        "contract/_validator.py is stale: run `.venv/bin/python -m contract.build_validator`"
    )


CASES: list[Any] = [
    {"id": "a", "type": "order.created", "data": {}},
    {"type": "a.b", "data": {"x": [1, 2]}, "occurred_at": "2026-11-29T12:00:00Z"},
    {"type": "a.b", "data": {}, "occurred_at": "yesterday"},
    {"type": "A", "data": {}},
    {"type": "a" * 129, "data": {}},
    {"id": "", "type": "a", "data": {}},
    {"id": 5, "type": "a", "data": {}},
    {"type": "a", "data": []},
    {"type": "a"},
    {"type": "a", "data": {}, "extra": 1},
    [],
    "text",
    None,
]


@pytest.mark.parametrize("value", CASES)
def test_generated_validator_behaves_like_compiling_the_schema(value):
    def outcome(validate: Any) -> Any:
        try:
            return ("ok", validate(value))
        except fastjsonschema.JsonSchemaValueException as exc:
            return ("error", exc.message, exc.path, exc.rule, exc.rule_definition)

    assert outcome(_validator.validate) == outcome(fastjsonschema.compile(EVENT_SCHEMA))


def test_validator_needs_only_what_every_fastjsonschema_2x_has():
    """The layer's fastjsonschema version is AWS's choice: depend on the stable names only."""
    import ast

    tree = ast.parse(build_validator.TARGET.read_text())
    imported = {
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == {
        ("decimal", "Decimal"),
        ("fastjsonschema", "JsonSchemaValueException"),
    }
