"""Each record's trace id in the handler's log lines, from real SQS record shapes: the
AWSTraceHeader system attribute SQS sets (Lambda's record `attributes`), else the
`traceparent` message attribute, next to the event id and the message id."""

from __future__ import annotations

from handlers import consumer
from local.lambda_context import LocalLambdaContext
from tests.handler import sqs_events as sqs
from tests.handler.helpers import Applied, Logs

# The example header of X-Ray's developer guide, and W3C Trace Context's example.
XRAY_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
XRAY_TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACEPARENT_AS_XRAY = "1-4bf92f35-77b34da6a3ce929d0e0e4736"


def good(
    event_id: str, aws_trace_header: str | None = None, traceparent: str | None = None
) -> dict:
    return sqs.record(
        sqs.body(event_id),
        event_id=event_id,
        aws_trace_header=aws_trace_header,
        traceparent=traceparent,
    )


def test_each_record_logs_its_trace_id_preferring_aws_trace_header(table, logs: Logs):
    records = {
        "system-only": good("system-only", aws_trace_header=XRAY_HEADER),
        "attribute-only": good("attribute-only", traceparent=TRACEPARENT),
        "both": good("both", aws_trace_header=XRAY_HEADER, traceparent=TRACEPARENT),
        "system-malformed": good(
            "system-malformed", aws_trace_header="Root=1-nothex;Sampled=1", traceparent=TRACEPARENT
        ),
        "neither": good("neither"),
        # With Self= and the fields in another order, as X-Ray's header may come.
        "reordered": good(
            "reordered",
            aws_trace_header="Sampled=0;Self=1-67891234-abcdef012345678912345678;"
            "Parent=53995c3f42cd8ad8;Root=1-5759e988-bd862e3fe1be46a994272793",
        ),
    }

    response = consumer.handler(sqs.event(*records.values()), LocalLambdaContext())

    assert response == {"batchItemFailures": []}
    applied_lines = {
        line["event_id"]: line for line in logs.lines() if line["message"] == "event applied"
    }
    assert {k: v.get("trace_id") for k, v in applied_lines.items()} == {
        "system-only": XRAY_TRACE_ID,
        "attribute-only": TRACEPARENT_AS_XRAY,
        "both": XRAY_TRACE_ID,
        "system-malformed": TRACEPARENT_AS_XRAY,
        "neither": None,
        "reordered": XRAY_TRACE_ID,
    }
    for event_id, line in applied_lines.items():
        assert line["message_id"] == records[event_id]["messageId"]
    # The per-record key does not leak into what is logged after the invocation.
    consumer.logger.info("between invocations")
    assert "trace_id" not in logs.lines()[-1]


def test_a_poison_record_logs_its_trace_id_with_the_reason(table, applied: Applied, logs: Logs):
    poison = sqs.record("not json", event_id="p-1", aws_trace_header=XRAY_HEADER)

    response = consumer.handler(sqs.event(poison), LocalLambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": poison["messageId"]}]}
    [line] = logs.with_reason("invalid_event")
    assert (line["trace_id"], line["message_id"]) == (XRAY_TRACE_ID, poison["messageId"])
