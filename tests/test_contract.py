import json

import pytest

from contract import EVENT_SCHEMA, EventError, parse_event


def test_valid_event_gets_an_id_when_missing():
    event = parse_event('{"type": "order.created", "data": {"n": 1}}')
    assert event.type == "order.created"
    assert event.data == {"n": 1}
    assert len(event.id) == 36


def test_client_id_is_kept_and_round_trips():
    raw = {"id": "abc-1", "type": "a.b", "data": {}, "occurred_at": "2026-01-02T03:04:05Z"}
    event = parse_event(raw)
    assert parse_event(event.to_json(), require_id=True) == event
    assert json.loads(event.to_json()) == raw


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{", "$"),
        ("[]", "$"),
        ('{"data": {}}', "type"),
        ('{"type": "a"}', "data"),
        ('{"type": 1, "data": {}}', "type"),
        ('{"type": "A B", "data": {}}', "type"),
        ('{"type": "a", "data": []}', "data"),
        ('{"type": "a", "data": {}, "extra": 1}', "extra"),
        ('{"type": "a", "data": {}, "occurred_at": "yesterday"}', "occurred_at"),
        ('{"type": "a", "data": {}, "id": ""}', "id"),
        (b"\xff\xfe", "$"),
    ],
)
def test_invalid_events_name_the_field(body, field):
    with pytest.raises(EventError) as info:
        parse_event(body)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_consumer_requires_an_id():
    with pytest.raises(EventError) as info:
        parse_event('{"type": "a", "data": {}}', require_id=True)
    assert info.value.field == "id"


def test_schema_lists_every_event_field():
    assert set(EVENT_SCHEMA["properties"]) == {"id", "type", "occurred_at", "data"}
    assert EVENT_SCHEMA["additionalProperties"] is False
