"""Runs the policy pack the way the Pulumi CLI does, minus the CLI and the gRPC transport.

The CLI sends each resource to the pack as an `AnalyzeRequest` (and the whole stack as an
`AnalyzeStackRequest`) over gRPC; pulumi-policy's analyzer servicer turns the protobuf
properties into the proxied property bag, builds `ResourceValidationArgs` /
`StackValidationArgs` and calls every policy. These helpers build the same requests and call
the same servicer, so the wrappers, the deserialization (secrets, unknowns) and the pure rules
are all exercised together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

from policy.guardrails.pack import POLICIES

PACK = "ecr-eks-lambda-guardrails"
# What the engine sends in place of a string not known yet (a preview, before the resource it
# comes from exists): pulumi's UnknownStringValue.
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@dataclass(frozen=True)
class Violation:
    policy: str
    message: str
    urn: str
    mandatory: bool


@dataclass(frozen=True)
class Res:
    type: str
    name: str
    props: Mapping[str, Any]
    deps: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """property -> names (not URNs) of the resources the value came from"""

    @property
    def urn(self) -> str:
        return urn(self.type, self.name)


def urn(resource_type: str, name: str) -> str:
    return f"urn:pulumi:dev::ecr-eks-lambda::{resource_type}::{name}"


def _servicer() -> _PolicyAnalyzerServicer:
    return _PolicyAnalyzerServicer(PACK, "0.1.0", list(POLICIES), EnforcementLevel.MANDATORY)


def _struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(dict(props))
    return s


def _violations(response: Any) -> list[Violation]:
    return [
        Violation(d.policyName, d.message, d.urn, d.enforcementLevel == proto.MANDATORY)
        for d in response.diagnostics
    ]


def analyze(
    resource_type: str, props: Mapping[str, Any], name: str = "r", resource_urn: str = ""
) -> list[Violation]:
    """Every resource policy of the pack over one resource (its inputs), as `pulumi preview`
    runs them."""
    request = proto.AnalyzeRequest(
        type=resource_type,
        properties=_struct(props),
        urn=resource_urn or urn(resource_type, name),
        name=name,
    )
    return _violations(_servicer().Analyze(request, None))


def stack_resource(
    resource_type: str,
    name: str,
    resource_urn: str,
    props: Mapping[str, Any],
    property_dependencies: Mapping[str, Sequence[str]],
    dependencies: Sequence[str] = (),
) -> proto.AnalyzerResource:
    """One resource as the engine sends it in `AnalyzeStackRequest`: its outputs, its URN, the
    URNs it depends on and, per property, the URNs the value came from (the engine leaves out
    properties that came from no resource)."""
    return proto.AnalyzerResource(
        type=resource_type,
        properties=_struct(props),
        urn=resource_urn,
        name=name,
        dependencies=list(dependencies),
        propertyDependencies={
            prop: proto.AnalyzerPropertyDependencies(urns=list(urns))
            for prop, urns in property_dependencies.items()
            if urns
        },
    )


def analyze_stack_resources(
    resources: Sequence[proto.AnalyzerResource], disabled: Sequence[str] = ()
) -> list[Violation]:
    """Every stack policy of the pack over the stack; `disabled` names policies turned off the
    way `--policy-pack-config` turns them off (the Configure call)."""
    servicer = _servicer()
    servicer.Configure(
        proto.ConfigureAnalyzerRequest(
            policyConfig={
                name: proto.PolicyConfig(enforcementLevel=proto.DISABLED) for name in disabled
            }
        ),
        None,
    )
    request = proto.AnalyzeStackRequest(resources=list(resources))
    return _violations(servicer.AnalyzeStack(request, None))


def analyze_stack(resources: Sequence[Res], disabled: Sequence[str] = ()) -> list[Violation]:
    """`analyze_stack_resources` over resources whose dependencies are given by name."""
    urns = {r.name: r.urn for r in resources}
    return analyze_stack_resources(
        [
            stack_resource(
                r.type,
                r.name,
                r.urn,
                r.props,
                {prop: [urns[n] for n in names] for prop, names in r.deps.items()},
            )
            for r in resources
        ],
        disabled,
    )


def by_policy(violations: Sequence[Violation], policy: str) -> list[Violation]:
    return [v for v in violations if v.policy == policy]


def only(violations: Sequence[Violation], policy: str) -> list[str]:
    """The messages of `policy`, asserting no other policy fired and all are mandatory."""
    assert {v.policy for v in violations} <= {policy}, violations
    assert all(v.mandatory for v in violations)
    return [v.message for v in violations]
