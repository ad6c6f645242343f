"""Fixtures: a moto SQS server on 127.0.0.1 and a fresh queue per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from local.servers import MotoServer, create_queues, free_port
from tests.app.sqs_wire import KEY, SECRET


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sqs(moto: MotoServer) -> Any:
    return moto.client("sqs")


@pytest.fixture
def queue_url(sqs: Any, request: pytest.FixtureRequest) -> str:
    name = request.node.name.replace("[", "-").replace("]", "")[:60] + f"-{free_port()}"
    return create_queues(sqs, "".join(c if c.isalnum() or c in "-_" else "-" for c in name)).url


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Only the AWS settings a test sets: none of this machine's (it sets AWS_CA_BUNDLE)."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name.lower() in ("http_proxy", "https_proxy", "no_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    return monkeypatch
