"""The consumer against real SQS event shapes, with its idempotency table on moto's DynamoDB
and on dynalite (the `table` fixture runs each test on both)."""

from __future__ import annotations

import json
import time

import pytest

from contract import PRODUCER
from handlers import consumer
from local.lambda_context import LocalLambdaContext
from tests.handler import sqs_events as sqs
from tests.handler.helpers import Applied, Logs, emf
from tests.json_corpus import CORPUS

# A killed or misconfigured invocation adds no metrics before Powertools flushes them.
NO_METRICS = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def invoke(event: dict, *, timeout_seconds: float = 30.0) -> dict:
    return consumer.handler(event, LocalLambdaContext(timeout_seconds=timeout_seconds))


def failures(response: dict) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def test_all_good_records_are_applied_and_none_reported(table, applied: Applied, logs, capsys):
    records = [sqs.good(f"evt-{i}") for i in range(3)]

    response = invoke(sqs.event(*records))

    assert response == {"batchItemFailures": []}
    assert applied.ids == ["evt-0", "evt-1", "evt-2"]
    out = capsys.readouterr().out
    metrics = emf(out)
    assert metrics["ProcessedRecords"] == 3
    assert metrics["FailedRecords"] == 0
    [blob] = [json.loads(x) for x in out.splitlines() if '"ProcessedRecords"' in x]
    [directive] = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "ecr-eks-lambda-test"


def test_all_bad_records_are_each_reported_with_the_reason(table, applied, logs: Logs, capsys):
    bodies = {
        "not-json": "{not json",
        "missing-type": json.dumps({"id": "e1", "data": {}}),
        "bad-type": json.dumps({"id": "e2", "type": "Order Created", "data": {}}),
        "extra-field": json.dumps({"id": "e3", "type": "a.b", "data": {}, "x": 1}),
        "missing-id": json.dumps({"type": "a.b", "data": {}}),
    }
    records = [sqs.record(b, message_id=name) for name, b in bodies.items()]

    response = invoke(sqs.event(*records))

    # Reported, not raised: every record listed, in order.
    assert failures(response) == list(bodies)
    assert applied.ids == []
    rejected = {line["message_id"]: line for line in logs.with_reason("invalid_event")}
    assert set(rejected) == set(bodies)
    assert rejected["not-json"]["field"] == "$"
    assert "not valid JSON" in rejected["not-json"]["detail"]
    assert rejected["missing-type"]["field"] == "type"
    assert rejected["bad-type"]["field"] == "type"
    assert rejected["extra-field"]["field"] == "x"
    assert rejected["missing-id"]["field"] == "id"
    assert all(line["level"] == "WARNING" for line in rejected.values())
    assert all(line["receive_count"] == "1" for line in rejected.values())
    metrics = emf(capsys.readouterr().out)
    assert metrics["FailedRecords"] == 5
    assert metrics["InvalidRecords"] == 5
    assert metrics["ProcessedRecords"] == 0


def test_hostile_bodies_are_invalid_events_and_the_rest_of_the_batch_is_applied(
    table, applied: Applied, logs: Logs
):
    # The app's own corpus (tests/json_corpus.py), as SQS would carry it: text. Bodies that
    # are not UTF-8 cannot be SQS message bodies at all.
    fields = {}
    records = [sqs.good("before")]
    for name, body, _, field in CORPUS:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            continue
        fields[name] = field
        records.append(sqs.record(text, message_id=name))
    records.append(sqs.good("after"))

    response = invoke(sqs.event(*records))

    assert failures(response) == list(fields)
    assert applied.ids == ["before", "after"]
    rejected = {line["message_id"]: line for line in logs.with_reason("invalid_event")}
    assert {name: line["field"] for name, line in rejected.items()} == fields
    assert not logs.with_reason("processing_error")


def test_mixed_batch_reports_only_the_poison_record(table, applied: Applied, logs: Logs):
    poison = sqs.record('{"id": "p1", "type": "a.b"}', event_id="p1")
    records = [sqs.good("g1"), poison, sqs.good("g2")]

    response = invoke(sqs.event(*records))

    assert failures(response) == [poison["messageId"]]
    assert applied.ids == ["g1", "g2"]
    [line] = logs.with_reason("invalid_event")
    assert line["field"] == "data"
    assert line["event_id_attribute"] == "p1"
    assert line["message_id"] == poison["messageId"]


def test_empty_batch_needs_no_table(aws_env, applied, monkeypatch, capsys):
    monkeypatch.delenv("IDEMPOTENCY_TABLE_NAME", raising=False)
    monkeypatch.setattr(consumer, "_idempotency", None)

    assert invoke(sqs.event()) == {"batchItemFailures": []}
    assert emf(capsys.readouterr().out)["ProcessedRecords"] == 0


@NO_METRICS
def test_a_non_sqs_event_fails_the_invocation(table, applied):
    with pytest.raises(TypeError, match="not an SQS event: expected a 'Records' list"):
        invoke({"detail-type": "x"})


def test_duplicate_event_ids_have_one_effect(table, applied: Applied, logs: Logs, capsys):
    first, again = sqs.good("dup-1"), sqs.good("dup-1")  # two messages, one event
    same_message = sqs.good("dup-2")

    response = invoke(sqs.event(first, again, same_message, same_message))
    later = invoke(sqs.event(sqs.good("dup-1")))

    assert failures(response) == []
    assert failures(later) == []
    assert applied.ids == ["dup-1", "dup-2"]
    assert len([line for line in logs.lines() if line.get("duplicate")]) == 3
    assert emf(capsys.readouterr().out)["DuplicateRecords"] == 3


