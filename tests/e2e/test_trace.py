"""One trace from the HTTP request to the handler, through the whole local data path.

Events posted with a client's trace context reach the handler with that trace id (also when
their first processing fails and SQS redelivers them, and after they reach the DLQ and are
redriven); events posted without one get a fresh trace id each, the one the 202 named; and a
malformed trace header changes nothing that is enqueued but the (new) trace. The local SQS
servers drop the AWSTraceHeader system attribute on SendMessageBatch, so this path carries the
`traceparent` message attribute (the wire itself is checked in tests/app/test_tracing.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from contract import parse_traceparent
from local.servers import queue_depth
from local.stack import LocalSettings, LoopbackStack
from tests.e2e.faults import fails_first_time
from tests.e2e.helpers import (
    dlq_depth,
    handler_log,
    read_all,
    redrive,
    report,
    start_faulty_stack,
)
from tests.wait import wait_until

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{CLIENT_TRACE}-00f067aa0ba902b7-01"
XRAY_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
FAIL_PERCENT = 40
POISON_PREFIX = "dlq-"
MALFORMED: list[dict[str, Any]] = [
    {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"},
    {"traceparent": "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    {"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
    {"X-Amzn-Trace-Id": "Root=1-5759e988;Parent=53995c3f42cd8ad8"},
    {"X-Amzn-Trace-Id": "Sampled=1"},
    # Not ASCII: UTF-8 bytes on the wire.
    {"traceparent": "\u00e9t\u00e9".encode(), "X-Amzn-Trace-Id": "Root=\u2603".encode()},
]


def post(stack: LoopbackStack, event_id: str, headers: dict[str, Any]) -> dict[str, Any]:
    body = {"id": event_id, "type": "e2e.trace", "data": {"pad": "x" * 16}}
    response = requests.post(f"{stack.app_url}/events", json=body, headers=headers, timeout=15)
    assert response.status_code == 202, response.text
    return response.json()


def lines_by_event(stack: LoopbackStack) -> dict[str, list[dict[str, Any]]]:
    """The handler's per-record lines (applied or failed), by event id."""
    by_event: dict[str, list[dict[str, Any]]] = {}
    for line in handler_log(stack):
        if "event_id" in line and "message_id" in line:
            by_event.setdefault(str(line["event_id"]), []).append(line)
    return by_event


def applied(stack: LoopbackStack) -> set[str]:
    return {
        str(line["event_id"])
        for line in handler_log(stack)
        if line.get("message") == "event applied"
    }


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_trace_id_reaches_the_handler_through_retries_and_a_redrive(
    start_stack: Any, fast_settings: LocalSettings, tmp_path: Path
) -> None:
    fault_dir = tmp_path / "faults"
    stack = start_faulty_stack(
        start_stack,
        fast_settings,
        fault_dir,
        FAULT_FAIL_PERCENT=str(FAIL_PERCENT),
        FAULT_POISON_PREFIX=POISON_PREFIX,
    )
    traced = [f"w3c-{i}" for i in range(12)] + [f"{POISON_PREFIX}{i}" for i in range(2)]
    xray = [f"xray-{i}" for i in range(4)]
    fresh = [f"fresh-{i}" for i in range(10)]
    answers = {i: post(stack, i, {"traceparent": TRACEPARENT}) for i in traced}
    answers |= {i: post(stack, i, {"X-Amzn-Trace-Id": XRAY_HEADER}) for i in xray}
    answers |= {i: post(stack, i, {}) for i in fresh}
    retried = {i for i in traced + xray + fresh if fails_first_time(i, FAIL_PERCENT)}
    poisoned = {i for i in traced if i.startswith(POISON_PREFIX)}
    assert retried - poisoned  # the ids chosen include some that fail once

    sqs = stack.sqs()
    everything = set(answers)
    wait_until(lambda: applied(stack) == everything - poisoned, "all but the poisoned applied")
    wait_until(lambda: dlq_depth(sqs, stack.queues.dlq_url) == len(poisoned), "poison in DLQ")
    (fault_dir / "healed").touch()
    assert redrive(sqs, stack.queues.dlq_url, stack.queues.url) == len(poisoned)
    wait_until(lambda: applied(stack) == everything, "the redriven events applied")
    wait_until(lambda: queue_depth(sqs, stack.queues.url) == 0, "the queue drained")

    by_event = lines_by_event(stack)
    expected = {
        **dict.fromkeys(traced, "1-4bf92f35-77b34da6a3ce929d0e0e4736"),
        **dict.fromkeys(xray, "1-5759e988-bd862e3fe1be46a994272793"),
        **{i: answers[i]["trace_id"] for i in fresh},
    }
    # Every line of every event, its failures on earlier receives included, names its trace.
    assert {i: {line["trace_id"] for line in by_event[i]} for i in everything} == {
        i: {trace} for i, trace in expected.items()
    }
    assert {i: answers[i]["trace_id"] for i in traced + xray} == {
        i: expected[i] for i in traced + xray
    }
    assert len({expected[i] for i in fresh}) == len(fresh)  # a new trace each
    failed_lines = {i for i, lines in by_event.items() if any("reason" in ln for ln in lines)}
    assert failed_lines == retried | poisoned
    poison_receives = [ln for i in poisoned for ln in by_event[i] if "reason" in ln]
    assert len(poison_receives) >= len(poisoned) * fast_settings.max_receive_count
    report(
        "trace",
        events=len(everything),
        retried=len(retried - poisoned),
        redriven=len(poisoned),
        poison_failures=len(poison_receives),
        trace_ids=len(set(expected.values())),
    )


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_malformed_trace_header_changes_nothing_enqueued_but_the_trace(
    start_stack: Any, dev_settings: LocalSettings
) -> None:
    stack: LoopbackStack = start_stack(
        dev_settings, sqs_backend="fauxqs", dynamodb_backend="dynalite"
    )
    stack.stop_event_source()  # the messages stay in the queue to be read here
    answers = [post(stack, f"plain-{n}", {}) for n in range(2)]
    answers += [post(stack, f"bad-{n}", headers) for n, headers in enumerate(MALFORMED)]

    messages = read_all(stack.sqs(), stack.queues.url)

    assert len(messages) == len(answers)
    by_id = {m["MessageAttributes"]["event_id"]["StringValue"]: m for m in messages}
    assert set(by_id) == {a["id"] for a in answers}
    shapes = set()
    for answer in answers:
        message = by_id[answer["id"]]
        body = json.loads(message["Body"])
        assert body == {"id": answer["id"], "type": "e2e.trace", "data": {"pad": "x" * 16}}
        shapes.add(tuple(sorted(message["MessageAttributes"])))
        trace = parse_traceparent(message["MessageAttributes"]["traceparent"]["StringValue"])
        assert trace is not None
        assert trace.xray_trace_id == answer["trace_id"]
        # A new trace: nothing of any malformed header's ids was taken over.
        assert trace.trace_id not in repr(MALFORMED)
        assert trace.trace_id[:8] not in repr(MALFORMED)
    assert shapes == {("event_id", "traceparent")}
    assert len({a["trace_id"] for a in answers}) == len(answers)
