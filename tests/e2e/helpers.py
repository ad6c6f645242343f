"""The end-to-end scenarios' tools: HTTP load through the app, poison sent past it, and the
ledger of what happened (from the handler's own logs, the DLQ and the idempotency table)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from local.servers import read_all_messages
from local.stack import LocalSettings, LoopbackStack


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


def inject_poison(stack: LoopbackStack) -> dict[str, str]:
    """Messages no handler can ever apply, sent straight to the queue (past the app's
    validation): body -> the event_id attribute it carries."""
    sqs = stack.sqs()
    poison = {
        "not json at all": "poison-not-json",
        json.dumps({"id": "poison-schema", "type": "Not.Valid", "data": {}}): "poison-schema",
        json.dumps({"type": "e2e.no-id", "data": {}}): "poison-no-id",
    }
    for body, event_id in poison.items():
        sqs.send_message(
            QueueUrl=stack.queues.url,
            MessageBody=body,
            MessageAttributes={"event_id": {"DataType": "String", "StringValue": event_id}},
        )
    return poison


def redrive(sqs: Any, dlq_url: str, url: str) -> int:
    """Move every message from the DLQ back to its source queue, body and message attributes
    kept, as SQS's dead-letter queue redrive (StartMessageMoveTask) does; neither local server
    has that action. Returns how many were moved."""
    moved = 0
    for message in read_all_messages(sqs, dlq_url):
        attributes = {
            name: {"DataType": value["DataType"], "StringValue": value["StringValue"]}
            for name, value in message.get("MessageAttributes", {}).items()
        }
        sqs.send_message(QueueUrl=url, MessageBody=message["Body"], MessageAttributes=attributes)
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
        moved += 1
    return moved


def start_faulty_stack(
    start_stack: Callable[..., LoopbackStack],
    settings: LocalSettings,
    fault_dir: Path,
    **faults: str,
) -> LoopbackStack:
    """A stack on fauxqs and dynalite whose handler is tests/e2e/faulty_handler.py, with these
    `FAULT_*` settings and its marker files in `fault_dir` (made here)."""
    fault_dir.mkdir()
    return start_stack(
        settings,
        sqs_backend="fauxqs",
        dynamodb_backend="dynalite",
        handler="tests.e2e.faulty_handler.handler",
        function_env={"FAULT_DIR": str(fault_dir), **faults},
    )
