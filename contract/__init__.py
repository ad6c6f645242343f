"""The event contract shared by the app (producer) and the Lambda handler (consumer).

Defined once here; the app image and the Lambda bundle both ship this package.
"""

from contract.event import (
    EVENT_ID_ATTRIBUTE,
    EVENT_SCHEMA,
    MAX_MESSAGE_BYTES,
    Event,
    EventError,
    NotJsonError,
    parse_event,
)
from contract.strict_json import MAX_DATA_DEPTH

__all__ = [
    "EVENT_ID_ATTRIBUTE",
    "EVENT_SCHEMA",
    "MAX_DATA_DEPTH",
    "MAX_MESSAGE_BYTES",
    "Event",
    "EventError",
    "NotJsonError",
    "parse_event",
]
