"""Event bodies as strict RFC 8259 JSON, read the same way by the producer and the consumer.

Python's `json.loads` accepts more than JSON and less than an internet-facing service should:
`NaN` and `Infinity` (not JSON: a strict parser downstream fails on them), numbers that no
IEEE-754 double holds (`1e999` becomes infinity and would be re-encoded as `Infinity`), UTF-16
and UTF-32 bodies (RFC 8259 8.1: UTF-8 only), duplicate object keys (kept silently, last one
wins), and nesting that ends in a RecursionError. `loads` refuses each, before anything
recurses, with a `JsonRejected` naming the field; `contract.parse_event` turns it into an
`EventError` (`NotJsonError` when the body is not JSON at all).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from typing import Any, Final, NoReturn

# Containers `data` may nest, counting its own object: `{"data": {}}` is depth 1. The
# event object around it adds one more; nothing else in a valid event nests.
MAX_DATA_DEPTH: Final = 64
MAX_DEPTH: Final = MAX_DATA_DEPTH + 1

_FLOAT_MAX: Final = sys.float_info.max
# Byte values that are not brackets, deleted before the depth count; brackets become ( and ).
_NOT_BRACKETS: Final = bytes(range(256)).translate(None, b"[]{}")
_TO_PARENS: Final = bytes.maketrans(b"[{]}", b"(())")


class JsonRejected(ValueError):
    """The body is refused. `field` names where (`$` = the whole body); `not_json` is True
    when it is not JSON text at all, False when it is JSON beyond the contract's limits."""

    def __init__(self, field: str, message: str, *, not_json: bool) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.not_json = not_json


class _Refused(ValueError):
    """Raised by the decoder hooks; `loads` adds the field."""

    def __init__(self, message: str, *, not_json: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.not_json = not_json


def _constant(name: str) -> NoReturn:
    raise _Refused(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)", not_json=True)


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Refused(f"the number {_clip(text)} is out of range of an IEEE-754 double")
    return value


def _int(text: str) -> int:
    # JSON has no leading zeros, so the digit count bounds the magnitude: 10**308 is below
    # the largest double, 10**309 above it. Refusing by length also spares int() the
    # quadratic work of converting thousands of digits.
    digits = len(text) - text.startswith("-")
    if digits > 308 and (digits > 309 or abs(int(text)) > _FLOAT_MAX):
        raise _Refused(f"the number {_clip(text)} is out of range of an IEEE-754 double")
    return int(text)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {_clip(key)!r}: each key may appear once per object")
            seen.add(key)
    return obj


def _clip(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


_DECODER: Final = json.JSONDecoder(
    parse_constant=_constant, parse_float=_float, parse_int=_int, object_pairs_hook=_object
)


def depth_exceeds(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether `text` nests arrays and objects more than `limit` deep, outside strings.

    Counts brackets without parsing (so nothing recurses), in C-speed passes: a body with no
    more than `limit` opening brackets (almost every event) costs two `str.count` calls.
    Invalid JSON may be over-counted past its first error, never under-counted before it,
    which is as far as a parser gets.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    data = text.encode("utf-8", "surrogatepass")
    # Outside strings only: drop escaped backslashes and quotes, then the quoted pieces.
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(unescaped.split(b'"')[::2])
    brackets = outside.translate(_TO_PARENS, _NOT_BRACKETS)
    if brackets.count(b"(") <= limit:
        return False
    depth = 0
    for openers in brackets.split(b")"):
        depth += len(openers)
        if depth > limit:
            return True
        depth -= 1
        if depth < 0:  # more closers than openers: a parser stops here
            return False
    return False


def loads(raw: str | bytes) -> Any:
    """Decode one JSON text strictly, or raise JsonRejected naming the field."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonRejected(
                "$",
                f"body is not valid JSON: not UTF-8 at byte {exc.start} (RFC 8259 8.1)",
                not_json=True,
            ) from None
    else:
        text = raw
    if depth_exceeds(text):
        raise JsonRejected(
            "data" if text.lstrip(" \t\r\n").startswith("{") else "$",
            f"nests arrays and objects deeper than {MAX_DATA_DEPTH} levels inside data",
            not_json=False,
        )
    try:
        return _DECODER.decode(text)
    except _Refused as exc:
        raise JsonRejected(_field_of(text), exc.message, not_json=exc.not_json) from None
    except ValueError as exc:  # json.JSONDecodeError
        raise JsonRejected("$", f"body is not valid JSON ({exc})", not_json=True) from None


class _Mark:
    """Stands in for a refused value while `_field_of` looks for where it was."""


def _marking(hook: Any) -> Any:
    def mark(value: Any) -> Any:
        try:
            return hook(value)
        except _Refused:
            return _Mark()

    return mark


def _mark_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        obj[key] = _Mark() if key in obj else value
    return obj


_MARKING_DECODER: Final = json.JSONDecoder(
    parse_constant=lambda _: _Mark(),
    parse_float=_marking(_float),
    parse_int=_marking(_int),
    object_pairs_hook=_mark_duplicates,
)


def _field_of(text: str) -> str:
    """The dotted path (`data.items[2].price`) of the first refused value in `text`.

    Only called once a hook refused something: decoding again with hooks that mark instead of
    raise, then finding the mark, keeps the fast path free of any path bookkeeping. The depth
    is already bounded, so the walk's recursion is too.
    """
    try:
        return find_path(_MARKING_DECODER.decode(text), lambda v: isinstance(v, _Mark)) or "$"
    except ValueError:  # a syntax error after the refused value
        return "$"


def find_path(
    value: Any,
    is_bad: Callable[[Any], bool],
    bad_key: Callable[[str], bool] | None = None,
    path: str = "",
) -> str | None:
    """The path (`data.items[2].price`; `$` for the whole) of the first value for which
    `is_bad` holds, or of the first key for which `bad_key` does; None when there is none."""
    if is_bad(value):
        return path or "$"
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if bad_key is not None and bad_key(key):
                return child
            found = find_path(item, is_bad, bad_key, child)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_path(item, is_bad, bad_key, f"{path}[{index}]")
            if found:
                return found
    return None
