"""The SQS message an event travels in: its body, its message attributes, and its size.

Every message attribute is declared once here, on one line (`ATTRIBUTES.declare(...)`), and
every size check on either side counts bytes with `message_size`, as SQS counts them.
SQS's rules: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/
sqs-message-metadata.html#sqs-message-attributes
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from contract.trace import TraceContext

# SQS's hard limit on a message (body plus attributes) and on a whole SendMessageBatch.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
MAX_MESSAGE_BYTES: Final = 262_144
MAX_MESSAGE_ATTRIBUTES: Final = 10  # per message
MAX_ATTRIBUTE_NAME_LENGTH: Final = 256

# A-Z a-z 0-9 _ - . ; no leading, trailing or doubled period; no AWS./Amazon. prefix (any case).
_NAME = re.compile(r"^(?!(?i:aws|amazon)\.)[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")

# Every attribute is a String: its value is text, limited like the body.
DATA_TYPE: Final = "String"

SqsAttributes = dict[str, dict[str, str]]


@dataclass(frozen=True, slots=True)
class MessageAttribute:
    name: str
    """The SQS attribute name, as producer and consumer read it."""
    description: str
    """What it carries and who reads it."""
    required: bool
    """Whether every message carries it (else only when the producer has a value)."""


class MessageAttributes:
    """The attributes declared for the event messages, in declaration order."""

    def __init__(self) -> None:
        self._declared: dict[str, MessageAttribute] = {}

    def declare(self, name: str, description: str, *, required: bool = True) -> MessageAttribute:
        """Declare one more attribute; a name SQS would refuse, a second declaration of a name
        or more than SQS's per-message maximum raises ValueError."""
        if len(name) > MAX_ATTRIBUTE_NAME_LENGTH or not _NAME.match(name):
            raise ValueError(
                f"message attribute name {name!r}: allowed are 1-{MAX_ATTRIBUTE_NAME_LENGTH} "
                "of A-Z a-z 0-9 _ - . with no leading, trailing or doubled period, not "
                "starting with AWS. or Amazon."
            )
        if name in self._declared:
            raise ValueError(f"message attribute {name!r} is declared twice")
        if len(self._declared) >= MAX_MESSAGE_ATTRIBUTES:
            raise ValueError(
                f"message attribute {name!r}: SQS allows at most {MAX_MESSAGE_ATTRIBUTES} "
                f"per message, already declared: {', '.join(self._declared)}"
            )
        attribute = MessageAttribute(name, description, required)
        self._declared[name] = attribute
        return attribute

    def __iter__(self) -> Iterator[MessageAttribute]:
        return iter(self._declared.values())

    def encode(self, values: Mapping[MessageAttribute, str | None]) -> SqsAttributes:
        """The `MessageAttributes` of a SendMessage(Batch) entry. A missing or None value
        leaves an optional attribute out; for a required one, an undeclared attribute, or an
        empty value (SQS refuses those), ValueError names the attribute."""
        for attribute in values:
            if self._declared.get(attribute.name) is not attribute:
                raise ValueError(f"message attribute {attribute.name!r} is not declared")
        encoded: SqsAttributes = {}
        for attribute in self._declared.values():
            value = values.get(attribute)
            if value is None:
                if attribute.required:
                    raise ValueError(f"message attribute {attribute.name!r} is required")
                continue
            if not value:
                raise ValueError(f"message attribute {attribute.name!r} must not be empty")
            encoded[attribute.name] = {"DataType": DATA_TYPE, "StringValue": value}
        return encoded


ATTRIBUTES: Final = MessageAttributes()
EVENT_ID: Final = ATTRIBUTES.declare(
    "event_id", "The event's id: consumers and operators de-duplicate without parsing the body."
)
PRODUCER: Final = ATTRIBUTES.declare(
    "producer",
    "Who sent the event: the `sub` of the producer's verified bearer token (the app's "
    "AUTH_ISSUER), so the consumer's log and the DLQ show it; absent without authentication.",
    required=False,
)
TRACEPARENT: Final = ATTRIBUTES.declare(
    "traceparent",
    "The W3C trace context (OpenTelemetry's messaging convention): the consumer's trace id "
    "when the message has no AWSTraceHeader (local SQS stand-ins drop it).",
    required=False,
)

# The one message system attribute SQS takes: X-Ray's trace header, read by Lambda's SQS
# integration. SQS does not count it toward the message size ("The size of a message system
# attribute doesn't count towards the total size of a message", SendMessage's
# MessageSystemAttributes; X-Ray's SQS page: "excluded from the Amazon SQS message size and
# message attribute quotas"), so `message_size` leaves it out.
AWS_TRACE_HEADER: Final = "AWSTraceHeader"


def message_size(body: str, attributes: SqsAttributes) -> int:
    """Bytes SQS counts against MAX_MESSAGE_BYTES: the UTF-8 body plus each message
    attribute's name, data type and value (system attributes do not count, see above)."""
    size = _utf8_len(body)
    for name, attribute in attributes.items():
        size += _utf8_len(name) + _utf8_len(attribute["DataType"])
        size += _utf8_len(attribute["StringValue"])
    return size


def _utf8_len(text: str) -> int:
    # surrogatepass: text with an unpaired surrogate still has a size (3 bytes each, as
    # UTF-8 would spell it); SQS refuses such text, and the producer says so by its own check.
    return len(text.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True, slots=True)
class Message:
    """One message as it is sent: `body` and `attributes` go on the wire unchanged."""

    body: str
    """The message body."""
    attributes: SqsAttributes
    """SQS `MessageAttributes`: name -> {DataType, StringValue}."""
    size: int
    """`message_size(body, attributes)`."""
    system_attributes: SqsAttributes | None = None
    """SQS `MessageSystemAttributes` (`AWSTraceHeader` only), or None."""

    @classmethod
    def build(
        cls,
        body: str,
        values: Mapping[MessageAttribute, str | None],
        trace: TraceContext | None = None,
    ) -> Message:
        """The message with these attribute values; with `trace`, the trace context both as
        `AWSTraceHeader` and as the `traceparent` attribute."""
        system = None
        if trace is not None:
            values = {**values, TRACEPARENT: trace.traceparent()}
            system = {
                AWS_TRACE_HEADER: {"DataType": DATA_TYPE, "StringValue": trace.aws_trace_header()}
            }
        attributes = ATTRIBUTES.encode(values)
        return cls(body, attributes, message_size(body, attributes), system)
