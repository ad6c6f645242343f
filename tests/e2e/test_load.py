"""Load through the whole data path: HTTP -> app -> SQS -> event source -> handler.

fauxqs serves SQS here: moto's calls cost O(queue depth) (~250 sends/s empty, ~50/s at
2,000 deep), so 2,000 events through moto take minutes. fauxqs passes the redrive checks this
test relies on (ApproximateReceiveCount, move to the DLQ after maxReceiveCount: asserted
below through the poison messages); the fault scenarios run on moto.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from local.servers import queue_depth
from local.stack import LoopbackStack
from tests.e2e.helpers import (
    Load,
    applied_counts,
    completed_ids,
    dlq_depth,
    event,
    failure_reasons,
    handler_log,
    inject_poison,
    read_all,
    report,
)
from tests.wait import wait_until

EVENTS = 2000
RETRIED = 100  # events a client posts twice with the same id (a producer's retry)
LOAD_SETTLE_SECONDS = 180.0  # hard cap; the wait fails sooner if the count stops growing


def assert_queue_matches_settings(stack: LoopbackStack) -> None:
    s = stack.settings
    attrs: dict[str, Any] = stack.sqs().get_queue_attributes(
        QueueUrl=stack.queues.url, AttributeNames=["All"]
    )["Attributes"]
    assert int(attrs["VisibilityTimeout"]) == s.visibility_timeout_seconds
    assert int(attrs["ReceiveMessageWaitTimeSeconds"]) == s.receive_wait_time_seconds
    assert int(attrs["MessageRetentionPeriod"]) == s.queue_retention_seconds
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": stack.queues.dlq_arn, "maxReceiveCount": 3}
    assert len(stack.pollers) == s.max_concurrency
    assert {p.batch_size for p in stack.pollers} == {s.batch_size}
    assert {p.function_timeout_seconds for p in stack.pollers} == {s.function_timeout_seconds}


@pytest.mark.slow
@pytest.mark.timeout(LOAD_SETTLE_SECONDS + 60)
def test_every_acknowledged_event_is_applied_once_and_poison_ends_in_the_dlq(
    start_stack: Any, fast_settings: Any
) -> None:
    stack: LoopbackStack = start_stack(
        fast_settings, sqs_backend="fauxqs", dynamodb_backend="dynalite"
    )
    assert_queue_matches_settings(stack)
    sqs = stack.sqs()

    poison = inject_poison(stack)
    bodies = [event() for _ in range(EVENTS)]
    bodies += [dict(b) for b in bodies[:RETRIED]]  # same id again: must apply once
    started = time.monotonic()
    result = Load(stack.app_url, clients=16).run(bodies)
    posting = time.monotonic() - started

    assert result.statuses[202] == len(bodies), result.statuses
    assert len(result.accepted) == EVENTS

    # Bounded by moto's DynamoDB (~110 writes/s): ~25 s on a quiet machine, more when the
    # machine is shared; what must not happen is the count stopping short.
    wait_until(
        lambda: set(applied_counts(stack)) >= result.accepted,
        f"every acknowledged event applied ({len(result.accepted)})",
        LOAD_SETTLE_SECONDS,
        progress=lambda: len(applied_counts(stack)),
    )
    wait_until(lambda: dlq_depth(sqs, stack.queues.dlq_url) >= len(poison), "poison in the DLQ")
    wait_until(lambda: queue_depth(sqs, stack.queues.url) == 0, "the queue drained")
    elapsed = time.monotonic() - started

    applied = applied_counts(stack)
    dead = read_all(sqs, stack.queues.dlq_url)
    dead_ids = [m["MessageAttributes"]["event_id"]["StringValue"] for m in dead]
    reasons = failure_reasons(stack)

    # Exactly once in effect: every acknowledged event applied once, nothing else applied.
    assert set(applied) == result.accepted
    assert max(applied.values()) == 1
    # The poison and only the poison in the DLQ, after maxReceiveCount receives each.
    assert sorted(m["Body"] for m in dead) == sorted(poison)
    assert sorted(dead_ids) == sorted(poison.values())
    # Each poison receive is logged once, unless its whole invocation failed (a timeout on a
    # machine busy with other jobs): then the receive counted but nothing was logged.
    failed_invocations = sum(p.stats.failed_invocations for p in stack.pollers)
    expected_invalid = len(poison) * fast_settings.max_receive_count
    if failed_invocations == 0:
        assert reasons["invalid_event"] == expected_invalid
    else:
        assert len(poison) <= reasons["invalid_event"] <= expected_invalid
    # One COMPLETED idempotency record per event, whatever the redeliveries.
    assert len(completed_ids(stack)) == EVENTS
    # Counts add up: sent = applied + dead, nothing left in the queue.
    assert len(applied) + len(dead) == EVENTS + len(poison)
    report(
        "load",
        events=EVENTS,
        posts=result.posts,
        accepted_202=result.statuses[202],
        retried_same_id=RETRIED,
        applied=sum(applied.values()),
        applied_twice=sum(1 for n in applied.values() if n > 1),
        poison=len(poison),
        dlq=len(dead),
        invalid_receives=reasons["invalid_event"],
        duplicates=sum(1 for line in handler_log(stack) if line.get("duplicate") is True),
        posting_s=round(posting, 1),
        settled_s=round(elapsed, 1),
        cold_starts=sum(i.cold_starts for i in stack.invokers),
    )
