"""`python -m local.demo` (`make demo`): the whole data path on this machine, until Ctrl-C.

Starts on 127.0.0.1 the SQS and DynamoDB stand-ins, the queue, DLQ and idempotency table
with the settings of a stack (Pulumi.yaml defaults + Pulumi.<stack>.yaml, as `pulumi up`
would apply them), the app, and Lambda's event source invoking the real handler under
awslambdaric. Prints where to send events and how to post a poison message, then what the
app and the handler do, one line each, and the DLQ's depth when it changes (`--fast-redrive`:
a short visibility timeout, so that poison reaches the DLQ within a minute). Ctrl-C or
SIGTERM stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from components.config import ConfigError
from local.servers import LOCAL_ENV
from local.stack import LocalSettings, LoopbackStack

DEFAULT_PORT = 8080
# --fast-redrive: the queue's visibility timeout, so that a poison message reaches the DLQ
# after maxReceiveCount x 5 s instead of the stack's derived timeout (3 min for dev).
FAST_REDRIVE_VISIBILITY_SECONDS = 5
# A body the app would refuse (no event id): the handler fails it on every receive.
POISON_BODY = '{"type": "demo.poison", "data": {"n": 1}}'
DLQ_POLL_SECONDS = 1.0


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def format_line(source: str, line: str) -> str | None:
    """One log line of the app or the handler as one readable line; None to skip it."""
    try:
        obj: Any = json.loads(line)
    except ValueError:
        return f"{source:<7} | {line}"  # a traceback or a runtime message: as is
    if not isinstance(obj, dict):
        return f"{source:<7} | {line}"
    if "_aws" in obj:  # an EMF metrics document
        names = [m["Name"] for d in obj["_aws"].get("CloudWatchMetrics", []) for m in d["Metrics"]]
        values = " ".join(f"{n}={_metric_value(obj.get(n)):g}" for n in names)
        return f"{source:<7} | metrics {values}"
    message = str(obj.get("message", ""))
    if source == "app" and message == "request":
        if obj.get("path") in ("/healthz", "/readyz", "/metrics"):
            return None
        extra = f" id={obj['event_id']}" if "event_id" in obj else ""
        if "event_id" in obj and "trace_id" in obj:
            extra += f" trace_id={obj['trace_id']}"
        error = f" ({obj['error']})" if "error" in obj else ""
        return (
            f"{source:<7} | {obj.get('method')} {obj.get('path')} -> {obj.get('status')}"
            f"{extra}{error} in {obj.get('duration_ms', 0):.1f} ms"
        )
    level = str(obj.get("level", "INFO"))
    keys = (
        "event_id",
        "event_type",
        "trace_id",
        "reason",
        "field",
        "detail",
        "receive_count",
        "duplicate",
    )
    details = " ".join(f"{k}={obj[k]}" for k in keys if k in obj)
    cold = " [cold start]" if obj.get("cold_start") is True else ""
    prefix = "" if level == "INFO" else f"{level} "
    return f"{source:<7} | {prefix}{message} {details}{cold}".rstrip()


def _metric_value(value: Any) -> float:
    # EMF values are a number or a list of numbers (Powertools writes lists).
    if isinstance(value, list):
        return float(sum(v for v in value if isinstance(v, int | float)))
    return float(value) if isinstance(value, int | float) else 0.0


class Tail:
    """The complete lines appended to a file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""

    def lines(self) -> list[str]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data = self.partial + data
        *complete, self.partial = data.split(b"\n")
        return [c.decode(errors="replace") for c in complete if c.strip()]


def poison_command(stack: LoopbackStack) -> str:
    """A shell command that puts a poison message into the local queue: the AWS CLI with the
    local stand-ins' region, endpoint and credentials (not the stack file's region)."""
    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    env = " ".join(f"{k}={shlex.quote(LOCAL_ENV[k])}" for k in keys)
    return (
        f"{env} aws sqs send-message --region {LOCAL_ENV['AWS_REGION']} \\\n"
        f"       --endpoint-url {stack.sqs_endpoint} --queue-url {stack.queues.url} \\\n"
        f"       --message-body {shlex.quote(POISON_BODY)}"
    )


def redrive_note(stack: LoopbackStack, fast: bool) -> str:
    s = stack.settings

    def after(visibility: int) -> str:
        seconds = s.max_receive_count * visibility
        return f"{seconds} s" if seconds < 120 else f"{seconds / 60:.0f} min"

    how = (
        "(--fast-redrive; the stack's own is longer)"
        if fast
        else f"(for {after(FAST_REDRIVE_VISIBILITY_SECONDS)}: make demo DEMO_ARGS=--fast-redrive)"
    )
    return (
        f"The handler fails it on every receive; SQS moves it to the DLQ after maxReceiveCount\n"
        f"({s.max_receive_count}) receives, {s.visibility_timeout_seconds} s apart: about "
        f"{after(s.visibility_timeout_seconds)} {how}."
    )


