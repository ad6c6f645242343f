"""Each stack rule of the policy pack (relations between resources) against compliant and
violating stacks, through the pulumi-policy SDK's analyzer with the URNs and property
dependencies the engine sends (see policy_sdk.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from policy.guardrails import sqs, stack_rules
from tests.delivery.policy_sdk import UNKNOWN_STRING, Res, analyze_stack, by_policy, only

QUEUE_ARN = "arn:aws:sqs:eu-west-1:111122223333:events"
DLQ_ARN = "arn:aws:sqs:eu-west-1:111122223333:events-dlq"


# ------------------------------------------------------------------------------------------
# Stack rules: dead-letter queues and visibility timeout vs. function timeout
# ------------------------------------------------------------------------------------------


def stack(
    visibility: float | None = 210,
    timeout: float | None = 30,
    window: float | None = 5,
    redrive: bool = True,
    deps: bool = True,
) -> list[Res]:
    queue_props: dict[str, Any] = {"sqsManagedSseEnabled": True}
    if visibility is not None:
        queue_props["visibilityTimeoutSeconds"] = visibility
    if redrive:
        queue_props["redrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": 5}
        )
    fn_props: dict[str, Any] = {"runtime": "python3.13", "handler": "handlers.consumer.handler"}
    if timeout is not None:
        fn_props["timeout"] = timeout
    mapping: dict[str, Any] = {
        "eventSourceArn": QUEUE_ARN,
        "functionName": "arn:aws:lambda:eu-west-1:111122223333:function:consumer",
        "functionResponseTypes": ["ReportBatchItemFailures"],
    }
    if window is not None:
        mapping["maximumBatchingWindowInSeconds"] = window
    return [
        Res(
            sqs.SQS_QUEUE,
            "events-dlq",
            {"sqsManagedSseEnabled": True, "messageRetentionSeconds": 1209600},
        ),
        Res(
            sqs.SQS_QUEUE, "events", queue_props, {"redrivePolicy": ["events-dlq"]} if deps else {}
        ),
        Res(sqs.LAMBDA_FUNCTION, "consumer", fn_props),
        Res(
            sqs.LAMBDA_EVENT_SOURCE_MAPPING,
            "consumer-events",
            mapping,
            {"eventSourceArn": ["events"], "functionName": ["consumer"]} if deps else {},
        ),
    ]


def test_compliant_stack_passes():
    assert analyze_stack(stack()) == []


def test_stack_rules_link_by_arn_and_name_without_dependencies():
    # References written as literals: no property dependencies, ARNs made from the names.
    assert analyze_stack(stack(deps=False)) == []


@pytest.mark.parametrize(
    ("visibility", "timeout", "window", "needed"),
    [(209, 30, 5, "185"), (30, 30, 0, "180"), (None, 10, None, "60"), (17, None, None, "18")],
)
def test_visibility_timeout_below_six_times_function_timeout_is_refused(
    visibility, timeout, window, needed
):
    resources = stack(visibility=visibility, timeout=timeout, window=window)
    violations = by_policy(analyze_stack(resources), "sqs-visibility-timeout-covers-function")
    if visibility == 209:
        # 209 >= 6 x 30 + 5: the boundary passes.
        assert violations == []
        return
    (v,) = violations
    assert v.urn == resources[1].urn
    assert f"= {needed} s" in v.message


def test_visibility_boundary_is_inclusive():
    def violations(visibility: float) -> list[Any]:
        resources = stack(visibility, deps=False)
        return by_policy(analyze_stack(resources), "sqs-visibility-timeout-covers-function")

    assert violations(185) == []
    assert len(violations(184)) == 1


def test_mapping_that_cannot_be_linked_is_refused():
    resources = stack()
    mapping = resources[3]
    resources[3] = Res(
        mapping.type,
        mapping.name,
        {**mapping.props, "eventSourceArn": "arn:aws:sqs:eu-west-1:1:other"},
    )
    (v,) = by_policy(analyze_stack(resources), "sqs-visibility-timeout-covers-function")
    assert "cannot find its queue" in v.message


def test_queue_without_dead_letter_queue_is_refused():
    resources = stack(redrive=False)
    violations = by_policy(analyze_stack(resources), "sqs-dead-letter-queue")
    assert sorted(v.urn for v in violations) == sorted([resources[0].urn, resources[1].urn])
    assert all("dead-letter" in v.message for v in violations)


def test_dead_letter_queue_wired_by_separate_redrive_resources_passes():
    resources = stack(redrive=False)
    resources += [
        Res(
            sqs.SQS_REDRIVE_POLICY,
            "events-redrive",
            {"queueUrl": UNKNOWN_STRING, "redrivePolicy": UNKNOWN_STRING},
            {"queueUrl": ["events"], "redrivePolicy": ["events-dlq"]},
        )
    ]
    assert by_policy(analyze_stack(resources), "sqs-dead-letter-queue") == []


def test_dead_letter_queue_declared_by_redrive_allow_policy_passes():
    resources = stack(deps=False)
    resources[0] = Res(
        sqs.SQS_QUEUE,
        "events-dlq",
        {
            "sqsManagedSseEnabled": True,
            "redriveAllowPolicy": json.dumps(
                {"redrivePermission": "byQueue", "sourceQueueArns": [QUEUE_ARN]}
            ),
        },
    )
    resources[1] = Res(
        sqs.SQS_QUEUE,
        "events",
        {
            **resources[1].props,
            "redrivePolicy": json.dumps(
                {"deadLetterTargetArn": "arn:aws:sqs:eu-west-1:1:elsewhere", "maxReceiveCount": 5}
            ),
        },
    )
    assert by_policy(analyze_stack(resources), "sqs-dead-letter-queue") == []


# ------------------------------------------------------------------------------------------
# Stack rule: VPC flow logs
# ------------------------------------------------------------------------------------------


def network(traffic: str = "ALL", deps: bool = True, attached_to: str = "vpcId") -> list[Res]:
    """A VPC and a flow log; during a preview the flow log's `vpcId` is not known yet, and the
    engine's property dependency is what names the VPC."""
    flow_log = {
        attached_to: UNKNOWN_STRING,
        "trafficType": traffic,
        "logDestinationType": "cloud-watch-logs",
        "logDestination": UNKNOWN_STRING,
    }
    return [
        Res(stack_rules.EC2_VPC, "net", {"cidrBlock": "10.0.0.0/16"}),
        Res(
            stack_rules.EC2_FLOW_LOG,
            "net-flow-log",
            flow_log,
            {attached_to: ["net"]} if deps else {},
        ),
    ]


