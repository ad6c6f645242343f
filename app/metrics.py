"""The service's Prometheus metrics (prometheus_client), served as text format 0.0.4.

Each app gets its own registry, so tests do not share state. prometheus_client's updates are
thread-safe, so a fork may update them from worker threads. A fork that adds metrics of its
own registers them on `Metrics.registry` (a subclass is the place) and passes the instance to
`app.main.serve`.
Format: https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
"""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# prometheus_client would add a `<name>_created` series (creation time) beside every counter
# and histogram; nothing here reads them and they double the series scraped.
prometheus_client.disable_created_metrics()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "app_http_requests_total",
            "HTTP requests answered, by method, route and status code (499: the client closed "
            "the connection before its answer).",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.enqueued = Counter(
            "app_events_enqueued_total",
            "Events SQS accepted (each answered 202).",
            registry=self.registry,
        )
        self.failed = Counter(
            "app_events_failed_total",
            "Events not enqueued after all attempts, by reason (each answered 4xx/503).",
            ("reason",),
            registry=self.registry,
        )
        self.sqs_requests = Counter(
            "app_sqs_requests_total",
            "SendMessageBatch calls made, by outcome (ok, partial, error).",
            ("outcome",),
            registry=self.registry,
        )
        self.retries = Counter(
            "app_sqs_entry_retries_total",
            "Batch entries sent again after a failure.",
            registry=self.registry,
        )
        self.send_seconds = Histogram(
            "app_sqs_send_seconds",
            "Latency of one SendMessageBatch call.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "app_sqs_batch_size",
            "Entries per SendMessageBatch call.",
            buckets=range(1, 11),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "app_events_in_flight",
            "Events accepted over HTTP and not yet answered.",
            registry=self.registry,
        )
        # Client connections (app/connections.py).
        self.connections_open = Gauge(
            "app_http_connections_open", "Client connections open.", registry=self.registry
        )
        self.connections_closed = Counter(
            "app_http_connections_closed_total",
            "Client connections the app ended early, by reason: refused (over MAX_CONNECTIONS, "
            "answered 503), evicted (waiting longest, closed to admit a new one), "
            "header_timeout, bad_request (refused by the HTTP parser, answered 400).",
            ("reason",),
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def value(self, sample: str, **labels: str) -> float:
        """The current value of one sample, e.g. `value("app_events_failed_total",
        reason="overloaded")`: 0 for a label set never counted, KeyError for a sample no
        metric has (so a misspelt name cannot read as 0)."""
        for family in self.registry.collect():
            if sample in {family.name + suffix for suffix in _SAMPLE_SUFFIXES[family.type]}:
                found = (s.value for s in family.samples if s.name == sample and s.labels == labels)
                return next(found, 0.0)
        raise KeyError(f"no metric has a sample {sample!r}")


_SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
}
