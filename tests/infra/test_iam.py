"""Every IAM policy document the program creates, linted with parliament, plus exact grants."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.harness import ACCOUNT, Recorded, Run, run
from tests.infra.lookup import of_type, one, policy
from tests.infra.parliament_lint import findings

IDENTITY = "aws:iam/rolePolicy:RolePolicy"
ROLE = "aws:iam/role:Role"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
KEY = "aws:kms/key:Key"

# Parliament lints identity policies. Two document kinds trip rules that do not apply to them:
# - trust policies name no Resource (the role itself is the resource);
# - in a KMS key policy "Resource": "*" means "this key", and the account-root statement with
#   kms:* is AWS's default key policy, which keeps the key manageable through IAM.
NOT_APPLICABLE = {
    "trust": [("MALFORMED", "Statement contains neither Resource nor NotResource")],
    "key": ["RESOURCE_STAR", "PERMISSIONS_MANAGEMENT_ACTIONS"],
}


def documents(run_: Run) -> dict[str, tuple[str, str]]:
    """name -> (kind, document) for every policy document the program registers."""
    docs: dict[str, tuple[str, str]] = {}
    for r in of_type(run_, IDENTITY):
        docs[r.name] = ("identity", r.inputs["policy"])
    for r in of_type(run_, QUEUE_POLICY):
        docs[r.name] = ("resource", r.inputs["policy"])
    for r in of_type(run_, ROLE):
        docs[r.name] = ("trust", r.inputs["assumeRolePolicy"])
    for r in of_type(run_, KEY):
        if "policy" in r.inputs:
            docs[r.name] = ("key", r.inputs["policy"])
    return docs


def test_every_policy_document_is_found(stack: Run) -> None:
    assert set(documents(stack)) == {
        "consumer-role-policy",
        "app-policy",
        "app-logs-policy",
        "consumer-queue-policy",
        "consumer-dlq-policy",
        "consumer-role",
        "cluster-node-role",
        "cluster-service-role",
        "app-role",
        "network-flow-logs-role",
        "network-flow-logs-policy",
        "alarms-key",
    }


BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/ecr-eks-lambda-boundary"
PROGRAM_ROLES = {
    "cluster-service-role",
    "cluster-node-role",
    "network-flow-logs-role",
    "app-role",
    "consumer-role",
}


@pytest.fixture(scope="module", params=["dev", "prod"])
def bounded(request: pytest.FixtureRequest) -> Run:
    result = run(request.param, {"iamPermissionsBoundaryArn": BOUNDARY})
    assert result.error is None, result.error
    return result


def test_with_a_boundary_every_role_is_under_the_program_path_and_carries_it(
    bounded: Run,
) -> None:
    roles = of_type(bounded, ROLE)
    assert {r.name for r in roles} == PROGRAM_ROLES
    assert {(r.inputs["path"], r.inputs["permissionsBoundary"]) for r in roles} == {
        ("/ecr-eks-lambda/", BOUNDARY)
    }


def test_without_a_boundary_every_role_is_under_the_program_path_and_carries_none(
    stack: Run,
) -> None:
    roles = of_type(stack, ROLE)
    assert {r.name for r in roles} == PROGRAM_ROLES
    assert {r.inputs["path"] for r in roles} == {"/ecr-eks-lambda/"}
    assert [r.name for r in roles if "permissionsBoundary" in r.inputs] == []


def test_a_boundary_that_is_not_a_policy_arn_is_refused() -> None:
    result = run("dev", {"iamPermissionsBoundaryArn": f"arn:aws:iam::{ACCOUNT}:role/boundary"})
    assert result.error is not None
    assert "ecr-eks-lambda:iamPermissionsBoundaryArn" in str(result.error)
    assert "IAM managed policy ARN" in str(result.error)
    assert of_type(result, ROLE) == []


def test_every_policy_document_passes_parliament(stack: Run) -> None:
    for name, (kind, document) in documents(stack).items():
        ignored: list[Any] = NOT_APPLICABLE.get(kind, [])
        left = [f for f in findings(document) if f[0] not in ignored and f not in ignored]
        assert left == [], f"{name} ({kind}): {left}"


def test_parliament_flags_a_wildcard_grant() -> None:
    bad = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}],
    }
    assert [issue for issue, _ in findings(json.dumps(bad))] == ["RESOURCE_STAR"]


def _by_sid(record: Recorded) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in policy(record)["Statement"]}


def test_lambda_role_grants_exactly_its_own_resources(stack: Run) -> None:
    queue = one(stack, "aws:sqs/queue:Queue", "consumer-queue").outputs["arn"]
    logs = one(stack, "aws:cloudwatch/logGroup:LogGroup", "consumer-logs").outputs["arn"]
    table = one(stack, "aws:dynamodb/table:Table").outputs["arn"]
    role = one(stack, ROLE, "consumer-role")
    grant = one(stack, IDENTITY, "consumer-role-policy")
    assert grant.inputs["role"] == f"{role.name}-id"
    assert {sid: (s["Action"], s["Resource"]) for sid, s in _by_sid(grant).items()} == {
        "ConsumeQueue": (
            ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            queue,
        ),
        "WriteOwnLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], f"{logs}:*"),
        "Tracing": (["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*"),
        "IdempotencyRecords": (
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            table,
        ),
    }
    assert all(s["Effect"] == "Allow" for s in _by_sid(grant).values())
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]


def test_no_inline_grant_has_a_wildcard_action(stack: Run) -> None:
    for grant in of_type(stack, IDENTITY):
        for statement in policy(grant)["Statement"]:
            actions = statement["Action"]
            assert all("*" not in a for a in (actions if isinstance(actions, list) else [actions]))