class DlqWatch:
    """Says when the DLQ's depth changes (SQS's approximate count, polled)."""

    def __init__(self, stack: LoopbackStack) -> None:
        self.stack = stack
        self.depth = 0
        self.next_poll = 0.0

    def poll(self) -> str | None:
        now = time.monotonic()
        if now < self.next_poll:
            return None
        self.next_poll = now + DLQ_POLL_SECONDS
        try:
            attributes = self.stack.sqs().get_queue_attributes(
                QueueUrl=self.stack.queues.dlq_url,
                AttributeNames=["ApproximateNumberOfMessages"],
            )["Attributes"]
        except (BotoCoreError, ClientError):
            return None  # shown once SQS answers again
        depth = int(attributes["ApproximateNumberOfMessages"])
        if depth == self.depth:
            return None
        self.depth = depth
        return f"{'dlq':<7} | {depth} message(s) in the dead-letter queue"


def banner(stack: LoopbackStack, fast_redrive: bool = False) -> str:
    s = stack.settings
    url = stack.app_url
    return f"""
Local data path is up (stack config: Pulumi.yaml + Pulumi.{s.stack}.yaml), all on 127.0.0.1:
  app          {url}   (POST /events, GET /healthz /readyz /openapi.json /metrics)
  SQS          {stack.sqs_endpoint} ({stack.sqs_backend})
    queue      {stack.queues.url}
    DLQ        {stack.queues.dlq_url}
  DynamoDB     {stack.dynamodb_server.endpoint}  table {stack.table_name}
  event source {s.max_concurrency} poller(s), batch {s.batch_size}, window \
{s.batching_window_seconds} s, function timeout {s.function_timeout_seconds} s, \
handler {stack.handler} under awslambdaric
  queue        visibility {s.visibility_timeout_seconds} s, maxReceiveCount \
{s.max_receive_count}, long poll {s.receive_wait_time_seconds} s
  logs         {stack.app_log_path}
               {stack.handler_log_path}

Send an event:
  curl -sS -X POST {url}/events -H 'Content-Type: application/json' \\
       -d '{{"type": "demo.hello", "data": {{"n": 1}}}}'

Send a poison message (one the app would refuse) straight into the queue, with the AWS CLI:
  {poison_command(stack)}
{redrive_note(stack, fast_redrive)}

Press Ctrl-C to stop everything.
"""


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__)
    parser.add_argument("--stack", default="dev", help="stack whose config to use (default dev)")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"app port on 127.0.0.1 (default {DEFAULT_PORT}, or a free one if it is taken)",
    )
    parser.add_argument(
        "--sqs",
        choices=("moto", "fauxqs"),
        default="moto",
        help="SQS-compatible server (fauxqs needs scripts/need-e2e; default moto)",
    )
    parser.add_argument(
        "--fast-redrive",
        action="store_true",
        help=f"a {FAST_REDRIVE_VISIBILITY_SECONDS} s visibility timeout, so that a poison "
        "message reaches the DLQ within a minute",
    )
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        settings = LocalSettings.from_stack(args.stack)
    except ConfigError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    if args.fast_redrive:
        settings = settings.replace(visibility_timeout_seconds=FAST_REDRIVE_VISIBILITY_SECONDS)
    port = args.port
    if port is None:
        port = DEFAULT_PORT if _port_free(DEFAULT_PORT) else 0
    workdir = Path(tempfile.mkdtemp(prefix="ecr-eks-lambda-demo-"))
    stack = LoopbackStack(settings, workdir, sqs_backend=args.sqs, app_port=port or None)
    print("starting the local stack ...", file=out, flush=True)
    try:
        stack.start()
        print(banner(stack, args.fast_redrive), file=out, flush=True)
        tails = [("app", Tail(stack.app_log_path)), ("handler", Tail(stack.handler_log_path))]
        dlq = DlqWatch(stack)
        while not stop.wait(0.2):
            for source, tail in tails:
                for line in tail.lines():
                    text = format_line(source, line)
                    if text is not None:
                        print(text, file=out, flush=True)
            if (depth := dlq.poll()) is not None:
                print(depth, file=out, flush=True)
    finally:
        print("stopping ...", file=out, flush=True)
        stack.close()
        print("stopped: app, pollers, function processes and servers", file=out, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
