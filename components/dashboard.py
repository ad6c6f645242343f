"""Dashboard: one CloudWatch dashboard of the data path (queue, function, DLQ) and the alarms.

The body follows CloudWatch's "Dashboard Body Structure and Syntax" (CloudWatch API
reference): `metric` widgets whose `metrics` rows are
`[namespace, metric, dimension name, dimension value, {options}]`, an `alarm` widget listing
alarm ARNs, and a `text` widget. Metric names and dimensions are those AWS publishes:
AWS/SQS by `QueueName` (SQS developer guide, "Available CloudWatch metrics for Amazon SQS"),
AWS/Lambda by `FunctionName` (Lambda developer guide, "Types of metrics for Lambda functions"
and "Monitoring concurrency").

The app publishes no CloudWatch metric (only Prometheus on /metrics inside the cluster), so
its side of the path shows as what it sends: the queue's NumberOfMessagesSent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

PERIOD_SECONDS = 60
"""One datapoint a minute: SQS and Lambda publish these metrics at one-minute granularity."""
GRID_WIDTH = 24
"""Dashboards are 24 grid units wide."""
_WIDGET_WIDTH = 8
_WIDGET_HEIGHT = 6

# Console hosts per partition, by the region's prefix (AWS's China and GovCloud consoles).
_CONSOLE_HOSTS = (("cn-", "console.amazonaws.cn"), ("us-gov-", "console.amazonaws-us-gov.com"))
_COMMERCIAL_CONSOLE = "console.aws.amazon.com"


def console_url(region: str, dashboard_name: str) -> str:
    """The CloudWatch console's address of a dashboard, opened in `region`."""
    host = next((h for prefix, h in _CONSOLE_HOSTS if region.startswith(prefix)), None)
    return (
        f"https://{host or _COMMERCIAL_CONSOLE}/cloudwatch/home?region={region}"
        f"#dashboards/dashboard/{dashboard_name}"
    )


def _metric(
    namespace: str, metric: str, dimension: str, value: pulumi.Input[str], **options: str
) -> list[Any]:
    row: list[Any] = [namespace, metric, dimension, value]
    if options:
        row.append(options)
    return row


