"""The event contract shared by the app (producer) and the Lambda handler (consumer).

Defined once here; the app image and the Lambda bundle both ship this package.
"""

from contract.event import EVENT_SCHEMA, Event, EventError, NotJsonError, parse_event
from contract.message import (
    ATTRIBUTES,
    EVENT_ID,
    MAX_MESSAGE_ATTRIBUTES,
    MAX_MESSAGE_BYTES,
    PRODUCER,
    Message,
    MessageAttribute,
    message_size,
)
from contract.strict_json import MAX_DATA_DEPTH

__all__ = [
    "ATTRIBUTES",
    "EVENT_ID",
    "EVENT_SCHEMA",
    "MAX_DATA_DEPTH",
    "MAX_MESSAGE_ATTRIBUTES",
    "MAX_MESSAGE_BYTES",
    "PRODUCER",
    "Event",
    "EventError",
    "Message",
    "MessageAttribute",
    "NotJsonError",
    "message_size",
    "parse_event",
]
