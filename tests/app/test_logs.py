"""The JSON log lines, and the per-request fast path writing the same line as `logging`."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from app import logs


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[io.StringIO, logging.Logger]]:
    """A handler as `logs.configure` installs it, writing to a StringIO.

    pytest adds its own capture handler to the root logger when the test itself starts, so
    the tests call `_install` in their body to be the only handler, as in the app.
    """
    stream = io.StringIO()
    handler = logs.BufferedHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.INFO)
    monkeypatch.setattr(logs, "_handler", handler)
    logger = logging.getLogger("app.test")
    logger.setLevel(logging.NOTSET)
    yield stream, logger
    logger.setLevel(logging.NOTSET)
    logging.getLogger().manager._clear_cache()  # type: ignore[attr-defined]


def _install() -> None:
    assert logs._handler is not None
    logging.getLogger().handlers[:] = [logs._handler]


FIELDS = {"request_id": "r-1", "method": "POST", "status": 202, "duration_ms": 1.5, "n": None}


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_fast_path_writes_the_line_the_logging_chain_writes(configured):
    stream, logger = configured
    _install()
    logger.log(logging.INFO, "request", extra=FIELDS)
    logs.log_fields(logger, logging.INFO, "request", FIELDS)
    slow, fast = _lines(stream)
    assert list(fast) == list(slow)  # same keys, same order
    assert {k: v for k, v in fast.items() if k != "time"} == {
        k: v for k, v in slow.items() if k != "time"
    }
    assert fast["level"] == "INFO"
    assert fast["logger"] == "app.test"
    assert isinstance(fast["time"], str)
    assert fast["time"].endswith("Z")


def test_fast_path_honours_levels_and_flushes_warnings(configured):
    stream, logger = configured
    _install()
    logger.setLevel(logging.WARNING)
    logs.log_fields(logger, logging.INFO, "request", FIELDS)
    assert stream.getvalue() == ""
    flushed: list[bool] = []
    handler = logs._handler
    assert handler is not None
    handler.flush_now = lambda: flushed.append(True)  # type: ignore[method-assign]
    logs.log_fields(logger, logging.WARNING, "request", FIELDS)
    assert _lines(stream)[0]["level"] == "WARNING"
    assert flushed == [True]


def test_other_handlers_get_the_record_through_logging(configured):
    _, logger = configured
    _install()
    seen: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logging.getLogger().handlers.append(Collect())
    logs.log_fields(logger, logging.INFO, "request", FIELDS)
    assert [(r.getMessage(), r.__dict__["request_id"]) for r in seen] == [("request", "r-1")]