def _metric_widget(
    title: str, region: str, stat: str, metrics: list[list[Any]], position: int
) -> dict[str, Any]:
    per_row = GRID_WIDTH // _WIDGET_WIDTH
    return {
        "type": "metric",
        "x": (position % per_row) * _WIDGET_WIDTH,
        "y": 1 + (position // per_row) * _WIDGET_HEIGHT,
        "width": _WIDGET_WIDTH,
        "height": _WIDGET_HEIGHT,
        "properties": {
            "title": title,
            "view": "timeSeries",
            "stacked": False,
            "region": region,
            "stat": stat,
            "period": PERIOD_SECONDS,
            "metrics": metrics,
        },
    }


def dashboard_body(
    *,
    stack: str,
    region: str,
    queue_name: pulumi.Input[str],
    dead_letter_queue_name: pulumi.Input[str],
    function_name: pulumi.Input[str],
    alarm_arns: Sequence[pulumi.Input[str]],
) -> dict[str, Any]:
    """The dashboard's body as a dict (its values may be Outputs): the data path left to right
    and top to bottom, from what the app sends to what lands in the DLQ, then the alarms."""
    sqs, fn = "AWS/SQS", "AWS/Lambda"
    queue = ("QueueName", queue_name)
    function = ("FunctionName", function_name)
    graphs = [
        (
            "Queue: sent (by the app), received, deleted",
            "Sum",
            [
                _metric(sqs, f"NumberOfMessages{verb.title()}", *queue, label=verb)
                for verb in ("sent", "received", "deleted")
            ],
        ),
        (
            "Queue: age of the oldest message (s)",
            "Maximum",
            [_metric(sqs, "ApproximateAgeOfOldestMessage", *queue)],
        ),
        (
            "Dead-letter queue: messages waiting",
            "Maximum",
            [
                _metric(
                    sqs, "ApproximateNumberOfMessagesVisible", "QueueName", dead_letter_queue_name
                )
            ],
        ),
        (
            "Function: invocations, errors, throttles",
            "Sum",
            [
                _metric(fn, metric, *function, label=metric.lower())
                for metric in ("Invocations", "Errors", "Throttles")
            ],
        ),
        (
            "Function: duration p50 / p99 (ms)",
            "p50",
            [_metric(fn, "Duration", *function, stat=p, label=p) for p in ("p50", "p99")],
        ),
        (
            # Lambda's docs: view ConcurrentExecutions with MAX.
            "Function: concurrent executions",
            "Maximum",
            [_metric(fn, "ConcurrentExecutions", *function)],
        ),
    ]
    rows = -(-len(graphs) // (GRID_WIDTH // _WIDGET_WIDTH))
    return {
        "widgets": [
            {
                "type": "text",
                "x": 0,
                "y": 0,
                "width": GRID_WIDTH,
                "height": 1,
                "properties": {
                    # AWS advises saying so on a dashboard made by a program.
                    "markdown": f"Managed by Pulumi (stack `{stack}`): edits made here are "
                    "overwritten by the next `pulumi up`."
                },
            },
            *(
                _metric_widget(title, region, stat, metrics, position)
                for position, (title, stat, metrics) in enumerate(graphs)
            ),
            {
                "type": "alarm",
                "x": 0,
                "y": 1 + rows * _WIDGET_HEIGHT,
                "width": GRID_WIDTH,
                "height": 3,
                "properties": {
                    "title": "Alarms",
                    "alarms": list(alarm_arns),
                    # Alarms in ALARM first, then by when they last changed.
                    "sortBy": "stateUpdatedTimestamp",
                },
            },
        ]
    }


@dataclass(frozen=True, kw_only=True)
class DashboardArgs:
    """Inputs of the Dashboard component."""

    name: str
    """The dashboard's name (StackConfig.dashboard_name): fixed, because dashboards carry no
    tags the deploy role could be scoped by, only this name."""
    stack: str
    """The stack, named on the dashboard."""
    region: str
    """Where the metrics are: the stack's region (dashboards themselves are global)."""
    queue_name: pulumi.Input[str]
    """Name of the main queue."""
    dead_letter_queue_name: pulumi.Input[str]
    """Name of the DLQ."""
    function_name: pulumi.Input[str]
    """Name of the consumer Lambda."""
    alarm_arns: Sequence[pulumi.Input[str]]
    """The alarms whose states the dashboard shows."""


class Dashboard(pulumi.ComponentResource):
    """A CloudWatch dashboard of SQS, Lambda and DLQ metrics and the stack's alarms."""

    dashboard: aws.cloudwatch.Dashboard
    """The dashboard."""

    def __init__(
        self, name: str, args: DashboardArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecr-eks-lambda:components:Dashboard", name, None, opts)
        body = dashboard_body(
            stack=args.stack,
            region=args.region,
            queue_name=args.queue_name,
            dead_letter_queue_name=args.dead_letter_queue_name,
            function_name=args.function_name,
            alarm_arns=args.alarm_arns,
        )
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            aws.cloudwatch.DashboardArgs(
                dashboard_name=args.name, dashboard_body=pulumi.Output.json_dumps(body)
            ),
            pulumi.ResourceOptions(parent=self),
        )

        self.dashboard_name: pulumi.Output[str] = self.dashboard.dashboard_name
        """The dashboard's name."""
        self.console_url: pulumi.Output[str] = self.dashboard.dashboard_name.apply(
            lambda dashboard_name: console_url(args.region, dashboard_name)
        )
        """Where to open it in the CloudWatch console."""
        self.register_outputs(
            {"dashboard_name": self.dashboard_name, "console_url": self.console_url}
        )
