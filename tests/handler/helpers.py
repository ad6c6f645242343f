"""What the handler tests share: the function's local environment, stand-ins for the side
effect and the log stream, the EMF metrics printed, and events sent to a queue."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from contract import EVENT_ID, Event
from handlers import consumer
from local.servers import LOCAL_ENV


def set_function_env(
    monkeypatch: pytest.MonkeyPatch, dynamodb_endpoint: str, sqs_endpoint: str | None = None
) -> None:
    """Loopback credentials and endpoints, as the function would see them locally."""
    for name, value in LOCAL_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
    if sqs_endpoint is not None:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", sqs_endpoint)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ecr-eks-lambda-test")
    # Metrics read the namespace when the module is imported; the tests set it afterwards.
    monkeypatch.setattr(consumer.metrics, "namespace", "ecr-eks-lambda-test")
    monkeypatch.delenv("AWS_LAMBDA_RUNTIME_API", raising=False)


class Applied:
    """Stands in for the user's side effect: records each applied event id; can fail ids."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.fail_ids: set[str] = set()
        self.hook: Callable[[str], None] | None = None

    def __call__(self, event: Any) -> dict[str, Any]:
        if self.hook is not None:
            self.hook(event.id)
        if event.id in self.fail_ids:
            raise RuntimeError(f"downstream refused {event.id}")
        self.ids.append(event.id)
        return {"applied": event.id}


class Logs:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def with_reason(self, reason: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("reason") == reason]


def emf(stdout: str) -> dict[str, float]:
    """Metric values from the EMF blobs printed to stdout, summed per metric name."""
    totals: dict[str, float] = {}
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        blob = json.loads(line)
        if "_aws" not in blob:
            continue
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                values = value if isinstance(value, list) else [value]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(values)
    return totals


def send_event(sqs: Any, url: str, event_id: str) -> None:
    """A valid event as the app enqueues it: the body and the event-id attribute."""
    sqs.send_message(
        QueueUrl=url,
        MessageBody=Event(id=event_id, type="order.created", data={"n": 1}).to_json(),
        MessageAttributes={EVENT_ID.name: {"DataType": "String", "StringValue": event_id}},
    )
