"""The handler in its own process under awslambdaric, behind the local Runtime API."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.dynalite import DynaliteServer
from local.poller import SqsPoller, running
from local.runtime_api import RuntimeApiInvoker
from local.servers import MotoServer, create_queues, queue_depth
from tests.handler.helpers import emf, send_event
from tests.wait import wait_until


@pytest.fixture
def invoker_for(tmp_path: Path) -> Iterator[Any]:
    made: list[RuntimeApiInvoker] = []

    def make(handler: str, env: dict[str, str] | None = None) -> RuntimeApiInvoker:
        log = (tmp_path / f"{uuid.uuid4().hex}.log").open("w")
        invoker = RuntimeApiInvoker(handler, env=env, stdout=log)
        made.append(invoker)
        return invoker

    yield make
    for invoker in made:
        invoker.close()


def test_warm_invocations_reuse_one_process(invoker_for):
    invoke = invoker_for("tests.handler.fake_functions.echo")

    first = invoke({"n": 1}, 3.0)
    second = invoke({"n": 2}, 3.0)

    assert first.ok, first.error
    assert second.ok, second.error
    assert first.response["event"] == {"n": 1}
    assert second.response["event"] == {"n": 2}
    assert first.response["pid"] == second.response["pid"]
    assert first.response["request_id"] != second.response["request_id"]
    assert 2000 < second.response["remaining_ms"] <= 3000
    assert invoke.cold_starts == 1


def test_function_error_fails_the_invocation_but_keeps_the_environment(invoker_for):
    invoke = invoker_for("tests.handler.fake_functions.fail")

    result = invoke({}, 3.0)
    again = invoke({}, 3.0)

    assert not result.ok
    assert json.loads(result.error or "")["errorMessage"] == "handler refused the batch"
    assert not again.ok
    assert invoke.cold_starts == 1


def test_timeout_kills_the_process_and_the_next_call_is_cold(invoker_for):
    invoke = invoker_for("tests.handler.fake_functions.sleep")

    result = invoke({"seconds": 5}, 0.3)
    assert not result.ok
    assert "Task timed out after 0.30 seconds" in (result.error or "")

    quick = invoke({"seconds": 0}, 3.0)
    assert quick.ok, quick.error
    assert invoke.cold_starts == 2


def test_crash_fails_the_invocation_and_the_next_call_is_cold(invoker_for):
    invoke = invoker_for("tests.handler.fake_functions.crash")

    result = invoke({}, 3.0)

    assert not result.ok
    assert "exit status 3" in (result.error or "")
    assert not invoke({}, 3.0).ok
    assert invoke.cold_starts == 2


def test_init_error_fails_the_invocation(invoker_for):
    invoke = invoker_for("tests.handler.no_such_module.handler")

    result = invoke({}, 3.0)

    assert not result.ok
    assert (result.error or "").startswith("Runtime.InitError: ")
    detail = json.loads((result.error or "").removeprefix("Runtime.InitError: "))
    assert detail["errorType"] == "Runtime.ImportModuleError"
    assert "tests.handler.no_such_module" in detail["errorMessage"]
    assert invoke.cold_starts == 1


# What is under test here is the event source, not the table's server (test_consumer.py runs
# the idempotency cases on both): moto only.
@pytest.mark.parametrize("dynamodb", ["moto"], indirect=True)
def test_consumer_under_awslambdaric_ends_good_processed_once_and_poison_in_the_dlq(
    aws_env: MotoServer, dynamodb: MotoServer | DynaliteServer, table: str, tmp_path: Path
):
    sqs = aws_env.client("sqs")
    q = create_queues(
        sqs,
        f"rt-{uuid.uuid4().hex[:8]}",
        visibility_timeout_seconds=1,
        max_receive_count=2,
        receive_wait_time_seconds=0,
    )
    good = [f"evt-{i}" for i in range(8)]
    for event_id in good + good[:3]:  # three delivered twice
        send_event(sqs, q.url, event_id)
    poison = ["not json", json.dumps({"id": "x", "type": "a.b"})]
    for body in poison:
        sqs.send_message(QueueUrl=q.url, MessageBody=body)
    log_path = tmp_path / "function.log"
    with log_path.open("w") as log:
        invoker = RuntimeApiInvoker(
            "tests.handler.fake_functions.consumer_crashing_once",
            env={
                "IDEMPOTENCY_TABLE_NAME": table,
                "AWS_ENDPOINT_URL_DYNAMODB": dynamodb.endpoint,
                "POWERTOOLS_SERVICE_NAME": "consumer",
                "POWERTOOLS_METRICS_NAMESPACE": "ecr-eks-lambda-test",
                "CRASH_MARKER": str(tmp_path / "crashed"),
            },
            stdout=log,
        )
        poller = SqsPoller(sqs, q.url, invoker, wait_time_seconds=0, function_timeout_seconds=5)
        try:
            with running(poller):
                wait_until(
                    lambda: (
                        queue_depth(sqs, q.dlq_url) == len(poison) and queue_depth(sqs, q.url) == 0
                    ),
                    "poison in the DLQ and the queue drained",
                    40,
                )
        finally:
            invoker.close()

    lines = [json.loads(x) for x in log_path.read_text().splitlines() if x.startswith("{")]
    applied = Counter(x["event_id"] for x in lines if x.get("message") == "event applied")
    assert applied == Counter({event_id: 1 for event_id in good})
    assert poller.stats.failed_invocations == 1  # the crash: nothing deleted, all retried
    assert invoker.cold_starts == 2
    items = dynamodb.client("dynamodb").scan(TableName=table)["Items"]
    assert sorted(i["status"]["S"] for i in items) == ["COMPLETED"] * len(good)
    assert any(x.get("reason") == "invalid_event" for x in lines)
    emf_blobs = [x for x in lines if "ProcessedRecords" in x]
    # Metrics count deliveries, so redeliveries (the crashed batch) can add to them.
    totals = emf(log_path.read_text())
    assert totals["ProcessedRecords"] >= len(good) + 3  # the 3 duplicates succeed too
    assert totals["DuplicateRecords"] >= 3
    assert len(poison) <= totals["InvalidRecords"] <= 2 * len(poison)
    assert {x["service"] for x in emf_blobs} == {"consumer"}
    assert all(x["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]] for x in emf_blobs)


def test_consumer_without_its_table_setting_fails_init_clearly(invoker_for, monkeypatch):
    monkeypatch.delenv("IDEMPOTENCY_TABLE_NAME", raising=False)
    invoke = invoker_for("handlers.consumer.handler", env={"POWERTOOLS_METRICS_NAMESPACE": "t"})

    result = invoke({"Records": []}, 3.0)

    assert not result.ok
    assert "Runtime.InitError" in (result.error or "")
    assert "IDEMPOTENCY_TABLE_NAME is required" in (result.error or "")
