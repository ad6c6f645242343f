"""The Alarms component: four alarms to an encrypted topic, email when configured."""

from __future__ import annotations

from components.alarms import Alarms, AlarmsArgs
from components.config import AlarmsConfig
from tests.infra.harness import Run, run, run_component
from tests.infra.lookup import of_type, one, statements

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def test_four_alarms_cover_dlq_age_errors_and_throttles(stack: Run) -> None:
    dlq = one(stack, "aws:sqs/queue:Queue", "consumer-dlq").outputs["name"]
    queue = one(stack, "aws:sqs/queue:Queue", "consumer-queue").outputs["name"]
    fn = one(stack, "aws:lambda/function:Function").outputs["name"]
    alarms = {a.name: a.inputs for a in of_type(stack, ALARM)}
    got = {
        name: (a["namespace"], a["metricName"], a["dimensions"], a["threshold"])
        for name, a in alarms.items()
    }
    assert got == {
        "alarms-dlq-depth": (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": dlq},
            0,
        ),
        "alarms-oldest-message": (
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            {"QueueName": queue},
            600,
        ),
        "alarms-errors": ("AWS/Lambda", "Errors", {"FunctionName": fn}, 0),
        "alarms-throttles": ("AWS/Lambda", "Throttles", {"FunctionName": fn}, 0),
    }
    assert all(a["comparisonOperator"] == "GreaterThanThreshold" for a in alarms.values())


def test_alarms_notify_the_topic(stack: Run) -> None:
    topic = one(stack, "aws:sns/topic:Topic").outputs["arn"]
    for alarm in of_type(stack, ALARM):
        assert alarm.inputs["alarmActions"] == [topic]
        assert alarm.inputs["okActions"] == [topic]


def test_topic_is_encrypted_with_a_key_cloudwatch_may_use(stack: Run) -> None:
    key = one(stack, "aws:kms/key:Key", "alarms-key")
    assert one(stack, "aws:sns/topic:Topic").inputs["kmsMasterKeyId"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True
    cloudwatch = [
        s for s in statements(key) if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(cloudwatch) == 1
    assert cloudwatch[0]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_no_subscription_without_an_address(stack: Run) -> None:
    assert of_type(stack, "aws:sns/topicSubscription:TopicSubscription") == []


def test_email_subscription_when_configured() -> None:
    result = run("dev", {"alarmEmail": "oncall@example.com", "oldestMessageAlarmSeconds": "900"})
    sub = one(result, "aws:sns/topicSubscription:TopicSubscription").inputs
    assert sub["protocol"] == "email"
    assert sub["endpoint"] == "oncall@example.com"
    assert sub["topic"] == one(result, "aws:sns/topic:Topic").outputs["arn"]
    assert one(result, ALARM, "alarms-oldest-message").inputs["threshold"] == 900


def test_alone_it_watches_the_names_it_is_given() -> None:
    result = run_component(
        lambda: {
            "topic": Alarms(
                "watch",
                AlarmsArgs(
                    config=AlarmsConfig(oldest_message_seconds=900, email="ops@example.com"),
                    queue_name="q",
                    dead_letter_queue_name="dlq",
                    function_name="f",
                ),
            ).topic_arn
        }
    )
    alarms = {a.name: a.inputs for a in of_type(result, ALARM)}
    assert alarms["watch-dlq-depth"]["dimensions"] == {"QueueName": "dlq"}
    assert alarms["watch-oldest-message"]["dimensions"] == {"QueueName": "q"}
    assert alarms["watch-oldest-message"]["threshold"] == 900
    assert alarms["watch-errors"]["dimensions"] == {"FunctionName": "f"}
    sub = one(result, "aws:sns/topicSubscription:TopicSubscription").inputs
    assert (sub["endpoint"], sub["topic"]) == ("ops@example.com", result.outputs["topic"])
