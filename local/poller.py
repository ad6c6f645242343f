"""An event-source runner that behaves like Lambda's SQS poller (event source mapping).

It long-polls a batch with all system and message attributes, builds the exact `aws:sqs`
event Lambda builds, invokes the function through a pluggable `Invoker`, and then does what
the event source mapping does with the result:
- the invocation failed (function error, timeout, crash, unparseable response): nothing is
  deleted, the whole batch comes back after the visibility timeout;
- with ReportBatchItemFailures: a response naming an unknown, empty or null itemIdentifier
  (or malformed otherwise) fails the whole batch; a null/empty response or an empty/null
  `batchItemFailures` is complete success; otherwise every message except the reported
  ones is deleted;
- without it: the response is ignored and the whole batch is deleted.
Messages left undeleted reappear after the visibility timeout, and the queue's own redrive
policy moves them to the DLQ after maxReceiveCount receives.
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html

Receive and delete errors (ClientError and BotoCoreError alike, e.g. a closed connection
while the server restarts) are logged and retried with a bounded backoff; the runner stops
only when asked to.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from local.lambda_context import LocalLambdaContext

log = logging.getLogger(__name__)

# The system attributes Lambda passes in `attributes` (the rest of ReceiveMessage's are
# not part of the event).
EVENT_SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "AWSTraceHeader",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "DeadLetterQueueSourceArn",
)
SQS_MAX_PER_CALL = 10


@dataclass(frozen=True)
class Invocation:
    """What came back from one invocation. `ok=False`: function error, timeout or crash."""

    ok: bool
    response: Any = None
    error: str | None = None


class Invoker(Protocol):
    def __call__(self, event: dict[str, Any], timeout_seconds: float) -> Invocation: ...


def in_process_invoker(
    handler: Callable[[dict[str, Any], Any], Any], *, function_name: str = "local-consumer"
) -> Invoker:
    """Call `handler` in this process (tests). A raised exception is a function error; the
    response goes through JSON as Lambda's would. A timeout cannot pre-empt the handler
    here, but an overrun still fails the batch (use the Runtime API invoker for real
    timeouts and crashes)."""

    def invoke(event: dict[str, Any], timeout_seconds: float) -> Invocation:
        context = LocalLambdaContext(function_name=function_name, timeout_seconds=timeout_seconds)
        started = time.monotonic()
        try:
            response = handler(event, context)
            payload = json.loads(json.dumps(response))
        except Exception as exc:
            return Invocation(ok=False, error="".join(traceback.format_exception_only(exc)))
        if time.monotonic() - started > timeout_seconds:
            return Invocation(ok=False, error=f"Task timed out after {timeout_seconds:.2f} seconds")
        return Invocation(ok=True, response=payload)

    return invoke


def to_lambda_record(message: dict[str, Any], *, queue_arn: str, region: str) -> dict[str, Any]:
    """One ReceiveMessage message (boto3 shape) as the record Lambda puts in the event."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            name: str(value)
            for name, value in message.get("Attributes", {}).items()
            if name in EVENT_SYSTEM_ATTRIBUTES
        },
        "messageAttributes": {
            name: _lambda_message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    # Lambda's event uses camelCase keys, always lists the two list fields, and carries
    # binary values base64-encoded (boto3 hands them over decoded).
    out: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [_b64(b) for b in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = _b64(value["BinaryValue"])
    return out


def _b64(raw: bytes | str) -> str:
    return base64.b64encode(raw if isinstance(raw, bytes) else raw.encode()).decode()


def failed_message_ids(response: Any, batch_ids: set[str]) -> set[str] | None:
    """The ids a ReportBatchItemFailures response asks to retry; None = the whole batch."""
    if response is None or response == {}:
        return set()
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    ids: set[str] = set()
    for item in failures:
        if not isinstance(item, dict):
            return None
        identifier = item.get("itemIdentifier")
        if not isinstance(identifier, str) or not identifier or identifier not in batch_ids:
            return None
        ids.add(identifier)
    return ids


@dataclass
class PollerStats:
    batches: int = 0
    records: int = 0
    deleted: int = 0
    returned: int = 0  # left in the queue: reported failures or failed batches
    failed_invocations: int = 0
    receive_errors: int = 0
    delete_errors: int = 0
    # The most recent errors only: a long demo run must not grow without bound.
    invocation_errors: deque[str] = field(default_factory=lambda: deque(maxlen=100))


@dataclass(frozen=True)
class BatchOutcome:
    message_ids: list[str]
    deleted: list[str]
    invocation: Invocation


class SqsPoller:
    """Lambda's SQS event source mapping for one queue and one function, run locally.

    `batch_size` up to 10,000 and `max_batching_window_seconds` mirror the mapping's
    BatchSize and MaximumBatchingWindowInSeconds; `function_timeout_seconds` is the
    function's timeout passed to the invoker.
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        invoke: Invoker,
        *,
        batch_size: int = 10,
        max_batching_window_seconds: float = 0.0,
        wait_time_seconds: int = 1,
        function_timeout_seconds: float = 30.0,
        report_batch_item_failures: bool = True,
        error_backoff_seconds: float = 0.2,
    ) -> None:
        if not 1 <= batch_size <= 10_000:
            raise ValueError(f"batch_size must be 1-10000, got {batch_size}")
        if batch_size > SQS_MAX_PER_CALL and max_batching_window_seconds <= 0:
            raise ValueError(
                "batch_size > 10 needs max_batching_window_seconds > 0, as on AWS, "
                f"got batch_size={batch_size}, max_batching_window_seconds="
                f"{max_batching_window_seconds}"
            )
        if not 0 <= wait_time_seconds <= 20:
            raise ValueError(f"wait_time_seconds must be 0-20, got {wait_time_seconds}")
        self.sqs = sqs
        self.queue_url = queue_url
        self.invoke = invoke
        self.batch_size = batch_size
        self.max_batching_window_seconds = max_batching_window_seconds
        self.wait_time_seconds = wait_time_seconds
        self.function_timeout_seconds = function_timeout_seconds
        self.report_batch_item_failures = report_batch_item_failures
        self.error_backoff_seconds = error_backoff_seconds
        self.region: str = sqs.meta.region_name
        self.stats = PollerStats()
        self._queue_arn: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def queue_arn(self) -> str:
        if self._queue_arn is None:
            attrs = self.sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
            )
            self._queue_arn = str(attrs["Attributes"]["QueueArn"])
        return self._queue_arn

    def _receive(self, max_messages: int, wait_seconds: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _receive_batch(self) -> list[dict[str, Any]]:
        messages = self._receive(min(self.batch_size, SQS_MAX_PER_CALL), self.wait_time_seconds)
        if not messages or self.batch_size <= SQS_MAX_PER_CALL:
            return messages
        deadline = time.monotonic() + self.max_batching_window_seconds
        while len(messages) < self.batch_size and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = self._receive(
                min(self.batch_size - len(messages), SQS_MAX_PER_CALL),
                min(int(remaining), 20),
            )
            messages.extend(more)
        return messages

    def poll_once(self) -> BatchOutcome | None:
        """Receive one batch, invoke, delete what succeeded. None when the queue was empty.
        Raises ClientError/BotoCoreError from receive (`run` retries them)."""
        queue_arn = self.queue_arn
        messages = self._receive_batch()
        if not messages:
            return None
        records = [to_lambda_record(m, queue_arn=queue_arn, region=self.region) for m in messages]
        ids = [r["messageId"] for r in records]
        self.stats.batches += 1
        self.stats.records += len(records)

        try:
            invocation = self.invoke({"Records": records}, self.function_timeout_seconds)
        except Exception as exc:  # an invoker fault must not kill the poller
            invocation = Invocation(ok=False, error=f"invoker failed: {exc!r}")
        if not invocation.ok:
            self.stats.failed_invocations += 1
            self.stats.invocation_errors.append(invocation.error or "")
            log.warning("invocation failed, whole batch returns: %s", invocation.error)
            failed: set[str] | None = None
        elif self.report_batch_item_failures:
            failed = failed_message_ids(invocation.response, set(ids))
            if failed is None:
                log.warning("invalid batch response, whole batch returns: %r", invocation.response)
        else:
            failed = set()

        to_delete = [] if failed is None else [m for m in messages if m["MessageId"] not in failed]
        deleted = self._delete(to_delete)
        self.stats.deleted += len(deleted)
        self.stats.returned += len(messages) - len(deleted)
        return BatchOutcome(message_ids=ids, deleted=deleted, invocation=invocation)

    def _delete(self, messages: list[dict[str, Any]]) -> list[str]:
        deleted: list[str] = []
        for start in range(0, len(messages), SQS_MAX_PER_CALL):
            chunk = messages[start : start + SQS_MAX_PER_CALL]
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
            ]
            try:
                response = self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                # Undeleted messages come back after the visibility timeout: a duplicate
                # delivery, which the handler's idempotency absorbs.
                self.stats.delete_errors += len(chunk)
                log.warning("delete failed; %d messages will be redelivered: %s", len(chunk), exc)
                continue
            ok = {int(e["Id"]) for e in response.get("Successful", [])}
            for failure in response.get("Failed", []):
                self.stats.delete_errors += 1
                log.warning("delete failed for one message: %s", failure)
            deleted.extend(chunk[i]["MessageId"] for i in sorted(ok))
        return deleted

    def run(
        self,
        *,
        max_batches: int | None = None,
        stop_when_idle: bool = False,
    ) -> PollerStats:
        """Poll until `stop()` (or `max_batches` batches, or the first empty receive when
        `stop_when_idle`). Never dies on an SQS error."""
        backoff = self.error_backoff_seconds
        while not self._stop.is_set():
            if max_batches is not None and self.stats.batches >= max_batches:
                break
            try:
                outcome = self.poll_once()
            except (ClientError, BotoCoreError) as exc:
                self.stats.receive_errors += 1
                log.warning("receive failed, retrying in %.1fs: %s", backoff, exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = self.error_backoff_seconds
            if outcome is None and stop_when_idle:
                break
        return self.stats

    def start(self) -> SqsPoller:
        """Run in a background thread until `stop()`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="sqs-poller", daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Ask to stop without waiting (to stop several pollers at once)."""
        self._stop.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the current receive (at most `wait_time_seconds`) and invocation."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


@contextmanager
def running(poller: SqsPoller) -> Iterator[SqsPoller]:
    poller.start()
    try:
        yield poller
    finally:
        poller.stop()
