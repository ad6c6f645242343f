"""Handlers the Runtime API tests run under awslambdaric: each misbehaves in one way."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "event": event,
        "pid": os.getpid(),
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }


def fail(event: dict[str, Any], context: Any) -> None:
    raise ValueError("handler refused the batch")


def sleep(event: dict[str, Any], context: Any) -> None:
    time.sleep(float(event.get("seconds", 10)))


def crash(event: dict[str, Any], context: Any) -> None:
    os._exit(3)


def consumer_crashing_once(event: dict[str, Any], context: Any) -> Any:
    """The real consumer, except that the first invocation ever kills the process."""
    marker = Path(os.environ["CRASH_MARKER"])
    if not marker.exists():
        marker.touch()
        os._exit(1)
    from handlers.consumer import handler

    return handler(event, context)
