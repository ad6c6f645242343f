"""The event contract shared by the app (producer) and the Lambda handler (consumer).

Defined once here; the app image and the Lambda bundle both ship this package.
"""

from contract.event import EVENT_SCHEMA, Event, EventError, parse_event
from contract.message import (
    ATTRIBUTES,
    EVENT_ID,
    MAX_MESSAGE_ATTRIBUTES,
    MAX_MESSAGE_BYTES,
    Message,
    MessageAttribute,
    message_size,
)

__all__ = [
    "ATTRIBUTES",
    "EVENT_ID",
    "EVENT_SCHEMA",
    "MAX_MESSAGE_ATTRIBUTES",
    "MAX_MESSAGE_BYTES",
    "Event",
    "EventError",
    "Message",
    "MessageAttribute",
    "message_size",
    "parse_event",
]
