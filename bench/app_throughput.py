"""Throughput of the app against a fast local SQS (fauxqs), with the ceiling and a baseline.

One run, one server, so the figures are comparable as ratios:
1. the raw ceiling: boto3 SendMessageBatch (10 entries) in a loop, 1 and 4 threads, no HTTP;
2. variants of the app at 1, 16 and 64 concurrent clients, driven by wrk (C, event-driven;
   its CPU use is printed so it can be seen not to be the bottleneck), chosen with --variants:
   `app` (`python -m app`: coalescing into SendMessageBatch, sent by app.sqs.BatchSender),
   `auth` (the same with bearer tokens required: AUTH_ISSUER at a local OIDC issuer,
   local/oidc_issuer.py, and each wrk connection reusing one RS256 token, as a producer does),
   `aiobotocore` (bench/aiobotocore_app.py: the same app sending its batches through
   aiobotocore, in its own environment, see below), `nometrics` (bench/nometrics_app.py: the
   same app with its metric updates turned into no-ops), `notrace` (bench/notrace_app.py: the
   same app without trace propagation; every variant gets a `traceparent` header on every
   request, so app vs notrace is what reading and carrying it costs), `boto3`
   (bench/boto3_app.py: the same app sending its batches through boto3 on threads, i.e. what
   the batching alone buys)
   and `naive` (bench/naive_app.py: one SendMessage per request).
For each: accepted events/s, p50/p99 latency, SQS requests per event (from the app's own
counters), CPU used by the app (split into its event-loop thread and its other threads, per
accepted event: the app sends on its event loop, the naive variant's boto3 calls run on
threads), fauxqs and wrk, and a loss check: every id that got a 202 must be
in the queue.

    .venv/bin/python bench/app_throughput.py [--duration 10] [--clients 1,16,64] [--repeat 1]
        [--variants app,auth,aiobotocore,nometrics,boto3,naive]

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
import resource
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
from local.oidc_issuer import AUDIENCE, SCOPE, Issuer  # noqa: E402
from local.servers import LOCAL_ENV, free_port, local_client  # noqa: E402

VARIANTS = {
    "app": ["-m", "app"],
    "auth": ["-m", "app"],
    "aiobotocore": ["bench/aiobotocore_app.py"],
    "nometrics": ["bench/nometrics_app.py"],
    "notrace": ["bench/notrace_app.py"],
    "boto3": ["bench/boto3_app.py"],
    "naive": ["bench/naive_app.py"],
}
PAD = 64  # bytes of padding in each event's data: a ~130-byte message
# A client's trace context, as a traced producer would send it with every request.
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


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


def run(
    kind: str, clients: int, duration: int, fauxqs: FauxqsServer, sqs: Any, issuer: Issuer | None
) -> dict[str, Any]:
    url = new_queue(sqs, f"{kind}{clients}")
    settings: dict[str, str] = {}
    token = ""
    if kind == "auth":
        assert issuer is not None
        settings = {
            "AUTH_ISSUER": issuer.url,
            "AUTH_AUDIENCE": AUDIENCE,
            "AUTH_REQUIRED_SCOPE": SCOPE,
        }
        token = issuer.mint(exp=int(time.time()) + 3600)
    proc, base = start_variant(kind, fauxqs.endpoint, url, **settings)
    with tempfile.TemporaryDirectory() as tmp:
        prefix = f"{tmp}/ids-"
        before = scrape(base)
        cpu_app, cpu_sqs = cpu_seconds(proc.pid), cpu_seconds(fauxqs_pid(fauxqs))
        cpu_loop = loop_thread_seconds(proc.pid)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        wrk = subprocess.run(
            [
                *("wrk", "-t", str(min(2, clients)), "-c", str(clients), "-d", f"{duration}s"),
                *("--latency", "-s", str(ROOT / "bench" / "wrk_post.lua"), base, "--"),
                *(prefix, str(PAD), TRACEPARENT, token),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_app = cpu_seconds(proc.pid) - cpu_app
        cpu_loop = loop_thread_seconds(proc.pid) - cpu_loop
        cpu_sqs = cpu_seconds(fauxqs_pid(fauxqs)) - cpu_sqs
        after = scrape(base)
        acked = [
            line for p in Path(tmp).glob("ids-*") for line in p.read_text().split("\n") if line
        ]
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    match = re.search(r"^RESULT (.*)$", wrk.stdout, re.MULTILINE)
    assert match, wrk.stdout + wrk.stderr
    result = json.loads(match.group(1))
    seconds = result["duration_us"] / 1e6
    cpu_wrk = (after_children.ru_utime + after_children.ru_stime) - (
        children.ru_utime + children.ru_stime
    )
    in_queue = queue_ids(sqs, url)
    # So that fauxqs does not carry every earlier run's messages into the next one.
    sqs.delete_queue(QueueUrl=url)
    in_queue_set = set(in_queue)
    enqueued = after["enqueued"] - before["enqueued"]
    return {
        "kind": kind,
        "clients": clients,
        "rate": result["accepted"] / seconds,
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "accepted": result["accepted"],
        "refused": result["refused"] + result["socket_errors"],
        "requests_per_event": (after["sqs_requests"] - before["sqs_requests"]) / max(enqueued, 1),
        "cpu_app": cpu_app / seconds,
        "loop_ms_per_event": 1000 * cpu_loop / max(result["accepted"], 1),
        "other_ms_per_event": 1000 * (cpu_app - cpu_loop) / max(result["accepted"], 1),
        "cpu_sqs": cpu_sqs / seconds,
        "cpu_wrk": cpu_wrk / seconds,
        "acked_ids": len(acked),
        "lost": len(set(acked) - in_queue_set),
        "duplicates": len(in_queue) - len(in_queue_set),
    }


def auth_cost(issuer: Issuer, n: int = 400) -> dict[str, float]:
    """Microseconds per Authenticator.authenticate in this process: a reused token (the cache)
    and fresh tokens (full verification) for each key type."""
    import asyncio

    from app.auth import Authenticator

    async def measure() -> dict[str, float]:
        auth = Authenticator(issuer.url, AUDIENCE, SCOPE, refresh_seconds=30)
        await auth.start()
        try:
            reused = [f"Bearer {issuer.mint()}"]
            await auth.authenticate(reused)
            started = time.perf_counter()
            for _ in range(n * 10):
                await auth.authenticate(reused)
            costs = {"reused token": (time.perf_counter() - started) / (n * 10)}
            for kid, alg in (("rsa-1", "RS256"), ("ec-1", "ES256")):
                fresh = [[f"Bearer {issuer.mint(kid, jti=str(i))}"] for i in range(n)]
                started = time.perf_counter()
                for header in fresh:
                    await auth.authenticate(header)
                costs[f"fresh {alg} token"] = (time.perf_counter() - started) / n
            return {k: v * 1e6 for k, v in costs.items()}
        finally:
            await auth.close()

    return asyncio.run(measure())


# (numerator, denominator, what the ratio shows) at the highest concurrency, when both ran.
RATIOS = [
    ("app", "naive", "batching and the sender together"),
    ("boto3", "naive", "batching alone"),
    ("app", "boto3", "the sender on the event loop vs boto3 on threads"),
    ("app", "aiobotocore", "the hand-written sender vs aiobotocore"),
    ("app", "nometrics", "with metrics vs without"),
    ("app", "notrace", "with trace propagation vs without"),
    ("auth", "app", "bearer tokens required vs not"),
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
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    variants = args.variants.split(",")
    if not {"app"} <= set(variants) <= set(VARIANTS):
        parser.error(f"--variants {args.variants!r}: app, and any of {', '.join(VARIANTS)}")
    ensure_tools()
    if "aiobotocore" in variants:
        aiobotocore_app.environment_python()  # made before any timing starts
    issuer = Issuer().start() if "auth" in variants else None
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
        # comparison fair when other work on the machine comes and goes during the run; the
        # order rotates from round to round, so no variant always runs first or after another.
        rows = [
            run(kind, c, args.duration, fauxqs, sqs, issuer)
            for c in clients
            for n in range(args.repeat)
            for kind in variants[n % len(variants) :] + variants[: n % len(variants)]
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
    if "auth" in at_top:
        # Throughput follows the CPU the app gets, which other work on a shared machine takes
        # in bursts; the CPU each event costs it is steadier.
        per_round = [
            a["loop_ms_per_event"] / b["loop_ms_per_event"]
            for a, b in zip(at_top["auth"], at_top["app"], strict=True)
        ]
        print(
            f"auth/app event-loop CPU per event at {top} clients, per round: "
            + ", ".join(f"{x:.2f}" for x in per_round)
            + f" (median {statistics.median(per_round):.2f})"
        )
    apps = at_top["app"]
    app_rate = statistics.median(r["rate"] for r in apps)
    goals = [(f"app/raw ceiling at {top} clients >= 0.5", app_rate / ceiling, 0.5)]
    if ("app", "naive") in medians:
        goals.append((f"app/naive throughput at {top} clients >= 5x", medians["app", "naive"], 5.0))
    if ("app", "aiobotocore") in medians:
        name = f"app/aiobotocore at {top} clients >= 1.3 (else the app should use aiobotocore)"
        goals.append((name, medians["app", "aiobotocore"], 1.3))
    if ("auth", "app") in medians:
        goals.append((f"auth/app at {top} clients >= 0.8", medians["auth", "app"], 0.8))
    if issuer is not None:
        costs = auth_cost(issuer)
        print(
            "bearer token check, per request: "
            + ", ".join(f"{name} {us:.1f} us" for name, us in costs.items())
        )
    print("goals:")
    for name, value, target in goals:
        print(f"  {name}: {value:.2f} -> {'met' if value >= target else 'MISSED'}")
    if ("app", "nometrics") in medians:
        cost = 1 - medians["app", "nometrics"]
        print(
            f"  metrics' cost at {top} clients <= 5% (else drop prometheus_client): "
            f"{cost:.1%} -> {'met' if cost <= 0.05 else 'MISSED'}"
        )
    if ("app", "notrace") in medians:
        kept = medians["app", "notrace"]
        loop_ms = {
            v: statistics.median(r["loop_ms_per_event"] for r in at_top[v])
            for v in ("app", "notrace")
        }
        print(
            f"  trace propagation keeps >= 95% of the throughput at {top} clients: {kept:.1%} -> "
            f"{'met' if kept >= 0.95 else 'MISSED'} (event-loop CPU per event, median: "
            f"{loop_ms['app']:.3f} ms with, {loop_ms['notrace']:.3f} ms without)"
        )
    per_event = max(r["requests_per_event"] for r in apps)
    print(
        f"  SQS requests per event at {top} clients <= 0.2: {per_event:.3f} -> "
        f"{'met' if per_event <= 0.2 else 'MISSED'}"
    )
    lost = sum(r["lost"] for r in rows)
    verdict = "met" if not lost else "MISSED"
    print(f"  nothing lost (every 202'd id in the queue): {lost} lost -> {verdict}")
    if issuer is not None:
        issuer.stop()


if __name__ == "__main__":
    main()
