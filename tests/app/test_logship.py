"""The app's log lines in its CloudWatch log group (LOG_GROUP), against moto's CloudWatch Logs
server: found by trace id with FilterLogEvents, bounded and counted when CloudWatch is slow or
down, flushed at shutdown."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from typing import Any

import pytest
import requests

from app import logs, logship
from app.settings import LOG_FLUSH_SECONDS
from local.servers import MotoServer, free_port
from tests.app.helpers import app_env, start_app
from tests.wait import wait_until

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_ID = "1-0af76519-16cd43dd8448eb211c80319c"


@pytest.fixture
def log_group(moto: MotoServer, request: pytest.FixtureRequest) -> str:
    name = f"/ecr-eks-lambda/test/app-{request.node.name[:40]}-{free_port()}"
    moto.client("logs").create_log_group(logGroupName=name)
    return name


def messages(moto: MotoServer, group: str) -> list[dict[str, Any]]:
    """Every line in the group, parsed (moto's FilterLogEvents ignores JSON filter patterns, so
    the tests filter here)."""
    client = moto.client("logs")
    events = client.filter_log_events(logGroupName=group, limit=10_000)["events"]
    return [json.loads(e["message"]) | {"_stream": e["logStreamName"]} for e in events]


def shipper_for(moto: MotoServer, group: str, **kwargs: Any) -> logship.CloudWatchShipper:
    return logship.CloudWatchShipper(group, "pod-a", moto.client("logs"), **kwargs)


def metric(app: Any, reason: str) -> float:
    text = requests.get(f"{app.url}/metrics", timeout=10).text
    prefix = f'app_log_lines_dropped_total{{reason="{reason}"}} '
    (line,) = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(line.removeprefix(prefix))


def test_the_request_line_reaches_the_log_group_with_its_trace_id(
    moto, queue_url, log_group, tmp_path
):
    env = app_env(
        queue_url,
        moto.endpoint,
        LOG_GROUP=log_group,
        LOG_STREAM="app-7d9f-abcde",
        AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=moto.endpoint,
    )
    app = start_app(env, tmp_path / "app.log")
    try:
        response = app.post(
            {"id": "e-1", "type": "t", "data": {}}, headers={"traceparent": TRACEPARENT}
        )
        assert response.status_code == 202
        stdout_line = app.log_line(message="request", trace_id=TRACE_ID)

        def shipped() -> list[dict[str, Any]]:
            return [m for m in messages(moto, log_group) if m.get("trace_id") == TRACE_ID]

        wait_until(lambda: bool(shipped()), "the request line in the log group", timeout=10)
        (line,) = shipped()
    finally:
        app.terminate()
    # The same line as on stdout, in the pod's own stream.
    assert line.pop("_stream") == "app-7d9f-abcde"
    assert line == stdout_line
    assert line["event_id"] == "e-1"
    assert line["status"] == 202
    # Shutdown sent the last lines too.
    assert any(m["message"] == "stopped" for m in messages(moto, log_group))


def test_cloudwatch_down_costs_no_request_and_the_lines_are_counted(moto, queue_url, tmp_path):
    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = app_env(
        queue_url,
        moto.endpoint,
        LOG_GROUP="/ecr-eks-lambda/test/app",
        AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=unreachable,
    )
    app = start_app(env, tmp_path / "app.log")
    try:
        statuses = [
            app.post({"id": f"e-{i}", "type": "t", "data": {}}).status_code for i in range(20)
        ]
        assert statuses == [202] * 20
        # Still on stdout.
        assert app.log_line(message="request", event_id="e-19")["status"] == 202
        wait_until(lambda: metric(app, "send_failed") >= 20, "20 lines counted", timeout=15)
        assert metric(app, "buffer_full") == 0
        started = time.monotonic()
        assert app.terminate() == 0
        # The shutdown's log flush gives up within its budget (plus the process's own exit).
        assert time.monotonic() - started < LOG_FLUSH_SECONDS + 3
    finally:
        app.kill()


def test_the_buffer_is_bounded_while_cloudwatch_is_slow(moto, log_group):
    shipper = shipper_for(moto, log_group, max_buffered=50, send_interval=0.01)
    sending, release = threading.Event(), threading.Event()

    def hold(**_: Any) -> None:
        sending.set()
        release.wait(10)

    shipper.cwl_client.meta.events.register("before-call.cloudwatch-logs.PutLogEvents", hold)
    try:
        shipper.ship(time.time(), '{"n": -1}')
        assert sending.wait(5)  # the sender thread is stuck in PutLogEvents
        for n in range(200):
            shipper.ship(time.time(), json.dumps({"n": n}))
        assert shipper._queue.qsize() == 50
        assert shipper.dropped == {"buffer_full": 150, "send_failed": 0}
    finally:
        release.set()
        shipper.cwl_client.meta.events.unregister("before-call.cloudwatch-logs.PutLogEvents", hold)
        shipper.close()
    # What was kept arrives: the first line and the 50 the queue held.
    assert sorted(m["n"] for m in messages(moto, log_group)) == [-1, *range(50)]


def test_close_sends_what_is_buffered_within_the_flush_budget(moto, log_group):
    shipper = shipper_for(moto, log_group, send_interval=60)  # no batch would leave on its own
    for n in range(3):
        shipper.ship(time.time(), json.dumps({"n": n}))
    started = time.monotonic()
    shipper.close()
    assert time.monotonic() - started < LOG_FLUSH_SECONDS
    assert sorted(m["n"] for m in messages(moto, log_group)) == [0, 1, 2]
    # Nothing is queued after close.
    shipper.ship(time.time(), '{"n": 3}')
    assert shipper._queue.qsize() == 0


def test_close_gives_up_within_the_flush_budget_when_cloudwatch_hangs(moto, log_group):
    shipper = shipper_for(moto, log_group, send_interval=0.01)
    release = threading.Event()

    def hang(**_: Any) -> None:
        release.wait(30)

    shipper.cwl_client.meta.events.register("before-call.cloudwatch-logs.PutLogEvents", hang)
    shipper.ship(time.time(), '{"n": 0}')
    started = time.monotonic()
    try:
        shipper.close()
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert LOG_FLUSH_SECONDS - 0.5 < elapsed < LOG_FLUSH_SECONDS + 1


def test_a_refused_batch_is_counted_as_dropped(moto):
    # The group does not exist: PutLogEvents and CreateLogStream both fail.
    shipper = shipper_for(moto, f"/missing-{free_port()}", send_interval=0.01)
    for n in range(4):
        shipper.ship(time.time(), json.dumps({"n": n}))
    wait_until(lambda: shipper.dropped["send_failed"] == 4, "4 lines counted", timeout=10)
    shipper.close()


@pytest.mark.parametrize(
    ("info", "refused"),
    [
        ({}, 0),
        ({"tooOldLogEventEndIndex": 2}, 2),  # exclusive: events 0 and 1
        ({"expiredLogEventEndIndex": 3}, 3),
        ({"tooNewLogEventStartIndex": 8}, 2),  # inclusive: events 8 and 9
        ({"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 9}, 2),
    ],
)
def test_rejected_events_are_counted_from_the_response(info, refused):
    assert logship._rejected_count(info, 10) == refused


def test_an_oversized_line_is_cut_to_what_cloudwatch_takes(moto, log_group):
    shipper = shipper_for(moto, log_group, send_interval=60)
    shipper.ship(time.time(), "é" * 300_000)  # 600,000 bytes of UTF-8
    (event,) = list(shipper._queue.queue)
    shipper.close()
    # watchtower's max_message_size, 256 KiB, counts the 26 bytes CloudWatch adds per event.
    assert len(event["message"].encode()) <= 262_144 - 26


class Sink:
    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []

    def ship(self, created: float, line: str) -> None:
        self.lines.append((created, line))

    def close(self) -> None:
        pass


def test_every_stdout_line_goes_to_the_sink_unchanged(monkeypatch):
    stream = io.StringIO()
    sink = Sink()
    handler = logs.BufferedHandler(stream, sink)
    handler.setFormatter(logs.JsonFormatter())
    monkeypatch.setattr(logs, "_handler", handler)
    monkeypatch.setattr(logging.getLogger(), "handlers", [handler])
    monkeypatch.setattr(logging.getLogger(), "level", logging.INFO)
    logger = logging.getLogger("app")
    before = time.time()
    logs.log_fields(logger, logging.INFO, "request", {"trace_id": TRACE_ID})  # the fast path
    logger.warning("slow", extra={"count": 2})  # the logging chain
    handler.flush_now()
    assert [line for _, line in sink.lines] == stream.getvalue().splitlines()
    assert [json.loads(line)["message"] for _, line in sink.lines] == ["request", "slow"]
    assert all(before <= created <= time.time() for created, _ in sink.lines)
