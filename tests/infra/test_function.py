"""The Function component: queue, DLQ, table, Lambda, event source mapping, as recorded."""

from __future__ import annotations

import pulumi
import pytest

from components.config import FunctionConfig
from components.function import Function, FunctionArgs, powertools_layer_arn
from components.sources import tracked_files
from tests.infra.harness import ALONE_ROLES, ROOT, Run, run, run_component
from tests.infra.lookup import one, policy, statements

QUEUE = "aws:sqs/queue:Queue"
FUNCTION = "aws:lambda/function:Function"
ESM = "aws:lambda/eventSourceMapping:EventSourceMapping"
TABLE = "aws:dynamodb/table:Table"


def test_queue_visibility_is_six_function_timeouts_plus_window(stack: Run) -> None:
    fn = one(stack, FUNCTION)
    esm = one(stack, ESM)
    queue = one(stack, QUEUE, "consumer-queue")
    expected = 6 * fn.inputs["timeout"] + esm.inputs["maximumBatchingWindowInSeconds"]
    assert queue.inputs["visibilityTimeoutSeconds"] == expected


def test_visibility_follows_timeout_and_window_from_config() -> None:
    # oldestMessageAlarmSeconds above one poison message's age, 3 x 365 s (test_poison_alarm.py).
    overrides = {"functionTimeoutSeconds": "60", "batchingWindowSeconds": "5"}
    result = run("dev", {**overrides, "oldestMessageAlarmSeconds": "1096"})
    assert result.error is None
    assert one(result, QUEUE, "consumer-queue").inputs["visibilityTimeoutSeconds"] == 365
    assert one(result, FUNCTION).inputs["timeout"] == 60
    assert one(result, ESM).inputs["maximumBatchingWindowInSeconds"] == 5


def test_queue_long_polls_encrypts_and_redrives_to_the_dlq(stack: Run) -> None:
    queue = one(stack, QUEUE, "consumer-queue")
    dlq = one(stack, QUEUE, "consumer-dlq")
    assert queue.inputs["receiveWaitTimeSeconds"] == 20
    assert queue.inputs["sqsManagedSseEnabled"] is True
    assert queue.inputs["messageRetentionSeconds"] == 345_600
    assert policy(queue, "redrivePolicy") == {
        "deadLetterTargetArn": dlq.outputs["arn"],
        "maxReceiveCount": 5,
    }


def test_max_receive_count_comes_from_config() -> None:
    result = run("dev", {"maxReceiveCount": "3"})
    assert policy(one(result, QUEUE, "consumer-queue"), "redrivePolicy")["maxReceiveCount"] == 3


def test_dlq_keeps_14_days_is_encrypted_and_allows_only_the_source_queue(stack: Run) -> None:
    queue = one(stack, QUEUE, "consumer-queue")
    dlq = one(stack, QUEUE, "consumer-dlq")
    assert dlq.inputs["messageRetentionSeconds"] == 14 * 24 * 3600
    assert dlq.inputs["sqsManagedSseEnabled"] is True
    allow = one(stack, "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy")
    assert allow.inputs["queueUrl"] == dlq.outputs["url"]
    assert policy(allow, "redriveAllowPolicy") == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [queue.outputs["arn"]],
    }


@pytest.mark.parametrize("queue_name", ["consumer-queue", "consumer-dlq"])
def test_both_queues_deny_requests_without_tls(stack: Run, queue_name: str) -> None:
    queue = one(stack, QUEUE, queue_name)
    queue_policy = one(stack, "aws:sqs/queuePolicy:QueuePolicy", f"{queue_name}-policy")
    assert queue_policy.inputs["queueUrl"] == queue.outputs["url"]
    assert statements(queue_policy) == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": queue.outputs["arn"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]


