"""The benchmark's variants of the app still work: they are what its ratios compare against."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.app.helpers import app_env, drain, start_app


@pytest.mark.parametrize("script", ["bench/naive_app.py", "bench/boto3_app.py"])
def test_a_variant_enqueues_what_it_acknowledges_and_stops_cleanly(
    moto, sqs, queue_url, tmp_path, script
):
    app = start_app(app_env(queue_url, moto.endpoint), tmp_path / "app.log", args=(script,))
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
