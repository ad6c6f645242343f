"""`python -m local.demo` as a newcomer runs it: up, an event over HTTP shown as handled,
then SIGINT (Ctrl-C) or SIGTERM stops every process it started."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from local.servers import LOCAL_ENV, free_port
from local.stack import LocalSettings

ROOT = Path(__file__).resolve().parents[2]


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (children of children included)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Demo:
    def __init__(self, port: int, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(LOCAL_ENV, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "local.demo", "--port", str(port), *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # the finalizer can kill the whole group
        )
        self.lines: list[str] = []
        self.children: set[int] = set()  # recorded by the test while the demo runs
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = re.search(pattern, line)
                if match:
                    return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r}; output:\n" + "\n".join(self.lines))


@pytest.fixture
def run_demo() -> Iterator[type[Demo]]:
    started: list[Demo] = []

    class Tracked(Demo):
        def __init__(self, port: int, *args: str) -> None:
            super().__init__(port, *args)
            started.append(self)

    yield Tracked
    for demo in started:
        # A backstop only: the test itself stops the demo gracefully.
        for pid in (demo.children | descendants(demo.proc.pid)) - {demo.proc.pid}:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if demo.proc.poll() is None:
            os.killpg(demo.proc.pid, signal.SIGKILL)
        demo.proc.wait(10)


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.timeout(60)
def test_demo_shows_an_event_handled_and_stops_everything(
    run_demo: type[Demo], stop_signal: signal.Signals
) -> None:
    port = free_port()
    demo = run_demo(port)
    demo.wait_for(r"Press Ctrl-C to stop everything", 40)
    curl = demo.wait_for(r"curl -sS -X POST (http://127\.0\.0\.1:\d+)/events", 1)
    assert curl.group(1) == f"http://127.0.0.1:{port}"
    dev = LocalSettings.from_stack("dev")  # what the demo must have used
    shown = (
        f"visibility {dev.visibility_timeout_seconds} s, maxReceiveCount {dev.max_receive_count}"
    )
    assert shown in "\n".join(demo.lines)

    event_id = f"demo-{uuid.uuid4().hex[:12]}"
    response = requests.post(
        f"{curl.group(1)}/events",
        json={"id": event_id, "type": "demo.hello", "data": {"n": 1}},
        headers={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
        timeout=10,
    )
    assert response.status_code == 202
    trace_id = "1-4bf92f35-77b34da6a3ce929d0e0e4736"
    assert response.json()["trace_id"] == trace_id
    # Each accepted event's trace id, on the app's line and on the handler's.
    demo.wait_for(
        rf"handler \| event applied event_id={event_id} event_type=demo\.hello "
        rf"trace_id={trace_id}",
        30,
    )
    demo.wait_for(rf"app +\| POST /events -> 202 id={event_id} trace_id={trace_id} in ", 5)
    # Without a trace header, a new trace: the line shows the one the 202 named.
    fresh = requests.post(
        f"{curl.group(1)}/events", json={"type": "demo.hello", "data": {"n": 2}}, timeout=10
    ).json()
    demo.wait_for(
        rf"handler \| event applied event_id={fresh['id']} .*trace_id={fresh['trace_id']}", 30
    )

    children = demo.children = descendants(demo.proc.pid)
    # The app, moto's DynamoDB process and one function process per poller that got work.
    assert len(children) >= 3, children
    demo.proc.send_signal(stop_signal)
    assert demo.proc.wait(30) == 0
    demo.wait_for(r"^stopped: ", 1)
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in children if alive(pid)] == []


# The AWS CLI's `sqs send-message`, through boto3: region, endpoint and credentials only from
# the command line and the environment the pasted line gives it.
FAKE_AWS = f"""#!{sys.executable}
import argparse, boto3, json
parser = argparse.ArgumentParser()
for name in ("service", "operation"):
    parser.add_argument(name)
