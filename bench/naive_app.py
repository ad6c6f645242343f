"""The naive baseline for bench/app_throughput.py: the same app, one SendMessage per request.

Same settings, validation, routes, logging and metrics as `python -m app`; only the
publisher differs: each request makes its own SendMessage call on a pool of 64 threads (so
it is not starved of concurrency at 64 clients). Run: `python bench/naive_app.py`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3
import uvloop
from aiohttp import web
from botocore.config import Config

from app import logs, sqs
from app.batcher import SendError
from app.metrics import Metrics
from app.settings import SQS_CONNECT_TIMEOUT_SECONDS, SQS_READ_TIMEOUT_SECONDS, Settings
from app.web import Readiness, create_app
from contract import Message

THREADS = 64


class NaivePublisher:
    def __init__(self, client: Any, queue_url: str, metrics: Metrics) -> None:
        self._client = client
        self._queue_url = queue_url
        self._metrics = metrics
        self._executor = ThreadPoolExecutor(THREADS)

    def _send(self, message: Message) -> None:
        self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=message.body,
            MessageAttributes=message.attributes,
        )

    async def send(self, message: Message) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            await loop.run_in_executor(self._executor, self._send, message)
        except Exception as exc:
            self._metrics.sqs_requests.labels("error").inc()
            raise SendError(503, "sqs_unavailable", str(exc)) from exc
        self._metrics.send_seconds.observe(time.perf_counter() - started)
        self._metrics.sqs_requests.labels("ok").inc()
        self._metrics.batch_size.observe(1)
        self._metrics.enqueued.inc()


def naive_client(settings: Settings) -> Any:
    """boto3's client as the app configured it before it had its own batch sender: the same
    timeouts and single retry layer, client-side validation off, a connection per thread."""
    config = Config(
        region_name=settings.region,
        connect_timeout=SQS_CONNECT_TIMEOUT_SECONDS,
        read_timeout=SQS_READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=THREADS,
        tcp_keepalive=True,
        parameter_validation=False,
    )
    return boto3.client("sqs", config=config)


def main() -> None:
    settings = Settings.from_env(os.environ)
    logs.configure(settings.log_level)
    client = naive_client(settings)
    metrics = Metrics()
    publisher = NaivePublisher(client, settings.queue_url, metrics)
    app = create_app(publisher, metrics, Readiness(lambda: sqs.probe(client, settings.queue_url)))
    # The same event loop as the app, so only the publisher differs.
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
