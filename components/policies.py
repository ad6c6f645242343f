"""Small builders for IAM policy documents, so each grant reads as its intent.

Documents are built as plain data and serialised with `Output.json_dumps`, so ARNs that are
still unknown stay Outputs and no resource is ever created inside an `apply`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

Statement = Mapping[str, Any]


def document(*statements: Statement) -> pulumi.Output[str]:
    """A policy document (version 2012-10-17) holding `statements`, as a JSON string Output."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(
    actions: Sequence[str], resource: pulumi.Input[str], *, sid: str | None = None
) -> Statement:
    """Allow `actions` on exactly one resource."""
    statement: dict[str, Any] = {"Effect": "Allow", "Action": list(actions), "Resource": resource}
    if sid:
        statement["Sid"] = sid
    return statement


def write_log_streams(log_group_arn: pulumi.Input[str], *, sid: str) -> Statement:
    """Allow creating and writing the log streams of one log group (its ARN without the
    trailing `:*`), and nothing else in CloudWatch Logs."""
    return allow(
        ["logs:CreateLogStream", "logs:PutLogEvents"],
        pulumi.Output.concat(log_group_arn, ":*"),
        sid=sid,
    )


def service_trust(
    service: str,
    *,
    source_account: pulumi.Input[str] | None = None,
    source_arn: pulumi.Input[str] | None = None,
) -> Statement:
    """A trust statement letting one AWS service principal assume the role.

    `source_account` / `source_arn` (an ARN pattern) restrict it to requests the service makes
    on behalf of that account / those resources: AWS's guard against the cross-service
    confused deputy (IAM User Guide, "The confused deputy problem").
    """
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    condition: dict[str, Any] = {}
    if source_account is not None:
        condition["StringEquals"] = {"aws:SourceAccount": source_account}
    if source_arn is not None:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    if condition:
        statement["Condition"] = condition
    return statement


def pod_identity_trust(
    cluster_arn: pulumi.Input[str], namespace: str, service_account: str
) -> Statement:
    """A trust statement letting EKS Pod Identity hand the role to the pods of one service
    account, in one namespace, of one cluster: Pod Identity sets these session tags on every
    AssumeRole it makes."""
    return {
        "Effect": "Allow",
        "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {
            "StringEquals": {
                "aws:RequestTag/eks-cluster-arn": cluster_arn,
                "aws:RequestTag/kubernetes-namespace": namespace,
                "aws:RequestTag/kubernetes-service-account": service_account,
            }
        },
    }


def deny_insecure_transport(action: str, resource: pulumi.Input[str]) -> Statement:
    """Deny every request to `resource` that does not use TLS (aws:SecureTransport false)."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": resource,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
