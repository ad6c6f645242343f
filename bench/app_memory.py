"""Memory of one app process (`python -m app`): resident set idle, and its peak under load.

What `appMemory` (the pod's memory request and limit) must cover. The app runs against fauxqs
on 127.0.0.1 (as bench/app_throughput.py does), driven by wrk at the given concurrencies; the
peak is the kernel's high-water mark (VmHWM), so no spike between samples is missed. Under
overload the app refuses events beyond its pending limit (MAX_PENDING_EVENTS, default 2000)
rather than buffering them, so memory stays bounded however hard it is driven.

    .venv/bin/python bench/app_memory.py [--duration 10] [--clients 64,256] [--pad 64]
        [--sends 8]

`--pad 200000 --sends 1` is the worst case: events near SQS's 256 KiB limit (one per
SendMessageBatch) sent one call at a time, so the pending queue fills to its limit.
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from app_throughput import PAD, ensure_tools, new_queue, sqs_client, start_variant  # noqa: E402

from local.fauxqs import FauxqsServer  # noqa: E402


def status_kib(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB$", text, re.MULTILINE)
    assert match, f"{field} missing from /proc/{pid}/status"
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description="Resident memory of the app, idle and loaded.")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--clients", default="64,256", help="comma-separated concurrencies")
    parser.add_argument("--pad", type=int, default=PAD, help="bytes of padding per event")
    parser.add_argument("--sends", type=int, default=8, help="MAX_CONCURRENT_SENDS of the app")
    args = parser.parse_args()
    ensure_tools()
    fauxqs = FauxqsServer().start()
    proc: subprocess.Popen[bytes] | None = None
    try:
        sqs = sqs_client(fauxqs.endpoint)
        proc, base = start_variant(
            "app", fauxqs.endpoint, new_queue(sqs, "memory"), MAX_CONCURRENT_SENDS=str(args.sends)
        )
        print(f"idle after start: VmRSS {status_kib(proc.pid, 'VmRSS') / 1024:.1f} MiB")
        for clients in (int(c) for c in args.clients.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                subprocess.run(
                    [
                        *("wrk", "-t", "2", "-c", str(clients), "-d", f"{args.duration}s"),
                        *("-s", str(ROOT / "bench" / "wrk_post.lua"), base, "--"),
                        *(f"{tmp}/ids-", str(args.pad)),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                accepted = sum(len(p.read_text().split()) for p in Path(tmp).glob("ids-*"))
            print(
                f"{clients:>4} clients, {args.duration} s, {args.pad}-byte pad: "
                f"{accepted / args.duration:,.0f} events/s accepted; "
                f"VmRSS after {status_kib(proc.pid, 'VmRSS') / 1024:.1f} MiB, "
                f"peak so far (VmHWM) {status_kib(proc.pid, 'VmHWM') / 1024:.1f} MiB"
            )
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        fauxqs.stop()


if __name__ == "__main__":
    main()
