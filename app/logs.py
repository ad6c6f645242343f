"""Structured JSON logs on stdout: one object per line, which CloudWatch / Fluent Bit parse.

Writing and flushing one line per request costs a system call each, on the one thread that
also serves HTTP: at a few thousand requests per second that was a quarter of the event
loop's time (bench/app_throughput.py, when sends still ran on threads). So lines are buffered
and flushed every FLUSH_SECONDS by the event loop, at once for WARNING and above, and at exit.
With a sink (app/logship.py, when LOG_GROUP is set) each line, formatted once, is also handed
to it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any, ClassVar, Protocol, TextIO

FLUSH_SECONDS = 0.2
# One encoder for every line: json.dumps() with arguments builds a new one per call.
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    _skip: ClassVar[frozenset[str]] = frozenset(
        logging.LogRecord("", 0, "", 0, "", (), None).__dict__
    ) | {"message", "asctime"}

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._prefix = ""

    def _timestamp(self, created: float) -> str:
        second = int(created)
        if second != self._second:  # strftime once per second, not once per line
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((created - second) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self._timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Fields passed with `extra=` become top-level keys.
        out.update((k, v) for k, v in record.__dict__.items() if k not in self._skip)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(out)

    def format_fields(
        self, created: float, level: int, logger: str, message: str, fields: dict[str, Any]
    ) -> str:
        """The line `format` makes of a record logged with `extra=fields`."""
        out: dict[str, Any] = {
            "time": self._timestamp(created),
            "level": logging.getLevelName(level),
            "logger": logger,
            "message": message,
        }
        out.update(fields)
        return _ENCODER.encode(out)


class LineSink(Protocol):
    """Where lines go besides stdout (app/logship.CloudWatchShipper)."""

    def ship(self, created: float, line: str) -> None:
        """Take one line (its time in seconds); never block, never raise."""
        ...

    def close(self) -> None: ...


class BufferedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that flushes on demand (timer, WARNING+, exit), not after each line,
    and hands each line to its sink, if any."""

    def __init__(self, stream: TextIO, sink: LineSink | None = None) -> None:
        super().__init__(stream)
        self.sink = sink

    def flush(self) -> None:
        # StreamHandler.emit() calls this after every record; the timer flushes instead.
        pass

    def flush_now(self) -> None:
        self.acquire()
        try:
            self.stream.flush()
        finally:
            self.release()

    def emit(self, record: logging.LogRecord) -> None:
        # StreamHandler.emit, keeping the line for the sink.
        try:
            line = self.format(record)
            self.stream.write(line + self.terminator)
            if self.sink is not None:
                self.sink.ship(record.created, line)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
        if record.levelno >= logging.WARNING:
            self.flush_now()

    def emit_fields(self, level: int, logger: str, message: str, fields: dict[str, Any]) -> None:
        """Write the same line as `emit` would, without building a LogRecord first."""
        formatter = self.formatter
        assert isinstance(formatter, JsonFormatter)
        created = time.time()
        line = formatter.format_fields(created, level, logger, message, fields)
        self.acquire()
        try:
            self.stream.write(line + self.terminator)
        finally:
            self.release()
        if self.sink is not None:
            self.sink.ship(created, line)
        if level >= logging.WARNING:
            self.flush_now()

    def close(self) -> None:
        self.flush_now()  # logging.shutdown() at exit: nothing buffered is lost
        if self.sink is not None:
            self.sink.close()  # sends what it holds, within LOG_FLUSH_SECONDS
        super().close()


_handler: BufferedHandler | None = None


def log_fields(logger: logging.Logger, level: int, message: str, fields: dict[str, Any]) -> None:
    """`logger.log(level, message, extra=fields)`, for the one line per request.

    Same line, same level checks, but without the LogRecord and the standard logging chain:
    that took ~25 us per request on the event loop under load (bench/app_throughput.py), a
    sixth of the loop's CPU per event. Falls back to the logging chain when `configure` was
    not called or other handlers were added.
    """
    if not logger.isEnabledFor(level):
        return
    handler = _handler
    handlers = logging.root.handlers
    if handler is None or len(handlers) != 1 or handlers[0] is not handler or logger.handlers:
        logger.log(level, message, extra=fields)
        return
    handler.emit_fields(level, logger.name, message, fields)


def configure(level: str, sink: LineSink | None = None) -> BufferedHandler:
    global _handler
    # Skip what these JSON lines never show; per the Logging HOWTO's "Optimization" section,
    # finding the caller's file and line alone is most of a record's cost.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    stream = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1 << 16, encoding="utf-8")
    handler = BufferedHandler(stream, sink)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    _handler = handler
    root.setLevel(level)
    # botocore logs credentials resolution at INFO; keep it to warnings.
    logging.getLogger("botocore").setLevel(max(logging.WARNING, root.level))
    return handler
