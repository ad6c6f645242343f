"""A small, dependency-free Prometheus registry (text exposition format 0.0.4).

Counters, one gauge and histograms are all this service needs; writing them here keeps the
image's dependency set to boto3 and aiohttp. The app updates them on its event loop only;
every update still holds the metric's lock, so a fork may update them from worker threads.
Format: https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        self._lock = threading.Lock()

    def _header(self) -> list[str]:
        return [f"# HELP {self.name} {_escape(self.help)}", f"# TYPE {self.name} {self.kind}"]

    def render(self) -> Iterable[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[tuple[str, ...], float] = {}
        if not self.labelnames:
            self._values[()] = 0.0

    def inc(self, amount: float = 1.0, *labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(labels, 0.0)

    def render(self) -> Iterable[str]:
        yield from self._header()
        for labels, value in sorted(self._values.items()):
            yield f"{self.name}{_labels(self.labelnames, labels)} {_num(value)}"


class Gauge(_Metric):
    kind = "gauge"

    def __init__(self, name: str, help_text: str) -> None:
        super().__init__(name, help_text)
        self._value = 0.0

    def add(self, amount: float) -> None:
        with self._lock:
            self._value += amount

    def value(self) -> float:
        return self._value

    def render(self) -> Iterable[str]:
        yield from self._header()
        yield f"{self.name} {_num(self._value)}"


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        super().__init__(name, help_text)
        self.buckets = tuple(sorted(buckets))
        self._counts = [0] * (len(self.buckets) + 1)  # the last slot is +Inf
        self._sum = 0.0

    def observe(self, value: float) -> None:
        # Bucket bounds are inclusive ("le"), hence bisect_left.
        index = bisect.bisect_left(self.buckets, value)
        with self._lock:
            self._counts[index] += 1
            self._sum += value

    @property
    def count(self) -> int:
        return sum(self._counts)

    def render(self) -> Iterable[str]:
        yield from self._header()
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative = 0
        for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
            cumulative += n
            yield f'{self.name}_bucket{{le="{_num(bound)}"}} {cumulative}'
        yield f"{self.name}_sum {_num(total)}"
        yield f"{self.name}_count {cumulative}"


class Metrics:
    """The service's metrics; one instance per app so tests do not share state."""

    def __init__(self) -> None:
        self.requests = Counter(
            "app_http_requests_total",
            "HTTP requests answered, by method, route and status code (499: the client closed "
            "the connection before its answer).",
            ("method", "route", "status"),
        )
        self.enqueued = Counter(
            "app_events_enqueued_total", "Events SQS accepted (each answered 202)."
        )
        self.failed = Counter(
            "app_events_failed_total",
            "Events not enqueued after all attempts, by reason (each answered 4xx/503).",
            ("reason",),
        )
        self.sqs_requests = Counter(
            "app_sqs_requests_total",
            "SendMessageBatch calls made, by outcome (ok, partial, error).",
            ("outcome",),
        )
        self.retries = Counter(
            "app_sqs_entry_retries_total", "Batch entries sent again after a failure."
        )
        self.send_seconds = Histogram(
            "app_sqs_send_seconds",
            "Latency of one SendMessageBatch call.",
            (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.batch_size = Histogram(
            "app_sqs_batch_size", "Entries per SendMessageBatch call.", range(1, 11)
        )
        self.in_flight = Gauge(
            "app_events_in_flight", "Events accepted over HTTP and not yet answered."
        )
        # Client connections (app/connections.py).
        self.connections_open = Gauge("app_http_connections_open", "Client connections open.")
        self.connections_closed = Counter(
            "app_http_connections_closed_total",
            "Client connections the app ended early, by reason: refused (over MAX_CONNECTIONS, "
            "answered 503), evicted (waiting longest, closed to admit a new one), "
            "header_timeout, bad_request (refused by the HTTP parser, answered 400).",
            ("reason",),
        )

    def render(self) -> str:
        metrics: list[_Metric] = [
            self.requests,
            self.enqueued,
            self.failed,
            self.sqs_requests,
            self.retries,
            self.send_seconds,
            self.batch_size,
            self.in_flight,
            self.connections_open,
            self.connections_closed,
        ]
        return "\n".join(line for m in metrics for line in m.render()) + "\n"
