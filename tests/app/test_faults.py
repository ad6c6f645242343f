"""Faults against the real app process: partial batch failures, SQS down, SIGTERM under load."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from local.servers import MotoServer, create_queues, free_port
from tests.app.faultproxy import FaultProxy
from tests.app.helpers import AppProcess, app_env, drain, start_app


def _post_all(url: str, events: list[dict[str, Any]]) -> list[requests.Response]:
    with ThreadPoolExecutor(len(events)) as pool:
        return list(pool.map(lambda e: requests.post(f"{url}/events", json=e, timeout=30), events))


def _eventually(app: AppProcess, path: str, status: int, within: float = 5) -> bool:
    """Readiness answers are cached for a second; poll until `status` or give up."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if app.get(path).status_code == status:
            return True
        time.sleep(0.1)
    return False


def test_partial_batch_failures_are_retried_and_nothing_unaccepted_is_acknowledged(
    moto, sqs, queue_url, tmp_path
):
    with FaultProxy(moto.port) as proxy:
        env = app_env(queue_url, proxy.endpoint, SEND_MAX_ATTEMPTS="3", BATCH_MAX_WAIT_MS="20")
        app = start_app(env, tmp_path / "app.log")
        try:
            ids = [f"flaky-{i}" for i in range(4)] + [f"ok-{i}" for i in range(3)]
            ids += ["boom-0", "doomed-0", "doomed-1"]
            events = [{"id": i, "type": "t.x", "data": {"i": i}} for i in ids]
            responses = dict(zip(ids, _post_all(app.url, events), strict=True))
            metrics = app.get("/metrics").text
        finally:
            app.kill()
        for event_id, response in responses.items():
            if event_id.startswith("doomed-"):
                assert response.status_code == 503, response.text
                assert response.headers["Retry-After"] == "1"
                assert response.json()["id"] == event_id
                assert "3 attempt(s)" in response.json()["error"]
                assert proxy.attempts[event_id] == 3
            else:
                assert response.status_code == 202, (event_id, response.text)
        # A flaky entry may share its retry's batch with boom-0's failing call: >= 2.
        assert all(proxy.attempts[f"flaky-{i}"] >= 2 for i in range(4))
        assert proxy.attempts["boom-0"] >= 2
        assert proxy.attempts["ok-0"] >= 1
        in_queue = [json.loads(m["Body"])["id"] for m in drain(sqs, queue_url)]
        assert sorted(in_queue) == sorted(i for i in ids if not i.startswith("doomed-"))
        assert 'app_sqs_requests_total{outcome="partial"}' in metrics
        assert 'app_sqs_requests_total{outcome="error"}' in metrics
        assert 'app_events_failed_total{reason="sqs_unavailable"} 2.0' in metrics.splitlines()


def test_sqs_down_answers_503_with_retry_after_and_acknowledges_nothing(tmp_path):
    server = MotoServer().start()
    try:
        sqs = server.client("sqs")
        url = create_queues(sqs, "down").url
        app = start_app(app_env(url, server.endpoint), tmp_path / "app.log")
        try:
            assert app.post({"id": "before", "type": "a.b", "data": {}}).status_code == 202
            server.stop()
            started = time.monotonic()
            for i in range(3):
                response = app.post({"id": f"down-{i}", "type": "a.b", "data": {}})
                assert response.status_code == 503, response.text
                assert response.headers["Retry-After"] == "1"
                assert response.json()["id"] == f"down-{i}"
                # The client learns what to do, not the internal endpoint or the error chain.
                assert "Retry later with the same id" in response.json()["error"]
                assert str(server.port) not in response.text
            assert time.monotonic() - started < 10  # retries are bounded, not endless
            assert _eventually(app, "/readyz", 503)
            assert app.get("/healthz").status_code == 200  # alive, just not ready
            server.start()
            assert _eventually(app, "/readyz", 200)
            assert app.post({"id": "after", "type": "a.b", "data": {}}).status_code == 202
        finally:
            app.kill()
        assert sorted(json.loads(m["Body"])["id"] for m in drain(sqs, url)) == ["after", "before"]
        logged = [x for x in app.logs() if x.get("event_id", "").startswith("down-")]
        assert [x["status"] for x in logged] == [503, 503, 503]
        assert all("attempt" in x["error"] for x in logged)
        assert all(str(server.port) in x["error"] for x in logged)  # the log has the detail
    finally:
        server.stop()


