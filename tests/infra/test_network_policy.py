"""Only allowed callers reach the app's pods, and the pods reach only DNS, HTTPS and the Pod
Identity agent; the VPC CNI's network policy agent enforces it."""

from __future__ import annotations

import ipaddress
from typing import Any

import kubernetes_validate
import pytest

from tests.infra.harness import Run, run
from tests.infra.lookup import (
    DEPLOYMENT,
    NETWORK_POLICY,
    PUBLIC_APP,
    as_manifest,
    of_type,
    one,
    subnets,
    unwrap,
)


def policies(result: Run) -> dict[str, dict[str, Any]]:
    """The app namespace's NetworkPolicies by name (their inputs)."""
    found = {p.inputs["metadata"]["name"]: p.inputs for p in of_type(result, NETWORK_POLICY)}
    assert {p["metadata"]["namespace"] for p in found.values()} == {"app"}
    return found


def pod_labels(result: Run) -> dict[str, str]:
    return one(result, DEPLOYMENT).inputs["spec"]["template"]["metadata"]["labels"]


def selects_the_app(policy: dict[str, Any], result: Run) -> bool:
    wanted = policy["spec"]["podSelector"]["matchLabels"].items()
    return wanted <= pod_labels(result).items()


def test_every_pod_in_the_namespace_is_denied_by_default(stack: Run) -> None:
    deny = policies(stack)["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_a_private_app_without_allowed_namespaces_admits_no_caller(stack: Run) -> None:
    # Only the kubelet's probes reach it: the agent always admits the pod's own node.
    assert sorted(policies(stack)) == ["allow-egress", "default-deny"]


def test_a_public_app_admits_the_load_balancers_subnets_on_the_app_port_only(
    public: Run,
) -> None:
    allow = policies(public)["allow-callers"]
    assert selects_the_app(allow, public)
    assert allow["spec"]["policyTypes"] == ["Ingress"]
    [rule] = allow["spec"]["ingress"]
    public_cidrs = [s.inputs["cidrBlock"] for s in subnets(public, "public")]
    assert len(public_cidrs) == 2
    assert rule["from"] == [{"ipBlock": {"cidr": cidr}} for cidr in public_cidrs]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]


def test_no_ingress_ip_block_covers_the_pods_own_subnets(public: Run) -> None:
    # The VPC CNI gives pods addresses in the private subnets: a block over them would admit
    # every pod of the cluster.
    private = [ipaddress.ip_network(s.inputs["cidrBlock"]) for s in subnets(public, "private")]
    blocks = [
        ipaddress.ip_network(peer["ipBlock"]["cidr"])
        for p in policies(public).values()
        for rule in p["spec"].get("ingress", [])
        for peer in rule["from"]
        if "ipBlock" in peer
    ]
    assert blocks
    assert not any(b.overlaps(p) for b in blocks for p in private)


def test_allowed_namespaces_may_call_the_app_and_no_other() -> None:
    result = run("dev", {"appAllowedNamespaces": '["producers", "ops"]'})
    assert result.error is None
    allow = policies(result)["allow-callers"]
    assert selects_the_app(allow, result)
    assert allow["spec"]["ingress"] == [
        {
            "from": [
                {
                    "namespaceSelector": {
                        "matchExpressions": [
                            {
                                "key": "kubernetes.io/metadata.name",
                                "operator": "In",
                                "values": ["producers", "ops"],
                            }
                        ]
                    }
                }
            ],
            "ports": [{"protocol": "TCP", "port": 8080}],
        }
    ]


def test_allowed_namespaces_of_a_public_app_may_also_scrape_its_metrics() -> None:
    result = run("dev", {**PUBLIC_APP, "appAllowedNamespaces": '["monitoring"]'})
    assert result.error is None
    _, namespaces = policies(result)["allow-callers"]["spec"]["ingress"]
    assert namespaces["ports"] == [
        {"protocol": "TCP", "port": 8080},
        {"protocol": "TCP", "port": 9090},
    ]


def test_the_app_reaches_only_dns_https_and_the_pod_identity_agent(stack: Run) -> None:
    egress = policies(stack)["allow-egress"]
    assert selects_the_app(egress, stack)
    assert egress["spec"]["policyTypes"] == ["Egress"]
    assert egress["spec"]["egress"] == [
        {
            "to": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                    },
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        },
        {"ports": [{"protocol": "TCP", "port": 443}]},
        # EKS Pod Identity agent (EKS user guide): without it the app has no AWS credentials.
        {
            "to": [
                {"ipBlock": {"cidr": "169.254.170.23/32"}},
                {"ipBlock": {"cidr": "fd00:ec2::23/128"}},
            ],
            "ports": [{"protocol": "TCP", "port": 80}],
        },
    ]


@pytest.mark.parametrize("name", ["default-deny", "allow-callers", "allow-egress"])
def test_the_policies_validate_strictly(public: Run, name: str) -> None:
    manifest = as_manifest(unwrap(policies(public)[name]))
    kubernetes_validate.validate(manifest, "1.35", strict=True)


def test_the_vpc_cni_enforces_network_policies(stack: Run) -> None:
    cluster = one(stack, "eks:index:Cluster").inputs
    assert cluster["vpcCniOptions"]["enableNetworkPolicy"] is True
