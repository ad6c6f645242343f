"""Waiting for a condition in a test, with a message that says what did not happen."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], bool],
    what: str,
    timeout: float = 60.0,
    *,
    progress: Callable[[], int] | None = None,
    stall_seconds: float = 20.0,
    poll_seconds: float = 0.25,
) -> float:
    """Poll `condition` until it holds. Without `progress`, fail after `timeout` seconds. With
    it, keep waiting while `progress()` still grows (a shared 2-core machine can run the
    same work at half speed), failing after `stall_seconds` without growth or `timeout` in
    all; the message says how far it got."""
    started = last_change = time.monotonic()
    seen = progress() if progress else 0
    while not condition():
        now = time.monotonic()
        if progress is not None:
            current = progress()
            if current != seen:
                seen, last_change = current, now
        stalled = progress is not None and now - last_change > stall_seconds
        if stalled or now - started > timeout:
            why = f"no progress for {stall_seconds:.0f} s" if stalled else f"{timeout:.0f} s"
            got = f" (progress: {seen})" if progress is not None else ""
            raise AssertionError(f"not within {why}: {what}{got}")
        time.sleep(poll_seconds)
    return time.monotonic() - started
