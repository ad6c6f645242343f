"""Coalesce concurrent events into SQS SendMessageBatch calls.

`await batcher.send(message)` returns only once SQS has accepted *that* entry, and
raises `SendError` otherwise: the HTTP layer turns a return into 202 and an error into 4xx/503,
so nothing is acknowledged that SQS did not accept.

Shape of the pipeline (all on the event loop, no threads):

    send() -> pending deque -> dispatcher -> up to `max_in_flight` SendMessageBatch calls
                 ^                                       |       (app.sqs.BatchSender)
                 +------ failed entries, after backoff --+

- A batch leaves when it holds 10 entries (the SendMessageBatch maximum), when one more entry
  would push it over SQS's total payload limit, or when its oldest entry has lingered
  `max_wait`. The linger only applies while another send is in flight: an idle service sends
  at once (no added latency at low load), a busy one fills batches while it waits anyway.
- At most `max_in_flight` calls are in flight; while all are busy, new events queue up and the next
  free sender takes up to 10 of them at once, so batches grow with load by themselves.
- An entry that SQS reports as failed with `SenderFault: false`, or a call that failed as a
  whole (throttling, 5xx, connection refused or reset, timeout), is retried with capped
  exponential backoff and full jitter until `max_attempts` or the entry's deadline. A call
  that timed out may still have been applied by SQS; the retry may then duplicate the message,
  which standard queues allow anyway (at-least-once), and the consumer de-duplicates by id.
- `SenderFault: true` entries (the content itself was refused) are not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from app.metrics import Metrics
from contract import Message

log = logging.getLogger("app.batcher")

MAX_BATCH_ENTRIES: Final = 10  # SendMessageBatch's limit

# `await send_batch(entries) -> response`: one SendMessageBatch call (app.sqs.BatchSender).
SendBatch = Callable[[list[dict[str, Any]]], Awaitable[dict[str, Any]]]


class Publisher(Protocol):
    async def send(self, message: Message) -> None:
        """Return once SQS accepted the message; raise SendError otherwise."""
        ...


class SendError(Exception):
    """The event was not enqueued. `status` is the HTTP status the request should get;
    `public` is what the client is told, `message` (with SQS's error codes and endpoint) is
    for the log only."""

    def __init__(self, status: int, reason: str, message: str, public: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.public = public or message


@dataclass(slots=True, eq=False)
class _Entry:
    size: int
    future: asyncio.Future[None]
    deadline: float
    ready_at: float
    wire: dict[str, Any]  # the SendMessageBatch entry; "Id" is set per call
    attempts: int = 0
    last_error: str = ""


class Batcher:
    def __init__(
        self,
        send_batch: SendBatch,
        metrics: Metrics,
        *,
        max_batch_bytes: int,
        max_in_flight: int = 4,
        max_wait: float = 0.002,
        max_attempts: int = 4,
        timeout: float = 10.0,
        max_pending: int = 2000,
        backoff_base: float = 0.05,
        backoff_cap: float = 1.0,
    ) -> None:
        self._send_batch = send_batch
        self._metrics = metrics
        self._max_batch_bytes = max_batch_bytes
        self._max_wait = max_wait
        self._max_attempts = max_attempts
        self._timeout = timeout
        self._max_pending = max_pending
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._pending: deque[_Entry] = deque()
        self._arrived = asyncio.Event()
        self._free = asyncio.Semaphore(max_in_flight)
        self._busy = 0
        self._unsettled = 0  # entries handed to send() and not yet resolved
        self._settled = asyncio.Event()
        self._closing = False
        self._dispatcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())

    @property
    def unsettled(self) -> int:
        return self._unsettled

    async def send(self, message: Message) -> None:
        """Enqueue one message; return when SQS accepted it, raise SendError when it did not."""
        if self._closing:
            self._metrics.failed.labels("shutting_down").inc()
            raise SendError(503, "shutting_down", "the service is shutting down")
        if self._unsettled >= self._max_pending:
            self._metrics.failed.labels("overloaded").inc()
            raise SendError(503, "overloaded", "too many events waiting for SQS")
        loop = asyncio.get_running_loop()
        now = loop.time()
        wire: dict[str, Any] = {
            "Id": "0",
            "MessageBody": message.body,
            "MessageAttributes": message.attributes,
        }
        if message.system_attributes:
            wire["MessageSystemAttributes"] = message.system_attributes
        entry = _Entry(
            size=message.size,
            future=loop.create_future(),
            deadline=now + self._timeout,
            ready_at=now,
            wire=wire,
        )
        self._unsettled += 1
        self._settled.clear()
        self._metrics.in_flight.inc()
        self._enqueue(entry)
        try:
            # Shielded: a client that disconnects must not cancel an entry that may already
            # be on its way to SQS; it only stops waiting for the answer.
            await asyncio.shield(entry.future)
        finally:
            self._metrics.in_flight.dec()

    async def close(self) -> None:
        """Stop taking events, then wait until every one handed to send() is resolved."""
        self._closing = True
        if self._unsettled:
            await self._settled.wait()
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher

    def _enqueue(self, entry: _Entry) -> None:
        self._pending.append(entry)
        self._arrived.set()

    def _resolve(self, entry: _Entry, error: SendError | None) -> None:
        if entry.future.done():
            return
        if error is None:
            entry.future.set_result(None)
            self._metrics.enqueued.inc()
        else:
            entry.future.set_exception(error)
            self._metrics.failed.labels(error.reason).inc()
            # Nobody may be awaiting any more (the client went away): mark it retrieved.
            entry.future.add_done_callback(lambda f: f.exception())
        self._unsettled -= 1
        if self._unsettled == 0:
            self._settled.set()

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._free.acquire()
            while not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
            if self._busy and self._max_wait > 0:
                deadline = self._pending[0].ready_at + self._max_wait
                while len(self._pending) < MAX_BATCH_ENTRIES:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    self._arrived.clear()
                    try:
                        async with asyncio.timeout(remaining):
                            await self._arrived.wait()
                    except TimeoutError:
                        break
            batch = self._take()
            self._busy += 1
            task = loop.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take(self) -> list[_Entry]:
        batch: list[_Entry] = []
        size = 0
        now = asyncio.get_running_loop().time()
        while self._pending and len(batch) < MAX_BATCH_ENTRIES:
            entry = self._pending[0]
            if batch and size + entry.size > self._max_batch_bytes:
                break
            self._pending.popleft()
            if entry.future.done():
                continue
            if now >= entry.deadline:
                self._give_up(entry)
                continue
            batch.append(entry)
            size += entry.size
        return batch

    async def _run(self, batch: list[_Entry]) -> None:
        try:
            if batch:
                await self._send(batch)
        except Exception as exc:  # a bug here must not leave requests waiting forever
            log.exception("batch handling failed")
            for entry in batch:
                if not entry.future.done():
                    self._retry_or_fail(entry, f"{type(exc).__name__}: {exc}", retryable=False)
        finally:
            self._busy -= 1
            self._free.release()

    async def _send(self, batch: list[_Entry]) -> None:
        wire = []
        for index, entry in enumerate(batch):
            entry.attempts += 1
            entry.wire["Id"] = str(index)
            wire.append(entry.wire)
        self._metrics.batch_size.observe(len(batch))
        started = time.perf_counter()
        try:
            response = await self._send_batch(wire)
        except Exception as exc:  # any failure of the call fails every entry
            self._metrics.send_seconds.observe(time.perf_counter() - started)
            self._metrics.sqs_requests.labels("error").inc()
            reason = f"{type(exc).__name__}: {exc}"
            for entry in batch:
                self._retry_or_fail(entry, reason, retryable=_retryable(exc))
            return
        self._metrics.send_seconds.observe(time.perf_counter() - started)
        failed = {f["Id"]: f for f in response.get("Failed", [])}
        succeeded = {s["Id"] for s in response.get("Successful", [])}
        self._metrics.sqs_requests.labels("partial" if failed else "ok").inc()
        for index, entry in enumerate(batch):
            key = str(index)
            if key in succeeded and key not in failed:
                self._resolve(entry, None)
            elif key in failed:
                fault = failed[key]
                reason = f"{fault.get('Code', 'Failed')}: {fault.get('Message', '')}".strip()
                if fault.get("SenderFault"):
                    self._resolve(
                        entry,
                        SendError(
                            400,
                            "rejected",
                            f"SQS rejected it: {reason}",
                            "SQS rejected the event's content; nothing was enqueued",
                        ),
                    )
                else:
                    self._retry_or_fail(entry, reason, retryable=True)
            else:
                # Neither list names it: SQS did not confirm it, so it is not acknowledged.
                self._retry_or_fail(entry, "missing from the SQS response", retryable=True)

    def _retry_or_fail(self, entry: _Entry, reason: str, *, retryable: bool) -> None:
        entry.last_error = reason
        loop = asyncio.get_running_loop()
        delay = random.uniform(  # noqa: S311 - jitter, not cryptography
            0, min(self._backoff_cap, self._backoff_base * 2 ** (entry.attempts - 1))
        )
        if (
            not retryable
            or entry.attempts >= self._max_attempts
            or loop.time() + delay >= entry.deadline
        ):
            self._give_up(entry)
            return
        self._metrics.retries.inc()

        def again() -> None:
            entry.ready_at = loop.time()
            self._enqueue(entry)

        loop.call_later(delay, again)

    def _give_up(self, entry: _Entry) -> None:
        self._resolve(
            entry,
            SendError(
                503,
                "sqs_unavailable",
                f"SQS did not accept the event after {entry.attempts} attempt(s): "
                f"{entry.last_error or 'timed out waiting to be sent'}",
                f"SQS did not accept the event after {entry.attempts} attempt(s); nothing was "
                "enqueued. Retry later with the same id.",
            ),
        )


def _retryable(exc: BaseException) -> bool:
    # botocore's ClientError carries the service's error code; a 4xx sender fault such as
    # AccessDenied or a missing queue will not heal by retrying within this request.
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        code = str(error.get("Code", ""))
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _RETRYABLE_CODES:
            return True
        if isinstance(status, int) and 400 <= status < 500:
            return False
    return True


# https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
_RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "KMSThrottlingException",
        "InternalError",
        "ServiceUnavailable",
    }
)
