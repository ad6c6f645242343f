"""The real app process (`python -m app`) for the tests: started as the image starts it, with
HTTP and log helpers."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

import local.stack
from local.servers import LOCAL_ENV, MotoServer, create_queues, free_port, read_all_messages

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


class AppProcess(local.stack.AppProcess):
    """local.stack's app process plus the HTTP and log helpers the tests use."""

    def post(self, body: Any, **kwargs: Any) -> requests.Response:
        return requests.post(f"{self.url}/events", json=body, timeout=30, **kwargs)

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.url}{path}", timeout=10)

    def logs(self) -> list[dict[str, Any]]:
        lines = self.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def log_line(self, **fields: Any) -> dict[str, Any]:
        """The first log line with these fields; the app flushes its log every 0.2 s."""
        deadline = time.monotonic() + 3
        while True:
            for line in self.logs():
                if all(line.get(k) == v for k, v in fields.items()):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line with {fields}: {self.log_path.read_text()}")
            time.sleep(0.05)


def app_env(queue_url: str, endpoint: str, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "QUEUE_URL"))}
    env.update(LOCAL_ENV)
    env.update(
        QUEUE_URL=queue_url,
        AWS_ENDPOINT_URL_SQS=endpoint,
        HOST="127.0.0.1",
        PORT=str(free_port()),
        SHUTDOWN_DELAY_SECONDS="0",
    )
    env.update(overrides)
    return env


def start_app(
    env: dict[str, str], log_path: Path, timeout: float = 20, args: tuple[str, ...] = ("-m", "app")
) -> AppProcess:
    """The app (or, with `args`, a benchmark variant of it) started as the image starts it."""
    app = AppProcess(env, log_path, args)
    try:
        app.wait_healthy(timeout)
    except RuntimeError as exc:
        raise AssertionError(f"{exc}: {log_path.read_text()}") from None
    return app


drain = read_all_messages


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end on a new loop. Not asyncio.run: it leaves the main thread
    with no current loop, which breaks the Pulumi mock tests (they use the thread's current
    loop) when they run later in the same worker."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def serve_app(
    moto: MotoServer, tmp_path_factory: pytest.TempPathFactory, name: str, **settings: str
) -> Iterator[tuple[AppProcess, Any, str]]:
    """A module fixture's body: the app with these settings on its own queue, killed after."""
    sqs = moto.client("sqs")
    url = create_queues(sqs, f"{name}-{free_port()}").url
    app = start_app(
        app_env(url, moto.endpoint, **settings), tmp_path_factory.mktemp(name) / "app.log"
    )
    try:
        yield app, sqs, url
    finally:
        app.kill()