def test_sigterm_under_concurrent_load_keeps_every_acknowledged_event(
    moto, sqs, queue_url, tmp_path
):
    env = app_env(queue_url, moto.endpoint, SHUTDOWN_DELAY_SECONDS="0.5")
    app = start_app(env, tmp_path / "app.log")
    acknowledged: dict[str, dict[str, Any]] = {}
    refused: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    counter = iter(range(1_000_000))

    def client(worker: int) -> None:
        session = requests.Session()
        for _ in range(15):
            if stop.is_set():
                return
            with lock:
                n = next(counter)
            event = {"id": f"w{worker}-{n}", "type": "load.test", "data": {"n": n, "w": worker}}
            try:
                response = session.post(f"{app.url}/events", json=event, timeout=30)
            except requests.ConnectionError:
                stop.set()  # the listener is gone: the app stopped accepting
                return
            with lock:
                if response.status_code == 202:
                    acknowledged[event["id"]] = event
                else:
                    refused.append(f"{event['id']}: {response.status_code}")

    try:
        threads = [threading.Thread(target=client, args=(w,)) for w in range(12)]
        for t in threads:
            t.start()
        while len(acknowledged) < 40:
            time.sleep(0.01)
        signalled = time.monotonic()
        app.proc.send_signal(15)
        time.sleep(0.2)
        ready_during_drain = app.get("/readyz").status_code
        served_during_drain = len(acknowledged)
        rc = app.wait(30)
        exit_seconds = time.monotonic() - signalled
        stop.set()
        for t in threads:
            t.join(30)
    finally:
        app.kill()
    assert rc == 0
    # Well inside the 25 s budget: nothing may hang on a kept-alive connection.
    assert exit_seconds < 5
    assert ready_during_drain == 503
    assert len(acknowledged) > served_during_drain >= 40  # still served during the delay
    assert refused == []
    messages = drain(sqs, queue_url)
    bodies = {}
    for m in messages:
        event = json.loads(m["Body"])
        assert event["id"] not in bodies, "an event was enqueued twice"
        assert m["MessageAttributes"]["event_id"]["StringValue"] == event["id"]
        bodies[event["id"]] = event
    assert set(bodies) == set(acknowledged)
    for event_id, event in acknowledged.items():
        assert bodies[event_id] == event
    assert any(x["message"] == "stopped" and x["unsettled"] == 0 for x in app.logs())


def test_sigterm_waits_for_a_request_whose_send_is_still_in_flight(moto, sqs, queue_url, tmp_path):
    with FaultProxy(moto.port) as proxy:
        app = start_app(app_env(queue_url, proxy.endpoint), tmp_path / "app.log")
        try:
            with ThreadPoolExecutor(1) as pool:
                pending = pool.submit(app.post, {"id": "slow-1", "type": "a.b", "data": {}})
                time.sleep(0.5)  # the SendMessageBatch call is now held by the proxy
                signalled = time.monotonic()
                app.proc.send_signal(15)
                response = pending.result(timeout=30)
            rc = app.wait(30)
        finally:
            app.kill()
    assert response.status_code == 202
    assert rc == 0
    assert time.monotonic() - signalled < 8  # the 4 s hold, then a prompt exit
    assert [json.loads(m["Body"])["id"] for m in drain(sqs, queue_url)] == ["slow-1"]
    assert proxy.attempts["slow-1"] == 1


def test_a_queue_that_does_not_exist_is_503_not_retried_forever(moto, tmp_path):
    missing = f"{moto.endpoint}/123456789012/missing-{free_port()}"
    app = start_app(app_env(missing, moto.endpoint), tmp_path / "app.log")
    try:
        response = app.post({"id": "x", "type": "a.b", "data": {}})
        assert response.status_code == 503
        assert "1 attempt(s)" in response.json()["error"]
        assert app.get("/readyz").status_code == 503
    finally:
        app.kill()


def _metric(app: AppProcess, line_start: str) -> float:
    for line in app.get("/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_flood_of_large_events_is_refused_by_bytes_in_flight_not_buffered(
    sqs, queue_url, tmp_path
):
    # Nothing listens on the endpoint: every event stays in flight (retrying) until its 2 s
    # deadline, holding its body. 1 MiB of bodies admits four ~250 KB events, not a fifth.
    dead = f"http://127.0.0.1:{free_port()}"
    env = app_env(queue_url, dead, MAX_INFLIGHT_BYTES=str(1024 * 1024), REQUEST_TIMEOUT_SECONDS="2")
    app = start_app(env, tmp_path / "app.log")
    big = "x" * 250_000
    try:
        with ThreadPoolExecutor(4) as pool:
            held = [
                pool.submit(app.post, {"id": f"big-{i}", "type": "t.x", "data": {"pad": big}})
                for i in range(4)
            ]
            deadline = time.monotonic() + 5
            while _metric(app, "app_events_in_flight ") < 4 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert _metric(app, "app_events_in_flight ") == 4
            started = time.monotonic()
            refused = app.post({"id": "big-4", "type": "t.x", "data": {"pad": big}})
            refused_after = time.monotonic() - started
            small = app.post({"id": "small", "type": "t.x", "data": {}})
            statuses = [f.result().status_code for f in held]
        after = app.post({"id": "big-5", "type": "t.x", "data": {"pad": big}})
        busy = _metric(app, 'app_events_failed_total{reason="busy"}')
    finally:
        app.kill()
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["error"] == "the service is busy; nothing was enqueued. Retry later."
    assert refused_after < 1.0  # refused at once, not after waiting for SQS
    assert small.status_code == 503  # admitted (SQS is down), not refused as busy
    assert "busy" not in small.json()["error"]
    assert statuses == [503] * 4  # SQS down: nothing acknowledged
    assert after.status_code == 503
    assert "busy" not in after.json()["error"]  # the held bytes were given back
    assert busy == 1
    assert drain(sqs, queue_url) == []
