"""The boto3 SQS client and the two calls the app makes with it.

Credentials come from the default chain (EKS Pod Identity or IRSA in the cluster); none are
ever configured here. `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL` are honoured by botocore.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from app.batcher import SendBatch
from app.settings import SQS_CONNECT_TIMEOUT_SECONDS, SQS_READ_TIMEOUT_SECONDS, Settings


def make_client(settings: Settings) -> Any:
    config = Config(
        region_name=settings.region,
        connect_timeout=SQS_CONNECT_TIMEOUT_SECONDS,
        read_timeout=SQS_READ_TIMEOUT_SECONDS,
        # One retry layer only: the batcher retries per entry with backoff and a deadline,
        # which botocore's own retries (whole calls, blind to failed entries) cannot do.
        retries={"mode": "standard", "total_max_attempts": 1},
        # One connection per sender thread, plus one for the readiness probe.
        max_pool_connections=settings.sender_threads + 1,
        tcp_keepalive=True,
        # The entries are built by the batcher from validated events, and SQS validates every
        # request itself; client-side validation would cost ~12% of each call's CPU
        # (bench/app_throughput.py), on the thread that competes with HTTP for the GIL.
        parameter_validation=False,
    )
    return boto3.client("sqs", config=config)


def batch_sender(client: Any, queue_url: str) -> SendBatch:
    def send(entries: list[dict[str, Any]]) -> dict[str, Any]:
        return client.send_message_batch(QueueUrl=queue_url, Entries=entries)

    return send


def probe(client: Any, queue_url: str) -> None:
    """Raise unless the queue answers; needs only sqs:GetQueueAttributes on it."""
    client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
