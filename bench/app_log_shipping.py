"""What shipping the app's log lines to CloudWatch Logs (LOG_GROUP, app/logship.py) costs per
line, next to writing them to stdout only, in one run.

The request line as app/web.py writes it (`logs.log_fields`, the fast path), N times in a row,
to a BufferedHandler on /dev/null; then the same with the CloudWatchShipper as its sink,
sending to moto's CloudWatch Logs in another process. Figures, medians of the rounds:
- caller us/line   time on the logging thread (the app's event loop) per line
- process us/line  CPU of the whole process per line: the caller plus the sender thread
                   (batching, JSON, HTTP), which shares the interpreter's GIL with the loop

    .venv/bin/python bench/app_log_shipping.py [--lines 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import logs, logship  # noqa: E402
from local.servers import LOCAL_ENV, free_port, local_client  # noqa: E402
from tests.wait import wait_until  # noqa: E402

FIELDS = {
    "request_id": "6f1c2a9e0b7d4c3a",
    "method": "POST",
    "path": "/events",
    "status": 202,
    "duration_ms": 1.234,
    "event_id": "3b1f6c2e-9a4d-4e8b-b7c1-0d2e3f4a5b6c",
    "trace_id": "1-0af76519-16cd43dd8448eb211c80319c",
    "producer": "client-42",
}


def run(lines: int, handler: logs.BufferedHandler) -> tuple[float, float]:
    """Caller and process seconds for `lines` request lines."""
    logger = logging.getLogger("app")
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(lines):
        logs.log_fields(logger, logging.INFO, "request", FIELDS)
    caller = time.perf_counter() - wall
    sink = handler.sink
    if isinstance(sink, logship.CloudWatchShipper):
        # The sender's share: until it has taken and sent every line.
        wait_until(lambda: sink._queue.unfinished_tasks == 0, "the queue drained", timeout=120)
    return caller, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description="Per-line cost of shipping logs to CloudWatch.")
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen(
        [str(ROOT / ".venv/bin/moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = local_client("logs", endpoint)
        wait_until(lambda: _up(client), "moto up", timeout=30)
        group = "/ecr-eks-lambda/bench/app"
        client.create_log_group(logGroupName=group)
        # The app's own client (its timeouts and retries), pointed at moto.
        os.environ.update(LOCAL_ENV, AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=endpoint)
        shipper = logship.CloudWatchShipper(group, "bench", logship.make_client("us-east-1"))
        plain = logs.configure("INFO")
        results: dict[str, list[tuple[float, float]]] = {"stdout only": [], "+ CloudWatch": []}
        devnull = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
        for _ in range(args.rounds):
            for name, sink in (("stdout only", None), ("+ CloudWatch", shipper)):
                handler = logs.configure("INFO", sink)
                handler.setStream(devnull)
                results[name].append(run(args.lines, handler))
        plain.close()
        shipper.close()
        print(f"{args.lines} request lines x {args.rounds} rounds (medians)")
        print(f"{'':14} {'caller us/line':>15} {'process us/line':>16}")
        medians = {}
        for name, rounds in results.items():
            caller = statistics.median(c for c, _ in rounds) / args.lines * 1e6
            process = statistics.median(p for _, p in rounds) / args.lines * 1e6
            medians[name] = (caller, process)
            print(f"{name:14} {caller:15.2f} {process:16.2f}")
        (c0, p0), (c1, p1) = medians["stdout only"], medians["+ CloudWatch"]
        print(f"{'ratio':14} {c1 / c0:15.2f} {p1 / p0:16.2f}")
        print(f"dropped: {shipper.dropped}")
    finally:
        moto.terminate()
        moto.wait(10)


def _up(client: object) -> bool:
    try:
        client.describe_log_groups()  # type: ignore[attr-defined]
    except Exception:
        return False
    return True


if __name__ == "__main__":
    main()
