"""The trace each event is enqueued with (app/tracing.py), checked on the wire: what the app
sends SQS for a request is SendMessageBatch with `AWSTraceHeader` as each entry's message
system attribute and `traceparent` as a message attribute, byte for byte what boto3 sends for
those entries. Local SQS servers drop the system attribute, so this is where it is checked."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aiohttp import test_utils
from multidict import CIMultiDict, CIMultiDictProxy

from app import sqs
from app.batcher import Batcher
from app.metrics import Metrics
from app.tracing import TracePolicy, request_trace
from app.web import Readiness, create_app
from contract import MAX_MESSAGE_BYTES, TraceContext, parse_traceparent, parse_xray
from tests.app.sqs_wire import ACCOUNT_QUEUE, boto3_request, run, serve, settings, sqs_like

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
XRAY = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
XRAY_TRACE = "5759e988bd862e3fe1be46a994272793"
AWS_TRACE_HEADER = re.compile(
    r"^Root=1-(?P<t1>[0-9a-f]{8})-(?P<t2>[0-9a-f]{24});Parent=(?P<parent>[0-9a-f]{16});"
    r"Sampled=(?P<sampled>[01])$"
)
ALWAYS = TracePolicy(trust_client_sampling=False, sample_percent=100)
NEVER = TracePolicy(trust_client_sampling=False, sample_percent=0)


def traced(sent: CIMultiDictProxy[str], policy: TracePolicy) -> TraceContext:
    trace = request_trace(sent, policy)
    assert trace is not None  # the policy propagates
    return trace


def headers(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


def test_the_clients_trace_is_kept_with_a_span_of_the_apps_own():
    trace = traced(headers(("traceparent", TRACEPARENT)), NEVER)
    assert trace.trace_id == CLIENT_TRACE
    assert re.fullmatch("[0-9a-f]{16}", trace.parent_id)
    assert trace.parent_id != CLIENT_SPAN
    xray = traced(headers(("X-Amzn-Trace-Id", XRAY)), NEVER)
    assert xray.trace_id == XRAY_TRACE


def test_traceparent_wins_over_x_amzn_trace_id_and_a_malformed_one_falls_back():
    both = headers(("X-Amzn-Trace-Id", XRAY), ("traceparent", TRACEPARENT))
    assert traced(both, NEVER).trace_id == CLIENT_TRACE
    broken = headers(("traceparent", "00-nothex"), ("X-Amzn-Trace-Id", XRAY))
    assert traced(broken, NEVER).trace_id == XRAY_TRACE


@pytest.mark.parametrize(
    "sent",
    [
        (),
        (("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"),),
        (("X-Amzn-Trace-Id", "Root=1-zzzz;Sampled=1"),),
        # Sent twice: the spec makes that invalid, so neither value is used.
        (("traceparent", TRACEPARENT), ("traceparent", TRACEPARENT)),
    ],
    ids=["none", "traceparent-malformed", "xray-malformed", "traceparent-twice"],
)
def test_without_a_valid_header_each_request_starts_a_new_trace(sent):
    traces = [traced(headers(*sent), NEVER) for _ in range(50)]
    assert len({t.trace_id for t in traces}) == 50
    for trace in traces:
        assert trace.trace_id != CLIENT_TRACE
        assert parse_traceparent(trace.traceparent()) == trace  # well-formed
        assert parse_xray(trace.aws_trace_header()) == trace


def test_a_clients_sampling_decision_is_used_only_when_trusted():
    sampled = headers(("traceparent", TRACEPARENT))
    unsampled = headers(("traceparent", TRACEPARENT[:-2] + "00"))
    undecided = headers(("X-Amzn-Trace-Id", XRAY.replace("Sampled=1", "Sampled=?")))
    trusting = TracePolicy(trust_client_sampling=True, sample_percent=0)
    assert traced(sampled, trusting).sampled is True
    assert traced(unsampled, TracePolicy(True, 100)).sampled is False
    assert traced(undecided, trusting).sampled is False  # no decision: the app's
    # Not trusted: the app's own decision, whatever the client asked for.
    assert traced(sampled, NEVER).sampled is False
    assert traced(unsampled, ALWAYS).sampled is True
    rate = TracePolicy(trust_client_sampling=False, sample_percent=25)
    share = sum(bool(traced(sampled, rate).sampled) for _ in range(4000)) / 4000
    assert 0.2 < share < 0.3


async def post_through_the_app(
    env: pytest.MonkeyPatch, requests_: list[dict[str, str]], policy: TracePolicy
) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]], str]:
    """POST one event per headers dict through the real app (web, batcher, BatchSender) to a
    loopback SQS that records each request; the answers, the requests, the queue URL."""
    runner, port, seen = await serve(sqs_like)
    env.setenv("AWS_ENDPOINT_URL_SQS", f"http://127.0.0.1:{port}")
    queue_url = f"http://127.0.0.1:{port}/{ACCOUNT_QUEUE}"
    config = settings("eu-west-1", queue_url)
    session = sqs.make_session(config)
    sender = sqs.BatchSender(
        session, sqs.make_client(config, session), queue_url, max_connections=2
    )
    metrics = Metrics()
    batcher = Batcher(sender.send, metrics, max_batch_bytes=MAX_MESSAGE_BYTES, max_wait=0)
    batcher.start()
    app = create_app(batcher, metrics, Readiness(lambda: None), trace_policy=policy)
    answers = []
    try:
        async with test_utils.TestClient(test_utils.TestServer(app)) as client:
            for n, extra in enumerate(requests_):
                body = {"id": f"t-{n}", "type": "trace.test", "data": {"n": n}}
                response = await client.post("/events", json=body, headers=extra)
                answers.append({"status": response.status, **await response.json()})
    finally:
        await batcher.close()
        await sender.close()
        await runner.cleanup()
    return answers, seen, queue_url


def test_each_entry_on_the_wire_carries_the_trace_as_boto3_would_send_it(aws_env):
    sent = [
        {"traceparent": TRACEPARENT},
        {"X-Amzn-Trace-Id": XRAY},
        {},
        {"traceparent": "not-a-traceparent", "X-Amzn-Trace-Id": "Root=1-bad"},
    ]

    answers, seen, queue_url = run(lambda: post_through_the_app(aws_env, sent, ALWAYS))

    assert [a["status"] for a in answers] == [202, 202, 202, 202]
    entries = [e for (_, _, _, body) in seen for e in json.loads(body)["Entries"]]
    assert [e["MessageAttributes"]["event_id"]["StringValue"] for e in entries] == [
        "t-0",
        "t-1",
        "t-2",
        "t-3",
    ]
    traces = []
    for answer, entry in zip(answers, entries, strict=True):
        header = entry["MessageSystemAttributes"]["AWSTraceHeader"]
        assert header["DataType"] == "String"
        match = AWS_TRACE_HEADER.match(header["StringValue"])
        assert match, header
        assert match["sampled"] == "1"  # the app's decision: ALWAYS
        trace_id = match["t1"] + match["t2"]
        # The 202 names the trace as X-Ray spells it; the attribute carries the same context.
        assert answer["trace_id"] == f"1-{match['t1']}-{match['t2']}"
        assert entry["MessageAttributes"]["traceparent"] == {
            "DataType": "String",
            "StringValue": f"00-{trace_id}-{match['parent']}-01",
        }
        traces.append(trace_id)
    assert traces[:2] == [CLIENT_TRACE, XRAY_TRACE]
    assert len(set(traces)) == 4  # the other two are new traces, one each
    # Byte for byte what boto3 sends for the same entries (its parameter validation accepts
    # them: a misspelt or misshapen system attribute would raise there).
    for _, _, _, body in seen:
        batch = json.loads(body)["Entries"]
        assert body == boto3_request("eu-west-1", queue_url, batch).body
