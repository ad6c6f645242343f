"""The public edge: the AWS Load Balancer Controller (pinned chart, Pod Identity, AWS's policy),
the app's Service as an HTTPS-only NLB, and the order destroy deletes them in."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import kubernetes_validate
import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.iam import RoleSettings
from components.load_balancer_controller import (
    LoadBalancerController,
    LoadBalancerControllerArgs,
)
from tests.infra.harness import Recorded, Run, run_component
from tests.infra.lookup import (
    CERTIFICATE_ARN,
    DEPLOYMENT,
    NODES,
    RELEASE,
    SERVICE,
    as_manifest,
    of_type,
    one,
    policy,
    statements,
)
from tests.infra.parliament_lint import findings

ROLE = "aws:iam/role:Role"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer"
NAMESPACE = "kubernetes:core/v1:Namespace"


def test_the_controller_is_installed_only_for_a_public_app(stack: Run, public: Run) -> None:
    assert of_type(stack, RELEASE) == []
    assert [r.name for r in of_type(stack, ROLE) if "lb-controller" in r.name] == []
    assert one(public, RELEASE).name == "lb-controller-release"


def test_the_chart_and_the_controller_image_are_pinned(public: Run) -> None:
    release = one(public, RELEASE).inputs
    assert release["chart"] == "aws-load-balancer-controller"
    assert release["repositoryOpts"] == {"repo": "https://aws.github.io/eks-charts"}
    assert release["version"] == "3.5.0"
    assert release["namespace"] == "kube-system"
    assert release["values"]["image"] == {
        "repository": "public.ecr.aws/eks/aws-load-balancer-controller",
        "tag": "v3.5.0",
    }


def test_the_controller_is_told_its_cluster_region_and_vpc(public: Run) -> None:
    # The nodes' IMDS hop limit of 1 hides the instance metadata it would discover them from.
    values = one(public, RELEASE).inputs["values"]
    assert values["clusterName"] == "ecr-eks-lambda-dev"
    assert values["region"] == "eu-west-1"
    assert values["vpcId"] == f"{one(public, 'aws:ec2/vpc:Vpc').name}-id"
    # It makes load balancers only of Services that name its class.
    assert values["enableServiceMutatorWebhook"] is False
    assert values["serviceAccount"] == {"create": True, "name": "aws-load-balancer-controller"}


def test_the_controller_gets_its_identity_through_pod_identity(public: Run) -> None:
    role = one(public, ROLE, "lb-controller-role")
    assert role.inputs["path"] == "/ecr-eks-lambda/"
    [trust] = statements(role, "assumeRolePolicy")
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {
        "aws:RequestTag/eks-cluster-arn": (
            "arn:aws:eks:eu-west-1:123456789012:cluster/ecr-eks-lambda-dev"
        ),
        "aws:RequestTag/kubernetes-namespace": "kube-system",
        "aws:RequestTag/kubernetes-service-account": "aws-load-balancer-controller",
    }
    [association] = [a for a in of_type(public, ASSOCIATION) if a.name == "lb-controller-identity"]
    assert association.inputs == {
        "clusterName": "ecr-eks-lambda-dev",
        "namespace": "kube-system",
        "serviceAccount": "aws-load-balancer-controller",
        "roleArn": role.outputs["arn"],
    }
    agent = one(public, "aws:eks/addon:Addon", "cluster-pod-identity-agent")
    assert agent.urn in association.dependencies


def test_the_controllers_policy_is_the_one_aws_publishes_for_its_version(public: Run) -> None:
    grant = one(public, "aws:iam/rolePolicy:RolePolicy", "lb-controller-policy")
    assert grant.inputs["role"] == "lb-controller-role-id"
    document = policy(grant)
    # AWS's docs/install/iam_policy.json at kubernetes-sigs/aws-load-balancer-controller
    # v3.5.0, whose git blob id is 761d0e73...: the same document, unchanged.
    published = (json.dumps(document, indent=4) + "\n").encode()
    blob = hashlib.sha1(b"blob %d\0" % len(published) + published).hexdigest()
    assert blob == "761d0e733c41089c91ea009dd29faf71918085e5"
    # Creating load balancers needs the request to carry the cluster's tag; changing them,
    # that they already carry it: the controller touches only what it made.
    [create] = [
        s for s in document["Statement"] if "elasticloadbalancing:CreateLoadBalancer" in s["Action"]
    ]
    assert create["Condition"] == {"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"}}
    assert all(s["Effect"] == "Allow" for s in document["Statement"])
    assert not any(a.endswith("*") for s in document["Statement"] for a in s["Action"])


def test_parliament_finds_only_what_aws_policy_is_known_for(public: Run) -> None:
    # AWS's policy grants on "*" where the resource does not exist yet (the controller creates
    # it, and the conditions require its cluster tag), and parliament's action data predates
    # ModifyIpPools and the elasticloadbalancing:CreateAction condition key. Nothing else.
    grant = one(public, "aws:iam/rolePolicy:RolePolicy", "lb-controller-policy")
    kinds = {kind for kind, _ in findings(grant.inputs["policy"])}
    assert kinds == {"RESOURCE_STAR", "UNKNOWN_ACTION", "UNKNOWN_CONDITION_FOR_ACTION"}
    unknown = [
        detail for kind, detail in findings(grant.inputs["policy"]) if kind != "RESOURCE_STAR"
    ]
    assert set(unknown) == {
        "Unknown action elasticloadbalancing:ModifyIpPools",
        "Unknown condition elasticloadbalancing:CreateAction for action "
        "elasticloadbalancing:AddTags",
    }


def test_the_controller_starts_once_it_has_nodes_and_credentials(public: Run) -> None:
    release = one(public, RELEASE)
    deps = set(release.dependencies)
    assert one(public, NODES).urn in deps
    assert one(public, "aws:iam/rolePolicy:RolePolicy", "lb-controller-policy").urn in deps
    assert [a.urn for a in of_type(public, ASSOCIATION) if a.urn in deps] == [
        next(a.urn for a in of_type(public, ASSOCIATION) if a.name == "lb-controller-identity")
    ]
    provider = one(public, "pulumi:providers:kubernetes")
    assert release.provider == f"{provider.urn}::{provider.name}-id"


def test_the_public_service_is_an_https_only_nlb_made_by_the_controller(public: Run) -> None:
    svc = one(public, SERVICE).inputs
    spec = svc["spec"]
    assert spec["type"] == "LoadBalancer"
    assert spec["loadBalancerClass"] == "service.k8s.aws/nlb"
    # One listener, TLS on 443; no plain HTTP, and never the metrics port.
    assert spec["ports"] == [
        {"name": "https", "port": 443, "targetPort": "http", "protocol": "TCP"}
    ]
    assert spec["loadBalancerSourceRanges"] == ["203.0.113.0/24"]
    assert spec["allocateLoadBalancerNodePorts"] is False
    assert svc["metadata"]["annotations"] == {
        f"{ANNOTATION}-scheme": "internet-facing",
        f"{ANNOTATION}-nlb-target-type": "ip",
        f"{ANNOTATION}-ssl-cert": CERTIFICATE_ARN,
        f"{ANNOTATION}-ssl-ports": "https",
        f"{ANNOTATION}-ssl-negotiation-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
        f"{ANNOTATION}-target-group-attributes": "preserve_client_ip.enabled=false",
        f"{ANNOTATION}-healthcheck-protocol": "HTTP",
        f"{ANNOTATION}-healthcheck-path": "/readyz",
        f"{ANNOTATION}-healthcheck-port": "traffic-port",
    }
    kubernetes_validate.validate(as_manifest(svc), "1.35", strict=True)


def test_the_endpoint_is_the_load_balancers_https_address(public: Run) -> None:
    assert public.outputs["appEndpoint"] == (
        "https://app-service-0123456789abcdef.elb.eu-west-1.amazonaws.com"
    )


def test_a_public_app_serves_metrics_on_its_own_port_and_verifies_tokens(public: Run) -> None:
    [container] = one(public, DEPLOYMENT).inputs["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [
        {"name": "http", "containerPort": 8080},
        {"name": "metrics", "containerPort": 9090},
    ]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["METRICS_PORT"] == "9090"
    assert env["AUTH_ISSUER"] == "https://login.example.com/tenant"
    assert env["AUTH_AUDIENCE"] == "api://events"
    assert "AUTH_REQUIRED_SCOPE" not in env
    metrics_port = {p["containerPort"] for p in container["ports"] if p["name"] == "metrics"}
    service_targets = {p["targetPort"] for p in one(public, SERVICE).inputs["spec"]["ports"]}
    assert service_targets == {"http"}
    assert metrics_port == {9090}


def test_behind_the_nlb_new_pods_wait_for_a_healthy_target(stack: Run, public: Run) -> None:
    # The controller's webhook adds a readiness gate to pods of a labelled namespace, so a
    # rolling update keeps old pods until new ones are healthy in the target group.
    label = "elbv2.k8s.aws/pod-readiness-gate-inject"
    assert one(public, NAMESPACE).inputs["metadata"]["labels"][label] == "enabled"
    assert label not in one(stack, NAMESPACE).inputs["metadata"]["labels"]
    assert one(public, RELEASE).urn in one(public, DEPLOYMENT).dependencies


def test_destroy_removes_the_load_balancer_before_the_controller_and_the_vpc(public: Run) -> None:
    # Pulumi deletes a resource before everything it depends on. The Service (whose deletion
    # waits for the controller to remove the NLB) depends on the controller's release, and
    # the release, through the nodes and subnets, on the VPC.
    by_urn = {r.urn: r for r in public.records}
    release = one(public, RELEASE)
    assert release.urn in one(public, SERVICE).dependencies
    assert one(public, "aws:ec2/vpc:Vpc").urn in _depends_on(release, by_urn)
    association = next(
        a for a in of_type(public, ASSOCIATION) if a.name == "lb-controller-identity"
    )
    assert association.urn in _depends_on(release, by_urn)


def _depends_on(record: Recorded, by_urn: dict[str, Recorded]) -> set[str]:
    """Every URN `record` depends on, directly or through others."""
    seen: set[str] = set()
    todo = list(record.dependencies)
    while todo:
        urn = todo.pop()
        if urn in seen or urn not in by_urn:
            continue
        seen.add(urn)
        todo.extend(by_urn[urn].dependencies)
    return seen


# --- alone ----------------------------------------------------------------------------------


def controller_alone(*, preview: bool, boundary: str | None = None) -> Run:
    def build() -> dict[str, Any]:
        # On a new stack's first preview the cluster, and so its kubeconfig, does not exist.
        provider = k8s.Provider("k8s", kubeconfig=_unknown() if preview else "{}")
        controller = LoadBalancerController(
            "lbc",
            LoadBalancerControllerArgs(
                cluster_name="eks-1",
                cluster_arn="arn:aws:eks:ap-south-2:123456789012:cluster/eks-1",
                region="ap-south-2",
                vpc_id="vpc-0abc",
                roles=RoleSettings(permissions_boundary_arn=boundary),
                provider=provider,
                nodes=aws.sns.Topic("stand-in-for-nodes"),
                pod_identity_agent=aws.sns.Topic("stand-in-for-agent"),
            ),
        )
        return {"role": controller.role.arn}

    return run_component(build, region="ap-south-2", preview=preview)


def _unknown() -> pulumi.Output[str]:
    """An output whose value is not known yet, as at preview before its resource exists."""
    loop = asyncio.get_event_loop()
    value: asyncio.Future[str] = loop.create_future()
    value.set_result("")
    known: asyncio.Future[bool] = loop.create_future()
    known.set_result(False)
    return pulumi.Output(set(), value, known)


def test_alone_it_installs_into_the_given_cluster_region_and_vpc() -> None:
    boundary = "arn:aws:iam::123456789012:policy/ecr-eks-lambda-boundary"
    result = controller_alone(preview=False, boundary=boundary)
    values = one(result, RELEASE).inputs["values"]
    assert (values["clusterName"], values["region"], values["vpcId"]) == (
        "eks-1",
        "ap-south-2",
        "vpc-0abc",
    )
    assert one(result, ROLE).inputs["permissionsBoundary"] == boundary
    urn = {r.name: r.urn for r in result.records}
    assert urn["stand-in-for-nodes"] in one(result, RELEASE).dependencies
    assert urn["stand-in-for-agent"] in one(result, ASSOCIATION).dependencies


def test_alone_a_first_preview_with_an_unknown_kubeconfig_registers_the_release() -> None:
    result = controller_alone(preview=True)
    release = one(result, RELEASE)
    assert release.inputs["version"] == "3.5.0"
    assert release.inputs["values"]["vpcId"] == "vpc-0abc"
