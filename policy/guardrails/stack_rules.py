"""Stack rules: relations between resources (a queue and its dead-letter queue, an event source
mapping and its queue and function, a VPC and its flow log).

They see the stack the way the engine hands it to a stack policy: each resource's outputs, its
URN, and per property the resources its value came from (`PolicyResource.property_dependencies`,
which the engine records whenever the program passes one resource's output into another's
input). A link is read from those dependencies first: during a first preview the values that
would link (ARNs, ids) are unknown, and the dependency is all there is. Known values are matched
next (an ARN, URL, queue name or VPC id), for references the program wrote as literals. Nothing
is linked by guessing: a reference that names no resource of the stack stays unlinked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from pulumi_policy import PolicyResource

from .rules import StackRule
from .sqs import (
    LAMBDA_EVENT_SOURCE_MAPPING,
    LAMBDA_FUNCTION,
    SQS_QUEUE,
    SQS_REDRIVE_ALLOW_POLICY,
    SQS_REDRIVE_POLICY,
    is_sqs_mapping,
)
from .values import UNKNOWN, get, is_set, json_value

EC2_VPC: Final = "aws:ec2/vpc:Vpc"
EC2_FLOW_LOG: Final = "aws:ec2/flowLog:FlowLog"


def _dependency(
    source: PolicyResource, prop: str, candidates: Sequence[PolicyResource]
) -> PolicyResource | None:
    """The candidate that `source.prop`'s value came from, by the engine's property dependency."""
    urns = {d.urn for d in source.property_dependencies.get(prop, [])}
    return next((c for c in candidates if c.urn in urns), None)


def _arn_name(arn: Any, service: str) -> str | None:
    """The resource name at the end of an ARN of `service`, e.g. the queue name of an SQS ARN."""
    if not isinstance(arn, str):
        return None
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != service:
        return None
    return parts[-1]


def _names(resource: PolicyResource) -> set[str]:
    """Names a resource may be referred to by: its physical name when known, and its logical
    name (which explicitly named resources share)."""
    names = {resource.name}
    physical = get(resource.props, "name")
    if isinstance(physical, str):
        names.add(physical)
    return names


def _referenced(
    source: PolicyResource,
    prop: str,
    value: Any,
    candidates: Sequence[PolicyResource],
    service: str,
) -> PolicyResource | None:
    """The candidate that `source.prop` (whose value is `value`) refers to: by the engine's
    property dependency, else by ARN, URL or name."""
    linked = _dependency(source, prop, candidates)
    if linked is not None or not isinstance(value, str):
        return linked
    for c in candidates:
        if value in (get(c.props, "arn"), get(c.props, "url")):
            return c
    arn_name = _arn_name(value, service)
    for c in candidates:
        names = _names(c)
        if arn_name in names or value in names:
            return c
        # An SQS queue URL ends with "/<account>/<queue name>".
        if value.startswith("https://") and value.rsplit("/", 1)[-1] in names:
            return c
    return None


def _dead_letter_target(redrive_policy: Any) -> Any:
    redrive = json_value(redrive_policy)
    return redrive.get("deadLetterTargetArn") if isinstance(redrive, Mapping) else None


def check_sqs_dead_letter_queues(resources: Sequence[PolicyResource]) -> list[tuple[str, str]]:
    """Every queue has a dead-letter queue, or is one (the target of a redrive policy in the
    stack, or a queue with a redrive-allow policy)."""
    queues = [r for r in resources if r.resource_type == SQS_QUEUE]
    covered: set[str] = set()
    for q in queues:
        redrive = json_value(get(q.props, "redrivePolicy"))
        if redrive is UNKNOWN or (
            isinstance(redrive, Mapping) and redrive.get("deadLetterTargetArn")
        ):
            covered.add(q.urn)
            # During a first preview the whole redrive policy is unknown (it embeds the
            # dead-letter queue's ARN); the engine's dependency still names that queue.
            target = _dead_letter_target(redrive)
            dlq = _referenced(q, "redrivePolicy", target, queues, "sqs")
            if dlq is not None:
                covered.add(dlq.urn)
        if is_set(get(q.props, "redriveAllowPolicy")):
            covered.add(q.urn)
    for r in resources:
        if r.resource_type not in (SQS_REDRIVE_POLICY, SQS_REDRIVE_ALLOW_POLICY):
            continue
        source = _referenced(r, "queueUrl", get(r.props, "queueUrl"), queues, "sqs")
        if source is not None:
            covered.add(source.urn)
        if r.resource_type == SQS_REDRIVE_POLICY:
            target = _dead_letter_target(get(r.props, "redrivePolicy"))
            dlq = _referenced(r, "redrivePolicy", target, queues, "sqs")
            if dlq is not None:
                covered.add(dlq.urn)
    return [
        (
            q.urn,
            f"SQS queue {q.name!r} has no dead-letter queue: set redrive_policy with a "
            "deadLetterTargetArn and maxReceiveCount (or, for a dead-letter queue itself, a "
            "redrive_allow_policy naming its source queues).",
        )
        for q in queues
        if q.urn not in covered
    ]


# AWS defaults when the property is unset.
_DEFAULT_FUNCTION_TIMEOUT: Final = 3
_DEFAULT_VISIBILITY_TIMEOUT: Final = 30


def _number(value: Any, default: float) -> float | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def check_sqs_visibility_covers_function(
    resources: Sequence[PolicyResource],
) -> list[tuple[str, str]]:
    """A queue feeding a function hides a message for at least 6 x the function timeout plus the
    batching window, as AWS documents for Lambda's SQS poller; otherwise a message still being
    processed becomes visible again and is delivered twice. A mapping whose queue or function is
    not in the stack cannot be checked, and is refused."""
    queues = [r for r in resources if r.resource_type == SQS_QUEUE]
    functions = [r for r in resources if r.resource_type == LAMBDA_FUNCTION]
    out: list[tuple[str, str]] = []
    for m in resources:
        if m.resource_type != LAMBDA_EVENT_SOURCE_MAPPING or not is_sqs_mapping(m.props):
            continue
        queue = _referenced(m, "eventSourceArn", get(m.props, "eventSourceArn"), queues, "sqs")
        function = _referenced(m, "functionName", get(m.props, "functionName"), functions, "lambda")
        if queue is None or function is None:
            out.append(
                (
                    m.urn,
                    f"Event source mapping {m.name!r}: cannot find its "
                    f"{'queue' if queue is None else 'function'} in this stack, so its visibility "
                    "timeout cannot be checked against the function timeout; wire "
                    "event_source_arn=queue.arn and function_name=function.arn.",
                )
            )
            continue
        timeout = _number(get(function.props, "timeout"), _DEFAULT_FUNCTION_TIMEOUT)
        visibility = _number(
            get(queue.props, "visibilityTimeoutSeconds"), _DEFAULT_VISIBILITY_TIMEOUT
        )
        window = _number(get(m.props, "maximumBatchingWindowInSeconds"), 0)
        if timeout is None or visibility is None or window is None:
            continue
        needed = 6 * timeout + window
        if visibility < needed:
            out.append(
                (
                    queue.urn,
                    f"SQS queue {queue.name!r} has visibility_timeout_seconds={visibility:g}, "
                    f"below 6 x the timeout of function {function.name!r} ({timeout:g} s) + the "
                    f"batching window of {m.name!r} ({window:g} s) = {needed:g} s.",
                )
            )
    return out


# Traffic types that record rejected connections, which Security Hub EC2.6 (and the CIS AWS
# Foundations Benchmark) ask for; an ACCEPT-only flow log does not.
_FLOW_LOG_TRAFFIC_WITH_REJECTS: Final = ("ALL", "REJECT")


def check_vpc_flow_logs(resources: Sequence[PolicyResource]) -> list[tuple[str, str]]:
    """Every VPC has a flow log of its own (`vpcId`, not a subnet's or an interface's) that
    records rejected traffic. A flow log is linked to its VPC through the engine's property
    dependency on `vpcId`, else by the VPC's `id`."""
    vpcs = [r for r in resources if r.resource_type == EC2_VPC]
    covered: set[str] = set()
    for flow_log in resources:
        if flow_log.resource_type != EC2_FLOW_LOG:
            continue
        vpc_id = get(flow_log.props, "vpcId")
        if vpc_id is None or vpc_id == "":
            continue
        traffic = get(flow_log.props, "trafficType")
        if traffic is not UNKNOWN and traffic not in _FLOW_LOG_TRAFFIC_WITH_REJECTS:
            continue
        vpc = _dependency(flow_log, "vpcId", vpcs)
        if vpc is None and isinstance(vpc_id, str):
            vpc = next((v for v in vpcs if get(v.props, "id") == vpc_id), None)
        if vpc is not None:
            covered.add(vpc.urn)
    return [
        (
            vpc.urn,
            f"VPC {vpc.name!r} has no flow log recording rejected traffic (AWS Security Hub "
            "EC2.6): add an aws.ec2.FlowLog with vpc_id=vpc.id and traffic_type 'ALL' or "
            "'REJECT', publishing to CloudWatch Logs or S3.",
        )
        for vpc in vpcs
        if vpc.urn not in covered
    ]


RULES: Final = (
    StackRule(
        "sqs-dead-letter-queue",
        "Every SQS queue has a dead-letter queue, or is one.",
        check_sqs_dead_letter_queues,
    ),
    StackRule(
        "sqs-visibility-timeout-covers-function",
        "An SQS queue feeding a Lambda hides messages for at least 6 x the function timeout "
        "plus the batching window.",
        check_sqs_visibility_covers_function,
    ),
    StackRule(
        "vpc-flow-logs",
        "Every VPC has a flow log that records rejected traffic (ALL or REJECT).",
        check_vpc_flow_logs,
    ),
)
