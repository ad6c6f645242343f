"""The Dashboard component: every widget shows a metric AWS publishes, with the dimensions AWS
publishes it by, for the stack's own queue, DLQ and function; the alarm widget shows exactly
the stack's alarms; the body and the name stay within CloudWatch's rules.

The metric table below is AWS's, written out as literals:
- SQS developer guide, "Available CloudWatch metrics for Amazon SQS": NumberOfMessagesSent,
  NumberOfMessagesReceived, NumberOfMessagesDeleted, ApproximateAgeOfOldestMessage,
  ApproximateNumberOfMessagesVisible, in AWS/SQS, whose only dimension is QueueName.
- Lambda developer guide, "Types of metrics for Lambda functions": Invocations, Errors,
  Throttles, Duration (percentiles supported), by FunctionName (or Resource,
  ExecutedVersion); "Monitoring concurrency": ConcurrentExecutions "for all functions,
  versions, and aliases", viewed with MAX. Older versions of the guide emitted it per function
  only for functions with reserved concurrency, which this function always has
  (functionReservedConcurrency >= 2).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.config import PROJECT, load_stack_config
from components.config.base import FileConfig
from components.dashboard import Dashboard, DashboardArgs, console_url
from tests.infra.harness import Run, run_component
from tests.infra.lookup import of_type, one

DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
QUEUE = "aws:sqs/queue:Queue"

PUBLISHED: dict[tuple[str, str], set[tuple[str, ...]]] = {
    ("AWS/SQS", "NumberOfMessagesSent"): {("QueueName",)},
    ("AWS/SQS", "NumberOfMessagesReceived"): {("QueueName",)},
    ("AWS/SQS", "NumberOfMessagesDeleted"): {("QueueName",)},
    ("AWS/SQS", "ApproximateAgeOfOldestMessage"): {("QueueName",)},
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): {("QueueName",)},
    ("AWS/Lambda", "Invocations"): {("FunctionName",), ("FunctionName", "Resource")},
    ("AWS/Lambda", "Errors"): {("FunctionName",), ("FunctionName", "Resource")},
    ("AWS/Lambda", "Throttles"): {("FunctionName",), ("FunctionName", "Resource")},
    ("AWS/Lambda", "Duration"): {("FunctionName",), ("FunctionName", "Resource")},
    ("AWS/Lambda", "ConcurrentExecutions"): {("FunctionName",), ("FunctionName", "Resource")},
}
"""(namespace, metric) -> the dimension sets AWS publishes it with."""
# CloudWatch's statistics ("CloudWatch statistics definitions"): the five basic ones, and
# percentiles pNN or pNN.NN.
STATISTIC = re.compile(r"SampleCount|Average|Sum|Minimum|Maximum|p(100|\d{1,2})(\.\d{1,2})?")
# PutDashboard's DashboardName: "The maximum length is 255, and valid characters are A-Z,
# a-z, 0-9, "-", and "_"" (CloudWatch API reference).
DASHBOARD_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")


def body(run_: Run) -> dict[str, Any]:
    return json.loads(one(run_, DASHBOARD).inputs["dashboardBody"])


def widgets(run_: Run, kind: str) -> list[dict[str, Any]]:
    return [w for w in body(run_)["widgets"] if w["type"] == kind]


def rows(widget: dict[str, Any]) -> list[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """Each metric of a metric widget: namespace, name, dimensions, rendering options."""
    found = []
    for row in widget["properties"]["metrics"]:
        options = row[-1] if isinstance(row[-1], dict) else {}
        plain = row[:-1] if options else row
        namespace, metric, *pairs = plain
        assert len(pairs) % 2 == 0, row
        found.append((namespace, metric, dict(zip(pairs[::2], pairs[1::2], strict=True)), options))
    return found


def shown(run_: Run) -> list[tuple[str, str, tuple[tuple[str, str], ...], str]]:
    """Every metric shown: namespace, name, dimensions, the statistic it is drawn with."""
    return [
        (
            namespace,
            metric,
            tuple(sorted(dims.items())),
            options.get("stat", w["properties"]["stat"]),
        )
        for w in widgets(run_, "metric")
        for namespace, metric, dims, options in rows(w)
    ]


def test_every_metric_is_one_aws_publishes_with_exactly_its_dimensions(stack: Run) -> None:
    metrics = shown(stack)
    assert metrics
    for namespace, metric, dims, _ in metrics:
        assert (namespace, metric) in PUBLISHED, (namespace, metric)
        assert tuple(sorted(name for name, _ in dims)) in PUBLISHED[(namespace, metric)], metric


def test_the_data_path_of_this_stack_is_shown(stack: Run) -> None:
    queue = one(stack, QUEUE, "consumer-queue").outputs["name"]
    dlq = one(stack, QUEUE, "consumer-dlq").outputs["name"]
    function = one(stack, "aws:lambda/function:Function").outputs["name"]
    on_queue = (("QueueName", queue),)
    on_function = (("FunctionName", function),)
    assert sorted(shown(stack)) == sorted(
        [
            ("AWS/SQS", "NumberOfMessagesSent", on_queue, "Sum"),
            ("AWS/SQS", "NumberOfMessagesReceived", on_queue, "Sum"),
            ("AWS/SQS", "NumberOfMessagesDeleted", on_queue, "Sum"),
            ("AWS/SQS", "ApproximateAgeOfOldestMessage", on_queue, "Maximum"),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible", (("QueueName", dlq),), "Maximum"),
            ("AWS/Lambda", "Invocations", on_function, "Sum"),
            ("AWS/Lambda", "Errors", on_function, "Sum"),
            ("AWS/Lambda", "Throttles", on_function, "Sum"),
            ("AWS/Lambda", "Duration", on_function, "p50"),
            ("AWS/Lambda", "Duration", on_function, "p99"),
            ("AWS/Lambda", "ConcurrentExecutions", on_function, "Maximum"),
        ]
    )


def test_every_statistic_is_one_cloudwatch_computes(stack: Run) -> None:
    graphs = widgets(stack, "metric")
    stats = [w["properties"]["stat"] for w in graphs]
    stats += [options["stat"] for w in graphs for *_, options in rows(w) if "stat" in options]
    assert len(stats) == len(graphs) + 2  # the two duration percentiles
    for stat in stats:
        assert STATISTIC.fullmatch(stat), stat


def test_every_graph_reads_the_stacks_region_once_a_minute(stack: Run) -> None:
    region = one(stack, "pulumi:providers:aws").inputs["region"]
    for graph in widgets(stack, "metric"):
        properties = graph["properties"]
        assert properties["region"] == region
        assert properties["period"] == 60
        assert properties["view"] == "timeSeries"
        assert properties["title"]


def test_the_alarm_widget_shows_exactly_the_stacks_alarms(stack: Run) -> None:
    arns = [a.outputs["arn"] for a in of_type(stack, ALARM)]
    assert len(arns) == 4
    [widget] = widgets(stack, "alarm")
    assert sorted(widget["properties"]["alarms"]) == sorted(arns)
    # The alarm status widget takes 1-100 alarm ARNs (Dashboard Body Structure and Syntax).
    assert 1 <= len(widget["properties"]["alarms"]) <= 100


def test_the_body_is_within_cloudwatchs_dashboard_limits(stack: Run) -> None:
    found = body(stack)["widgets"]
    # "an array of between 0 and 500 widget objects" (Dashboard Body Structure and Syntax).
    assert len(found) <= 500
    # Up to 500 metrics per widget and 2500 per dashboard (CloudWatch service quotas).
    counts = [len(w["properties"]["metrics"]) for w in found if w["type"] == "metric"]
    assert max(counts) <= 500
    assert sum(counts) <= 2500
    # Widgets sit on a grid 24 units wide without overlapping.
    cells = set()
    for w in found:
        assert w["x"] + w["width"] <= 24
        area = {
            (x, y)
            for x in range(w["x"], w["x"] + w["width"])
            for y in range(w["y"], w["y"] + w["height"])
        }
        assert not cells & area, w
        cells |= area


def test_the_name_names_the_stack_and_follows_cloudwatchs_rules(stack: Run) -> None:
    name = one(stack, DASHBOARD).inputs["dashboardName"]
    assert name == f"ecr-eks-lambda-{stack.stack}"
    assert DASHBOARD_NAME.fullmatch(name)


def test_the_longest_stack_name_accepted_still_names_a_valid_dashboard() -> None:
    project = FileConfig(PROJECT, {"clusterPublicAccessCidrs": "[]"})
    region = FileConfig("aws", {"region": "eu-west-1"})
    longest = "d" * (100 - len(f"{PROJECT}-"))  # the EKS cluster name's bound is tighter
    name = load_stack_config(project, region, project=PROJECT, stack=longest).dashboard_name
    assert DASHBOARD_NAME.fullmatch(name)
    assert name.endswith(longest)


def test_the_dashboards_name_and_console_address_are_stack_outputs(stack: Run) -> None:
    name = one(stack, DASHBOARD).inputs["dashboardName"]
    assert stack.outputs["dashboardName"] == name
    assert stack.outputs["dashboardUrl"] == (
        "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        f"#dashboards/dashboard/{name}"
    )


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("eu-west-1", "console.aws.amazon.com"),
        ("cn-north-1", "console.amazonaws.cn"),
        ("us-gov-west-1", "console.amazonaws-us-gov.com"),
    ],
)
def test_the_console_address_is_the_partitions(region: str, host: str) -> None:
    assert console_url(region, "d") == (
        f"https://{host}/cloudwatch/home?region={region}#dashboards/dashboard/d"
    )


def test_alone_it_shows_the_names_and_alarms_it_is_given() -> None:
    result = run_component(
        lambda: {
            "url": Dashboard(
                "board",
                DashboardArgs(
                    name="ops",
                    stack="test",
                    region="us-east-2",
                    queue_name="q",
                    dead_letter_queue_name="dlq",
                    function_name="f",
                    alarm_arns=["arn:aws:cloudwatch:us-east-2:123456789012:alarm:a"],
                ),
            ).console_url
        },
        region="us-east-2",
    )
    record = one(result, DASHBOARD)
    assert record.name == "board-dashboard"
    assert record.inputs["dashboardName"] == "ops"
    dims = {dict(d).get("QueueName") or dict(d)["FunctionName"] for _, _, d, _ in shown(result)}
    assert dims == {"q", "dlq", "f"}
    assert {w["properties"]["region"] for w in widgets(result, "metric")} == {"us-east-2"}
    [alarm_widget] = widgets(result, "alarm")
    assert alarm_widget["properties"]["alarms"] == [
        "arn:aws:cloudwatch:us-east-2:123456789012:alarm:a"
    ]
    assert "`test`" in widgets(result, "text")[0]["properties"]["markdown"]
    assert result.outputs["url"].endswith("region=us-east-2#dashboards/dashboard/ops")