def test_idempotency_records_are_stored_completed_with_a_ttl(table, applied, dynamodb):
    invoke(sqs.event(sqs.good("ttl-1")))

    items = dynamodb.client("dynamodb").scan(TableName=table)["Items"]
    assert len(items) == 1
    assert items[0]["status"]["S"] == "COMPLETED"
    expiry = int(items[0]["expiration"]["N"])
    assert abs(expiry - (time.time() + consumer.DEFAULT_TTL_SECONDS)) < 60
    assert json.loads(items[0]["data"]["S"]) == {"applied": "ttl-1"}


def test_a_record_whose_processing_raises_fails_alone_and_is_retried(
    table, applied: Applied, logs: Logs
):
    applied.fail_ids = {"boom"}
    boom = sqs.good("boom")

    response = invoke(sqs.event(sqs.good("ok-1"), boom, sqs.good("ok-2")))

    assert failures(response) == [boom["messageId"]]
    assert applied.ids == ["ok-1", "ok-2"]
    [line] = logs.with_reason("processing_error")
    assert line["level"] == "ERROR"
    assert line["event_id"] == "boom"
    assert "downstream refused boom" in line["exception"]

    # Powertools deleted the IN_PROGRESS record, so the redelivery runs it again.
    applied.fail_ids = set()
    assert failures(invoke(sqs.event(sqs.good("boom", receive_count=2)))) == []
    assert applied.ids == ["ok-1", "ok-2", "boom"]


class _Killed(BaseException):
    """The invocation dies mid-record (timeout, out of memory): no cleanup runs."""


@NO_METRICS
def test_event_in_progress_elsewhere_is_reported_then_retried_after_its_deadline(
    table, applied: Applied, logs: Logs
):
    def die(event_id: str) -> None:
        if event_id == "held":
            raise _Killed

    applied.hook = die
    with pytest.raises(_Killed):
        invoke(sqs.event(sqs.good("held")), timeout_seconds=2.0)
    applied.hook = None

    # Within the first invocation's deadline the event is locked: reported, not dropped.
    held = sqs.good("held", receive_count=2)
    response = invoke(sqs.event(sqs.good("free"), held))
    assert failures(response) == [held["messageId"]]
    assert applied.ids == ["free"]
    [line] = logs.with_reason("in_progress")
    assert line["message_id"] == held["messageId"]

    # After it, the lock has lapsed and the redelivery applies the event.
    time.sleep(2.1)
    assert failures(invoke(sqs.event(sqs.good("held", receive_count=3)))) == []
    assert applied.ids == ["free", "held"]


def test_logs_carry_the_request_id_and_the_message_id(table, logs: Logs):
    record = sqs.good("log-1")
    context = LocalLambdaContext()

    consumer.handler(sqs.event(record), context)

    [applied_line] = [line for line in logs.lines() if line["message"] == "event applied"]
    assert applied_line["function_request_id"] == context.aws_request_id
    assert applied_line["message_id"] == record["messageId"]
    assert applied_line["event_id"] == "log-1"
    assert applied_line["event_type"] == "order.created"
    # Per-record keys do not leak into what is logged after the invocation.
    consumer.logger.info("between invocations")
    assert "message_id" not in logs.lines()[-1]
    assert "event_id" not in logs.lines()[-1]


@NO_METRICS
def test_missing_table_name_fails_the_invocation_clearly(aws_env, applied, monkeypatch):
    monkeypatch.delenv("IDEMPOTENCY_TABLE_NAME", raising=False)
    monkeypatch.setattr(consumer, "_idempotency", None)

    with pytest.raises(consumer.ConfigurationError, match="IDEMPOTENCY_TABLE_NAME is required"):
        invoke(sqs.event(sqs.good("x")))
    assert applied.ids == []


@NO_METRICS
@pytest.mark.parametrize("value", ["ten", "5", "-1"])
def test_bad_ttl_setting_names_the_variable_and_the_allowed_values(table, monkeypatch, value):
    monkeypatch.setenv("IDEMPOTENCY_TTL_SECONDS", value)

    with pytest.raises(consumer.ConfigurationError, match=r"TTL_SECONDS must be .*>= 60"):
        invoke(sqs.event(sqs.good("x")))


def test_logs_say_who_sent_each_record(table, logs: Logs):
    # The app sets `producer` to the sub of the token that posted the event; without
    # authentication it is absent, and so is the key in the log.
    sent_by = sqs.good("who-1")
    sent_by["messageAttributes"][PRODUCER.name] = {
        "stringValue": "billing-service",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    poison = sqs.record('{"id": "who-2", "type": "a.b"}', event_id="who-2")
    poison["messageAttributes"][PRODUCER.name] = dict(
        sent_by["messageAttributes"][PRODUCER.name], stringValue="careless-service"
    )
    anonymous = sqs.good("who-3")

    invoke(sqs.event(anonymous, poison, sent_by))

    applied = {
        line["event_id"]: line for line in logs.lines() if line["message"] == "event applied"
    }
    assert applied["who-1"]["producer"] == "billing-service"
    assert "producer" not in applied["who-3"]
    [rejected] = logs.with_reason("invalid_event")
    assert rejected["producer"] == "careless-service"
    consumer.logger.info("between invocations")
    assert "producer" not in logs.lines()[-1]
