"""The app with boto3's own `send_message_batch` instead of app.sqs.BatchSender.

Everything else is `python -m app` (the same batcher, settings, routes, logs, metrics and
shutdown); the batches go through boto3 on `MAX_CONCURRENT_SENDS` threads, as the app did
before it had its own sender. bench/app_throughput.py runs it as the `boto3` variant to show
what the batching alone buys and what the sender adds. It is also the worked example for a
fork that prefers plain boto3: pass such a sender to `app.main.serve`.

    python bench/boto3_app.py
"""

from __future__ import annotations

import asyncio
import functools
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from app import logs
from app.main import main, serve
from app.settings import Settings
from bench.naive_app import naive_client


class Boto3Sender:
    def __init__(self, client: Any, queue_url: str, threads: int) -> None:
        self._send = functools.partial(client.send_message_batch, QueueUrl=queue_url)
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="sqs-send")

    async def send(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(self._send, Entries=entries)
        )

    async def close(self) -> None:
        self._executor.shutdown(wait=True)


async def run(settings: Settings, log_handler: logs.BufferedHandler) -> None:
    sender = Boto3Sender(naive_client(settings), settings.queue_url, settings.max_concurrent_sends)
    await serve(settings, log_handler, sender)


if __name__ == "__main__":
    main(run)
