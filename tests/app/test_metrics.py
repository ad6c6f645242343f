"""The hand-written Prometheus exposition (text format 0.0.4)."""

from __future__ import annotations

import pytest

from app.metrics import Counter, Gauge, Histogram, Metrics


def test_counter_renders_labels_escaped_and_sorted():
    c = Counter("x_total", "Help with \\ and\nnewline.", ("path",))
    c.inc(1, 'a"b')
    c.inc(2.5, "a")
    assert list(c.render()) == [
        "# HELP x_total Help with \\\\ and\\nnewline.",
        "# TYPE x_total counter",
        'x_total{path="a"} 2.5',
        'x_total{path="a\\"b"} 1',
    ]
    with pytest.raises(ValueError, match="only goes up"):
        c.inc(-1, "a")


def test_histogram_buckets_are_cumulative_and_inclusive():
    h = Histogram("h", "H.", (1, 5))
    for v in (0.5, 1, 3, 7):
        h.observe(v)
    assert list(h.render())[2:] == [
        'h_bucket{le="1"} 2',
        'h_bucket{le="5"} 3',
        'h_bucket{le="+Inf"} 4',
        "h_sum 11.5",
        "h_count 4",
    ]


def test_gauge_and_whole_registry():
    g = Gauge("g", "G.")
    g.add(3)
    g.add(-1)
    assert list(g.render())[-1] == "g 2"
    text = Metrics().render()
    assert text.endswith("\n")
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(names) == len(set(names))
    assert "app_events_enqueued_total 0" in text
