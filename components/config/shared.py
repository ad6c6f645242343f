"""The config section every component may read: protection and log retention."""

from __future__ import annotations

from components import limits
from components.config.base import Section, setting
from components.config.kinds import Boolean, OneOfIntegers, Text, or_empty


class SharedConfig(Section):
    """Settings more than one component reads."""

    protect_resources: bool = setting(
        "protectResources",
        Boolean(),
        "Protect stateful resources: Pulumi's `protect` on the queues, the table and the "
        "repository, DynamoDB deletion protection and point-in-time recovery, EKS cluster "
        "deletion protection, and no force-delete of the ECR repository. Turn off only for a "
        "throwaway stack.",
        default=True,
    )
    log_retention_days: int = setting(
        "logRetentionDays",
        OneOfIntegers(limits.LOG_RETENTION_DAYS),
        "Retention of the app's, the Lambda's, the VPC flow logs' and the EKS control plane's "
        "log groups in days (the values CloudWatch Logs accepts).",
        default=30,
    )
    permissions_boundary_arn: str | None = setting(
        "iamPermissionsBoundaryArn",
        or_empty(
            Text(
                limits.IAM_POLICY_ARN,
                "an IAM managed policy ARN, e.g. "
                "arn:aws:iam::123456789012:policy/ecr-eks-lambda-boundary",
            ),
            "no permissions boundary",
        ),
        "The managed policy set as the permissions boundary of every IAM role the program "
        "creates: bootstrap/'s `permissionsBoundaryArn` output, which the CI deploy role "
        "requires on every role it creates. Empty: no boundary (a stack deployed by an "
        "identity that needs none).",
        default="",
    )
