"""Reading the property bags Pulumi hands to analyzers, where values may not be known yet.

Unknown values (outputs of resources that do not exist yet, during `pulumi preview`) are read
through `get`, which returns `UNKNOWN` instead of raising. A rule that needs the value itself
treats `UNKNOWN` as "cannot judge yet" and stays silent; `pulumi up` runs the pack again with
the real values before each resource is created or updated. A rule that only needs to know
that a value is *set* (a KMS key ARN, a dead-letter target) treats `UNKNOWN` as set, because
an unknown value is an output wired in by the program.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()
"""A property value that is not known yet (computed from another resource's output)."""

# The strings the engine sends in place of unknown values. pulumi-policy's proxied property
# bags raise UnknownValueError when one is read; a plain bag (a rule called directly) holds the
# strings themselves, and a JSON document embedding an unknown output holds one in its text.
_UNKNOWN_SENTINELS: Final = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_STRING_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)


def get(props: Any, *path: str | int) -> Any:
    """The value at `path` in `props`, `None` when absent, `UNKNOWN` when not known yet."""
    value = props
    for key in path:
        if value is UNKNOWN:
            # Every part of a value that is not known yet is not known either.
            return UNKNOWN
        try:
            if isinstance(key, int):
                if not isinstance(value, Sequence) or isinstance(value, str) or key >= len(value):
                    return None
                value = value[key]
            else:
                if not isinstance(value, Mapping) or key not in value:
                    return None
                value = value[key]
        except UnknownValueError:
            return UNKNOWN
        if isinstance(value, str) and value in _UNKNOWN_SENTINELS:
            return UNKNOWN
    return value


def items(props: Any, *path: str | int) -> list[Any]:
    """The list at `path` (each element through `get`), `[]` when absent or unknown."""
    value = get(props, *path)
    if value is None or value is UNKNOWN or isinstance(value, str):
        return []
    if isinstance(value, Sequence):
        return [get(value, i) for i in range(len(value))]
    return []


def is_set(value: Any) -> bool:
    return value is UNKNOWN or (value is not None and value != "" and value != [] and value != {})


def json_value(value: Any) -> Any:
    """A JSON document given either as a string or as an object; `UNKNOWN` stays `UNKNOWN`."""
    if value is UNKNOWN or value is None:
        return value
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            # A string that embeds an unknown output is not valid JSON during preview.
            return UNKNOWN if any(s in value for s in _UNKNOWN_SENTINELS) else value
    return value
