"""The app with aiobotocore's `send_message_batch` instead of app.sqs.BatchSender.

Everything else is `python -m app` (the same batcher, settings, routes, logs, metrics and
shutdown); the batches go through aiobotocore's SQS client on the app's event loop: botocore's
serialiser, signer, parser and event hooks, with aiohttp underneath, and no threads.
bench/app_throughput.py runs it as the `aiobotocore` variant, the library the hand-written
sender has to beat (docs/app.md).

aiobotocore pins botocore narrowly, below the lock's, so this runs in its own environment,
.cache/bench/aiobotocore/: app/requirements.txt, then bench/aiobotocore-env/requirements.txt
over it (aiobotocore and the botocore it allows), installed hash-checked with the pinned uv.
Started from any other interpreter, it makes that environment when missing or stale and
re-executes itself there:

    .venv/bin/python bench/aiobotocore_app.py
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from app import logs
from app.main import main, serve
from app.settings import SQS_CONNECT_TIMEOUT_SECONDS, SQS_READ_TIMEOUT_SECONDS, Settings

ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENT = ROOT / ".cache" / "bench" / "aiobotocore"
REQUIREMENTS = (
    ROOT / "app" / "requirements.txt",
    ROOT / "bench" / "aiobotocore-env" / "requirements.txt",
)


def environment_python() -> str:
    """The interpreter of this variant's environment, made first when missing or stale."""
    uv = str(ROOT / ".tools" / "bin" / "uv")
    wanted = hashlib.sha256(b"\0".join(f.read_bytes() for f in REQUIREMENTS)).hexdigest()
    python, stamp = ENVIRONMENT / "bin" / "python", ENVIRONMENT / "requirements.sha256"
    if stamp.exists() and stamp.read_text() == wanted:
        return str(python)
    venv = [uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(ENVIRONMENT)]
    subprocess.run(venv, check=True)
    install = [uv, "pip", "install", "--quiet", "--python", str(python), "--require-hashes"]
    for requirements in REQUIREMENTS:  # the second replaces the botocore of the first
        subprocess.run([*install, "--no-deps", "-r", str(requirements)], check=True)
    subprocess.run([uv, "pip", "check", "--quiet", "--python", str(python)], check=True)
    stamp.write_text(wanted)
    return str(python)


class AiobotocoreSender:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    async def send(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        return await self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)

    async def close(self) -> None:
        """Nothing to do: the client closes when `run`'s `async with` ends."""


async def run(settings: Settings, log_handler: logs.BufferedHandler) -> None:
    # Only this variant's environment has aiobotocore (and pyright's .venv does not).
    from aiobotocore.config import AioConfig  # pyright: ignore[reportMissingImports]
    from aiobotocore.session import get_session  # pyright: ignore[reportMissingImports]

    # The configuration of the boto3 variants' client (bench/naive_app.py): the same
    # timeouts, one retry layer (the batcher's), client-side validation off.
    config = AioConfig(
        region_name=settings.region,
        connect_timeout=SQS_CONNECT_TIMEOUT_SECONDS,
        read_timeout=SQS_READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=settings.max_concurrent_sends,
        tcp_keepalive=True,
        parameter_validation=False,
    )
    async with get_session().create_client("sqs", config=config) as client:
        await serve(settings, log_handler, AiobotocoreSender(client, settings.queue_url))


if __name__ == "__main__":
    if Path(sys.prefix).resolve() != ENVIRONMENT.resolve():
        python = environment_python()
        os.execv(python, [python, __file__, *sys.argv[1:]])
    main(run)
