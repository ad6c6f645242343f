import json

import pytest

from contract import (
    ATTRIBUTES,
    EVENT_ID,
    EVENT_SCHEMA,
    MAX_MESSAGE_ATTRIBUTES,
    MAX_MESSAGE_BYTES,
    Event,
    EventError,
    message_size,
    parse_event,
)
from contract.message import MessageAttributes


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


# SQS's limits, from https://docs.aws.amazon.com/AWSSimpleQueueService/latest/
# SQSDeveloperGuide/sqs-message-metadata.html and quotas-messages.html.
SQS_MAX_MESSAGE_BYTES = 262_144
SQS_MAX_ATTRIBUTES = 10


def test_the_limits_are_sqs_own():
    assert MAX_MESSAGE_BYTES == SQS_MAX_MESSAGE_BYTES
    assert MAX_MESSAGE_ATTRIBUTES == SQS_MAX_ATTRIBUTES
    assert 1 <= len(list(ATTRIBUTES)) <= SQS_MAX_ATTRIBUTES


def test_an_event_message_carries_its_id_and_is_sized_as_sqs_counts():
    message = Event(id="é-1", type="a.b", data={"k": "ü"}).to_message()
    assert message.body == '{"id":"é-1","type":"a.b","data":{"k":"ü"}}'
    assert message.attributes == {"event_id": {"DataType": "String", "StringValue": "é-1"}}
    # UTF-8 bytes of the body, then of the attribute's name, type and value.
    assert message.size == len(message.body.encode()) + len("event_id") + len("String") + 4
    assert message_size("héllo", message.attributes) == 6 + 8 + 6 + 4
    assert message_size("x", {}) == 1


def test_a_body_sqs_would_refuse_still_has_a_size():
    # The producer refuses it (422) by its own check; sizing must not fail first.
    assert message_size("\ud800", {}) == 3


@pytest.mark.parametrize(
    "name",
    ["", "a b", "ü", ".a", "a.", "a..b", "AWS.x", "aws.x", "Amazon.y", "aMaZoN.z", "x" * 257],
)
def test_an_attribute_name_sqs_refuses_cannot_be_declared(name):
    with pytest.raises(ValueError, match="message attribute name") as info:
        MessageAttributes().declare(name, "d")
    assert repr(name) in str(info.value)


def test_names_sqs_allows_can_be_declared_once_and_at_most_ten():
    attributes = MessageAttributes()
    allowed = ["a", "A-b_c.d", "aws", "AWSx.y", "amazonian", "x" * 256]
    allowed += [f"n{i}" for i in range(SQS_MAX_ATTRIBUTES - len(allowed))]
    for name in allowed:
        attributes.declare(name, "d")
    assert [a.name for a in attributes] == allowed
    with pytest.raises(ValueError, match="'n0' is declared twice"):
        attributes.declare("n0", "d")
    with pytest.raises(ValueError, match="at most 10"):
        attributes.declare("eleventh", "d")


def test_encoding_needs_every_required_value_and_leaves_out_absent_optional_ones():
    attributes = MessageAttributes()
    must = attributes.declare("must", "d")
    may = attributes.declare("may", "d", required=False)
    assert attributes.encode({must: "1"}) == {"must": {"DataType": "String", "StringValue": "1"}}
    assert attributes.encode({must: "1", may: None}) == attributes.encode({must: "1"})
    assert list(attributes.encode({may: "2", must: "1"})) == ["must", "may"]
    with pytest.raises(ValueError, match="'must' is required"):
        attributes.encode({may: "2"})
    with pytest.raises(ValueError, match="'may' must not be empty"):
        attributes.encode({must: "1", may: ""})
    with pytest.raises(ValueError, match="'event_id' is not declared"):
        attributes.encode({must: "1", EVENT_ID: "x"})
