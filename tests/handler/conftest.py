"""Fixtures: moto (SQS and DynamoDB) and dynalite on 127.0.0.1, the function's environment,
an idempotency table on each DynamoDB stand-in, and recorders for the side effect and logs."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import pytest

from handlers import consumer, events
from local.dynalite import DynaliteServer
from local.idempotency import create_idempotency_table
from local.servers import MotoServer
from tests.handler.helpers import Applied, Logs, set_function_env


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dynalite() -> Iterator[DynaliteServer]:
    server = DynaliteServer().start()
    yield server
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto: MotoServer) -> MotoServer:
    set_function_env(monkeypatch, moto.endpoint, moto.endpoint)
    return moto


@pytest.fixture(params=["moto", "dynalite"])
def dynamodb(
    request: pytest.FixtureRequest, aws_env: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> MotoServer | DynaliteServer:
    """The idempotency table's server. Every test that uses the table runs on both stand-ins
    the loopback stack offers: moto, and dynalite (the end-to-end scenarios' table), which
    serves what Powertools' idempotency needs with the differences tests/handler/
    test_dynalite.py pins down."""
    server: MotoServer | DynaliteServer = request.getfixturevalue(request.param)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", server.endpoint)
    return server


@pytest.fixture
def table(dynamodb: MotoServer | DynaliteServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh idempotency table per test, and a consumer that builds its store from env."""
    name = create_idempotency_table(
        dynamodb.client("dynamodb"),
        f"idem-{uuid.uuid4().hex[:12]}",
        # dynalite has no UpdateTimeToLive (neither server expires items anyway).
        time_to_live=isinstance(dynamodb, MotoServer),
    )
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", name)
    monkeypatch.setattr(consumer, "_idempotency", None)
    return name


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> Applied:
    recorder = Applied()
    monkeypatch.setattr(events, "process_event", recorder)
    return recorder


@pytest.fixture(autouse=True)
def logs(monkeypatch: pytest.MonkeyPatch) -> Logs:
    """The consumer's JSON log lines (Powertools binds its stream when the module loads)."""
    stream = io.StringIO()
    handler = consumer.logger.registered_handler
    assert hasattr(handler, "setStream")
    monkeypatch.setattr(handler, "stream", stream)
    return Logs(stream)
