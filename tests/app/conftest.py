"""Fixtures: a moto SQS server on 127.0.0.1 and the real app process (`python -m app`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from local.servers import LOCAL_ENV, MotoServer, create_queues, free_port, read_all_messages

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class AppProcess:
    """`python -m app` started as the image starts it, talking HTTP on a free port."""

    proc: subprocess.Popen[str]
    url: str
    log_path: Path
    _closed: bool = field(default=False)

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

    def terminate(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._closed = True

    def kill(self) -> None:
        if not self._closed and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


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
    out = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    app = AppProcess(proc, f"http://127.0.0.1:{env['PORT']}", log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"app exited with {proc.returncode}: {log_path.read_text()}")
        try:
            if requests.get(f"{app.url}/healthz", timeout=1).status_code == 200:
                return app
        except requests.ConnectionError:
            time.sleep(0.05)
    app.kill()
    raise AssertionError(f"app did not start: {log_path.read_text()}")


drain = read_all_messages


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
