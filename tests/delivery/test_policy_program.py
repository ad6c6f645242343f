"""The whole Pulumi program, recorded under mocks by the infra part's harness, passes every
rule of the policy pack, for each stack; and the stack rules link the recorded resources the
way they link the engine's, through the property dependencies the program really creates.

The records reach the pack as the engine would send them (engine_view.py) and go through
pulumi-policy's own analyzer servicer (policy_sdk.py). The harness (tests/infra/harness.py,
`run_program(stack) -> list[Recorded]`) belongs to the infra part and is imported when the
tests run, not at collection.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from typing import Any

import pytest
from pulumi_policy.deserialize import deserialize_properties

from policy.guardrails import cloudwatch, ecr, eks, iam, sqs, stack_rules
from policy.guardrails.pack import RESOURCE_RULES, STACK_RULES
from tests.delivery.engine_view import resource_violations, stack_view
from tests.delivery.policy_sdk import Violation, analyze_stack_resources, by_policy
from tests.stacks import STACKS

PROGRAM_STACKS = [*STACKS, "public"]
"""The stack files, and dev with the app public (the load balancer controller and the NLB)."""
# Another account's queue: a redrive target that is no queue of this stack.
FOREIGN_QUEUE_ARN = "arn:aws:sqs:eu-west-1:210987654321:elsewhere"


@pytest.fixture(scope="module", params=PROGRAM_STACKS)
def recorded(request: pytest.FixtureRequest) -> list[Any]:
    run_program = importlib.import_module("tests.infra.harness").run_program
    if request.param == "public":
        return run_program("dev", importlib.import_module("tests.infra.lookup").PUBLIC_APP)
    return run_program(request.param)


@pytest.fixture(scope="module")
def violations(recorded: list[Any]) -> list[Violation]:
    return resource_violations(recorded)


def of_type(records: list[Any], resource_type: str) -> list[Any]:
    return [r for r in records if r.type == resource_type]


def one(records: list[Any], resource_type: str) -> Any:
    (record,) = of_type(records, resource_type)
    return record


def source_queue(records: list[Any]) -> Any:
    (queue,) = [q for q in of_type(records, sqs.SQS_QUEUE) if "redrivePolicy" in q.inputs]
    return queue


def dead_letter_queue(records: list[Any]) -> Any:
    (queue,) = [q for q in of_type(records, sqs.SQS_QUEUE) if "redrivePolicy" not in q.inputs]
    return queue


ROLES = {
    "source queue": source_queue,
    "redrive-allow policy": lambda records: one(records, sqs.SQS_REDRIVE_ALLOW_POLICY),
    "mapping": lambda records: one(records, sqs.LAMBDA_EVENT_SOURCE_MAPPING),
    "flow log": lambda records: one(records, stack_rules.EC2_FLOW_LOG),
}
"""The recorded resources whose property dependencies link them, found by their role."""


def replaced(records: list[Any], old: Any, new: Any) -> list[Any]:
    return [new if r is old else r for r in records]


def with_props(record: Any, **props: Any) -> Any:
    """`record` with `props` as inputs and outputs (a custom resource echoes its inputs)."""
    return dataclasses.replace(
        record, inputs={**record.inputs, **props}, outputs={**record.outputs, **props}
    )


def without_dependency(record: Any, prop: str) -> Any:
    deps = {k: v for k, v in record.property_dependencies.items() if k != prop}
    return dataclasses.replace(record, property_dependencies=deps)


def stack_violations(records: list[Any], rule: str, *, first_preview: bool) -> list[Violation]:
    return by_policy(
        analyze_stack_resources(stack_view(records, first_preview=first_preview)), rule
    )


def test_the_guarded_resource_types_are_all_in_the_program(recorded):
    # Without these the rules below would pass vacuously.
    types = {r.type for r in recorded}
    assert {
        ecr.ECR_REPOSITORY,
        sqs.SQS_QUEUE,
        sqs.LAMBDA_FUNCTION,
        sqs.LAMBDA_EVENT_SOURCE_MAPPING,
        eks.EKS_COMPONENT_CLUSTER,
        stack_rules.EC2_VPC,
        stack_rules.EC2_FLOW_LOG,
        "kubernetes:apps/v1:Deployment",
        cloudwatch.CLOUDWATCH_DASHBOARD,
    } <= types
    assert any(
        iam.policy_documents(r.type, deserialize_properties(dict(r.inputs))) for r in recorded
    )


@pytest.mark.parametrize("rule", RESOURCE_RULES, ids=lambda r: r.name)
def test_every_resource_passes_the_resource_rule(violations, rule):
    assert [f"{v.urn}: {v.message}" for v in by_policy(violations, rule.name)] == []


@pytest.mark.parametrize("first_preview", [False, True], ids=["up", "first-preview"])
@pytest.mark.parametrize("rule", STACK_RULES, ids=lambda r: r.name)
def test_the_stack_passes_the_stack_rule(recorded, rule, first_preview):
    assert stack_violations(recorded, rule.name, first_preview=first_preview) == []


def test_the_program_records_the_links_the_stack_rules_follow(recorded):
    mapping = one(recorded, sqs.LAMBDA_EVENT_SOURCE_MAPPING)
    assert source_queue(recorded).property_dependencies["redrivePolicy"] == (
        dead_letter_queue(recorded).urn,
    )
    assert mapping.property_dependencies["eventSourceArn"] == (source_queue(recorded).urn,)
    assert mapping.property_dependencies["functionName"] == (
        one(recorded, sqs.LAMBDA_FUNCTION).urn,
    )
    assert one(recorded, stack_rules.EC2_FLOW_LOG).property_dependencies["vpcId"] == (
        one(recorded, stack_rules.EC2_VPC).urn,
    )


def unlinked(records: list[Any], links: list[tuple[str, str]]) -> list[Any]:
    """`records` without the property dependencies `links` ((role, property) pairs)."""
    for role, prop in links:
        record = ROLES[role](records)
        records = replaced(records, record, without_dependency(record, prop))
    return records


@pytest.mark.parametrize(
    ("links", "dlq_flagged"),
    [
        ([("source queue", "redrivePolicy")], False),
        ([("redrive-allow policy", "queueUrl")], False),
        ([("source queue", "redrivePolicy"), ("redrive-allow policy", "queueUrl")], True),
    ],
    ids=["redrive", "redrive-allow", "both"],
)
def test_in_a_first_preview_the_dead_letter_queue_is_linked_by_its_dependencies_only(
    recorded, links, dlq_flagged
):
    # The program declares its dead-letter queue twice: as the source queue's redrive target,
    # and with a RedriveAllowPolicy on it. Either link alone makes it a dead-letter queue.
    records = unlinked(recorded, links)
    violations = stack_violations(records, "sqs-dead-letter-queue", first_preview=True)
    dlq = dead_letter_queue(recorded)
    assert [v.urn for v in violations] == ([dlq.urn] if dlq_flagged else [])
    assert all(f"SQS queue {dlq.name!r} has no dead-letter queue" in v.message for v in violations)


@pytest.mark.parametrize(
    ("prop", "missing"), [("eventSourceArn", "queue"), ("functionName", "function")]
)
def test_in_a_first_preview_a_mapping_is_linked_by_its_dependencies_only(recorded, prop, missing):
    records = unlinked(recorded, [("mapping", prop)])
    (v,) = stack_violations(records, "sqs-visibility-timeout-covers-function", first_preview=True)
    assert v.urn == one(recorded, sqs.LAMBDA_EVENT_SOURCE_MAPPING).urn
    assert f"cannot find its {missing} in this stack" in v.message


def test_in_a_first_preview_a_flow_log_is_linked_by_its_dependency_only(recorded):
    records = unlinked(recorded, [("flow log", "vpcId")])
    (v,) = stack_violations(records, "vpc-flow-logs", first_preview=True)
    assert v.urn == one(recorded, stack_rules.EC2_VPC).urn


@pytest.mark.parametrize(
    ("removed", "dlq_flagged"), [((), False), ((sqs.SQS_REDRIVE_ALLOW_POLICY,), True)]
)
def test_a_redrive_to_a_queue_outside_the_stack_leaves_the_dead_letter_queue_uncovered(
    recorded, removed, dlq_flagged
):
    # Nothing is guessed: the stack's only queue without a redrive policy is a dead-letter queue
    # only if a redrive policy of the stack names it, or it declares itself one.
    source = source_queue(recorded)
    redrive = json.dumps({"deadLetterTargetArn": FOREIGN_QUEUE_ARN, "maxReceiveCount": 5})
    elsewhere = without_dependency(with_props(source, redrivePolicy=redrive), "redrivePolicy")
    records = [r for r in replaced(recorded, source, elsewhere) if r.type not in removed]
    violations = stack_violations(records, "sqs-dead-letter-queue", first_preview=False)
    assert [v.urn for v in violations] == ([dead_letter_queue(recorded).urn] if dlq_flagged else [])


def test_a_queue_without_a_redrive_policy_is_refused(recorded):
    source = source_queue(recorded)
    plain = dataclasses.replace(
        without_dependency(source, "redrivePolicy"),
        inputs={k: v for k, v in source.inputs.items() if k != "redrivePolicy"},
        outputs={k: v for k, v in source.outputs.items() if k != "redrivePolicy"},
    )
    violations = stack_violations(
        replaced(recorded, source, plain), "sqs-dead-letter-queue", first_preview=False
    )
    assert [v.urn for v in violations] == [source.urn]


def test_a_queue_hiding_messages_too_briefly_for_its_recorded_function_is_refused(recorded):
    timeout = one(recorded, sqs.LAMBDA_FUNCTION).inputs["timeout"]
    window = one(recorded, sqs.LAMBDA_EVENT_SOURCE_MAPPING).inputs["maximumBatchingWindowInSeconds"]
    needed = 6 * timeout + window
    source = source_queue(recorded)
    just_enough = replaced(recorded, source, with_props(source, visibilityTimeoutSeconds=needed))
    assert (
        stack_violations(just_enough, "sqs-visibility-timeout-covers-function", first_preview=False)
        == []
    )
    too_short = replaced(recorded, source, with_props(source, visibilityTimeoutSeconds=needed - 1))
    (v,) = stack_violations(
        too_short, "sqs-visibility-timeout-covers-function", first_preview=False
    )
    assert v.urn == source.urn
    assert f"= {needed:g} s" in v.message
