"""End-to-end fixtures: the stack's settings with fast retries, and the loopback stack
(local/stack.py) started by each test, every process of it waited for afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local.stack import LocalSettings, LoopbackStack

# The dev stack's queue settings are sized for AWS (visibility 180 s = 6 x the 30 s function
# timeout, maxReceiveCount 5): a poison message would need 15 minutes to reach the DLQ. The
# tests keep everything else from Pulumi.dev.yaml and override these explicitly. Visibility
# stays above the function timeout, which Lambda itself requires of an SQS event source.
FAST_RETRIES = {
    "visibility_timeout_seconds": 3,
    "function_timeout_seconds": 2,
    "max_receive_count": 3,
}


@pytest.fixture
def dev_settings() -> LocalSettings:
    return LocalSettings.from_stack("dev")


@pytest.fixture
def fast_settings(dev_settings: LocalSettings) -> LocalSettings:
    return dev_settings.replace(**FAST_RETRIES)


@pytest.fixture
def start_stack(tmp_path: Path) -> Iterator[Callable[..., LoopbackStack]]:
    """Start a LoopbackStack; every one started is closed (all its processes waited for)."""
    started: list[LoopbackStack] = []

    def start(settings: LocalSettings, **kwargs: Any) -> LoopbackStack:
        stack = LoopbackStack(settings, tmp_path / f"stack{len(started)}", **kwargs)
        started.append(stack)
        return stack.start()

    yield start
    for stack in started:
        pids = stack.child_pids()
        stack.close()
        assert [pid for pid in pids if _running(pid)] == []


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
