"""The IAM evaluator the CI policy tests rely on follows AWS's documented evaluation rules."""

from __future__ import annotations

import pytest

from tests.delivery.iam_eval import Request, allows, evaluate

QUEUE = "arn:aws:sqs:eu-west-1:111122223333:events"


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_an_explicit_deny_wins_over_any_allow():
    docs = [
        policy({"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}),
        policy({"Effect": "Deny", "Action": "sqs:DeleteQueue", "Resource": QUEUE}),
    ]
    assert evaluate(docs, Request("sqs:DeleteQueue", QUEUE)) == "ExplicitDeny"
    assert evaluate(docs, Request("sqs:SendMessage", QUEUE)) == "Allow"
    assert evaluate(docs, Request("sns:Publish", "*")) == "ImplicitDeny"


def test_actions_match_case_insensitively_and_resources_case_sensitively():
    doc = policy({"Effect": "Allow", "Action": "SQS:Send*", "Resource": QUEUE})
    assert allows([doc], "sqs:SendMessage", QUEUE)
    assert not allows([doc], "sqs:SendMessage", QUEUE.upper())
    assert not allows([doc], "sqs:ReceiveMessage", QUEUE)


def test_not_action_and_not_resource_invert_the_match():
    doc = policy(
        {"Effect": "Deny", "NotAction": ["iam:Get*"], "Resource": "arn:aws:iam::1:role/ci/*"},
        {"Effect": "Allow", "Action": "iam:*", "NotResource": "arn:aws:iam::1:role/admin"},
    )
    assert not allows([doc], "iam:DeleteRole", "arn:aws:iam::1:role/ci/deploy")
    assert allows([doc], "iam:GetRole", "arn:aws:iam::1:role/ci/deploy")
    assert not allows([doc], "iam:DeleteRole", "arn:aws:iam::1:role/admin")
    assert allows([doc], "iam:DeleteRole", "arn:aws:iam::1:role/other")


@pytest.mark.parametrize(
    ("operator", "context", "holds"),
    [
        ("StringEquals", {}, False),
        ("StringEquals", {"aws:ResourceTag/project": "x"}, True),
        ("StringEquals", {"aws:ResourceTag/project": "y"}, False),
        ("StringNotEquals", {}, True),
        ("StringNotEquals", {"aws:ResourceTag/project": "x"}, False),
        ("StringLike", {"AWS:ResourceTag/project": "x"}, True),
    ],
)
def test_a_missing_key_fails_all_but_negated_operators(operator, context, holds):
    doc = policy(
        {
            "Effect": "Allow",
            "Action": "sqs:*",
            "Resource": "*",
            "Condition": {operator: {"aws:ResourceTag/project": ["x"]}},
        }
    )
    assert allows([doc], "sqs:SendMessage", QUEUE, context) is holds


def test_null_tests_whether_the_key_is_present_and_conditions_are_anded():
    doc = policy(
        {
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": "*",
            "Condition": {
                "Null": {"aws:ResourceTag/project": "true"},
                "StringEquals": {"aws:RequestTag/project": "x"},
            },
        }
    )
    assert allows([doc], "ec2:CreateTags", "sg", {"aws:RequestTag/project": "x"})
    assert not allows(
        [doc],
        "ec2:CreateTags",
        "sg",
        {"aws:RequestTag/project": "x", "aws:ResourceTag/project": "y"},
    )
    assert not allows([doc], "ec2:CreateTags", "sg", {})


def test_unsupported_operators_raise_instead_of_guessing():
    doc = policy(
        {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "*",
            "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}},
        }
    )
    with pytest.raises(NotImplementedError):
        evaluate([doc], Request("ec2:CreateTags", "*", {"aws:TagKeys": "a"}))
