"""The app's metrics as Prometheus reads them (text exposition format 0.0.4)."""

from __future__ import annotations

import pytest

from app import logship
from app.metrics import CONTENT_TYPE, Metrics

DOCUMENTED = {  # docs/app.md, Observability
    "app_http_requests_total": "counter",
    "app_events_enqueued_total": "counter",
    "app_events_failed_total": "counter",
    "app_sqs_requests_total": "counter",
    "app_sqs_entry_retries_total": "counter",
    "app_sqs_send_seconds": "histogram",
    "app_sqs_batch_size": "histogram",
    "app_events_in_flight": "gauge",
    "app_http_connections_open": "gauge",
    "app_http_connections_closed_total": "counter",
}


def lines(metrics: Metrics) -> list[str]:
    return metrics.render().decode().splitlines()


def test_the_documented_metrics_and_nothing_else():
    text = lines(Metrics())
    types = dict(line.split()[2:4] for line in text if line.startswith("# TYPE"))
    assert types == DOCUMENTED
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
    assert not [line for line in text if "_created" in line]  # no creation-time series
    assert "app_events_enqueued_total 0.0" in text


def test_the_log_shippers_drops_are_a_counter_by_reason_at_zero_without_shipping():
    metrics = Metrics()
    metrics.registry.register(logship.DropCollector(None))  # as serve() does
    text = lines(metrics)
    assert "# TYPE app_log_lines_dropped_total counter" in text
    assert 'app_log_lines_dropped_total{reason="buffer_full"} 0.0' in text
    assert 'app_log_lines_dropped_total{reason="send_failed"} 0.0' in text
    assert metrics.value("app_log_lines_dropped_total", reason="send_failed") == 0


def test_counters_render_labels_escaped_and_count():
    metrics = Metrics()
    metrics.requests.labels("POST", "/events", "202").inc()
    metrics.requests.labels("POST", "/events", "202").inc()
    metrics.failed.labels('a"b\\c').inc()
    text = lines(metrics)
    assert 'app_http_requests_total{method="POST",route="/events",status="202"} 2.0' in text
    assert 'app_events_failed_total{reason="a\\"b\\\\c"} 1.0' in text
    assert metrics.value("app_http_requests_total", method="POST", route="/events", status="202")
    assert metrics.value("app_events_failed_total", reason="never") == 0


def test_histogram_buckets_are_cumulative_and_inclusive():
    metrics = Metrics()
    for size in (1, 1, 3, 10):
        metrics.batch_size.observe(size)
    text = lines(metrics)
    assert 'app_sqs_batch_size_bucket{le="1.0"} 2.0' in text
    assert 'app_sqs_batch_size_bucket{le="2.0"} 2.0' in text
    assert 'app_sqs_batch_size_bucket{le="3.0"} 3.0' in text
    assert 'app_sqs_batch_size_bucket{le="10.0"} 4.0' in text
    assert 'app_sqs_batch_size_bucket{le="+Inf"} 4.0' in text
    assert "app_sqs_batch_size_sum 15.0" in text
    assert metrics.value("app_sqs_batch_size_count") == 4


def test_gauge_goes_both_ways_and_a_misspelt_sample_is_an_error():
    metrics = Metrics()
    metrics.in_flight.inc()
    metrics.in_flight.inc()
    metrics.in_flight.dec()
    assert "app_events_in_flight 1.0" in lines(metrics)
    assert metrics.value("app_events_in_flight") == 1
    with pytest.raises(KeyError, match="app_events_enqueued"):
        metrics.value("app_events_enqueued")  # the sample is app_events_enqueued_total
