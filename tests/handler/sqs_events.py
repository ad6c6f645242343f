"""SQS events for Lambda in the shape AWS documents (Lambda developer guide, "Using Lambda
with Amazon SQS": example standard queue message event)."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from typing import Any

from contract import EVENT_ID, TRACEPARENT, Event

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:events"
_sent = itertools.count(1_700_000_000_000)


def body(event_id: str, type_: str = "order.created", **data: Any) -> str:
    return Event(id=event_id, type=type_, data=dict(data) or {"n": 1}).to_json()


def record(
    body: str,
    *,
    event_id: str | None = None,
    message_id: str | None = None,
    receive_count: int = 1,
    aws_trace_header: str | None = None,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """One record; `aws_trace_header` where SQS puts the AWSTraceHeader system attribute
    (among the record's `attributes`), `traceparent` as a message attribute."""
    sent = next(_sent)
    rec: dict[str, Any] = {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(sent),
            "SenderId": "AROAIWPX5BD2BHG722MW4:app",
            "ApproximateFirstReceiveTimestamp": str(sent + 12),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # SQS's own checksum
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }
    if aws_trace_header is not None:
        rec["attributes"]["AWSTraceHeader"] = aws_trace_header
    for name, value in ((EVENT_ID.name, event_id), (TRACEPARENT.name, traceparent)):
        if value is not None:
            rec["messageAttributes"][name] = {
                "stringValue": value,
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            }
    return rec


def good(event_id: str, **kwargs: Any) -> dict[str, Any]:
    return record(body(event_id), event_id=event_id, **kwargs)


def event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}
