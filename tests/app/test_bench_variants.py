"""The benchmark's variants of the app still work: they are what its ratios compare against."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.app.helpers import app_env, drain, start_app


@pytest.mark.parametrize(
    "script",
    [
        "bench/naive_app.py",
        "bench/boto3_app.py",
        "bench/nometrics_app.py",
        "bench/notrace_app.py",
        # Makes its own environment first (aiobotocore pins an older botocore).
        pytest.param("bench/aiobotocore_app.py", marks=pytest.mark.slow),
    ],
)
def test_a_variant_enqueues_what_it_acknowledges_and_stops_cleanly(
    moto, sqs, queue_url, tmp_path, script
):
    # The timeout covers making the aiobotocore environment when it is missing.
    env = app_env(queue_url, moto.endpoint)
    app = start_app(env, tmp_path / "app.log", timeout=120, args=(script,))
    try:
        events = [{"id": f"v-{i}", "type": "bench.event", "data": {"n": i}} for i in range(12)]
        with ThreadPoolExecutor(12) as pool:
            statuses = list(pool.map(lambda e: app.post(e).status_code, events))
        assert app.post({"id": "bad"}).status_code == 422
        assert app.terminate() == 0
    finally:
        app.kill()
    assert statuses == [202] * 12
    in_queue = sorted(
        m["MessageAttributes"]["event_id"]["StringValue"] for m in drain(sqs, queue_url)
    )
    assert in_queue == sorted(e["id"] for e in events)


def test_the_nometrics_variant_counts_nothing(moto, queue_url, tmp_path):
    env = app_env(queue_url, moto.endpoint)
    app = start_app(env, tmp_path / "app.log", args=("bench/nometrics_app.py",))
    try:
        assert app.post({"id": "n-1", "type": "bench.event", "data": {}}).status_code == 202
        metrics = app.get("/metrics").text.splitlines()
    finally:
        app.kill()
    assert "app_events_enqueued_total 0.0" in metrics
    assert not [line for line in metrics if line.startswith("app_http_requests_total{")]


def test_the_notrace_variant_carries_no_trace(moto, sqs, queue_url, tmp_path):
    env = app_env(queue_url, moto.endpoint)
    app = start_app(env, tmp_path / "app.log", args=("bench/notrace_app.py",))
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    try:
        event = {"id": "n-1", "type": "bench.event", "data": {}}
        response = app.post(event, headers={"traceparent": traceparent})
    finally:
        app.kill()
    assert (response.status_code, response.json()) == (202, {"id": "n-1"})
    [message] = drain(sqs, queue_url)
    assert list(message["MessageAttributes"]) == ["event_id"]
