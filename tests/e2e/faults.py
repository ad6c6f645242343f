"""Which events the fault-injecting handler fails (shared by the handler and the tests)."""

from __future__ import annotations

import zlib


def fails_first_time(event_id: str, percent: int) -> bool:
    """The same ids in every process: CRC32 of the id, not Python's salted hash()."""
    return zlib.crc32(event_id.encode()) % 100 < percent
