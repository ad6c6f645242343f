"""The naive baseline for bench/app_throughput.py: the same app, one SendMessage per request.

Same settings, validation, routes, logging and metrics as `python -m app`; only the
publisher differs: each request makes its own SendMessage call on a pool of 64 threads (so
it is not starved of concurrency at 64 clients). Run: `python bench/naive_app.py`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web

from app import logs, sqs
from app.batcher import SendError
from app.metrics import Metrics
from app.settings import Settings
from app.web import Readiness, create_app
from contract import EVENT_ID_ATTRIBUTE

THREADS = 64


class NaivePublisher:
    def __init__(self, client: Any, queue_url: str, metrics: Metrics) -> None:
        self._client = client
        self._queue_url = queue_url
        self._metrics = metrics
        self._executor = ThreadPoolExecutor(THREADS)

    def _send(self, event_id: str, body: str) -> None:
        self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            MessageAttributes={EVENT_ID_ATTRIBUTE: {"DataType": "String", "StringValue": event_id}},
        )

    async def send(self, event_id: str, body: str) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            await loop.run_in_executor(self._executor, self._send, event_id, body)
        except Exception as exc:
            self._metrics.sqs_requests.inc(1, "error")
            raise SendError(503, "sqs_unavailable", str(exc)) from exc
        self._metrics.send_seconds.observe(time.perf_counter() - started)
        self._metrics.sqs_requests.inc(1, "ok")
        self._metrics.batch_size.observe(1)
        self._metrics.enqueued.inc()


def main() -> None:
    settings = Settings.from_env(os.environ)
    logs.configure(settings.log_level)
    # make_client sizes its connection pool from sender_threads (+1); the naive sender needs 64.
    client = sqs.make_client(dataclasses.replace(settings, sender_threads=THREADS - 1))
    metrics = Metrics()
    publisher = NaivePublisher(client, settings.queue_url, metrics)
    app = create_app(publisher, metrics, Readiness(lambda: sqs.probe(client, settings.queue_url)))
    web.run_app(app, host=settings.host, port=settings.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
