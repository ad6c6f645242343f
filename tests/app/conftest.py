"""Fixtures: a moto SQS server on 127.0.0.1 and a fresh queue per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local.servers import MotoServer, create_queues, free_port


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
