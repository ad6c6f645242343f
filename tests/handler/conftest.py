from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from handlers import consumer, events
from local.idempotency import create_idempotency_table
from local.servers import LOCAL_ENV, MotoServer


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


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


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto: MotoServer) -> MotoServer:
    set_function_env(monkeypatch, moto.endpoint, moto.endpoint)
    return moto


@pytest.fixture
def table(aws_env: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh idempotency table per test, and a consumer that builds its store from env."""
    name = create_idempotency_table(aws_env.client("dynamodb"), f"idem-{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", name)
    monkeypatch.setattr(consumer, "_idempotency", None)
    return name


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


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> Applied:
    recorder = Applied()
    monkeypatch.setattr(events, "process_event", recorder)
    return recorder


class Logs:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def with_reason(self, reason: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("reason") == reason]


@pytest.fixture(autouse=True)
def logs(monkeypatch: pytest.MonkeyPatch) -> Logs:
    """The consumer's JSON log lines (Powertools binds its stream when the module loads)."""
    stream = io.StringIO()
    handler = consumer.logger.registered_handler
    assert hasattr(handler, "setStream")
    monkeypatch.setattr(handler, "stream", stream)
    return Logs(stream)


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
