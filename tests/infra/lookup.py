"""Exact lookups over recorded registrations: a missing or duplicated resource fails loudly."""

from __future__ import annotations

import json
import tomllib
from typing import Any

from tests.infra.harness import ROOT, Recorded, Run

SECRET_SIG = "4dabf18193072939515e22adb298388d"

SUBNET = "aws:ec2/subnet:Subnet"
NODES = "aws:eks/nodeGroup:NodeGroup"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SERVICE = "kubernetes:core/v1:Service"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
RELEASE = "kubernetes:helm.sh/v3:Release"
CERTIFICATE_ARN = (
    "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
)
PUBLIC_EDGE = {
    "appCertificateArn": CERTIFICATE_ARN,
    "appAuthIssuer": "https://login.example.com/tenant",
    "appAuthAudience": "api://events",
}
"""Everything a public app needs besides appPublic and its source CIDRs."""
PUBLIC_APP = {"appPublic": "true", "appAllowedCidrs": '["203.0.113.0/24"]', **PUBLIC_EDGE}
"""Overrides that make a stack's app public."""
ADDON_KEYS = {
    "vpc-cni": "vpcCniVersion",
    "kube-proxy": "kubeProxyVersion",
    "coredns": "corednsVersion",
    "eks-pod-identity-agent": "podIdentityAgentVersion",
    "metrics-server": "metricsServerVersion",
}
"""Each EKS add-on's version key."""


def committed_addon_versions(kubernetes_version: str) -> dict[str, str]:
    """The committed add-on table's versions for `kubernetes_version`, read without the code
    under test."""
    table = tomllib.loads((ROOT / "components" / "addon_versions.toml").read_text())
    return {addon: table[kubernetes_version][addon]["version"] for addon in ADDON_KEYS}


def of_type(run: Run, type_: str) -> list[Recorded]:
    return [r for r in run.records if r.type == type_]


def one(run: Run, type_: str, name: str | None = None) -> Recorded:
    """The single registration of `type_` (named `name` when given)."""
    found = [r for r in of_type(run, type_) if name is None or r.name == name]
    assert len(found) == 1, f"expected exactly one {type_} {name or ''}, found {len(found)}"
    return found[0]


def unwrap(value: Any) -> Any:
    """The plain value of a secret-wrapped input."""
    if isinstance(value, dict) and SECRET_SIG in value:
        return value["value"]
    return value


def policy(record: Recorded, key: str = "policy") -> dict[str, Any]:
    return json.loads(record.inputs[key])


def statements(record: Recorded, key: str = "policy") -> list[dict[str, Any]]:
    return policy(record, key)["Statement"]


def as_manifest(value: Any) -> Any:
    """The engine's JSON: numbers the mocks hand over as floats are integers on the wire."""
    if isinstance(value, dict):
        return {k: as_manifest(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_manifest(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def subnets(run: Run, tier: str, component: str = "network") -> list[Recorded]:
    """The `tier` ("public" or "private") subnets of `component`."""
    return [s for s in of_type(run, SUBNET) if s.name.startswith(f"{component}-{tier}-")]


def ids(records: list[Recorded]) -> list[str]:
    """The ids the mocks gave `records`."""
    return [f"{r.name}-id" for r in records]
