"""What the tests of the app's SendMessageBatch call share (tests/app/test_sqs.py, and
tests/app/test_tracing.py for the trace on the wire): the request boto3 itself sends, and a
loopback server that answers as SQS does and records what it received."""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import boto3.session
from aiohttp import web
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config

from app.settings import Settings
from local.servers import free_port

KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ACCOUNT_QUEUE = "123456789012/events"


def settings(region: str, queue_url: str) -> Settings:
    return Settings.from_env({"QUEUE_URL": queue_url, "AWS_REGION": region})


def run(make: Callable[[], Awaitable[Any]]) -> Any:
    # Not asyncio.run: it leaves the main thread with no current loop, which the Pulumi mock
    # tests (run later in the same process) rely on.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(make())
    finally:
        loop.close()


def boto3_request(region: str, queue_url: str, entries: list[dict[str, Any]]) -> AWSRequest:
    """The request boto3 itself sends for send_message_batch(entries), captured unsent."""
    client = boto3.session.Session(region_name=region).client(
        "sqs", config=Config(retries={"total_max_attempts": 1})
    )
    seen: list[Any] = []

    def capture(request: Any, **_: Any) -> AWSResponse:
        seen.append(request)
        return AWSResponse(request.url, 200, {}, RawBody(b"{}"))

    client.meta.events.register("before-send.sqs.SendMessageBatch", capture)
    client.send_message_batch(QueueUrl=queue_url, Entries=entries)
    return seen[0]


class RawBody:
    def __init__(self, content: bytes) -> None:
        self.content = content

    def stream(self, **_: Any) -> Any:
        yield self.content


SEEN = web.AppKey("seen", list)


async def serve(
    handler: Any, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, int, list[Any]]:
    """A loopback server for POST /; returns its runner, port and the requests it saw."""
    app = web.Application()
    app[SEEN] = []
    app.router.add_post("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ssl_context).start()
    return runner, port, app[SEEN]


def accepted(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Successful": [
            {
                "Id": e["Id"],
                "MessageId": f"m-{e['Id']}",
                "MD5OfMessageBody": hashlib.md5(e["MessageBody"].encode()).hexdigest(),
            }
            for e in entries
        ]
    }


async def sqs_like(request: web.Request) -> web.Response:
    request.app[SEEN].append(
        (request.method, request.path_qs, dict(request.headers), await request.read())
    )
    entries = json.loads(await request.read())["Entries"]
    return web.json_response(accepted(entries), content_type="application/x-amz-json-1.0")
