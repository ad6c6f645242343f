"""The app's log lines, the same JSON as on stdout, shipped to its CloudWatch log group.

With LOG_GROUP set (the Deployment sets it to the group the program creates), every line the
app writes to stdout is also queued for CloudWatch Logs, so that one Logs Insights query by
trace id finds the app's request line beside the handler's (docs/app.md, "Following one
event"). Without it (locally) nothing is shipped.

watchtower does the work off the event loop: a handler whose per-stream queue a background
thread drains in PutLogEvents batches (by count, bytes or SEND_SECONDS). On top of it:
- the queue is bounded: past MAX_BUFFERED_LINES a line is dropped and counted, so CloudWatch
  being slow or unreachable costs neither memory without bound nor a request;
- a batch CloudWatch refuses or cannot be reached for is dropped and counted, not retried
  five times with sequence tokens (which PutLogEvents has ignored since January 2023);
- `close()` waits at most LOG_FLUSH_SECONDS (app/settings.py's shutdown budget).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

import boto3.session
import botocore.session
import watchtower
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from app.settings import LOG_FLUSH_SECONDS

# Lines wait at most this long on the queue before their batch is sent.
SEND_SECONDS = 1.0
# ~5 s of the app's peak line rate (about 5,000 requests/s, docs/app.md) at ~400 bytes a
# line: about 10 MiB at worst, within the pod's memory beside the body budget.
MAX_BUFFERED_LINES = 25_000
# PutLogEvents: at most 10,000 events and 1,048,576 bytes (each event's UTF-8 message plus
# 26 bytes) a call; one event at most 1 MiB (CloudWatch Logs API reference).
MAX_BATCH_COUNT = 10_000
MAX_BATCH_BYTES = 1_048_576
# One attempt a batch, bounded: a batch that cannot be sent is dropped (and counted) rather
# than holding the thread while new lines pile up behind it.
_CLIENT_CONFIG = Config(
    connect_timeout=1.0,
    read_timeout=2.0,
    retries={"mode": "standard", "total_max_attempts": 2},
    max_pool_connections=1,
    # The request is built here from strings; botocore's walk over every event of a
    # 10,000-event batch cost ~6 us a line on the sender thread (bench/app_log_shipping.py).
    parameter_validation=False,
)

DROP_REASONS: tuple[str, ...] = ("buffer_full", "send_failed")


class CloudWatchShipper(watchtower.CloudWatchLogHandler):
    """A watchtower handler for one log stream, its buffer bounded, its drops counted.

    The log group is the program's (never created here); the stream is created on the first
    batch that finds it missing.
    """

    # watchtower's wait for the queue to drain in flush() and close().
    FLUSH_TIMEOUT = int(LOG_FLUSH_SECONDS)

    def __init__(
        self,
        log_group: str,
        log_stream: str,
        client: Any,
        *,
        max_buffered: int = MAX_BUFFERED_LINES,
        send_interval: float = SEND_SECONDS,
    ) -> None:
        self._lock_drops = threading.Lock()
        self.dropped: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)
        self.max_buffered = max_buffered
        super().__init__(
            log_group_name=log_group,
            log_stream_name=log_stream,
            boto3_client=client,
            create_log_group=False,
            send_interval=send_interval,  # type: ignore[arg-type]  # watchtower takes floats
            max_batch_count=MAX_BATCH_COUNT,
            max_batch_size=MAX_BATCH_BYTES,
        )
        # One stream, so one queue and one sender thread, started now as watchtower would on
        # the first line: `ship` then only appends to the queue.
        self._queue: queue.Queue[Any] = queue.Queue()
        self.queues[log_stream] = self._queue
        self.sequence_tokens[log_stream] = None
        thread = threading.Thread(
            target=self._dequeue_batch,
            args=(self._queue, log_stream, send_interval, MAX_BATCH_BYTES, MAX_BATCH_COUNT),
            name="log-shipper",
            daemon=True,
        )
        self.threads.append(thread)
        thread.start()

    def _count_drop(self, reason: str, lines: int) -> None:
        with self._lock_drops:
            self.dropped[reason] += lines

    def ship(self, created: float, line: str) -> None:
        """Queue one formatted line (its time in seconds): never blocks, never raises."""
        if self.shutting_down:
            return
        if self._queue.qsize() >= self.max_buffered:
            self._count_drop("buffer_full", 1)
            return
        limit = self.max_message_size - self.EXTRA_MSG_PAYLOAD_SIZE
        # At most 4 bytes a character: only a line that long can be too long once encoded.
        if len(line) * 4 > limit:
            line = line.encode("utf-8")[:limit].decode("utf-8", "ignore")
        self._queue.put({"timestamp": int(created * 1000), "message": line})

    def emit(self, message: logging.LogRecord) -> None:
        try:
            self.ship(message.created, self.format(message))
        except Exception:
            self.handleError(message)

    def _submit_batch(
        self, batch: list[dict[str, Any]], log_stream_name: str, max_retries: int = 1
    ) -> None:
        if not batch:
            return
        events = sorted(batch, key=itemgetter("timestamp"))
        request = {
            "logGroupName": self.log_group_name,
            "logStreamName": log_stream_name,
            "logEvents": events,
        }
        try:
            try:
                response = self.cwl_client.put_log_events(**request)
            except self.cwl_client.exceptions.ResourceNotFoundException:
                self._create_stream(log_stream_name)
                response = self.cwl_client.put_log_events(**request)
        except (ClientError, BotoCoreError):
            self._count_drop("send_failed", len(events))
            return
        rejected = response.get("rejectedLogEventsInfo") or {}
        refused = _rejected_count(rejected, len(events))
        if refused:
            self._count_drop("send_failed", refused)

    def _create_stream(self, log_stream_name: str) -> None:
        # Already there: another process of the same pod name made it first.
        with contextlib.suppress(self.cwl_client.exceptions.ResourceAlreadyExistsException):
            self.cwl_client.create_log_stream(
                logGroupName=self.log_group_name, logStreamName=log_stream_name
            )


def _rejected_count(info: dict[str, int], total: int) -> int:
    """How many events of a batch (sorted by time) PutLogEvents refused, from its
    rejectedLogEventsInfo: the first ones up to tooOld/expiredLogEventEndIndex (exclusive),
    and the last ones from tooNewLogEventStartIndex (inclusive) on."""
    old = max(info.get("tooOldLogEventEndIndex", 0), info.get("expiredLogEventEndIndex", 0))
    new = info.get("tooNewLogEventStartIndex", total)
    return min(total, old + total - new)


def make_client(region: str, session: botocore.session.Session | None = None) -> Any:
    """A CloudWatch Logs client of its own (one connection), with short timeouts."""
    botocore_session = session or botocore.session.get_session()
    return boto3.session.Session(botocore_session=botocore_session, region_name=region).client(
        "logs", config=_CLIENT_CONFIG
    )


class DropCollector(Collector):
    """`app_log_lines_dropped_total{reason}`: lines that never reached CloudWatch Logs (0 when
    nothing is shipped)."""

    def __init__(self, shipper: CloudWatchShipper | None) -> None:
        self._shipper = shipper

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "app_log_lines_dropped",
            "Log lines not shipped to CloudWatch Logs (LOG_GROUP), by reason: buffer_full "
            "(the bounded queue was full), send_failed (PutLogEvents failed or refused them).",
            labels=("reason",),
        )
        counts = self._shipper.dropped if self._shipper else dict.fromkeys(DROP_REASONS, 0)
        for reason in DROP_REASONS:
            family.add_metric((reason,), counts[reason])
        yield family
