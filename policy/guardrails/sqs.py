"""SQS queues and the Lambda event source mappings that read them: encryption at rest,
partial batch failures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .rules import ResourceRule
from .values import UNKNOWN, get, is_set, items

SQS_QUEUE: Final = "aws:sqs/queue:Queue"
SQS_REDRIVE_POLICY: Final = "aws:sqs/redrivePolicy:RedrivePolicy"
SQS_REDRIVE_ALLOW_POLICY: Final = "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"


def check_sqs_encryption(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type != SQS_QUEUE:
        return []
    kms_key = get(props, "kmsMasterKeyId")
    sse = get(props, "sqsManagedSseEnabled")
    if is_set(kms_key) or sse is True or sse is UNKNOWN:
        return []
    # AWS turns SSE-SQS on for new queues by default, but a guard rail must not rest on a
    # service default that an explicit `sqs_managed_sse_enabled=False` silently overrides.
    return [
        "SQS queue must be encrypted at rest: set sqs_managed_sse_enabled=True or "
        f"kms_master_key_id (got sqsManagedSseEnabled={sse!r}, kmsMasterKeyId={kms_key!r})."
    ]


LAMBDA_EVENT_SOURCE_MAPPING: Final = "aws:lambda/eventSourceMapping:EventSourceMapping"
LAMBDA_FUNCTION: Final = "aws:lambda/function:Function"

# Properties that only event sources other than SQS have (streams, Kafka, MQ, DocumentDB).
_NON_SQS_SOURCE_KEYS: Final = (
    "startingPosition",
    "selfManagedEventSource",
    "selfManagedKafkaEventSourceConfig",
    "amazonManagedKafkaEventSourceConfig",
    "documentDbEventSourceConfig",
    "queues",
    "topics",
)


def is_sqs_mapping(props: Mapping[str, Any]) -> bool:
    """Whether an event source mapping reads from SQS.

    The source ARN says so when known; during preview it usually is not (the queue is created in
    the same update), so a mapping without any stream/Kafka/MQ-only property counts as SQS.
    """
    arn = get(props, "eventSourceArn")
    if isinstance(arn, str):
        return arn.startswith("arn:") and arn.split(":")[2:3] == ["sqs"]
    return not any(get(props, key) is not None for key in _NON_SQS_SOURCE_KEYS)


def check_sqs_mapping_reports_batch_item_failures(
    resource_type: str, props: Mapping[str, Any]
) -> list[str]:
    if resource_type != LAMBDA_EVENT_SOURCE_MAPPING or not is_sqs_mapping(props):
        return []
    types = get(props, "functionResponseTypes")
    listed = items(props, "functionResponseTypes")
    if types is UNKNOWN or UNKNOWN in listed or "ReportBatchItemFailures" in listed:
        return []
    # Without it one failed message makes Lambda retry (and finally dead-letter) the whole batch.
    return [
        "Lambda event source mapping on SQS must report partial batch failures: set "
        f"function_response_types=['ReportBatchItemFailures'] (got {types!r})."
    ]


RULES: Final = (
    ResourceRule(
        "sqs-encryption-at-rest",
        "SQS queues are encrypted at rest (SSE-SQS or a KMS key).",
        check_sqs_encryption,
    ),
    ResourceRule(
        "lambda-sqs-report-batch-item-failures",
        "Lambda event source mappings on SQS report partial batch failures.",
        check_sqs_mapping_reports_batch_item_failures,
    ),
)
