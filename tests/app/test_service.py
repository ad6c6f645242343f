"""The real app process over HTTP against a real SQS-compatible server (moto) on 127.0.0.1."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from contract import parse_event
from local.servers import MotoServer
from tests.app.helpers import AppProcess, drain, serve_app

# SQS's maximum message size, body plus attributes (quotas-messages.html).
SQS_MAX_MESSAGE_BYTES = 262_144


@pytest.fixture(scope="module")
def service(moto: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    yield from serve_app(moto, tmp_path_factory, "service")


@pytest.fixture
def svc(service: tuple) -> tuple[AppProcess, Any, str]:
    app, sqs, url = service
    drain(sqs, url)
    return app, sqs, url


def test_happy_path_enqueues_the_event_exactly_as_sent_with_its_id(svc):
    app, sqs, url = svc
    sent = {"id": "order-1", "type": "order.created", "data": {"n": 1, "s": "héllo ✓"}}
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    response = app.post(sent, headers={"X-Request-Id": "req-123", "traceparent": traceparent})
    assert response.status_code == 202
    trace_id = "1-4bf92f35-77b34da6a3ce929d0e0e4736"  # the client's trace, as X-Ray spells it
    assert response.json() == {"id": "order-1", "trace_id": trace_id}
    assert response.headers["X-Request-Id"] == "req-123"
    [message] = drain(sqs, url)
    assert json.loads(message["Body"]) == sent
    assert message["MessageAttributes"]["event_id"]["StringValue"] == "order-1"
    carried = message["MessageAttributes"]["traceparent"]["StringValue"]
    assert carried.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    line = app.log_line(request_id="req-123")
    assert line["status"] == 202
    assert line["event_id"] == "order-1"
    assert line["trace_id"] == trace_id


def test_an_event_without_id_gets_one_and_the_queue_carries_it(svc):
    app, sqs, url = svc
    response = app.post({"type": "a.b", "data": {}})
    assert response.status_code == 202
    event_id = response.json()["id"]
    [message] = drain(sqs, url)
    assert parse_event(message["Body"], require_id=True).id == event_id
    assert message["MessageAttributes"]["event_id"]["StringValue"] == event_id


def _raw(app: AppProcess, data: bytes, content_type: str | None) -> requests.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return requests.post(f"{app.url}/events", data=data, headers=headers, timeout=30)


@pytest.mark.parametrize(
    ("data", "content_type", "status", "field"),
    [
        (b"{not json", "application/json", 400, "$"),
        (b"", "application/json", 400, "$"),
        (b'{"type": "a.b", "data": {}}', "text/plain", 415, "Content-Type"),
        (b'{"type": "a.b", "data": {}}', None, 415, "Content-Type"),
        (b"[1, 2]", "application/json", 422, "$"),
        (b'{"data": {}}', "application/json", 422, "type"),
        (b'{"type": "a.b"}', "application/json", 422, "data"),
        (b'{"type": "Not Valid", "data": {}}', "application/json", 422, "type"),
        (b'{"type": "a.b", "data": []}', "application/json", 422, "data"),
        (b'{"type": "a.b", "data": {}, "extra": 1}', "application/json", 422, "extra"),
        (b'{"id": "bad id!", "type": "a.b", "data": {}}', "application/json", 422, "id"),
        # Valid JSON and schema, but SQS would refuse the characters: caught before sending.
        (b'{"type": "a.b", "data": {"k": "\\ud800"}}', "application/json", 422, "data.k"),
        (b'{"type": "a.b", "data": {"k": "\\uffff"}}', "application/json", 422, "data.k"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_enqueued(
    svc, data, content_type, status, field
):
    app, sqs, url = svc
    response = _raw(app, data, content_type)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["field"] == field
    assert body["error"]
    assert drain(sqs, url) == []


def test_a_body_over_the_sqs_limit_is_413_and_nothing_is_enqueued(svc):
    app, sqs, url = svc
    # Just over the limit once serialised with its id and attribute.
    big = {"id": "big-1", "type": "a.b", "data": {"pad": "x" * SQS_MAX_MESSAGE_BYTES}}
    response = app.post(big)
    assert response.status_code == 413
    assert response.json()["field"] == "$"
    assert str(SQS_MAX_MESSAGE_BYTES) in response.json()["error"]
    # Over aiohttp's read limit too: refused before the body is read at all.
    huge = _raw(app, b'{"pad": "' + b"x" * (3 * SQS_MAX_MESSAGE_BYTES) + b'"}', "application/json")
    assert huge.status_code == 413
    assert drain(sqs, url) == []


def test_the_largest_event_that_fits_is_accepted(svc):
    app, sqs, url = svc
    skeleton = {"id": "max-1", "type": "a.b", "data": {"pad": ""}}
    overhead = len(json.dumps(skeleton, separators=(",", ":"))) + len("event_id")
    overhead += len("String") + len("max-1")
    # The traceparent attribute counts too (a W3C value is 55 characters); the AWSTraceHeader
    # system attribute does not (SendMessage's API reference).
    overhead += len("traceparent") + len("String") + 55
    fits = {**skeleton, "data": {"pad": "x" * (SQS_MAX_MESSAGE_BYTES - overhead)}}
    assert app.post(fits).status_code == 202
    too_big = {**skeleton, "data": {"pad": "x" * (SQS_MAX_MESSAGE_BYTES - overhead + 1)}}
    assert app.post(too_big).status_code == 413
    [message] = drain(sqs, url)
    assert json.loads(message["Body"]) == fits


def test_probes_openapi_and_unknown_routes(svc):
    app, _, _ = svc
    assert app.get("/healthz").status_code == 200
    ready = app.get("/readyz")
    assert ready.status_code == 200, ready.text
    doc = app.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) >= {"/events", "/healthz", "/readyz", "/metrics", "/openapi.json"}
    # Without AUTH_ISSUER no token is asked for (tests/app/test_auth.py has the other case).
    assert "security" not in doc["paths"]["/events"]["post"]
    assert "securitySchemes" not in doc["components"]
    event_schema = doc["components"]["schemas"]["Event"]
    assert event_schema["required"] == ["type", "data"]
    responses = set(doc["paths"]["/events"]["post"]["responses"])
    assert responses >= {"202", "400", "408", "413", "415", "422", "503"}
    missing = app.get("/nope")
    assert missing.status_code == 404
    assert "error" in missing.json()
    wrong_method = requests.get(f"{app.url}/events", timeout=5)
    assert wrong_method.status_code == 405


def _metric(text: str, name: str, labels: str = "") -> float:
    pattern = "^" + re.escape(name) + (re.escape("{" + labels + "}") if labels else "") + r" (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{name}{{{labels}}} not in metrics"
    return float(match.group(1))


def test_metrics_count_requests_events_batches_and_latency(svc):
    app, sqs, url = svc
    before = app.get("/metrics").text
    for i in range(3):
        assert app.post({"id": f"m-{i}", "type": "a.b", "data": {}}).status_code == 202
    assert _raw(app, b"{", "application/json").status_code == 400
    response = app.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    after = response.text
    route = 'method="POST",route="/events",status="202"'
    assert (
        _metric(after, "app_http_requests_total", route)
        - _metric(before, "app_http_requests_total", route)
        == 3
    )
    assert _metric(after, "app_http_requests_total", 'method="POST",route="/events",status="400"')
    enqueued = _metric(after, "app_events_enqueued_total") - _metric(
        before, "app_events_enqueued_total"
    )
    assert enqueued == 3
    assert _metric(after, "app_sqs_batch_size_sum") - _metric(before, "app_sqs_batch_size_sum") == 3
    assert _metric(after, "app_sqs_send_seconds_count") > _metric(
        before, "app_sqs_send_seconds_count"
    )
    assert _metric(after, "app_sqs_batch_size_bucket", 'le="+Inf"') >= 3
    assert _metric(after, "app_events_in_flight") == 0
    assert len(drain(sqs, url)) == 3
