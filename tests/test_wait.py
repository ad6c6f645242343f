"""The settle helper the scenarios rely on: it must fail on a stall, not only on a timeout."""

import itertools
import time

import pytest

from tests.wait import wait_until


def test_a_stalled_count_fails_early_and_says_how_far_it_got():
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"no progress for 0 s: x \(progress: 3\)"):
        wait_until(lambda: False, "x", 30, progress=lambda: 3, stall_seconds=0.3, poll_seconds=0.02)
    assert time.monotonic() - started < 5


def test_a_growing_count_may_outlast_the_stall_window():
    counter = itertools.count()
    values: list[int] = []

    def grow() -> int:
        values.append(next(counter))
        return values[-1]

    waited = wait_until(
        lambda: len(values) > 8, "x", 30, progress=grow, stall_seconds=0.1, poll_seconds=0.02
    )
    assert waited > 0.1  # longer than one stall window: progress kept it alive


def test_without_progress_the_plain_timeout_applies():
    with pytest.raises(AssertionError, match=r"not within 0 s: y$"):
        wait_until(lambda: False, "y", 0.2)