@pytest.mark.parametrize("traffic", ["ALL", "REJECT", UNKNOWN_STRING])
def test_vpc_with_a_flow_log_recording_rejects_passes(traffic):
    assert analyze_stack(network(traffic)) == []


def test_vpc_without_a_flow_log_is_refused():
    vpc = network()[0]
    (v,) = only(analyze_stack([vpc]), "vpc-flow-logs")
    assert v.endswith(
        "VPC 'net' has no flow log recording rejected traffic (AWS Security Hub EC2.6): add an "
        "aws.ec2.FlowLog with vpc_id=vpc.id and traffic_type 'ALL' or 'REJECT', publishing to "
        "CloudWatch Logs or S3."
    )
    (violation,) = analyze_stack([vpc])
    assert violation.urn == vpc.urn


def test_accept_only_flow_log_does_not_cover_the_vpc():
    assert only(analyze_stack(network("ACCEPT")), "vpc-flow-logs")


def test_subnet_flow_log_does_not_cover_the_vpc():
    vpc, flow_log = network(attached_to="subnetId")
    subnet = Res("aws:ec2/subnet:Subnet", "net-a", {"vpcId": UNKNOWN_STRING}, {"vpcId": [vpc.name]})
    flow_log = Res(flow_log.type, flow_log.name, flow_log.props, {"subnetId": [subnet.name]})
    assert only(analyze_stack([vpc, subnet, flow_log]), "vpc-flow-logs")


