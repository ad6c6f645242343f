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

from policy.guardrails import POLICIES

PACK = "ecr-eks-lambda-guardrails"


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


def analyze(resource_type: str, props: Mapping[str, Any], name: str = "r") -> list[Violation]:
    """Every resource policy of the pack over one resource, as `pulumi preview` runs them."""
    request = proto.AnalyzeRequest(
        type=resource_type, properties=_struct(props), urn=urn(resource_type, name), name=name
    )
    return _violations(_servicer().Analyze(request, None))


def analyze_stack(resources: Sequence[Res], disabled: Sequence[str] = ()) -> list[Violation]:
    """Every stack policy of the pack over a set of resources; `disabled` names policies
    turned off the way `--policy-pack-config` turns them off (the Configure call)."""
    servicer = _servicer()
    servicer.Configure(
        proto.ConfigureAnalyzerRequest(
            policyConfig={
                name: proto.PolicyConfig(enforcementLevel=proto.DISABLED) for name in disabled
            }
        ),
        None,
    )
    by_name = {r.name: r for r in resources}
    request = proto.AnalyzeStackRequest(
        resources=[
            proto.AnalyzerResource(
                type=r.type,
                properties=_struct(r.props),
                urn=r.urn,
                name=r.name,
                propertyDependencies={
                    prop: proto.AnalyzerPropertyDependencies(urns=[by_name[n].urn for n in names])
                    for prop, names in r.deps.items()
                },
            )
            for r in resources
        ]
    )
    return _violations(servicer.AnalyzeStack(request, None))


def by_policy(violations: Sequence[Violation], policy: str) -> list[Violation]:
    return [v for v in violations if v.policy == policy]
