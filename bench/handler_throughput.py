"""Records processed per second per invocation, and the framework's per-record overhead.

The handler runs in this process exactly as deployed (Powertools batch processor, schema
validation, idempotency, logging context, EMF metrics), with the idempotency store swapped
for an in-memory layer with DynamoDB's semantics: the figures exclude the store's network
I/O, which on AWS is two DynamoDB calls per record (PutItem, UpdateItem) of a few ms each.

    .venv/bin/python bench/handler_throughput.py [--seconds 2]

Two user functions are measured:
- no-op: `process_event` does nothing, so the time is all framework overhead;
- default: the shipped `process_event`, which writes one JSON log line per event.
Per-record overhead is the slope between batch sizes 10 and 100, so the fixed
per-invocation cost (metrics flush, context injection) is not spread over the records.
Every record carries a new event id, so each goes through the full idempotency path.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "bench")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "consumer")

from contract import Event
from handlers import consumer, events
from local.lambda_context import LocalLambdaContext
from local.memory_store import InMemoryPersistenceLayer

BATCH_SIZES = (1, 10, 100)
_ids = itertools.count()


def make_event(size: int) -> dict[str, Any]:
    records = []
    for _ in range(size):
        event_id = f"evt-{next(_ids)}"
        body = Event(id=event_id, type="order.created", data={"order": 42, "sku": "A-1"}).to_json()
        records.append(
            {
                "messageId": f"m-{event_id}",
                "receiptHandle": "AQEB" + event_id,
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1700000000000",
                    "SenderId": "AROAEXAMPLE:app",
                    "ApproximateFirstReceiveTimestamp": "1700000000012",
                },
                "messageAttributes": {
                    "event_id": {
                        "stringValue": event_id,
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "String",
                    }
                },
                "md5OfBody": "0" * 32,
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:events",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def measure(size: int, seconds: float) -> tuple[float, int]:
    """Mean seconds per invocation of `size` records, and how many invocations ran."""
    # Events are built outside the timed region.
    batches = [make_event(size) for _ in range(max(20, int(20_000 / size)))]
    context = LocalLambdaContext(timeout_seconds=900)
    sink = io.StringIO()
    done = 0
    elapsed = 0.0
    with contextlib.redirect_stdout(sink):
        for event in batches:
            start = time.perf_counter()
            response = consumer.handler(event, context)
            elapsed += time.perf_counter() - start
            assert not response["batchItemFailures"], response
            done += 1
            if elapsed >= seconds:
                break
            if sink.tell() > 50_000_000:
                sink.seek(0)
                sink.truncate()
    return elapsed / done, done


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()

    handler = consumer.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(io.StringIO())  # log lines are formatted, then dropped

    shipped = events.process_event
    variants = {"no-op": lambda event: None, "default (1 log line)": shipped}
    print(f"python {sys.version.split()[0]}; in-memory idempotency store; {args.seconds} s per row")
    print(
        f"{'user function':22} {'batch':>5} {'invocations':>11} {'ms/invoke':>10} "
        f"{'records/s':>10} {'us/record':>10}"
    )
    for label, fn in variants.items():
        events.process_event = fn
        consumer.use_persistence_store(InMemoryPersistenceLayer())
        measure(10, 0.2)  # warm-up: first-call imports and caches
        per_invoke: dict[int, float] = {}
        for size in BATCH_SIZES:
            seconds, count = measure(size, args.seconds)
            per_invoke[size] = seconds
            print(
                f"{label:22} {size:5d} {count:11d} {seconds * 1000:10.3f} "
                f"{size / seconds:10.0f} {seconds / size * 1e6:10.1f}"
            )
        slope = (per_invoke[100] - per_invoke[10]) / 90 * 1e6
        fixed = per_invoke[10] * 1e6 - 10 * slope
        print(
            f"{label:22} per-record overhead (slope 10->100): {slope:.1f} us; "
            f"per-invocation fixed: {fixed:.0f} us"
        )
    events.process_event = shipped
    print("goal: per-record framework overhead (no-op row) < 50 us")


if __name__ == "__main__":
    main()
