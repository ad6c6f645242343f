"""End-to-end fixtures: the local stack (local/stack.py) started by each test, HTTP load
through the app, and the ledger of what happened (from the handler's own logs, the DLQ and
the idempotency table)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from local.servers import read_all_messages
from local.stack import LocalSettings, LoopbackStack

# The dev stack's queue settings are sized for AWS (visibility 180 s = 6 x the 30 s function
# timeout, maxReceiveCount 5): a poison message would need 15 minutes to reach the DLQ. The
# tests keep everything else from Pulumi.dev.yaml and override these explicitly. Visibility
# stays above the function timeout, which Lambda itself requires of an SQS event source.
FAST_RETRIES = {
    "visibility_timeout_seconds": 3,
    "function_timeout_seconds": 2,
    "max_receive_count": 3,
}
SETTLE_TIMEOUT_SECONDS = 60.0


@pytest.fixture
def dev_settings() -> LocalSettings:
    return LocalSettings.from_stack("dev")


@pytest.fixture
def fast_settings(dev_settings: LocalSettings) -> LocalSettings:
    return dev_settings.replace(**FAST_RETRIES)


@pytest.fixture
def start_stack(tmp_path: Path) -> Iterator[Callable[..., LoopbackStack]]:
    """Start a LoopbackStack; every one started is closed (all its processes waited for)."""
    started: list[LoopbackStack] = []

    def start(settings: LocalSettings, **kwargs: Any) -> LoopbackStack:
        stack = LoopbackStack(settings, tmp_path / f"stack{len(started)}", **kwargs)
        started.append(stack)
        return stack.start()

    yield start
    for stack in started:
        pids = stack.child_pids()
        stack.close()
        assert [pid for pid in pids if _running(pid)] == []


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def event(event_id: str | None = None, kind: str = "e2e.load") -> dict[str, Any]:
    return {"id": event_id or uuid.uuid4().hex, "type": kind, "data": {"pad": "x" * 64}}


@dataclass
class LoadResult:
    accepted: set[str] = field(default_factory=set)  # ids answered 202 at least once
    statuses: Counter[int] = field(default_factory=Counter)  # every answer, 0 = no answer
    posts: int = 0


class Load:
    """Concurrent HTTP clients posting events through the app. A client retries a refused or
    failed request with the same id (as the contract asks producers to) until a 202 or its
    deadline, so every event ends acknowledged unless the app stays down."""

    def __init__(self, url: str, clients: int = 16, retry_for_seconds: float = 30.0) -> None:
        self.url = url
        self.clients = clients
        self.retry_for_seconds = retry_for_seconds
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def post(self, body: dict[str, Any]) -> bool:
        deadline = time.monotonic() + self.retry_for_seconds
        while True:
            try:
                response = self._session().post(f"{self.url}/events", json=body, timeout=15)
                status = response.status_code
            except requests.RequestException:
                status = 0
                self._local.session = requests.Session()  # the app may have restarted
            with self._lock:
                self.result.posts += 1
                self.result.statuses[status] += 1
                if status == 202:
                    self.result.accepted.add(body["id"])
            if status == 202:
                return True
            if status not in (0, 503) or time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    def run(self, bodies: list[dict[str, Any]]) -> LoadResult:
        with ThreadPoolExecutor(self.clients) as pool:
            list(pool.map(self.post, bodies))
        return self.result


def handler_log(stack: LoopbackStack) -> list[dict[str, Any]]:
    return stack.handler_records()


def applied_counts(stack: LoopbackStack) -> Counter[str]:
    """`event applied` lines per event id: the handler's side effect, counted."""
    lines = handler_log(stack)
    return Counter(str(ln["event_id"]) for ln in lines if ln.get("message") == "event applied")


def failure_reasons(stack: LoopbackStack) -> Counter[str]:
    return Counter(str(line["reason"]) for line in handler_log(stack) if "reason" in line)


read_all = read_all_messages


def dlq_depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def wait_until(
    condition: Callable[[], bool],
    what: str,
    timeout: float = SETTLE_TIMEOUT_SECONDS,
    *,
    progress: Callable[[], int] | None = None,
    stall_seconds: float = 20.0,
    poll_seconds: float = 0.25,
) -> float:
    """Poll `condition` until it holds. Without `progress`, fail after `timeout` seconds. With
    it, keep waiting while `progress()` still grows (a shared 2-core machine can run the
    same work at half speed), failing after `stall_seconds` without growth or `timeout` in
    all; the message says how far it got."""
    started = last_change = time.monotonic()
    seen = progress() if progress else 0
    while not condition():
        now = time.monotonic()
        if progress is not None:
            current = progress()
            if current != seen:
                seen, last_change = current, now
        stalled = progress is not None and now - last_change > stall_seconds
        if stalled or now - started > timeout:
            why = f"no progress for {stall_seconds:.0f} s" if stalled else f"{timeout:.0f} s"
            got = f" (progress: {seen})" if progress is not None else ""
            raise AssertionError(f"not within {why}: {what}{got}")
        time.sleep(poll_seconds)
    return time.monotonic() - started


def completed_ids(stack: LoopbackStack) -> set[str]:
    """Event ids whose idempotency record is COMPLETED (keys are `<prefix>#<md5 of id>`,
    so this counts records, compared by number)."""
    dynamodb = stack.dynamodb()
    ids: set[str] = set()
    kwargs: dict[str, Any] = {"TableName": stack.table_name}
    while True:
        page = dynamodb.scan(**kwargs)
        for item in page["Items"]:
            if item.get("status", {}).get("S") == "COMPLETED":
                ids.add(item["id"]["S"])
        if "LastEvaluatedKey" not in page:
            return ids
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def report(scenario: str, **counts: Any) -> None:
    """One line per scenario with its counts (shown with `pytest -s`; docs/e2e.md has a run)."""
    print(f"\nE2E {scenario}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