def test_lambda_runtime_code_and_settings(dev: Run) -> None:
    fn = one(dev, FUNCTION)
    role = one(dev, "aws:iam/role:Role", "consumer-role")
    logs = one(dev, "aws:cloudwatch/logGroup:LogGroup", "consumer-logs")
    table = one(dev, TABLE)
    i = fn.inputs
    assert i["runtime"] == "python3.13"
    assert i["architectures"] == ["arm64"]
    assert i["handler"] == "handlers.consumer.handler"
    assert i["role"] == role.outputs["arn"]
    assert (i["memorySize"], i["timeout"], i["reservedConcurrentExecutions"]) == (256, 30, 5)
    assert i["tracingConfig"] == {"mode": "Active"}
    assert i["loggingConfig"]["logGroup"] == logs.outputs["name"]
    assert i["loggingConfig"]["logFormat"] == "JSON"
    assert i["layers"] == [
        "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27"
    ]
    assert i["environment"]["variables"] == {
        "IDEMPOTENCY_TABLE_NAME": table.outputs["name"],
        "POWERTOOLS_SERVICE_NAME": "consumer",
        "POWERTOOLS_METRICS_NAMESPACE": "ecr-eks-lambda/consumer",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def test_lambda_code_is_the_tracked_handlers_and_contract_at_the_zip_root(dev: Run) -> None:
    code = one(dev, FUNCTION).inputs["code"]
    assert isinstance(code, pulumi.AssetArchive)
    assert set(code.assets) == set(tracked_files(ROOT, ("handlers", "contract")))
    assert {"handlers/consumer.py", "handlers/__init__.py", "contract/event.py"} <= set(code.assets)
    for name, asset in code.assets.items():
        # One file each, by its path relative to the checkout (where the engine reads it).
        assert isinstance(asset, pulumi.FileAsset)
        assert asset.path == name


def test_x86_function_uses_the_x86_layer() -> None:
    result = run("dev", {"functionArchitecture": "x86_64", "powertoolsLayerVersion": "30"})
    fn = one(result, FUNCTION)
    assert fn.inputs["architectures"] == ["x86_64"]
    assert fn.inputs["layers"] == [powertools_layer_arn("eu-west-1", "x86_64", 30)]
    assert fn.inputs["layers"][0].endswith("AWSLambdaPowertoolsPythonV3-python313-x86_64:30")


def test_log_group_retention_per_stack(dev: Run, prod: Run) -> None:
    kind = "aws:cloudwatch/logGroup:LogGroup"
    assert one(dev, kind, "consumer-logs").inputs["retentionInDays"] == 7
    assert one(prod, kind, "consumer-logs").inputs["retentionInDays"] == 90


def test_event_source_mapping_wires_queue_to_function(stack: Run) -> None:
    esm = one(stack, ESM)
    assert esm.inputs["eventSourceArn"] == one(stack, QUEUE, "consumer-queue").outputs["arn"]
    assert esm.inputs["functionName"] == one(stack, FUNCTION).outputs["arn"]
    assert esm.inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm.inputs["batchSize"] == 10


def test_event_source_concurrency_per_stack(dev: Run, prod: Run) -> None:
    assert one(dev, ESM).inputs["scalingConfig"] == {"maximumConcurrency": 2}
    assert one(prod, ESM).inputs["scalingConfig"] == {"maximumConcurrency": 20}
    assert one(prod, FUNCTION).inputs["reservedConcurrentExecutions"] == 50


def test_idempotency_table_matches_powertools_defaults(stack: Run) -> None:
    table = one(stack, TABLE).inputs
    assert table["billingMode"] == "PAY_PER_REQUEST"
    assert table["hashKey"] == "id"
    assert table["attributes"] == [{"name": "id", "type": "S"}]
    assert table["ttl"] == {"attributeName": "expiration", "enabled": True}
    assert table["serverSideEncryption"] == {"enabled": True}


def test_table_is_protected_in_prod_only(dev: Run, prod: Run) -> None:
    assert one(prod, TABLE).inputs["deletionProtectionEnabled"] is True
    assert one(prod, TABLE).inputs["pointInTimeRecovery"] == {"enabled": True}
    assert one(dev, TABLE).inputs["deletionProtectionEnabled"] is False
    assert one(dev, TABLE).inputs["pointInTimeRecovery"] == {"enabled": False}


def test_powertools_layer_arn_format() -> None:
    assert powertools_layer_arn("ap-south-2", "arm64", 12) == (
        "arn:aws:lambda:ap-south-2:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:12"
    )


def test_stateful_resources_are_protected_in_prod_only(dev: Run, prod: Run) -> None:
    for name, kind in (
        ("consumer-queue", QUEUE),
        ("consumer-dlq", QUEUE),
        ("consumer-idempotency", TABLE),
    ):
        assert one(prod, kind, name).protect is True
        assert one(dev, kind, name).protect is False
    assert one(prod, FUNCTION).protect is False


def test_alone_it_sizes_everything_from_its_section() -> None:
    config = FunctionConfig(
        architecture="x86_64",
        memory_mb=1024,
        timeout_seconds=60,
        reserved_concurrency=8,
        batch_size=100,
        batching_window_seconds=5,
        max_concurrency=3,
        max_receive_count=2,
        queue_retention_seconds=86_400,
        powertools_layer_version=25,
    )

    def build() -> dict[str, object]:
        fn = Function(
            "fn",
            FunctionArgs(
                config=config,
                code_root=ROOT,
                region="us-east-2",
                log_retention_days=14,
                roles=ALONE_ROLES,
                protect=True,
            ),
        )
        return {"queue_url": fn.queue_url, "function_name": fn.function_name}

    result = run_component(build)
    fn = one(result, FUNCTION).inputs
    assert (fn["memorySize"], fn["timeout"], fn["reservedConcurrentExecutions"]) == (1024, 60, 8)
    assert fn["layers"] == [
        "arn:aws:lambda:us-east-2:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:25"
    ]
    queue = one(result, QUEUE, "fn-queue")
    assert queue.inputs["visibilityTimeoutSeconds"] == 6 * 60 + 5
    assert queue.inputs["messageRetentionSeconds"] == 86_400
    assert policy(queue, "redrivePolicy")["maxReceiveCount"] == 2
    assert queue.protect is True
    esm = one(result, ESM).inputs
    assert (esm["batchSize"], esm["maximumBatchingWindowInSeconds"]) == (100, 5)
    assert esm["scalingConfig"] == {"maximumConcurrency": 3}
    logs = one(result, "aws:cloudwatch/logGroup:LogGroup", "fn-logs")
    assert logs.inputs["retentionInDays"] == 14
    assert result.outputs["queue_url"] == queue.outputs["url"]
