"""The batching logic in-process, against a scripted SendMessageBatch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from app.batcher import Batcher, SendError
from app.metrics import Metrics
from contract import EVENT_ID, Message
from tests.app.helpers import run

LIMIT = 262_144
ATTR = "event_id"
# SendMessageBatch takes at most 10 entries; more is TooManyEntriesInBatchRequest (SQS API
# reference, SendMessageBatch).
AWS_MAX_ENTRIES = 10


def too_many_entries(count: int) -> ClientError:
    """What boto3 raises for SQS's answer to a SendMessageBatch of more than 10 entries."""
    return ClientError(
        {
            "Error": {
                "Code": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                "QueryErrorCode": "TooManyEntriesInBatchRequest",
                "Type": "Sender",
                "Message": f"Maximum number of entries per request are 10. You have sent {count}.",
            },
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "SendMessageBatch",
    )


class FakeSqs:
    """Records every call; `behaviour(entries, call_no)` returns the response or raises. Like
    SQS, it refuses a call of more than 10 entries whatever the behaviour."""

    def __init__(
        self,
        behaviour: Callable[[list[dict[str, Any]], int], dict[str, Any]] | None = None,
        delay: float = 0.0,
        gate: asyncio.Event | None = None,
    ) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.accepted: list[str] = []
        self.behaviour = behaviour or (lambda entries, n: ok(entries))
        self.delay = delay
        self.gate = gate  # when given, every call waits for it: a call "in flight"
        self.concurrent = 0
        self.max_concurrent = 0

    async def __call__(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append([dict(e) for e in entries])
        n = len(self.calls)
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.gate is not None:
                await self.gate.wait()
            if len(entries) > AWS_MAX_ENTRIES:
                raise too_many_entries(len(entries))
            response = self.behaviour(entries, n)
        finally:
            self.concurrent -= 1
        failed = {f["Id"] for f in response.get("Failed", [])}
        self.accepted += [
            e["MessageAttributes"][ATTR]["StringValue"]
            for e in entries
            if e["Id"] not in failed
            and e["Id"] in {s["Id"] for s in response.get("Successful", [])}
        ]
        return response


def ok(entries: list[dict[str, Any]], failed_ids: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {
        "Successful": [
            {"Id": e["Id"], "MessageId": "m" + e["Id"]}
            for e in entries
            if e["Id"] not in failed_ids
        ],
        "Failed": [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "boom"}
            for e in entries
            if e["Id"] in failed_ids
        ],
    }


def ids_of(entries: list[dict[str, Any]]) -> list[str]:
    return [e["MessageAttributes"][ATTR]["StringValue"] for e in entries]


def make(fake: FakeSqs, **kwargs: Any) -> tuple[Batcher, Metrics]:
    metrics = Metrics()
    options: dict[str, Any] = {
        "max_batch_bytes": LIMIT,
        "backoff_base": 0.001,
        "backoff_cap": 0.005,
    }
    options.update(kwargs)
    batcher = Batcher(fake, metrics, **options)
    batcher.start()
    return batcher, metrics


def msg(event_id: str, body: str = "{}") -> Message:
    return Message.build(body, {EVENT_ID: event_id})


async def send_all(batcher: Batcher, ids: list[str], body: str = "{}") -> list[Any]:
    return await asyncio.gather(*(batcher.send(msg(i, body)) for i in ids), return_exceptions=True)


def test_the_fake_refuses_eleven_entries_as_sqs_does(sqs: Any, queue_url: str) -> None:
    entries = [
        {
            "Id": str(i),
            "MessageBody": "{}",
            "MessageAttributes": {ATTR: {"DataType": "String", "StringValue": f"e{i}"}},
        }
        for i in range(11)
    ]
    with pytest.raises(ClientError) as by_sqs:
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    with pytest.raises(ClientError) as by_fake:
        run(FakeSqs()(entries))
    for raised in (by_sqs.value, by_fake.value):
        assert raised.response["Error"]["Code"] == (
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
        )
        assert raised.response["Error"]["QueryErrorCode"] == "TooManyEntriesInBatchRequest"
        assert raised.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert len(run(FakeSqs()(entries[:10]))["Successful"]) == 10


def test_concurrent_events_are_coalesced_into_batches_of_at_most_ten():
    async def main():
        fake = FakeSqs(delay=0.02)
        batcher, metrics = make(fake, max_in_flight=1, max_wait=0.005)
        ids = [f"e{i}" for i in range(35)]
        results = await send_all(batcher, ids)
        await batcher.close()
        return fake, metrics, results, ids

    fake, metrics, results, ids = run(main())
    assert results == [None] * 35
    assert sorted(fake.accepted) == sorted(ids)
    sizes = [len(c) for c in fake.calls]
    assert max(sizes) == 10  # SendMessageBatch's limit
    assert len(fake.calls) <= 5  # 1 that left at once, then full batches
    assert metrics.value("app_events_enqueued_total") == 35
    assert metrics.value("app_sqs_batch_size_count") == len(fake.calls)
    for call in fake.calls:
        assert [e["Id"] for e in call] == [str(i) for i in range(len(call))]  # distinct Ids


def test_an_idle_service_sends_at_once_instead_of_lingering():
    async def main():
        fake = FakeSqs()
        batcher, _ = make(fake, max_wait=1.0)
        started = time.perf_counter()
        await batcher.send(msg("alone"))
        elapsed = time.perf_counter() - started
        await batcher.close()
        return elapsed

    assert run(main()) < 0.5


def test_a_busy_service_lingers_to_fill_batches():
    async def main():
        fake = FakeSqs(delay=0.05)
        batcher, _ = make(fake, max_in_flight=4, max_wait=0.03)
        first = asyncio.ensure_future(batcher.send(msg("first")))
        await asyncio.sleep(0.01)  # "first" is in flight: later events wait to be batched
        rest = []
        for i in range(5):
            rest.append(asyncio.ensure_future(batcher.send(msg(f"r{i}"))))
            await asyncio.sleep(0.002)
        await asyncio.gather(first, *rest)
        await batcher.close()
        return fake

    fake = run(main())
    assert [ids_of(c) for c in fake.calls] == [["first"], [f"r{i}" for i in range(5)]]


def test_a_batch_never_exceeds_the_total_payload_limit():
    async def main():
        fake = FakeSqs(delay=0.01)
        batcher, _ = make(fake, max_in_flight=1)
        body = "x" * 100_000
        results = await send_all(batcher, [f"big{i}" for i in range(7)], body)
        await batcher.close()
        return fake, results, body

    fake, results, body = run(main())
    assert results == [None] * 7
    for call in fake.calls:
        # SQS counts the body and each attribute's name, type and value.
        total = sum(len(body) + len("event_id") + len("String") + len(i) for i in ids_of(call))
        assert total <= LIMIT
        assert len(call) <= 2
    assert sorted(fake.accepted) == sorted(f"big{i}" for i in range(7))


def test_attributes_count_toward_the_batch_payload_limit():
    # Two bodies that fit in one batch together, but not with their attributes (16 bytes
    # each: "event_id" + "String" + the 2-byte id).
    body = "x" * (LIMIT // 2 - 5)
    assert 2 * len(body) <= LIMIT < 2 * (len(body) + 16)

    async def main():
        release = asyncio.Event()
        fake = FakeSqs(gate=release)
        batcher, _ = make(fake, max_in_flight=1, max_wait=0)
        first = asyncio.ensure_future(batcher.send(msg("f0")))
        await asyncio.sleep(0.01)  # the one sender is busy: the next two wait together
        rest = [asyncio.ensure_future(batcher.send(msg(i, body))) for i in ("a1", "a2")]
        await asyncio.sleep(0.01)
        release.set()
        await asyncio.gather(first, *rest)
        await batcher.close()
        return fake

    fake = run(main())
    assert [ids_of(c) for c in fake.calls] == [["f0"], ["a1"], ["a2"]]


def test_failed_entries_are_retried_and_only_answered_when_accepted():
    attempts: dict[str, int] = {}

    def behaviour(entries, n):
        # Even-numbered events fail (SenderFault false) on their first attempt only.
        failed = set()
        for entry, event_id in zip(entries, ids_of(entries), strict=True):
            attempts[event_id] = attempts.get(event_id, 0) + 1
            if int(event_id[1:]) % 2 == 0 and attempts[event_id] == 1:
                failed.add(entry["Id"])
        return ok(entries, frozenset(failed))

    async def main():
        fake = FakeSqs(behaviour, delay=0.01)
        batcher, metrics = make(fake, max_in_flight=1)
        ids = [f"p{i}" for i in range(6)]
        results = await send_all(batcher, ids)
        await batcher.close()
        return fake, metrics, results, ids

    fake, metrics, results, ids = run(main())
    assert results == [None] * 6
    assert sorted(fake.accepted) == sorted(ids)  # each exactly once
    assert attempts == {"p0": 2, "p1": 1, "p2": 2, "p3": 1, "p4": 2, "p5": 1}
    assert metrics.value("app_sqs_entry_retries_total") == 3
    assert metrics.value("app_sqs_requests_total", outcome="partial") >= 1
    # A batch that mixed successes and failures: the successes were not sent again.
    mixed = [c for c in fake.calls if {"p1", "p2"} <= set(ids_of(c))]
    assert mixed


def test_retries_exhausted_is_503_and_never_acknowledged():
    async def main():
        fake = FakeSqs(lambda entries, n: ok(entries, frozenset({"0"})))
        batcher, metrics = make(fake, max_in_flight=1, max_attempts=3)
        [result] = await send_all(batcher, ["doomed"])
        await batcher.close()
        return fake, metrics, result

    fake, metrics, result = run(main())
    assert isinstance(result, SendError)
    assert (result.status, result.reason) == (503, "sqs_unavailable")
    assert "3 attempt(s)" in result.message
    assert "InternalError" in result.message
    assert len(fake.calls) == 3
    assert fake.accepted == []
    assert metrics.value("app_events_enqueued_total") == 0
    assert metrics.value("app_events_failed_total", reason="sqs_unavailable") == 1


def test_an_entry_missing_from_the_response_is_not_acknowledged():
    def behaviour(entries, n):
        return {"Successful": [], "Failed": []} if n == 1 else ok(entries)

    async def main():
        fake = FakeSqs(behaviour)
        batcher, _ = make(fake)
        result = await send_all(batcher, ["ghost"])
        await batcher.close()
        return fake, result

    fake, result = run(main())
    assert result == [None]
    assert len(fake.calls) == 2


def test_a_sender_fault_is_not_retried():
    def behaviour(entries, n):
        return {
            "Successful": [],
            "Failed": [
                {"Id": "0", "SenderFault": True, "Code": "InvalidMessageContents", "Message": "x"}
            ],
        }

    async def main():
        fake = FakeSqs(behaviour)
        batcher, _ = make(fake)
        [result] = await send_all(batcher, ["bad"])
        await batcher.close()
        return fake, result

    fake, result = run(main())
    assert isinstance(result, SendError)
    assert result.status == 400
    assert "InvalidMessageContents" in result.message
    assert len(fake.calls) == 1


def test_a_failed_call_is_retried_for_transient_errors_only():
    attempts: dict[str, int] = {}

    def flaky(entries, n):
        # Per event: connection refused, then throttled, then accepted.
        tries = set()
        for event_id in ids_of(entries):
            attempts[event_id] = attempts.get(event_id, 0) + 1
            tries.add(attempts[event_id])
        if 1 in tries:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
        if 2 in tries:
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "SendMessageBatch")
        return ok(entries)

    def denied(entries, n):
        raise ClientError(
            {
                "Error": {"Code": "AccessDenied", "Message": "no"},
                "ResponseMetadata": {"HTTPStatusCode": 403},
            },
            "SendMessageBatch",
        )

    async def main():
        fake_flaky, fake_denied = FakeSqs(flaky), FakeSqs(denied)
        b1, m1 = make(fake_flaky, max_in_flight=1, backoff_base=0.0, backoff_cap=0.0)
        b2, _ = make(fake_denied, max_attempts=4)
        r1 = await send_all(b1, ["a", "b"])
        r2 = await send_all(b2, ["c"])
        await b1.close()
        await b2.close()
        return fake_flaky, m1, r1, fake_denied, r2

    fake_flaky, m1, r1, fake_denied, r2 = run(main())
    assert r1 == [None, None]
    # Jittered backoff may split the two, but each got exactly two failed attempts.
    for event_id in ("a", "b"):
        assert sum(event_id in ids_of(c) for c in fake_flaky.calls) == 3
    assert m1.value("app_sqs_requests_total", outcome="error") >= 2
    assert isinstance(r2[0], SendError)
    assert r2[0].status == 503
    assert "AccessDenied" in r2[0].message
    assert len(fake_denied.calls) == 1


def test_the_deadline_bounds_retries():
    async def main():
        fake = FakeSqs(lambda entries, n: ok(entries, frozenset({"0"})), delay=0.05)
        batcher, _ = make(fake, max_attempts=10, timeout=0.2, backoff_base=0.05, backoff_cap=0.05)
        started = time.perf_counter()
        [result] = await send_all(batcher, ["slow"])
        elapsed = time.perf_counter() - started
        await batcher.close()
        return result, elapsed, fake

    result, elapsed, fake = run(main())
    assert isinstance(result, SendError)
    assert result.status == 503
    assert elapsed < 1.0
    assert 1 < len(fake.calls) < 10


def test_overload_and_shutdown_refuse_new_events_and_close_flushes_in_flight():
    async def main():
        release = asyncio.Event()
        fake = FakeSqs(gate=release)
        batcher, metrics = make(fake, max_in_flight=1, max_pending=10)
        accepted = [asyncio.ensure_future(batcher.send(msg(f"k{i}"))) for i in range(10)]
        await asyncio.sleep(0.05)
        with pytest.raises(SendError) as overloaded:
            await batcher.send(msg("one-too-many"))
        closing = asyncio.ensure_future(batcher.close())
        await asyncio.sleep(0.05)
        with pytest.raises(SendError) as shutting:
            await batcher.send(msg("late"))
        assert not closing.done()  # waits for the in-flight events
        release.set()
        await closing
        results = await asyncio.gather(*accepted)
        return overloaded.value, shutting.value, results, fake, metrics

    overloaded, shutting, results, fake, metrics = run(main())
    assert (overloaded.status, overloaded.reason) == (503, "overloaded")
    assert (shutting.status, shutting.reason) == (503, "shutting_down")
    assert results == [None] * 10
    assert sorted(fake.accepted) == sorted(f"k{i}" for i in range(10))
    assert metrics.value("app_events_in_flight") == 0


def test_a_client_that_goes_away_does_not_cancel_its_entry():
    async def main():
        fake = FakeSqs(delay=0.05)
        batcher, metrics = make(fake)
        task = asyncio.ensure_future(batcher.send(msg("gone")))
        await asyncio.sleep(0.01)
        task.cancel()
        await batcher.close()
        return fake, metrics

    fake, metrics = run(main())
    assert fake.accepted == ["gone"]
    assert metrics.value("app_events_enqueued_total") == 1


def test_a_client_that_goes_away_while_its_entry_waits_still_gets_it_sent_and_counted():
    async def main():
        fake = FakeSqs(delay=0.05)
        batcher, metrics = make(fake, max_in_flight=1, max_wait=0)
        first = asyncio.ensure_future(batcher.send(msg("first")))
        await asyncio.sleep(0.01)  # "first" is on its way; the one sender is busy
        gone = asyncio.ensure_future(batcher.send(msg("queued")))
        await asyncio.sleep(0.01)
        assert batcher.unsettled == 2
        gone.cancel()
        await first
        await batcher.close()
        return fake, metrics, batcher, gone

    fake, metrics, batcher, gone = run(main())
    assert gone.cancelled()
    assert fake.accepted == ["first", "queued"]
    assert metrics.value("app_events_enqueued_total") == 2
    assert batcher.unsettled == 0
    assert metrics.value("app_events_in_flight") == 0


def test_at_most_max_in_flight_calls_run_at_once():
    async def main():
        fake = FakeSqs(delay=0.02)
        batcher, _ = make(fake, max_in_flight=3, max_wait=0)
        results = await send_all(batcher, [f"c{i}" for i in range(100)])
        await batcher.close()
        return fake, results

    fake, results = run(main())
    assert results == [None] * 100
    assert fake.max_concurrent == 3
    assert len(fake.calls) == 10  # everything was waiting: full batches only
