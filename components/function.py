"""Function: the SQS queue (with its DLQ), the Lambda that consumes it and its idempotency table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pulumi
import pulumi_aws as aws

from components import limits
from components.config import FunctionConfig
from components.iam import RoleSettings, role
from components.policies import (
    allow,
    deny_insecure_transport,
    document,
    service_trust,
    write_log_streams,
)
from components.sources import as_registered, tracked_files

# AWS's account that publishes the Powertools for AWS Lambda (Python) layers in every
# commercial region (docs.powertools.aws.dev/lambda/python/latest/#lambda-layer).
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
# The aws-lambda-powertools release each known layer version ships: upstream's layer docs
# (docs/includes/_layer_homepage_*.md) list version 27 for every region, runtime and
# architecture from 3.23.0 on. pyproject.toml's handler group pins the same release, so the
# tests run what Lambda runs (tests/handler/test_layer_pin.py fails when the two drift).
POWERTOOLS_LAYER_RELEASES = {27: "3.23.0"}
RUNTIME = "python3.13"
HANDLER = "handlers.consumer.handler"
CODE_SOURCES = ("handlers", "contract")
"""The directories whose tracked files make up the Lambda's code."""
# POWERTOOLS_SERVICE_NAME when not overridden: part of every idempotency key and the metrics'
# `service` dimension, so changing it resets the idempotency window (docs/handler.md).
SERVICE_NAME = "consumer"
# The idempotency table's partition key and TTL attribute: Powertools' DynamoDBPersistenceLayer
# defaults (key_attr, expiry_attr), which the handler keeps.
IDEMPOTENCY_KEY_ATTRIBUTE = "id"
IDEMPOTENCY_TTL_ATTRIBUTE = "expiration"

_Value = TypeVar("_Value")