def test_flow_log_is_linked_by_the_vpc_id_without_dependencies():
    vpc = Res(stack_rules.EC2_VPC, "net", {"cidrBlock": "10.0.0.0/16", "id": "vpc-0a1b"})

    def flow_log(vpc_id: str) -> Res:
        return Res(stack_rules.EC2_FLOW_LOG, "fl", {"vpcId": vpc_id, "trafficType": "REJECT"})

    assert analyze_stack([vpc, flow_log("vpc-0a1b")]) == []
    assert only(analyze_stack([vpc, flow_log("vpc-other")]), "vpc-flow-logs")


def test_a_flow_log_covers_only_its_own_vpc():
    resources = [*network(), Res(stack_rules.EC2_VPC, "other", {"cidrBlock": "10.1.0.0/16"})]
    (v,) = by_policy(analyze_stack(resources), "vpc-flow-logs")
    assert v.urn == resources[2].urn


def test_a_flow_log_linked_to_no_vpc_covers_none_not_even_the_only_one():
    # Its vpcId is not known yet and no dependency names the VPC: nothing is guessed.
    resources = network(deps=False)
    (v,) = by_policy(analyze_stack(resources), "vpc-flow-logs")
    assert v.urn == resources[0].urn


def test_vpc_flow_logs_rule_can_be_disabled_for_a_stack_by_pack_config():
    # A stack with vpcFlowLogs=false needs this explicit exception, e.g.
    # `--policy-pack-config` with {"vpc-flow-logs": "disabled"}.
    vpc = network()[0]
    assert analyze_stack([vpc], disabled=["vpc-flow-logs"]) == []
    assert analyze_stack([vpc], disabled=["sqs-dead-letter-queue"]) != []


def test_first_preview_links_the_dead_letter_queue_through_the_engines_dependency():
    resources = stack()
    source = resources[1]
    # The redrive policy embeds the DLQ's ARN, unknown before the DLQ exists.
    resources[1] = Res(
        source.type, source.name, {**source.props, "redrivePolicy": UNKNOWN_STRING}, source.deps
    )
    assert by_policy(analyze_stack(resources), "sqs-dead-letter-queue") == []
    resources[1] = Res(source.type, source.name, resources[1].props, {})
    (v,) = by_policy(analyze_stack(resources), "sqs-dead-letter-queue")
    assert v.urn == resources[0].urn


def unmatched_names(resources: list[Res], deps: bool) -> list[Res]:
    """With ARNs that match no name in the stack (auto-named resources get a random suffix), so
    only the property dependencies, when `deps`, link them."""
    out = []
    for r in resources:
        props = dict(r.props)
        if r.type == sqs.LAMBDA_EVENT_SOURCE_MAPPING:
            props["eventSourceArn"] = "arn:aws:sqs:eu-west-1:111122223333:events-a1b2c3d"
            props["functionName"] = "consumer-9f8e7d6"
        if "redrivePolicy" in props:
            props["redrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": "arn:aws:sqs:eu-west-1:111122223333:dlq-0a1b2c3",
                    "maxReceiveCount": 5,
                }
            )
        out.append(Res(r.type, r.name, props, r.deps if deps else {}))
    return out


def test_unmatched_references_are_linked_by_dependencies_and_never_guessed():
    linked = unmatched_names(stack(), deps=True)
    assert analyze_stack(linked) == []
    # Without the dependencies nothing links, though the stack has one candidate of each kind.
    unlinked = unmatched_names(stack(), deps=False)
    violations = analyze_stack(unlinked)
    (mapping,) = by_policy(violations, "sqs-visibility-timeout-covers-function")
    assert mapping.urn == unlinked[3].urn
    assert "cannot find its queue" in mapping.message
    assert [v.urn for v in by_policy(violations, "sqs-dead-letter-queue")] == [unlinked[0].urn]


def test_a_mapping_linked_by_dependencies_is_checked_against_its_own_queue_and_function():
    short = unmatched_names(stack(visibility=60), deps=True)
    short.append(Res(sqs.LAMBDA_FUNCTION, "other", {"timeout": 900}))
    (v,) = by_policy(analyze_stack(short), "sqs-visibility-timeout-covers-function")
    assert v.urn == short[1].urn
    # 6 x the timeout of "consumer" (30 s) + 5 s, not of "other".
    assert "function 'consumer' (30 s)" in v.message
    assert "= 185 s" in v.message
