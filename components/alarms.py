"""Alarms: CloudWatch alarms on the queue, DLQ and Lambda, sent to an encrypted SNS topic."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import AlarmsConfig


@dataclass(frozen=True, kw_only=True)
class AlarmsArgs:
    """Inputs of the Alarms component."""

    config: AlarmsConfig
    """The age threshold and the address to notify."""
    queue_name: pulumi.Input[str]
    """Name of the main queue (age-of-oldest-message alarm)."""
    dead_letter_queue_name: pulumi.Input[str]
    """Name of the DLQ (any message there raises the alarm)."""
    function_name: pulumi.Input[str]
    """Name of the Lambda (errors and throttles alarms)."""


class Alarms(pulumi.ComponentResource):
    """Four alarms (DLQ not empty, old messages, Lambda errors, Lambda throttles) -> SNS."""

    topic: aws.sns.Topic
    """The topic every alarm notifies, encrypted with `key`."""
    key: aws.kms.Key
    """The topic's customer-managed KMS key (CloudWatch may use it to publish)."""
    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    """The alarms by short name: dlq-depth, oldest-message, errors, throttles."""

    def __init__(
        self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecr-eks-lambda:components:Alarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition

        # An AWS-managed SNS key would be simpler, but its key policy cannot be changed and
        # does not let CloudWatch use it, so alarms could not publish to an encrypted topic.
        self.key = aws.kms.Key(
            f"{name}-key",
            aws.kms.KeyArgs(
                description="Encrypts the alarm topic",
                enable_key_rotation=True,
                deletion_window_in_days=30,
                policy=pulumi.Output.json_dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "AccountAdministersKeyThroughIam",
                                "Effect": "Allow",
                                "Principal": {
                                    "AWS": pulumi.Output.concat(
                                        "arn:", partition, ":iam::", account, ":root"
                                    )
                                },
                                "Action": "kms:*",
                                "Resource": "*",
                            },
                            {
                                "Sid": "CloudWatchPublishesAlarms",
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                                "Resource": "*",
                                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                            },
                        ],
                    }
                ),
            ),
            child,
        )
        self.topic = aws.sns.Topic(
            f"{name}-topic", aws.sns.TopicArgs(kms_master_key_id=self.key.arn), child
        )
        if args.config.email:
            aws.sns.TopicSubscription(
                f"{name}-email",
                aws.sns.TopicSubscriptionArgs(
                    topic=self.topic.arn, protocol="email", endpoint=args.config.email
                ),
                child,
            )

        actions = [self.topic.arn]
        queue_dim = {"QueueName": args.queue_name}
        function_dim = {"FunctionName": args.function_name}
        specs: dict[str, tuple[str, str, dict[str, pulumi.Input[str]], str, int, str]] = {
            # (namespace, metric, dimensions, statistic, threshold, description)
            "dlq-depth": (
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                {"QueueName": args.dead_letter_queue_name},
                "Maximum",
                0,
                "Messages reached the dead-letter queue: the consumer failed on them repeatedly.",
            ),
            "oldest-message": (
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                queue_dim,
                "Maximum",
                args.config.oldest_message_seconds,
                "The queue is not being drained fast enough.",
            ),
            "errors": (
                "AWS/Lambda",
                "Errors",
                function_dim,
                "Sum",
                0,
                "The consumer Lambda failed invocations.",
            ),
            "throttles": (
                "AWS/Lambda",
                "Throttles",
                function_dim,
                "Sum",
                0,
                "The consumer Lambda was throttled (reserved concurrency too low).",
            ),
        }
        self.alarms = {}
        for short, (namespace, metric, dims, stat, threshold, description) in specs.items():
            self.alarms[short] = aws.cloudwatch.MetricAlarm(
                f"{name}-{short}",
                aws.cloudwatch.MetricAlarmArgs(
                    alarm_description=description,
                    namespace=namespace,
                    metric_name=metric,
                    dimensions=dims,
                    statistic=stat,
                    period=60,
                    evaluation_periods=1,
                    threshold=threshold,
                    comparison_operator="GreaterThanThreshold",
                    # No data means no traffic, which is not a failure.
                    treat_missing_data="notBreaching",
                    alarm_actions=actions,
                    ok_actions=actions,
                ),
                child,
            )

        self.topic_arn: pulumi.Output[str] = self.topic.arn
        """ARN of the alarm topic."""
        self.register_outputs({"topic_arn": self.topic_arn})
