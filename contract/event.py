"""The event schema and its validator, shared by producer and consumer.

The schema is JSON Schema (draft 7) so the app can publish it verbatim in its OpenAPI
document; validation uses fastjsonschema (what Powertools' own validation utility uses),
whose compiled validator is generated ahead of time into `contract/_validator.py` by
`python -m contract.build_validator` rather than compiled at every import.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import fastjsonschema

from contract import strict_json

# Generated from EVENT_SCHEMA below (a test keeps the two in step).
from contract._validator import validate as _validate
from contract.message import EVENT_ID, Message, MessageAttribute
from contract.trace import TraceContext

EVENT_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Event",
    "description": "One business event. The producer assigns `id` when the client leaves it out.",
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "data"],
    "properties": {
        "id": {
            "description": (
                "Idempotency key. Send the same id when retrying after an error and the "
                "consumer applies the event once."
            ),
            "type": "string",
            "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
        },
        "type": {
            "description": "Event type, lower-case dotted, e.g. `order.created`.",
            "type": "string",
            "pattern": "^[a-z][a-z0-9_-]*(\\.[a-z][a-z0-9_-]*)*$",
            "maxLength": 128,
        },
        "occurred_at": {
            "description": "When the event happened (RFC 3339 date-time).",
            "type": "string",
            "format": "date-time",
        },
        "data": {"description": "Event payload.", "type": "object"},
    },
}


class EventError(ValueError):
    """The input is not a valid event. `field` names the offending field (`$` = the whole body)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotJsonError(EventError):
    """The body is not JSON text (RFC 8259), as opposed to JSON that is not a valid event."""


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    data: dict[str, Any]
    occurred_at: str | None = None

    def to_json(self) -> str:
        body: dict[str, Any] = {"id": self.id, "type": self.type, "data": self.data}
        if self.occurred_at is not None:
            body["occurred_at"] = self.occurred_at
        # allow_nan=False: never NaN or Infinity, which are not JSON, whatever a fork puts in data.
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    def to_message(
        self,
        values: Mapping[MessageAttribute, str | None] | None = None,
        trace: TraceContext | None = None,
    ) -> Message:
        """The SQS message: `to_json()` with the `event_id` attribute, the other attributes'
        `values` and, with `trace`, the trace context (`Message.build`)."""
        return Message.build(self.to_json(), {**(values or {}), EVENT_ID: self.id}, trace)


def _field_of(exc: fastjsonschema.JsonSchemaValueException) -> str:
    # fastjsonschema reports `data.type must be string`; `exc.path` is ["data", "type"].
    path = [str(p) for p in (exc.path or [])][1:]
    if exc.rule == "required" and isinstance(exc.rule_definition, list):
        missing = [k for k in exc.rule_definition if k not in (exc.value or {})]
        if missing:
            path.append(missing[0])
    if exc.rule == "additionalProperties" and isinstance(exc.value, dict):
        extra = sorted(set(exc.value) - set(EVENT_SCHEMA["properties"]))
        if extra and not path:
            path.append(extra[0])
    return ".".join(path) or "$"


def _decode(raw: str | bytes) -> Any:
    """Strict RFC 8259 JSON within the contract's limits (contract/strict_json.py)."""
    try:
        return strict_json.loads(raw)
    except strict_json.JsonRejected as exc:
        error = NotJsonError if exc.not_json else EventError
        raise error(exc.field, exc.message) from None


def parse_event(raw: str | bytes | dict[str, Any], *, require_id: bool = False) -> Event:
    """Validate `raw` (JSON text or an already-decoded object) and return the Event.

    JSON text is decoded strictly (`strict_json`): not JSON raises `NotJsonError`; NaN,
    Infinity, numbers beyond a double, duplicate keys and nesting deeper than
    `MAX_DATA_DEPTH` inside `data` are refused too, so producer and consumer agree.

    A missing id is generated (uuid4) unless `require_id` is set, which the consumer uses:
    every enqueued event already has one.
    """
    obj: Any = raw if isinstance(raw, dict) else _decode(raw)
    try:
        obj = _validate(obj)
    except fastjsonschema.JsonSchemaValueException as exc:
        field = _field_of(exc)
        if exc.rule == "required":
            detail = "is required"
        elif exc.rule == "additionalProperties":
            allowed = ", ".join(EVENT_SCHEMA["properties"])
            detail = f"is not an allowed field (allowed: {allowed})"
        else:
            # "data.type must be string" -> "must be string"
            detail = exc.message.split(" ", 1)[1] if " " in exc.message else exc.message
        raise EventError(field, detail) from None
    event_id = obj.get("id")
    if event_id is None:
        if require_id:
            raise EventError("id", "is required on an enqueued event")
        event_id = str(uuid.uuid4())
    return Event(
        id=event_id, type=obj["type"], data=obj["data"], occurred_at=obj.get("occurred_at")
    )