for option in ("--region", "--endpoint-url", "--queue-url", "--message-body"):
    parser.add_argument(option, required=True)
args = parser.parse_args()
assert (args.service, args.operation) == ("sqs", "send-message")
sqs = boto3.client("sqs", region_name=args.region, endpoint_url=args.endpoint_url)
sent = sqs.send_message(QueueUrl=args.queue_url, MessageBody=args.message_body)
print(json.dumps({{"MessageId": sent["MessageId"]}}))
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_printed_poison_command_fills_the_dlq_within_a_minute_with_fast_redrive(
    run_demo: type[Demo], tmp_path: Path
) -> None:
    demo = run_demo(free_port(), "--fast-redrive")
    demo.wait_for(r"Press Ctrl-C to stop everything", 40)
    dev = LocalSettings.from_stack("dev")
    out = "\n".join(demo.lines)
    assert f"visibility 5 s, maxReceiveCount {dev.max_receive_count}" in out
    assert (
        f"({dev.max_receive_count}) receives, 5 s apart: about {dev.max_receive_count * 5} s"
        in (out)
    )
    start = next(i for i, line in enumerate(demo.lines) if " aws sqs send-message " in line)
    command = "\n".join(demo.lines[start : start + 3])
    assert command.startswith("  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws ")

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(FAKE_AWS)
    (bin_dir / "aws").chmod(0o755)
    # A user's shell: none of the local stand-ins' settings, a stack file's region at most.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", AWS_DEFAULT_REGION="eu-west-1")
    sent = subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert sent.returncode == 0, sent.stderr
    assert "MessageId" in sent.stdout

    started = time.monotonic()
    demo.wait_for(r"handler \| WARNING invalid event: .* reason=invalid_event field=id", 20)
    demo.wait_for(r"^dlq +\| 1 message\(s\) in the dead-letter queue$", 60)
    assert time.monotonic() - started < 60
    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(30) == 0


def test_log_lines_are_shown_readably() -> None:
    from local.demo import format_line

    applied = (
        '{"level":"INFO","message":"event applied","event_id":"e-1","event_type":"a.b",'
        '"cold_start":true,"function_request_id":"r"}'
    )
    assert format_line("handler", applied) == (
        "handler | event applied event_id=e-1 event_type=a.b [cold start]"
    )
    failed = (
        '{"level":"WARNING","message":"record failed","event_id":"p","reason":"invalid_event",'
        '"field":"type","receive_count":2,"cold_start":false}'
    )
    assert format_line("handler", failed) == (
        "handler | WARNING record failed event_id=p reason=invalid_event field=type receive_count=2"
    )
    emf = (
        '{"_aws":{"CloudWatchMetrics":[{"Metrics":[{"Name":"ProcessedRecords"},'
        '{"Name":"FailedRecords"}]}]},"ProcessedRecords":[10.0],"FailedRecords":[0.0]}'
    )
    assert format_line("handler", emf) == "handler | metrics ProcessedRecords=10 FailedRecords=0"
    request = (
        '{"message":"request","method":"POST","path":"/events","status":503,'
        '"duration_ms":1.25,"event_id":"x","error":"queue unavailable"}'
    )
    assert format_line("app", request) == (
        "app     | POST /events -> 503 id=x (queue unavailable) in 1.2 ms"
    )
    assert format_line("app", '{"message":"request","path":"/readyz","status":200}') is None
    assert format_line("handler", "Traceback (most recent call last):") == (
        "handler | Traceback (most recent call last):"
    )


def test_the_log_tail_returns_only_complete_new_lines(tmp_path: Path) -> None:
    from local.demo import Tail

    path = tmp_path / "log"
    tail = Tail(path)
    assert tail.lines() == []  # not created yet
    path.write_bytes(b"one\ntw")
    assert tail.lines() == ["one"]
    with path.open("ab") as f:
        f.write(b"o\nthree\n")
    assert tail.lines() == ["two", "three"]
    assert tail.lines() == []
