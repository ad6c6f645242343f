"""Lambda entry point for the event queue: `handlers.consumer.handler`.

The SQS contract is handled here, once:
- every record body is validated against the shared event schema (`contract`);
- each valid event is applied through Powertools' idempotent function, keyed on the event id,
  which calls `handlers.events.process_event` (the user's side effect);
- the result is the partial batch response AWS documents for `ReportBatchItemFailures`:
  exactly the failed records' message ids. A failed record comes back after the queue's
  visibility timeout; after maxReceiveCount receives SQS moves it to the DLQ.

Nothing here reads the environment or touches AWS at import time except Powertools' own
Logger/Metrics settings, so importing the module is cheap and safe in tests. The DynamoDB
persistence layer (and boto3 with it) is built on first use, or during Lambda's init phase
when running under a Lambda runtime (see the end of this module).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

from contract import (
    EVENT_ID,
    PRODUCER,
    TRACEPARENT,
    Event,
    EventError,
    parse_event,
    parse_traceparent,
    parse_xray,
)
from handlers import events

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.idempotency import (
        BasePersistenceLayer,
        IdempotencyConfig,
    )
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

TABLE_ENV: Final = "IDEMPOTENCY_TABLE_NAME"
TTL_ENV: Final = "IDEMPOTENCY_TTL_SECONDS"
# Long enough to cover redeliveries of one message (maxReceiveCount x visibility timeout) and
# producers' retries with the same id; set it to the queue's retention period to cover
# every redelivery the queue can make.
DEFAULT_TTL_SECONDS: Final = 24 * 60 * 60

logger = Logger()
metrics = Metrics()
# An all-failed batch is reported like any other (every message id listed) instead of
# raising: the effect on SQS is the same, and the FailedRecords metric is the signal, not a
# function error (Powertools issue #4691).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class InvalidEventError(ValueError):
    """The body can never be processed (not JSON, or not a valid event)."""


class ConfigurationError(RuntimeError):
    """A required setting of the function is missing or invalid."""


class _Idempotency:
    """The idempotent wrapper around `process_event` and its configuration, built once."""

    def __init__(self, store: BasePersistenceLayer, *, ttl_seconds: int) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            IdempotencyConfig,
            idempotent_function,
        )

        self.config: IdempotencyConfig = IdempotencyConfig(
            expires_after_seconds=ttl_seconds,
            raise_on_no_idempotency_key=True,
            response_hook=_on_duplicate,
        )
        # Keyed on the event id alone (`data_keyword_argument`): Powertools deep-copies and
        # hashes only that argument, not the whole payload (up to 256 KB), and the contract
        # makes the id the idempotency key. A stable key_prefix keeps keys valid across
        # function renames and replacements (the default embeds the function name).
        self.apply_once: Callable[..., Any] = idempotent_function(
            _apply,
            data_keyword_argument="event_id",
            persistence_store=store,
            config=self.config,
            key_prefix=f"{logger.service}.process_event",
        )


_idempotency: _Idempotency | None = None
# Per-invocation counters, emitted once per invocation: one EMF value per metric, whatever
# the batch size.
_counts: dict[str, int] = {"InvalidRecords": 0, "DuplicateRecords": 0}


def _apply(*, event_id: str, event: Event) -> Any:
    """The idempotent function: runs `process_event` at most once per `event_id`."""
    del event_id  # the idempotency key only; the event carries it too
    return events.process_event(event)


def _on_duplicate(response: Any, idempotent_data: DataRecord) -> Any:
    del idempotent_data
    logger.info("duplicate event skipped: already processed", extra={"duplicate": True})
    _counts["DuplicateRecords"] += 1
    return response


def ttl_seconds_from_env() -> int:
    raw = os.environ.get(TTL_ENV, "")
    if not raw:
        return DEFAULT_TTL_SECONDS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 60:
        raise ConfigurationError(f"{TTL_ENV} must be a whole number of seconds >= 60, got {raw!r}")
    return value


def dynamodb_store() -> BasePersistenceLayer:
    """The DynamoDB persistence layer: table from IDEMPOTENCY_TABLE_NAME, Powertools' layout
    (partition key `id`, TTL attribute `expiration`). Honours AWS_ENDPOINT_URL_DYNAMODB."""
    table = os.environ.get(TABLE_ENV, "").strip()
    if not table:
        raise ConfigurationError(
            f"{TABLE_ENV} is required: the name of the DynamoDB idempotency table "
            "(partition key `id` (S), TTL attribute `expiration`)"
        )
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=table)


def use_persistence_store(store: BasePersistenceLayer | None) -> None:
    """Use `store` for idempotency records (tests, benchmarks); None = DynamoDB from env."""
    global _idempotency
    _idempotency = (
        None if store is None else _Idempotency(store, ttl_seconds=ttl_seconds_from_env())
    )


def _get_idempotency() -> _Idempotency:
    global _idempotency
    if _idempotency is None:
        _idempotency = _Idempotency(dynamodb_store(), ttl_seconds=ttl_seconds_from_env())
    return _idempotency


def record_trace_id(record: SQSRecord) -> str | None:
    """The trace the record's event travels in, as X-Ray spells it: from the AWSTraceHeader
    system attribute SQS sets, else from the `traceparent` message attribute (local SQS
    stand-ins drop the system attribute); None when neither holds a valid one."""
    header = record.attributes.aws_trace_header
    trace = parse_xray(header) if header else None
    if trace is None:
        attribute = record.message_attributes[TRACEPARENT.name]
        value = attribute.string_value if attribute else None
        trace = parse_traceparent(value) if value else None
    return trace.xray_trace_id if trace is not None else None


def record_handler(record: SQSRecord) -> Any:
    """Validate one record and apply its event once. Raising fails this record only."""
    # Plain append_keys rather than a context manager per record: this runs for every
    # record, and the handler clears the keys when the invocation ends. None values are
    # left out of log lines. `producer` is who sent it (the app's verified token's sub), so
    # every line about the record, a poison one's too, says whose event it was.
    producer = record.message_attributes[PRODUCER.name]
    logger.append_keys(
        message_id=record.message_id,
        event_id=None,
        producer=producer.string_value if producer else None,
        trace_id=record_trace_id(record),
    )
    try:
        event = parse_event(record.body, require_id=True)
    except EventError as exc:
        # Permanent: the same body fails the same way on every receive. Failing the record
        # (not deleting it) lets the queue's redrive policy put it in the DLQ after
        # maxReceiveCount, where an operator can inspect it.
        attribute = record.message_attributes[EVENT_ID.name]
        logger.warning(
            "invalid event: record failed; it reaches the DLQ after maxReceiveCount",
            extra={
                "reason": "invalid_event",
                "field": exc.field,
                "detail": exc.message,
                "receive_count": record.attributes.approximate_receive_count,
                "event_id_attribute": attribute.string_value if attribute else None,
            },
        )
        _counts["InvalidRecords"] += 1
        raise InvalidEventError(f"{exc.field}: {exc.message}") from None
    logger.append_keys(event_id=event.id)
    try:
        return _get_idempotency().apply_once(event_id=event.id, event=event)
    except Exception as exc:
        _log_processing_failure(exc, record)
        raise


def _log_processing_failure(exc: Exception, record: SQSRecord) -> None:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
    )

    extra = {"receive_count": record.attributes.approximate_receive_count}
    if isinstance(exc, IdempotencyAlreadyInProgressError):
        # Another invocation holds this event (a concurrent duplicate, or one that died
        # before its deadline). Failing the record retries it after the visibility timeout,
        # when the other one has completed (-> duplicate, deleted) or its lock has expired.
        logger.warning(
            "event in progress elsewhere: record failed and will be retried",
            extra={"reason": "in_progress", **extra},
        )
    elif isinstance(exc, IdempotencyPersistenceLayerError):
        logger.exception(
            "idempotency store error: record failed and will be retried",
            extra={"reason": "idempotency_store", **extra},
        )
    else:
        logger.exception(
            "processing failed: record failed and will be retried",
            extra={"reason": "processing_error", **extra},
        )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Process an SQS batch; return `{"batchItemFailures": [{"itemIdentifier": id}, ...]}`."""
    records = event.get("Records")
    if not isinstance(records, list):
        raise TypeError(
            f"not an SQS event: expected a 'Records' list, got keys {sorted(event)[:10]}"
        )
    for name in _counts:
        _counts[name] = 0
    if records:
        # Fails the whole invocation (every message retried) on a configuration error,
        # rather than failing each record with the same message.
        # Registering the context bounds an IN_PROGRESS lock by this invocation's deadline,
        # so a record whose invocation timed out is retried instead of waiting for the TTL.
        _get_idempotency().config.register_lambda_context(context)
        try:
            response = process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )
        finally:
            logger.remove_keys(["message_id", "event_id", "trace_id", "producer"])
    else:
        # Lambda never sends an empty batch, but Powertools rejects one as a non-SQS event.
        response = {"batchItemFailures": []}
    failed = len(response["batchItemFailures"])
    total = len(records)
    metrics.add_metric(name="ProcessedRecords", unit=MetricUnit.Count, value=total - failed)
    metrics.add_metric(name="FailedRecords", unit=MetricUnit.Count, value=failed)
    for name, value in _counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    return dict(response)


# Under a Lambda runtime, build the DynamoDB client during the init phase, as AWS advises for
# SDK clients (provisioned concurrency then does it ahead of time), and fail init on a missing
# setting. Elsewhere (tests, tools) importing stays side-effect free.
if os.environ.get("AWS_LAMBDA_RUNTIME_API"):
    _get_idempotency()
