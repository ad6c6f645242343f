"""Your processing of one event. This is the file to change when you fork the project.

`handlers.consumer` deals with SQS, validation, partial batch responses, logs and metrics,
and calls `process_event` once per valid record inside Powertools' idempotent function.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from contract import Event

# Same service name as the consumer's logger, so both share one JSON formatter and its keys
# (request id, message id, event id).
logger = Logger(child=True)


def process_event(event: Event) -> dict[str, Any] | None:
    """Apply one event: YOUR SIDE EFFECT GOES HERE (write to a database, call an API, ...).

    This function is the body of the idempotent function, keyed on `event.id`:
    - It runs at most once to completion per event id within the idempotency window; a
      duplicate delivery (SQS is at-least-once, producers retry with the same id) gets the
      stored result back instead of running it again.
    - Return a JSON-serialisable value (or None): it is stored with the idempotency record.
    - Raise to fail this record only: the idempotency record is deleted so that the retry
      (after the queue's visibility timeout) runs it again; after maxReceiveCount receives
      SQS moves the message to the dead-letter queue.
    - Keep it under the function timeout: a record still IN_PROGRESS when the invocation
      dies is locked until that invocation's deadline, then retried.
    - The side effect itself should still be safe to repeat if the function dies between
      doing it and the idempotency record being marked COMPLETED (e.g. an upsert keyed on
      `event.id`): that window is small but not zero.
    """
    logger.info("event applied", extra={"event_type": event.type})
    return None