def function_environment(table_name: _Value, service_name: str) -> dict[str, _Value | str]:
    """The consumer's environment variables for its idempotency table (a name, or the table's
    Output under Pulumi): what the Lambda gets and what local/ gives its stand-in."""
    return {
        "IDEMPOTENCY_TABLE_NAME": table_name,
        "POWERTOOLS_SERVICE_NAME": service_name,
        "POWERTOOLS_METRICS_NAMESPACE": f"ecr-eks-lambda/{service_name}",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def powertools_layer_arn(
    region: str, architecture: str, version: int, runtime: str = RUNTIME
) -> str:
    """The ARN of AWS's published Powertools v3 layer for a region, runtime and architecture.

    Format: arn:aws:lambda:{region}:017000801446:layer:
    AWSLambdaPowertoolsPythonV3-{python313}-{arm64|x86_64}:{version}.
    """
    python = runtime.replace(".", "")
    return (
        f"arn:aws:lambda:{region}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
        f"AWSLambdaPowertoolsPythonV3-{python}-{architecture}:{version}"
    )


@dataclass(frozen=True, kw_only=True)
class FunctionArgs:
    """Inputs of the Function component."""

    config: FunctionConfig
    """The Lambda's size and layer, the event source mapping and the queue's redrive."""
    code_root: Path
    """The checkout holding `handlers/` and `contract/` (the program's working directory):
    their tracked files are zipped at the archive root."""
    region: str
    """AWS region, used to pick the Powertools layer published there."""
    log_retention_days: int
    """Retention of the function's log group (logRetentionDays)."""
    roles: RoleSettings
    """How its IAM roles are created (the stack's permissions boundary)."""
    protect: bool
    """Deletion protection and point-in-time recovery on the idempotency table, and Pulumi's
    `protect` on the table and both queues (protectResources)."""


class Function(pulumi.ComponentResource):
    """An SQS queue with a DLQ, consumed by a Lambda with partial batch failures and idempotency."""

    queue: aws.sqs.Queue
    """The queue producers send events to."""
    dead_letter_queue: aws.sqs.Queue
    """Where a message goes after `max_receive_count` failed receives; kept 14 days."""
    table: aws.dynamodb.Table
    """The Powertools idempotency table (key `id`, TTL `expiration`)."""
    function: aws.lambda_.Function
    """The consumer Lambda."""
    log_group: aws.cloudwatch.LogGroup
    """The function's own log group, with retention."""
    role: aws.iam.Role
    """The function's execution role."""
    event_source_mapping: aws.lambda_.EventSourceMapping
    """Connects the queue to the function."""

    def __init__(
        self, name: str, args: FunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecr-eks-lambda:components:Function", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        # Stateful children (messages, idempotency records) refuse `pulumi destroy` when
        # protected; the rest can always be replaced.
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)

        # SQS-managed SSE (SSE-SQS): encryption at rest with keys SQS owns and rotates. A
        # customer-managed KMS key would make every producer and the Lambda need kms:
        # permissions and a key policy for them, with no gain in who can read messages
        # (the queue policy and IAM still decide that).
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-dlq",
            aws.sqs.QueueArgs(
                message_retention_seconds=limits.DLQ_RETENTION_SECONDS,
                sqs_managed_sse_enabled=True,
                receive_wait_time_seconds=limits.LONG_POLL_SECONDS,
            ),
            stateful,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-queue",
            aws.sqs.QueueArgs(
                visibility_timeout_seconds=config.visibility_timeout_seconds,
                message_retention_seconds=config.queue_retention_seconds,
                receive_wait_time_seconds=limits.LONG_POLL_SECONDS,
                sqs_managed_sse_enabled=True,
                redrive_policy=pulumi.Output.json_dumps(
                    {
                        "deadLetterTargetArn": self.dead_letter_queue.arn,
                        "maxReceiveCount": config.max_receive_count,
                    }
                ),
            ),
            stateful,
        )
        # A separate resource, because the DLQ's allow-list names the source queue, which
        # itself names the DLQ: set inline, the two queues would depend on each other.
        aws.sqs.RedriveAllowPolicy(
            f"{name}-dlq-redrive-allow",
            aws.sqs.RedriveAllowPolicyArgs(
                queue_url=self.dead_letter_queue.url,
                redrive_allow_policy=pulumi.Output.json_dumps(
                    {"redrivePermission": "byQueue", "sourceQueueArns": [self.queue.arn]}
                ),
            ),
            child,
        )
        for label, queue in (("queue", self.queue), ("dlq", self.dead_letter_queue)):
            aws.sqs.QueuePolicy(
                f"{name}-{label}-policy",
                aws.sqs.QueuePolicyArgs(
                    queue_url=queue.url,
                    policy=document(deny_insecure_transport("sqs:*", queue.arn)),
                ),
                child,
            )

        self.table = aws.dynamodb.Table(
            f"{name}-idempotency",
            aws.dynamodb.TableArgs(
                billing_mode="PAY_PER_REQUEST",
                hash_key=IDEMPOTENCY_KEY_ATTRIBUTE,
                attributes=[
                    aws.dynamodb.TableAttributeArgs(name=IDEMPOTENCY_KEY_ATTRIBUTE, type="S")
                ],
                ttl=aws.dynamodb.TableTtlArgs(
                    attribute_name=IDEMPOTENCY_TTL_ATTRIBUTE, enabled=True
                ),
                server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
                point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(
                    enabled=args.protect
                ),
                deletion_protection_enabled=args.protect,
            ),
            stateful,
        )

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            aws.cloudwatch.LogGroupArgs(retention_in_days=args.log_retention_days),
            child,
        )

        self.role = role(
            f"{name}-role", document(service_trust("lambda.amazonaws.com")), args.roles, child
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            aws.iam.RolePolicyArgs(role=self.role.id, policy=self.execution_policy()),
            child,
        )

        layer = powertools_layer_arn(
            args.region, config.architecture, config.powertools_layer_version
        )
        # Each tracked file by its relative path: a directory archive would take in
        # __pycache__ and scratch files, and an absolute path the checkout's location.
        code = pulumi.AssetArchive(
            {
                source: pulumi.FileAsset(as_registered(args.code_root / source))
                for source in tracked_files(args.code_root, CODE_SOURCES)
            }
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            aws.lambda_.FunctionArgs(
                runtime=RUNTIME,
                architectures=[config.architecture],
                handler=HANDLER,
                code=code,
                role=self.role.arn,
                memory_size=config.memory_mb,
                timeout=config.timeout_seconds,
                reserved_concurrent_executions=config.reserved_concurrency,
                layers=[layer],
                tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
                logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                    log_format="JSON",
                    log_group=self.log_group.name,
                    application_log_level="INFO",
                    system_log_level="WARN",
                ),
                environment=aws.lambda_.FunctionEnvironmentArgs(
                    variables=function_environment(self.table.name, SERVICE_NAME)
                ),
            ),
            # Lambda checks the role when the function is created; the policy must be there.
            pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )

        self.event_source_mapping = aws.lambda_.EventSourceMapping(
            f"{name}-events",
            aws.lambda_.EventSourceMappingArgs(
                event_source_arn=self.queue.arn,
                function_name=self.function.arn,
                batch_size=config.batch_size,
                maximum_batching_window_in_seconds=config.batching_window_seconds,
                function_response_types=["ReportBatchItemFailures"],
                scaling_config=aws.lambda_.EventSourceMappingScalingConfigArgs(
                    maximum_concurrency=config.max_concurrency
                ),
            ),
            # The mapping's creation validates sqs:ReceiveMessage on the role.
            pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )

        self.queue_url: pulumi.Output[str] = self.queue.url
        """URL of the queue producers send to."""
        self.dead_letter_queue_url: pulumi.Output[str] = self.dead_letter_queue.url
        """URL of the DLQ (to inspect or redrive failed messages)."""
        self.function_name: pulumi.Output[str] = self.function.name
        """Name of the consumer Lambda."""

        self.register_outputs(
            {
                "queue_url": self.queue_url,
                "dead_letter_queue_url": self.dead_letter_queue_url,
                "function_name": self.function_name,
                "table_name": self.table.name,
            }
        )

    def execution_policy(self) -> pulumi.Output[str]:
        """The Lambda's permissions: consume this queue, write its own log group, X-Ray, and
        read/write items of its idempotency table. Nothing else."""
        return document(
            allow(
                ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                self.queue.arn,
                sid="ConsumeQueue",
            ),
            write_log_streams(self.log_group.arn, sid="WriteOwnLogs"),
            # X-Ray's Put* actions support no resource-level permissions; "*" is the only form.
            allow(["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*", sid="Tracing"),
            allow(
                [
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                ],
                self.table.arn,
                sid="IdempotencyRecords",
            ),
        )

    def send_policy(self) -> pulumi.Output[str]:
        """A policy document that lets a producer send to this queue and read its attributes
        (for a readiness check), and nothing else."""
        return document(
            allow(["sqs:SendMessage", "sqs:GetQueueAttributes"], self.queue.arn, sid="SendToQueue")
        )
