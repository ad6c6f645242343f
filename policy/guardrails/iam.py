"""IAM policy documents (identity, trust and resource policies) and managed-policy
attachments: exact actions, data-plane actions on named resources only."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .rules import ResourceRule
from .sqs import SQS_QUEUE
from .values import UNKNOWN, get, items, json_value

# Where each resource type carries policy documents, and whether they are trust policies
# (which have no Resource element). KMS key policies are left out on purpose: in a key policy
# "Resource": "*" means "this key", and AWS's own default key policy grants kms:* to the
# account, so both checks would flag the documented, correct form.
_POLICY_DOCUMENT_PROPS: Final[dict[str, tuple[str, ...]]] = {
    "aws:iam/policy:Policy": ("policy",),
    "aws:iam/rolePolicy:RolePolicy": ("policy",),
    "aws:iam/userPolicy:UserPolicy": ("policy",),
    "aws:iam/groupPolicy:GroupPolicy": ("policy",),
    "aws:sqs/queuePolicy:QueuePolicy": ("policy",),
    SQS_QUEUE: ("policy",),
    "aws:sns/topicPolicy:TopicPolicy": ("policy",),
    "aws:sns/topic:Topic": ("policy",),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ("policy",),
    "aws:s3/bucketPolicy:BucketPolicy": ("policy",),
}
IAM_ROLE: Final = "aws:iam/role:Role"

# Actions that read or write the data inside one resource. Granting them on "*" gives the
# principal every queue, table, key, ... in the account; each supports resource-level ARNs.
DATA_PLANE_ACTIONS: Final = frozenset(
    a.lower()
    for a in (
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:PurgeQueue",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:PartiQLSelect",
        "dynamodb:PartiQLInsert",
        "dynamodb:PartiQLUpdate",
        "dynamodb:PartiQLDelete",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:GenerateDataKeyPair",
        "kms:GenerateDataKeyPairWithoutPlaintext",
        "sns:Publish",
        "lambda:InvokeFunction",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "secretsmanager:GetSecretValue",
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssm:GetParametersByPath",
        "kinesis:PutRecord",
        "kinesis:PutRecords",
        "kinesis:GetRecords",
        "kinesis:GetShardIterator",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability",
        "ecr:PutImage",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "events:PutEvents",
        "states:StartExecution",
    )
)


@dataclass(frozen=True)
class PolicyDocument:
    where: str
    """Which property holds it, e.g. "policy" or "inlinePolicies[0].policy"."""
    document: Any
    trust: bool = False


def policy_documents(resource_type: str, props: Mapping[str, Any]) -> list[PolicyDocument]:
    docs: list[PolicyDocument] = []
    for prop in _POLICY_DOCUMENT_PROPS.get(resource_type, ()):
        docs.append(PolicyDocument(prop, json_value(get(props, prop))))
    if resource_type == IAM_ROLE:
        docs.append(
            PolicyDocument("assumeRolePolicy", json_value(get(props, "assumeRolePolicy")), True)
        )
        for i, inline in enumerate(items(props, "inlinePolicies")):
            docs.append(
                PolicyDocument(f"inlinePolicies[{i}].policy", json_value(get(inline, "policy")))
            )
    return [d for d in docs if d.document is not None and d.document is not UNKNOWN]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def _statements(document: Any) -> list[tuple[str, Mapping[str, Any]]]:
    """(label, statement) pairs of a policy document; a label names the statement by Sid/index."""
    if not isinstance(document, Mapping):
        return []
    out: list[tuple[str, Mapping[str, Any]]] = []
    for i, statement in enumerate(_as_list(document.get("Statement"))):
        if isinstance(statement, Mapping):
            sid = statement.get("Sid")
            out.append((f"statement {sid!r}" if sid else f"statement #{i}", statement))
    return out


def _is_wildcard_action(action: Any) -> bool:
    return isinstance(action, str) and ("*" in action or "?" in action)


# AWS managed policies whose statements are wildcard actions by design (`*`, `NotAction`, or
# `<service>:*` for the ...FullAccess family). Only their ARNs reach the pack, so they are
# recognised by name.
_WILDCARD_MANAGED_POLICY_RE: Final = re.compile(
    r"^arn:aws[a-z-]*:iam::aws:policy/(?:.*/)?(AdministratorAccess|PowerUserAccess|[A-Za-z0-9_-]*FullAccess)$"
)
_POLICY_ATTACHMENT_TYPES: Final = frozenset(
    {
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
        "aws:iam/policyAttachment:PolicyAttachment",
    }
)


def _attached_policy_arns(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type in _POLICY_ATTACHMENT_TYPES:
        arns = [get(props, "policyArn")]
    elif resource_type == IAM_ROLE:
        arns = items(props, "managedPolicyArns")
    else:
        return []
    return [a for a in arns if isinstance(a, str)]


def check_iam_no_wildcard_actions(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    messages: list[str] = [
        f"attaches the AWS managed policy {arn}, which allows wildcard actions: attach a "
        "policy that lists the exact actions instead."
        for arn in _attached_policy_arns(resource_type, props)
        if _WILDCARD_MANAGED_POLICY_RE.match(arn)
    ]
    for doc in policy_documents(resource_type, props):
        for label, statement in _statements(doc.document):
            if statement.get("Effect") != "Allow":
                # Deny statements with wildcards (e.g. deny sqs:* without TLS) narrow access.
                continue
            if "NotAction" in statement:
                messages.append(
                    f"{doc.where} {label} allows NotAction, i.e. every action but a few: "
                    "list the exact actions under Action instead."
                )
            wild = [a for a in _as_list(statement.get("Action")) if _is_wildcard_action(a)]
            if wild:
                messages.append(
                    f"{doc.where} {label} allows wildcard actions {sorted(wild)}: "
                    "list each action the principal needs (no '*' or '?')."
                )
    return messages


def _is_unscoped_resource(resource: Any) -> bool:
    if resource is UNKNOWN or not isinstance(resource, str):
        return False
    if resource == "*":
        return True
    parts = resource.split(":", 5)
    # arn:partition:service:region:account:resource - a bare "*" resource part is every
    # resource of the service; "log-group:/x:*" or "bucket/*" stay scoped to one parent.
    return len(parts) == 6 and parts[5] == "*"


def _data_plane_actions(actions: Iterable[Any]) -> list[str]:
    hits: set[str] = set()
    for action in actions:
        if not isinstance(action, str):
            continue
        pattern = action.lower()
        hits.update(a for a in DATA_PLANE_ACTIONS if fnmatch.fnmatchcase(a, pattern))
    return sorted(hits)


def check_iam_data_plane_resources_scoped(
    resource_type: str, props: Mapping[str, Any]
) -> list[str]:
    messages: list[str] = []
    for doc in policy_documents(resource_type, props):
        if doc.trust:
            continue
        for label, statement in _statements(doc.document):
            if statement.get("Effect") != "Allow":
                continue
            data_plane = _data_plane_actions(_as_list(statement.get("Action")))
            if not data_plane:
                continue
            resources = _as_list(statement.get("Resource"))
            unscoped = [r for r in resources if _is_unscoped_resource(r)]
            if "NotResource" in statement or unscoped or not resources:
                messages.append(
                    f"{doc.where} {label} grants data-plane actions {data_plane} on "
                    f"{unscoped or 'NotResource/no Resource'}: name the exact resource ARNs."
                )
    return messages


RULES: Final = (
    ResourceRule(
        "iam-no-wildcard-actions",
        "IAM policy statements that allow access list exact actions, never wildcards.",
        check_iam_no_wildcard_actions,
    ),
    ResourceRule(
        "iam-data-plane-actions-scoped",
        "IAM policy statements grant data-plane actions only on named resources.",
        check_iam_data_plane_resources_scoped,
    ),
)
