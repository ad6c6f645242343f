"""The event contract shared by the app (producer) and the Lambda handler (consumer).

Defined once here; the app image and the Lambda bundle both ship this package.
"""

from contract.event import EVENT_SCHEMA, Event, EventError, NotJsonError, parse_event
from contract.message import (
    ATTRIBUTES,
    AWS_TRACE_HEADER,
    EVENT_ID,
    MAX_MESSAGE_ATTRIBUTES,
    MAX_MESSAGE_BYTES,
    PRODUCER,
    TRACEPARENT,
    Message,
    MessageAttribute,
    message_size,
)
from contract.strict_json import MAX_DATA_DEPTH
from contract.trace import TraceContext, parse_traceparent, parse_xray

__all__ = [
    "ATTRIBUTES",
    "AWS_TRACE_HEADER",
    "EVENT_ID",
    "EVENT_SCHEMA",
    "MAX_DATA_DEPTH",
    "MAX_MESSAGE_ATTRIBUTES",
    "MAX_MESSAGE_BYTES",
    "PRODUCER",
    "TRACEPARENT",
    "Event",
    "EventError",
    "Message",
    "MessageAttribute",
    "NotJsonError",
    "TraceContext",
    "message_size",
    "parse_event",
    "parse_traceparent",
    "parse_xray",
]
