"""The real consumer with faults injected, run under awslambdaric by the e2e tests (never
imported by the tests themselves: importing it patches `handlers.events`).

- `FAULT_FAIL_PERCENT` (0-100): that share of event ids (chosen by CRC32 of the id) fails
  its first processing attempt, then succeeds: a transient error in the side effect. The
  marker files in `FAULT_DIR` remember which ids already failed, across processes.
- `FAULT_POISON_PREFIX`: events whose id starts with it fail every attempt until the file
  `healed` exists in `FAULT_DIR` (they reach the DLQ; once healed, a redrive applies them).
- `FAULT_CRASH_ONCE=1`: the first invocation with records kills its process (os._exit), as
  an out-of-memory kill would: the whole batch fails and the next invocation is cold.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from contract import Event
from handlers import consumer, events
from tests.e2e.faults import fails_first_time

_real_process_event = events.process_event
_fault_dir = Path(os.environ["FAULT_DIR"])
_fail_percent = int(os.environ.get("FAULT_FAIL_PERCENT", "0"))


_poison_prefix = os.environ.get("FAULT_POISON_PREFIX", "")


def _process_event(event: Event) -> dict[str, Any] | None:
    if _poison_prefix and event.id.startswith(_poison_prefix):
        if not (_fault_dir / "healed").exists():
            raise RuntimeError(f"injected failure for {event.id} until healed")
    elif fails_first_time(event.id, _fail_percent):
        try:
            (_fault_dir / f"failed-{event.id}").touch(exist_ok=False)
        except FileExistsError:
            pass  # failed once already: this retry succeeds
        else:
            raise RuntimeError(f"injected transient failure for {event.id}")
    return _real_process_event(event)


events.process_event = _process_event


def handler(event: dict[str, Any], context: Any) -> Any:
    if os.environ.get("FAULT_CRASH_ONCE") == "1" and event.get("Records"):
        try:
            (_fault_dir / "crashed").touch(exist_ok=False)
        except FileExistsError:
            pass
        else:
            os._exit(1)
    return consumer.handler(event, context)
