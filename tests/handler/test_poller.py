"""The local event-source runner against moto's SQS: Lambda's poller semantics."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from contract import EVENT_ID
from handlers import consumer
from local.poller import (
    Invocation,
    SqsPoller,
    failed_message_ids,
    in_process_invoker,
    running,
)
from local.servers import MotoServer, Queues, create_queues, queue_depth
from tests.handler.helpers import Applied, send_event
from tests.wait import wait_until


@pytest.fixture
def sqs(aws_env: MotoServer) -> Any:
    return aws_env.client("sqs")


@pytest.fixture
def queues(sqs: Any) -> Queues:
    return create_queues(
        sqs,
        f"q-{uuid.uuid4().hex[:10]}",
        visibility_timeout_seconds=1,
        max_receive_count=2,
        receive_wait_time_seconds=0,
    )


class Recording:
    """An invoker that records events and answers with a scripted result."""

    def __init__(self, answer: Callable[[dict[str, Any]], Invocation]) -> None:
        self.answer = answer
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], timeout_seconds: float) -> Invocation:
        self.events.append(event)
        return self.answer(event)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "a"}]}, {"a"}),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, None),  # unknown id
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, None),
        ({"batchItemFailures": [{"messageId": "a"}]}, None),  # wrong key name
        ({"batchItemFailures": "a"}, None),
        ("ok", None),
    ],
)
def test_batch_response_is_read_as_lambda_reads_it(response, expected):
    assert failed_message_ids(response, {"a", "b"}) == expected


def test_event_has_the_exact_aws_sqs_record_shape(sqs, queues: Queues):
    sqs.send_message(
        QueueUrl=queues.url,
        MessageBody="hello",
        MessageAttributes={
            EVENT_ID.name: {"DataType": "String", "StringValue": "e-1"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    invoker = Recording(lambda event: Invocation(ok=True, response=None))

    SqsPoller(sqs, queues.url, invoker, wait_time_seconds=0).poll_once()

    [record] = invoker.events[0]["Records"]
    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "md5OfMessageAttributes",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["body"] == "hello"
    assert record["md5OfBody"] == hashlib.md5(b"hello").hexdigest()
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queues.arn
    assert record["awsRegion"] == "us-east-1"
    assert {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    } <= set(record["attributes"])
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"][EVENT_ID.name] == {
        "stringValue": "e-1",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert (
        record["messageAttributes"]["blob"]["binaryValue"] == base64.b64encode(b"\x00\x01").decode()
    )


def test_failed_invocation_deletes_nothing_and_the_batch_comes_back(sqs, queues: Queues):
    for i in range(3):
        send_event(sqs, queues.url, f"e{i}")
    invoker = Recording(lambda event: Invocation(ok=False, error="Task timed out"))
    poller = SqsPoller(sqs, queues.url, invoker, wait_time_seconds=0)

    outcome = poller.poll_once()

    assert outcome is not None
    assert outcome.deleted == []
    assert poller.poll_once() is None  # in flight until the visibility timeout
    time.sleep(1.1)
    again = poller.poll_once()
    assert again is not None
    assert sorted(again.message_ids) == sorted(outcome.message_ids)
    assert poller.stats.failed_invocations == 2


def test_reported_failures_stay_and_the_rest_are_deleted(sqs, queues: Queues):
    for i in range(4):
        send_event(sqs, queues.url, f"e{i}")

    def fail_first_two(event: dict[str, Any]) -> Invocation:
        ids = [r["messageId"] for r in event["Records"]][:2]
        return Invocation(
            ok=True, response={"batchItemFailures": [{"itemIdentifier": i} for i in ids]}
        )

    poller = SqsPoller(sqs, queues.url, Recording(fail_first_two), wait_time_seconds=0)
    outcome = poller.poll_once()

    assert outcome is not None
    assert len(outcome.message_ids) == 4
    assert sorted(outcome.deleted) == sorted(outcome.message_ids[2:])
    assert queue_depth(sqs, queues.url) == 2


def test_unknown_item_identifier_fails_the_whole_batch(sqs, queues: Queues):
    for i in range(3):
        send_event(sqs, queues.url, f"e{i}")
    invoker = Recording(
        lambda event: Invocation(
            ok=True, response={"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}
        )
    )

    outcome = SqsPoller(sqs, queues.url, invoker, wait_time_seconds=0).poll_once()

    assert outcome is not None
    assert outcome.deleted == []
    assert queue_depth(sqs, queues.url) == 3


def test_without_report_batch_item_failures_the_response_is_ignored(sqs, queues: Queues):
    send_event(sqs, queues.url, "e1")
    invoker = Recording(
        lambda event: Invocation(
            ok=True,
            response={"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]},
        )
    )

    SqsPoller(
        sqs, queues.url, invoker, wait_time_seconds=0, report_batch_item_failures=False
    ).poll_once()

    assert queue_depth(sqs, queues.url) == 0


class _FlakySqs:
    """Passes calls through to a client, raising connection errors on the first receives."""

    def __init__(self, sqs: Any, failures: int) -> None:
        self._sqs = sqs
        self.failures = failures
        self.meta = sqs.meta

    def receive_message(self, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
        return self._sqs.receive_message(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)


def test_poller_survives_connection_errors(sqs, queues: Queues):
    send_event(sqs, queues.url, "e1")
    invoker = Recording(lambda event: Invocation(ok=True, response=None))
    poller = SqsPoller(
        _FlakySqs(sqs, failures=3),
        queues.url,
        invoker,
        wait_time_seconds=0,
        error_backoff_seconds=0.01,
    )

    stats = poller.run(max_batches=1)

    assert stats.receive_errors == 3
    assert stats.deleted == 1


def test_poller_survives_the_server_restarting(aws_env, applied: Applied):
    server = MotoServer().start()
    try:
        sqs = server.client("sqs")
        q = create_queues(sqs, "restart", visibility_timeout_seconds=1, receive_wait_time_seconds=0)
        invoker = Recording(lambda event: Invocation(ok=True, response=None))
        poller = SqsPoller(sqs, q.url, invoker, wait_time_seconds=0, error_backoff_seconds=0.05)
        with running(poller):
            send_event(sqs, q.url, "before")
            wait_until(lambda: poller.stats.deleted == 1, "the first event deleted", 20)
            server.stop()
            wait_until(lambda: poller.stats.receive_errors > 0, "a failed receive", 20)
            server.start()
            send_event(sqs, q.url, "after")
            wait_until(lambda: poller.stats.deleted == 2, "the second event deleted", 20)
    finally:
        server.stop()


def test_stop_returns_promptly_while_long_polling(sqs, queues: Queues):
    poller = SqsPoller(
        sqs, queues.url, Recording(lambda e: Invocation(ok=True)), wait_time_seconds=1
    )
    poller.start()
    time.sleep(0.2)
    started = time.monotonic()
    poller.stop(timeout=5)
    assert time.monotonic() - started < 2.5


# What is under test here is the event source, not the table's server (test_consumer.py runs
# the idempotency cases on both): moto only.
@pytest.mark.parametrize("dynamodb", ["moto"], indirect=True)
def test_good_and_poison_messages_end_processed_or_in_the_dlq(
    sqs, queues: Queues, table, applied: Applied
):
    good_ids = [f"good-{i}" for i in range(12)]
    for event_id in good_ids:
        send_event(sqs, queues.url, event_id)
    for event_id in good_ids[:4]:  # the producer retried these: same event, new message
        send_event(sqs, queues.url, event_id)
    poison = ["{not json", json.dumps({"id": "p1", "type": "x"}), json.dumps({"type": "X"})]
    for body in poison:
        sqs.send_message(QueueUrl=queues.url, MessageBody=body)

    poller = SqsPoller(sqs, queues.url, in_process_invoker(consumer.handler), wait_time_seconds=0)
    with running(poller):
        wait_until(
            lambda: (
                queue_depth(sqs, queues.dlq_url) == len(poison)
                and queue_depth(sqs, queues.url) == 0
            ),
            "poison in the DLQ and the queue drained",
            20,
        )

    # Every good event applied exactly once; every message either deleted or in the DLQ.
    assert sorted(applied.ids) == sorted(good_ids)
    assert poller.stats.deleted == len(good_ids) + 4
    dead = sqs.receive_message(QueueUrl=queues.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in dead) == sorted(poison)
    assert poller.stats.failed_invocations == 0


def test_an_invoker_fault_fails_the_batch_without_killing_the_poller(sqs, queues: Queues):
    send_event(sqs, queues.url, "e1")

    def broken(event: dict[str, Any], timeout_seconds: float) -> Invocation:
        raise OSError("cannot start the function")

    poller = SqsPoller(sqs, queues.url, broken, wait_time_seconds=0)
    stats = poller.run(max_batches=1)

    assert stats.failed_invocations == 1
    assert "cannot start the function" in stats.invocation_errors[0]
    assert queue_depth(sqs, queues.url) == 1


def test_batch_size_above_ten_gathers_within_the_batching_window(sqs, queues: Queues):
    for i in range(25):
        send_event(sqs, queues.url, f"e{i}")
    invoker = Recording(lambda event: Invocation(ok=True, response=None))

    outcome = SqsPoller(
        sqs,
        queues.url,
        invoker,
        batch_size=25,
        max_batching_window_seconds=1.0,
        wait_time_seconds=0,
    ).poll_once()

    assert outcome is not None
    assert len(invoker.events[0]["Records"]) == 25
    assert len(set(outcome.deleted)) == 25


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be 1-10000, got 0"),
        ({"batch_size": 11}, "batch_size > 10 needs max_batching_window_seconds > 0"),
        ({"wait_time_seconds": 21}, "wait_time_seconds must be 0-20, got 21"),
    ],
)
def test_bad_settings_name_the_setting_and_the_allowed_values(sqs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        SqsPoller(sqs, "http://unused", Recording(lambda e: Invocation(ok=True)), **kwargs)
