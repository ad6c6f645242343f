"""Throughput of the app against a fast local SQS (fauxqs), with the ceiling and a baseline.

One run, one server, so the figures are comparable as ratios:
1. the raw ceiling: boto3 SendMessageBatch (10 entries) in a loop, 1 and 4 threads, no HTTP;
2. variants of the app at 1, 16 and 64 concurrent clients, driven by wrk (C, event-driven;
   its CPU use is printed so it can be seen not to be the bottleneck), chosen with --variants:
   `app` (`python -m app`: coalescing into SendMessageBatch, sent by app.sqs.BatchSender),
   `aiobotocore` (bench/aiobotocore_app.py: the same app sending its batches through
   aiobotocore, in its own environment, see below), `nometrics` (bench/nometrics_app.py: the
   same app with its metric updates turned into no-ops), `boto3` (bench/boto3_app.py: the
   same app sending its batches through boto3 on threads, i.e. what the batching alone buys)
   and `naive` (bench/naive_app.py: one SendMessage per request).
For each: accepted events/s, p50/p99 latency, SQS requests per event (from the app's own
counters), CPU used by the app (split into its event-loop thread and its other threads, per
accepted event: the app sends on its event loop, the naive variant's boto3 calls run on
threads), fauxqs and wrk, and a loss check: every id that got a 202 must be
in the queue.

    .venv/bin/python bench/app_throughput.py [--duration 10] [--clients 1,16,64] [--repeat 1]
        [--variants app,aiobotocore,nometrics,boto3,naive] [--together]

Each round runs the variants one after the other; with --together, at the same time (each with
its own wrk), so that on a busy machine they share its load alike (see --help).

Installs what it needs when missing: wrk (Debian package), and Node 22 and fauxqs from npm
through scripts/need-e2e (local/npm/, pinned by its lock file). fauxqs is started on 127.0.0.1 only.
The aiobotocore variant runs in its own environment (aiobotocore pins a botocore below the
lock's), which bench/aiobotocore_app.py makes under .cache/bench/ before the first run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from botocore.config import Config  # noqa: E402

from bench import aiobotocore_app  # noqa: E402
from local.fauxqs import FauxqsServer  # noqa: E402
from local.servers import LOCAL_ENV, free_port, local_client  # noqa: E402

VARIANTS = {
    "app": ["-m", "app"],
    "aiobotocore": ["bench/aiobotocore_app.py"],
    "nometrics": ["bench/nometrics_app.py"],
    "boto3": ["bench/boto3_app.py"],
    "naive": ["bench/naive_app.py"],
}
PAD = 64  # bytes of padding in each event's data: a ~130-byte message


def ensure_tools() -> None:
    # wrk from Debian, Node 22 + fauxqs from npm (the same pinned install the e2e tests use).
    subprocess.run([str(ROOT / "scripts" / "apt-install"), "wrk:wrk"], check=True)
    subprocess.run([str(ROOT / "scripts" / "need-e2e")], check=True)


def fauxqs_pid(fauxqs: FauxqsServer) -> int:
    assert fauxqs.proc is not None, "fauxqs is not running"
    return fauxqs.proc.pid


def sqs_client(endpoint: str) -> Any:
    return local_client(
        "sqs", endpoint, Config(max_pool_connections=32, retries={"total_max_attempts": 1})
    )


def new_queue(sqs: Any, name: str) -> str:
    return sqs.create_queue(QueueName=f"{name}-{free_port()}")["QueueUrl"]


def event_body(event_id: str, n: int) -> str:
    data = {"n": n, "pad": "x" * PAD}
    return json.dumps({"id": event_id, "type": "bench.event", "data": data}, separators=(",", ":"))


def raw_ceiling(sqs: Any, seconds: float, threads: int) -> float:
    """Messages/s that boto3 alone pushes through SendMessageBatch(10) to the same server."""
    url = new_queue(sqs, f"raw{threads}")
    sent = [0] * threads
    deadline = time.perf_counter() + seconds

    def loop(worker: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            entries = []
            for i in range(10):
                event_id = f"r{worker}-{n}-{i}"
                entries.append(
                    {
                        "Id": str(i),
                        "MessageBody": event_body(event_id, n),
                        "MessageAttributes": {
                            "event_id": {"DataType": "String", "StringValue": event_id}
                        },
                    }
                )
            response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
            assert not response.get("Failed"), response["Failed"]
            sent[worker] += len(response["Successful"])
            n += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(loop, range(threads)))
    return sum(sent) / (time.perf_counter() - started)


def cpu_seconds(pid: int, stat: str = "") -> float:
    fields = Path(stat or f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loop_thread_seconds(pid: int) -> float:
    """CPU of the process's main thread, which runs the event loop (HTTP, validation, logs);
    the rest of the process's CPU is its other threads (the naive variant's boto3 calls)."""
    return cpu_seconds(pid, f"/proc/{pid}/task/{pid}/stat")


def scrape(url: str) -> dict[str, float]:
    text = requests.get(f"{url}/metrics", timeout=10).text
    out = {"sqs_requests": 0.0, "enqueued": 0.0}
    for line in text.splitlines():
        if line.startswith("app_sqs_requests_total{"):
            out["sqs_requests"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("app_events_enqueued_total "):
            out["enqueued"] = float(line.rsplit(" ", 1)[1])
    return out


def queue_ids(sqs: Any, url: str) -> list[str]:
    """Every message id (event id) in the queue, read with 4 concurrent receivers."""
    found: list[str] = []
    lock = threading.Lock()

    def receiver() -> None:
        empty = 0
        while empty < 2:
            messages = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=3600,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            empty = empty + 1 if not messages else 0
            with lock:
                found.extend(m["MessageAttributes"]["event_id"]["StringValue"] for m in messages)

    with ThreadPoolExecutor(4) as pool:
        for f in [pool.submit(receiver) for _ in range(4)]:
            f.result()
    return found


def start_variant(
    kind: str, sqs_endpoint: str, queue_url: str, **settings: str
) -> tuple[subprocess.Popen[bytes], str]:
    """A variant of the app on a free loopback port, answering /healthz; and its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        LOCAL_ENV,
        QUEUE_URL=queue_url,
        AWS_ENDPOINT_URL_SQS=sqs_endpoint,
        HOST="127.0.0.1",
        PORT=str(port),
        SHUTDOWN_DELAY_SECONDS="0",
        **settings,
    )
    cmd = [sys.executable, *VARIANTS[kind]]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(f"{base}/healthz", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    return proc, base


class Trial:
    """One variant under wrk: started, loaded, then checked (alone, or beside the others)."""

    def __init__(self, kind: str, clients: int, fauxqs: FauxqsServer, sqs: Any) -> None:
        self.kind, self.clients, self.fauxqs, self.sqs = kind, clients, fauxqs, sqs
        self.url = new_queue(sqs, f"{kind}{clients}")
        self.proc, self.base = start_variant(kind, fauxqs.endpoint, self.url)
        self.tmp = tempfile.TemporaryDirectory()

    def start_load(self, duration: int) -> None:
        self.before = scrape(self.base)
        self.cpu_app = cpu_seconds(self.proc.pid)
        self.cpu_sqs = cpu_seconds(fauxqs_pid(self.fauxqs))
        self.cpu_loop = loop_thread_seconds(self.proc.pid)
        self.wrk = subprocess.Popen(
            [
                *("wrk", "-t", str(min(2, self.clients)), "-c", str(self.clients)),
                *("-d", f"{duration}s", "--latency", "-s", str(ROOT / "bench" / "wrk_post.lua")),
                *(self.base, "--", f"{self.tmp.name}/ids-", str(PAD)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_load(self) -> None:
        assert self.wrk.stdout is not None
        out = self.wrk.stdout.read()  # until wrk exits
        # Reaped here rather than by Popen, for the rusage of this wrk alone.
        _, status, usage = os.wait4(self.wrk.pid, 0)
        self.wrk.returncode = os.waitstatus_to_exitcode(status)
        assert self.wrk.returncode == 0, out
        self.cpu_wrk = usage.ru_utime + usage.ru_stime
        self.cpu_app = cpu_seconds(self.proc.pid) - self.cpu_app
        self.cpu_loop = loop_thread_seconds(self.proc.pid) - self.cpu_loop
        self.cpu_sqs = cpu_seconds(fauxqs_pid(self.fauxqs)) - self.cpu_sqs
        self.after = scrape(self.base)
        match = re.search(r"^RESULT (.*)$", out, re.MULTILINE)
        assert match, out
        self.result = json.loads(match.group(1))

    def row(self) -> dict[str, Any]:
        """Stop the variant; the figures, and every 202'd id checked against the queue."""
        with self.tmp:
            acked = [
                line
                for p in Path(self.tmp.name).glob("ids-*")
                for line in p.read_text().split("\n")
                if line
            ]
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        result, before, after = self.result, self.before, self.after
        seconds = result["duration_us"] / 1e6
        in_queue = queue_ids(self.sqs, self.url)
        in_queue_set = set(in_queue)
        enqueued = after["enqueued"] - before["enqueued"]
        accepted = max(result["accepted"], 1)
        requests = after["sqs_requests"] - before["sqs_requests"]
        return {
            "kind": self.kind,
            "clients": self.clients,
            "rate": result["accepted"] / seconds,
            "p50_ms": result["p50_us"] / 1000,
            "p99_ms": result["p99_us"] / 1000,
            "accepted": result["accepted"],
            "refused": result["refused"] + result["socket_errors"],
            "requests_per_event": requests / max(enqueued, 1),
            "cpu_app": self.cpu_app / seconds,
            "loop_ms_per_event": 1000 * self.cpu_loop / accepted,
            "other_ms_per_event": 1000 * (self.cpu_app - self.cpu_loop) / accepted,
            "cpu_sqs": self.cpu_sqs / seconds,
            "cpu_wrk": self.cpu_wrk / seconds,
            "acked_ids": len(acked),
            "lost": len(set(acked) - in_queue_set),
            "duplicates": len(in_queue) - len(in_queue_set),
        }


def run_round(
    kinds: list[str], clients: int, duration: int, fauxqs: FauxqsServer, sqs: Any, together: bool
) -> list[dict[str, Any]]:
    """One round: each variant in turn, or (`together`) all of them loaded at the same time."""
    if not together:
        rows = []
        for kind in kinds:
            trial = Trial(kind, clients, fauxqs, sqs)
            trial.start_load(duration)
            trial.wait_load()
            rows.append(trial.row())
        return rows
    trials = [Trial(kind, clients, fauxqs, sqs) for kind in kinds]
    for trial in trials:
        trial.start_load(duration)
    for trial in trials:
        trial.wait_load()
    return [trial.row() for trial in trials]


# (numerator, denominator, what the ratio shows) at the highest concurrency, when both ran.
RATIOS = [
    ("app", "naive", "batching and the sender together"),
    ("boto3", "naive", "batching alone"),
    ("app", "boto3", "the sender on the event loop vs boto3 on threads"),
    ("app", "aiobotocore", "the hand-written sender vs aiobotocore"),
    ("app", "nometrics", "with metrics vs without"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description="Throughput of the app against fauxqs.")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--clients", default="1,16,64", help="comma-separated concurrencies")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of the variants per concurrency, run alternately; ratios are the median",
    )
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated, from {', '.join(VARIANTS)}; app is required",
    )
    parser.add_argument(
        "--together",
        action="store_true",
        help="load a round's variants at the same time, each with its own wrk: they then share "
        "whatever else runs on the machine, for fair ratios on a busy machine between the "
        "variants that send on their event loop (app, aiobotocore, nometrics; the kernel "
        "shares CPU per thread, so boto3 and naive get more than their share). Latencies and "
        "rates are then per share, and fauxqs's CPU is the round's total",
    )
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    variants = args.variants.split(",")
    if not {"app"} <= set(variants) <= set(VARIANTS):
        parser.error(f"--variants {args.variants!r}: app, and any of {', '.join(VARIANTS)}")
    ensure_tools()
    if "aiobotocore" in variants:
        aiobotocore_app.environment_python()  # made before any timing starts
    fauxqs = FauxqsServer().start()
    try:
        sqs = sqs_client(fauxqs.endpoint)
        ceilings = {t: raw_ceiling(sqs, 5, t) for t in (1, 4)}
        ceiling = max(ceilings.values())
        print(f"machine: {os.cpu_count()} CPUs; server: fauxqs 2.4.1 on Node 22, 127.0.0.1")
        print(
            "raw boto3 SendMessageBatch(10) ceiling: "
            + ", ".join(f"{t} thread(s) {r:,.0f} msg/s" for t, r in ceilings.items())
        )
        # Alternating the variants and taking the median of each round's ratio keeps the
        # comparison fair when other work on the machine comes and goes during the run.
        rows = [
            row
            for c in clients
            for _ in range(args.repeat)
            for row in run_round(variants, c, args.duration, fauxqs, sqs, args.together)
        ]
    finally:
        fauxqs.stop()
    header = (
        f"{'variant':<11} {'clients':>7} {'events/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'SQS req/event':>13} {'CPU app':>7} {'loop ms/ev':>10} {'threads ms/ev':>13} "
        f"{'fauxqs':>6} {'wrk':>5} "
        f"{'202s':>7} {'lost':>4} {'dups':>4} {'non-202':>7}"
    )
    print(header)
    for r in rows:
        # The nometrics variant counts nothing, so it has no SQS requests per event to show.
        per_event = f"{r['requests_per_event']:.3f}" if r["kind"] != "nometrics" else "-"
        print(
            f"{r['kind']:<11} {r['clients']:>7} {r['rate']:>9,.0f} {r['p50_ms']:>7.2f} "
            f"{r['p99_ms']:>7.2f} {per_event:>13} {r['cpu_app']:>7.0%} "
            f"{r['loop_ms_per_event']:>10.3f} {r['other_ms_per_event']:>13.3f} "
            f"{r['cpu_sqs']:>6.0%} {r['cpu_wrk']:>5.0%} {r['acked_ids']:>7} {r['lost']:>4} "
            f"{r['duplicates']:>4} {r['refused']:>7}"
        )
    top = max(clients)
    at_top = {v: [r for r in rows if r["kind"] == v and r["clients"] == top] for v in variants}
    medians: dict[tuple[str, str], float] = {}
    for over, under, meaning in RATIOS:
        if over in at_top and under in at_top:
            pairs = zip(at_top[over], at_top[under], strict=True)
            per_round = [a["rate"] / b["rate"] for a, b in pairs]
            medians[over, under] = statistics.median(per_round)
            print(
                f"{over}/{under} at {top} clients ({meaning}), per round: "
                + ", ".join(f"{x:.2f}" for x in per_round)
                + f" (median {medians[over, under]:.2f})"
            )
    apps = at_top["app"]
    app_rate = statistics.median(r["rate"] for r in apps)
    goals = [(f"app/raw ceiling at {top} clients >= 0.5", app_rate / ceiling, 0.5)]
    if ("app", "naive") in medians:
        goals.append((f"app/naive throughput at {top} clients >= 5x", medians["app", "naive"], 5.0))
    if ("app", "aiobotocore") in medians:
        name = f"app/aiobotocore at {top} clients >= 1.3 (else the app should use aiobotocore)"
        goals.append((name, medians["app", "aiobotocore"], 1.3))
    print("goals:")
    for name, value, target in goals:
        print(f"  {name}: {value:.2f} -> {'met' if value >= target else 'MISSED'}")
    if ("app", "nometrics") in medians:
        cost = 1 - medians["app", "nometrics"]
        print(
            f"  metrics' cost at {top} clients <= 5% (else drop prometheus_client): "
            f"{cost:.1%} -> {'met' if cost <= 0.05 else 'MISSED'}"
        )
    per_event = max(r["requests_per_event"] for r in apps)
    print(
        f"  SQS requests per event at {top} clients <= 0.2: {per_event:.3f} -> "
        f"{'met' if per_event <= 0.2 else 'MISSED'}"
    )
    lost = sum(r["lost"] for r in rows)
    verdict = "met" if not lost else "MISSED"
    print(f"  nothing lost (every 202'd id in the queue): {lost} lost -> {verdict}")


if __name__ == "__main__":
    main()
