"""Start an SQS/DynamoDB-compatible server on 127.0.0.1 and create the queues like the stack does.

moto's server is used for functional tests and the demo: its SQS semantics (visibility
timeout, ApproximateReceiveCount, redrive to the DLQ, long polling, batch errors) match
AWS. It is O(queue depth) per call, so it is no tool for throughput figures.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from components import limits
from components.config import FunctionConfig

# The queue settings a stack gets when it sets none (the config model's defaults).
_DEFAULTS = FunctionConfig()

# Dummy values for a loopback server only; never used against AWS.
LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def local_client(service: str, endpoint: str, config: Any = None) -> Any:
    """A boto3 client for a loopback server, with the dummy local credentials."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=LOCAL_ENV["AWS_REGION"],
        aws_access_key_id=LOCAL_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_ENV["AWS_SECRET_ACCESS_KEY"],
        config=config,
    )


def stop_process_group(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM the process group `proc` leads (started with start_new_session), SIGKILL it
    after `timeout`, and reap it."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """moto's threaded server on 127.0.0.1; `stop()`/`start()` keep the queues' state."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server: Any = None

    def start(self) -> MotoServer:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self, service: str) -> Any:
        return local_client(service, self.endpoint)


@contextmanager
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Queues:
    url: str
    arn: str
    dlq_url: str
    dlq_arn: str


def create_queues(
    sqs: Any,
    name: str,
    *,
    visibility_timeout_seconds: int = _DEFAULTS.visibility_timeout_seconds,
    max_receive_count: int = _DEFAULTS.max_receive_count,
    receive_wait_time_seconds: int = limits.LONG_POLL_SECONDS,
    message_retention_seconds: int = _DEFAULTS.queue_retention_seconds,
) -> Queues:
    """Create a queue and its DLQ with the same redrive shape the function component gives AWS;
    the settings a stack gets when it sets none, unless given."""
    dlq_url = sqs.create_queue(
        QueueName=f"{name}-dlq",
        Attributes={"MessageRetentionPeriod": str(limits.DLQ_RETENTION_SECONDS)},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout_seconds),
            "ReceiveMessageWaitTimeSeconds": str(receive_wait_time_seconds),
            "MessageRetentionPeriod": str(message_retention_seconds),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
            ),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return Queues(url=url, arn=arn, dlq_url=dlq_url, dlq_arn=dlq_arn)


def read_all_messages(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message now in a queue, with its attributes; each is kept invisible for 10
    minutes, so none is read twice and the queue looks empty afterwards."""
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=600,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)


def queue_depth(sqs: Any, url: str) -> int:
    """Messages in a queue, visible or in flight."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )
