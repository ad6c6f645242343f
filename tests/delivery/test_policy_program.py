"""The whole Pulumi program, recorded under mocks by the infra part's harness, passes every
rule of the policy pack, for each stack.

The harness (tests/infra/harness.py, `run_program(stack) -> list[Recorded]`) belongs to the
infra part and is imported when the tests run, not at collection.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy.deserialize import deserialize_properties

from policy import guardrails as g

STACKS = ["dev", "prod"]


def _run_program() -> Callable[..., list[Any]]:
    return importlib.import_module("tests.infra.harness").run_program


@pytest.fixture(scope="module", params=STACKS)
def recorded(request: pytest.FixtureRequest) -> list[g.StackResource]:
    records = _run_program()(request.param)
    # Secret inputs arrive wrapped in Pulumi's secret signature; the CLI unwraps them for
    # analyzers the same way.
    return [
        g.StackResource(
            type=r.type,
            urn=f"urn:pulumi:{request.param}::ecr-eks-lambda::{r.type}::{r.name}",
            name=r.name,
            props=deserialize_properties(dict(r.inputs)),
        )
        for r in records
    ]


def test_the_guarded_resource_types_are_all_in_the_program(recorded):
    # Without these the rules below would pass vacuously.
    types = {r.type for r in recorded}
    assert {
        g.ECR_REPOSITORY,
        g.SQS_QUEUE,
        g.LAMBDA_FUNCTION,
        g.LAMBDA_EVENT_SOURCE_MAPPING,
        g.EKS_COMPONENT_CLUSTER,
        g.EC2_VPC,
        g.EC2_FLOW_LOG,
        "kubernetes:apps/v1:Deployment",
    } <= types
    assert any(g.policy_documents(r.type, r.props) for r in recorded)


@pytest.mark.parametrize("rule", g.RESOURCE_RULES, ids=lambda r: r.name)
def test_every_resource_passes_the_resource_rule(recorded, rule):
    violations = [
        f"{r.type} {r.name}: {message}" for r in recorded for message in rule.check(r.type, r.props)
    ]
    assert violations == []


@pytest.mark.parametrize("rule", g.STACK_RULES, ids=lambda r: r.name)
def test_the_stack_passes_the_stack_rule(recorded, rule):
    # Mock runs record no dependencies between resources: let the stack rules link a mapping
    # to the stack's only source queue and only function when no ARN or name matches.
    assert rule.check(recorded, link_unique=True) == []
