"""Structured JSON logs on stdout: one object per line, which CloudWatch / Fluent Bit parse."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, ClassVar


class JsonFormatter(logging.Formatter):
    _skip: ClassVar[frozenset[str]] = frozenset(
        logging.LogRecord("", 0, "", 0, "", (), None).__dict__
    ) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Fields passed with `extra=` become top-level keys.
        out.update((k, v) for k, v in record.__dict__.items() if k not in self._skip)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # botocore logs credentials resolution at INFO; keep it to warnings.
    logging.getLogger("botocore").setLevel(max(logging.WARNING, root.level))
