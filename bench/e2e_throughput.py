"""End-to-end throughput and latency of the local data path, from the HTTP request to the
handler's completion, in one run:

    HTTP client -> app -> SQS (fauxqs) -> event source (dev: 2 pollers, batch 10)
                -> handler under awslambdaric -> idempotency table (moto or dynalite)

Rows:
1. burst: N events posted by 16 concurrent clients as fast as the app accepts them; events/s
   from the first request to the last handler completion, and per-event latency (request
   start -> the handler's `event applied` log line), which includes queueing;
2. paced: events at half the burst's end-to-end rate, so nothing queues: the latency of the
   path itself;
3. the ceilings measured against the same servers in the same run, to name the bottleneck:
   boto3 SendMessageBatch to fauxqs, and the handler's idempotency writes (conditional
   PutItem + UpdateItem per record, as Powertools does) against the same DynamoDB server,
   with as many threads as the event source has pollers.

    .venv/bin/python bench/e2e_throughput.py [--events 2000] [--clients 16] [--dynamodb dynalite]

Needs `scripts/need-e2e` (Node 22, fauxqs, dynalite). All servers bind 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from local.stack import LocalSettings, LoopbackStack  # noqa: E402


def applied_times(stack: LoopbackStack) -> dict[str, float]:
    """event id -> epoch seconds of its `event applied` line (Powertools' ms timestamp)."""
    out: dict[str, float] = {}
    for obj in stack.handler_records():
        if obj.get("message") != "event applied":
            continue
        stamp = datetime.strptime(obj["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z").timestamp()
        out[obj["event_id"]] = stamp
    return out


def post_all(url: str, ids: list[str], clients: int, rate: float | None) -> dict[str, float]:
    """Post one event per id; returns id -> epoch seconds at request start. With `rate`,
    requests start on a fixed schedule (events/s over all clients)."""
    sent: dict[str, float] = {}
    local = threading.local()
    start = time.time() + 0.2

    def post(index: int) -> None:
        if rate is not None:
            delay = start + index / rate - time.time()
            if delay > 0:
                time.sleep(delay)
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        event_id = ids[index]
        body = {"id": event_id, "type": "bench.e2e", "data": {"pad": "x" * 64}}
        began = time.time()
        response = session.post(f"{url}/events", json=body, timeout=30)
        if response.status_code != 202:
            raise RuntimeError(f"{event_id}: {response.status_code} {response.text}")
        sent[event_id] = began

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, range(len(ids))))
    return sent


def wait_applied(stack: LoopbackStack, ids: list[str], timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        done = applied_times(stack)
        if all(i in done for i in ids):
            return {i: done[i] for i in ids}
        if time.monotonic() > deadline:
            missing = sum(1 for i in ids if i not in done)
            raise RuntimeError(f"{missing} events not applied within {timeout:.0f} s")
        time.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(stack: LoopbackStack, n: int, clients: int, rate: float | None) -> dict[str, Any]:
    ids = [f"b-{uuid.uuid4().hex}" for _ in range(n)]
    sent = post_all(stack.app_url, ids, clients, rate)
    accepted_at = time.time()
    done = wait_applied(stack, ids, timeout=300)
    latencies = [(done[i] - sent[i]) * 1000 for i in ids]
    first, last = min(sent.values()), max(done.values())
    return {
        "events": n,
        "accept_rate": n / (accepted_at - first),
        "e2e_rate": n / (last - first),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "mean_ms": statistics.fmean(latencies),
    }


def send_ceiling(stack: LoopbackStack, seconds: float = 3.0) -> float:
    """boto3 SendMessageBatch(10) to the same fauxqs, 2 threads: what the SQS leg allows."""
    sqs = stack.sqs()
    url = sqs.create_queue(QueueName=f"ceiling-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    counts = [0, 0]
    deadline = time.perf_counter() + seconds

    def loop(worker: int) -> None:
        while time.perf_counter() < deadline:
            entries = [{"Id": str(i), "MessageBody": "x" * 130} for i in range(10)]
            response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
            counts[worker] += len(response["Successful"])

    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(loop, range(2)))
    return sum(counts) / (time.perf_counter() - started)


def idempotency_ceiling(stack: LoopbackStack, threads: int, seconds: float = 3.0) -> float:
    """Records/s of the handler's two idempotency writes alone against the same DynamoDB."""
    table = stack.table_name
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def loop(worker: int) -> None:
        dynamodb = stack.dynamodb()
        n = 0
        while time.perf_counter() < deadline:
            key = {"id": {"S": f"ceiling-{worker}-{n}"}}
            dynamodb.put_item(
                TableName=table,
                Item={**key, "status": {"S": "INPROGRESS"}, "expiration": {"N": "9999999999"}},
                ConditionExpression="attribute_not_exists(id)",
            )
            dynamodb.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET #s = :s",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": "COMPLETED"}},
            )
            n += 1
        counts[worker] = n

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(loop, range(threads)))
    return sum(counts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--stack", default="dev")
    parser.add_argument(
        "--dynamodb",
        choices=["moto", "dynalite"],
        default="moto",
        help="the idempotency table's server (default moto; the e2e tests use dynalite)",
    )
    args = parser.parse_args()

    settings = LocalSettings.from_stack(args.stack)
    print(
        f"stack {settings.stack}: {settings.max_concurrency} pollers, batch {settings.batch_size},"
        f" window {settings.batching_window_seconds} s; load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs"
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        LoopbackStack(
            settings, Path(tmp), sqs_backend="fauxqs", dynamodb_backend=args.dynamodb
        ) as stack,
    ):
        stack.start()
        measure(stack, 50, 4, None)  # warm-up: cold starts, connections
        burst = measure(stack, args.events, args.clients, None)
        paced_rate = burst["e2e_rate"] / 2
        paced = measure(stack, max(200, args.events // 4), 4, paced_rate)
        sqs_ceiling = send_ceiling(stack)
        ddb_ceiling = idempotency_ceiling(stack, settings.max_concurrency)
        cold_starts = sum(i.cold_starts for i in stack.invokers)

    print(f"\n{'row':<28}{'events':>8}{'accepted/s':>12}{'e2e/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for name, row in (("burst, 16 clients", burst), (f"paced at {paced_rate:.0f}/s", paced)):
        print(
            f"{name:<28}{row['events']:>8}{row['accept_rate']:>12.0f}{row['e2e_rate']:>9.1f}"
            f"{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}"
        )
    print(f"\nceiling: boto3 SendMessageBatch(10) to fauxqs, 2 threads: {sqs_ceiling:,.0f} msg/s")
    print(
        f"ceiling: idempotency writes (PutItem+UpdateItem) to {args.dynamodb}, "
        f"{settings.max_concurrency} threads: {ddb_ceiling:,.0f} records/s"
    )
    print(
        f"end-to-end burst rate = {burst['e2e_rate'] / ddb_ceiling:.2f} x the DynamoDB ceiling, "
        f"{burst['e2e_rate'] / sqs_ceiling:.3f} x the SQS send ceiling; "
        f"app acceptance = {burst['accept_rate'] / burst['e2e_rate']:.1f} x the end-to-end rate"
    )
    print(f"cold starts: {cold_starts}")


if __name__ == "__main__":
    main()
