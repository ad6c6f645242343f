"""The contract reads event bodies as strict RFC 8259 JSON, within its limits."""

from __future__ import annotations

import json
import sys

import pytest

from contract import MAX_DATA_DEPTH, Event, EventError, NotJsonError, parse_event, strict_json
from tests.json_corpus import CORPUS, event, nested


@pytest.mark.parametrize(("name", "body", "not_json", "field"), CORPUS, ids=[c[0] for c in CORPUS])
def test_each_hostile_body_is_refused_naming_the_field(name, body, not_json, field):
    # As bytes (the app's request body) and as text (an SQS message body, for the consumer).
    try:
        texts = [body.decode("utf-8")]
    except UnicodeDecodeError:
        texts = []
    for raw in [body, *texts]:
        with pytest.raises(EventError) as info:
            parse_event(raw)
        assert isinstance(info.value, NotJsonError) is not_json, info.value
        assert info.value.field == field
        assert info.value.message


def test_the_limits_are_the_documented_ones():
    assert MAX_DATA_DEPTH == 64
    fits = parse_event(event(nested(64)))
    depth, value = 0, fits.data
    while value:
        depth, value = depth + 1, value["a"]
    assert depth == 63  # plus the innermost {}: 64 levels
    # The same with arrays inside data's object: 1 + 63.
    assert parse_event(event('{"x":' + "[" * 63 + "]" * 63 + "}")).data
    with pytest.raises(EventError, match="deeper than 64 levels inside data"):
        parse_event(event('{"x":' + "[" * 64 + "]" * 64 + "}"))
    # The largest and smallest finite numbers, and integers up to 308 digits, pass.
    ok = parse_event(event('{"a":1.7976931348623157e308,"b":-5e-324,"c":' + "9" * 308 + "}"))
    assert ok.data["a"] == sys.float_info.max
    assert ok.data["c"] == int("9" * 308)


def test_the_depth_limit_is_enforced_before_the_parser_runs(monkeypatch):
    decoded: list[str] = []

    class Recording(json.JSONDecoder):
        def decode(self, s, *args, **kwargs):
            decoded.append(s)
            return super().decode(s, *args, **kwargs)

    monkeypatch.setattr(strict_json, "_DECODER", Recording())
    with pytest.raises(EventError):
        parse_event(event('{"x":' + "[" * 100_000 + "]" * 100_000 + "}"))
    assert decoded == []
    parse_event(event("{}"))
    assert len(decoded) == 1


@pytest.mark.parametrize(
    "text",
    [
        '{"s":"' + "[" * 100 + '"}',  # brackets inside strings do not count
        '{"s":"\\"' + "{" * 100 + '"}',  # nor after an escaped quote
        '{"s":"\\\\", "t":[' + "[]," * 200 + "[]]}",  # wide, not deep; escaped backslash
    ],
)
def test_brackets_that_do_not_nest_are_not_counted(text):
    assert not strict_json.depth_exceeds(text)
    assert parse_event(event(text)).data


def test_invalid_json_with_more_closers_than_openers_is_a_syntax_error_not_a_depth_one():
    # The parser stops at the unmatched closer, so what follows cannot make it recurse.
    with pytest.raises(NotJsonError, match="not valid JSON"):
        parse_event(event("{}]]" + "[" * 100 + "]" * 100))


def test_the_message_names_the_problem():
    with pytest.raises(NotJsonError, match="NaN is not JSON"):
        parse_event(event('{"x":NaN}'))
    with pytest.raises(EventError, match="1e999 is out of range of an IEEE-754 double"):
        parse_event(event('{"x":1e999}'))
    with pytest.raises(EventError, match="duplicate key 'k'"):
        parse_event(event('{"k":1,"k":1}'))
    with pytest.raises(NotJsonError, match="not UTF-8 at byte 27"):
        parse_event(b'{"type":"a.b","data":{"k":"\xff"}}')


def test_escaped_characters_are_json_and_pass():
    # Escaped control characters and non-ASCII are valid JSON and round-trip.
    parsed = parse_event(event('{"k":"a\\u0001\\u00e9\\n","\\u0000":1}'))
    assert parsed.data == {"k": "a\x01é\n", "\x00": 1}
    assert parse_event(parsed.to_json(), require_id=True) == parsed


def test_to_json_never_writes_nan_or_infinity():
    for value in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="not JSON compliant"):
            Event(id="e1", type="a.b", data={"x": value}).to_json()
