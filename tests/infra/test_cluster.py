"""The Cluster component: VPC, EKS control plane, managed nodes and the app's manifests."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest

from components.cluster import AppArgs, ClusterArgs
from tests.infra.harness import Run, run
from tests.infra.lookup import (
    DEPLOYMENT,
    HPA,
    NODES,
    PDB,
    as_manifest,
    of_type,
    one,
    policy,
    statements,
    unwrap,
)

SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
EKS = "eks:index:Cluster"
SERVICE = "kubernetes:core/v1:Service"
CLUSTER_ARN = "arn:aws:eks:eu-west-1:123456789012:cluster/cluster-eks-phys"
MANIFEST_TYPES = (
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:ServiceAccount",
    DEPLOYMENT,
    SERVICE,
    PDB,
    HPA,
)


def subnets(run_: Run, tier: str) -> list[Any]:
    return [s for s in of_type(run_, SUBNET) if s.name.startswith(f"cluster-{tier}-")]


def ids(records: list[Any]) -> list[str]:
    return [f"{r.name}-id" for r in records]


# --- network ---------------------------------------------------------------------------


def test_subnets_span_the_configured_zones(dev: Run, prod: Run) -> None:
    for run_, zones in ((dev, 2), (prod, 3)):
        for tier in ("public", "private"):
            found = subnets(run_, tier)
            assert len(found) == zones
            assert len({s.inputs["availabilityZone"] for s in found}) == zones
            assert all(s.inputs["vpcId"] == "cluster-vpc-id" for s in found)
            assert all(s.inputs.get("mapPublicIpOnLaunch") is not True for s in found)
    cidrs = [s.inputs["cidrBlock"] for s in of_type(prod, SUBNET)]
    assert len(set(cidrs)) == len(cidrs)


def test_subnets_are_tagged_for_load_balancers(stack: Run) -> None:
    assert all(
        s.inputs["tags"] == {"kubernetes.io/role/elb": "1"} for s in subnets(stack, "public")
    )
    assert all(
        s.inputs["tags"] == {"kubernetes.io/role/internal-elb": "1"}
        for s in subnets(stack, "private")
    )


def test_nat_single_in_dev_one_per_zone_in_prod(dev: Run, prod: Run) -> None:
    for run_, count in ((dev, 1), (prod, 3)):
        nats = of_type(run_, NAT)
        assert len(nats) == count
        assert {n.inputs["subnetId"] for n in nats} <= set(ids(subnets(run_, "public")))
        private_routes = [
            rt.inputs["routes"][0]["natGatewayId"]
            for rt in of_type(run_, "aws:ec2/routeTable:RouteTable")
            if rt.name.startswith("cluster-private-")
        ]
        assert len(private_routes) == len(subnets(run_, "private"))
        assert set(private_routes) == set(ids(nats))


def test_prod_private_subnets_route_through_their_own_zone_nat(prod: Run) -> None:
    for rt in of_type(prod, "aws:ec2/routeTable:RouteTable"):
        if rt.name.startswith("cluster-private-"):
            zone = rt.name.removeprefix("cluster-private-").removesuffix("-rt")
            assert rt.inputs["routes"][0]["natGatewayId"] == f"cluster-nat-{zone}-id"


def test_default_security_group_has_no_rules(stack: Run) -> None:
    sg = one(stack, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs
    assert sg["vpcId"] == "cluster-vpc-id"
    assert not sg.get("ingress")
    assert not sg.get("egress")


# --- control plane ---------------------------------------------------------------------


def test_eks_cluster_security_settings(stack: Run) -> None:
    eks = one(stack, EKS).inputs
    key = one(stack, "aws:kms/key:Key", "cluster-secrets-key")
    assert eks["authenticationMode"] == "API"
    assert eks["version"] == "1.35"
    assert eks["enabledClusterLogTypes"] == ["api", "audit", "authenticator"]
    assert eks["encryptionConfigKeyArn"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True
    assert eks["endpointPrivateAccess"] is True
    assert eks["endpointPublicAccess"] is True
    assert eks["publicAccessCidrs"] == ["198.51.100.0/24"]
    assert eks["vpcId"] == "cluster-vpc-id"
    # The mocks record registrations in the order they arrive, which is not the program's.
    assert sorted(eks["privateSubnetIds"]) == sorted(ids(subnets(stack, "private")))
    assert sorted(eks["publicSubnetIds"]) == sorted(ids(subnets(stack, "public")))
    assert eks["skipDefaultNodeGroup"] is True


def test_cluster_deletion_protection_in_prod_only(dev: Run, prod: Run) -> None:
    assert one(prod, EKS).inputs["deletionProtection"] is True
    assert one(dev, EKS).inputs["deletionProtection"] is False


def test_empty_api_cidrs_turn_the_public_endpoint_off() -> None:
    result = run("dev", {"clusterPublicAccessCidrs": "[]"})
    assert result.error is None
    eks = one(result, EKS).inputs
    assert eks["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in eks
    assert eks["endpointPrivateAccess"] is True


def test_no_viewer_access_entries_unless_configured(stack: Run) -> None:
    assert of_type(stack, "aws:eks/accessEntry:AccessEntry") == []
    assert of_type(stack, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation") == []


def test_viewer_roles_get_cluster_wide_view_access_only() -> None:
    roles = [
        "arn:aws:iam::123456789012:role/github-preview",
        "arn:aws:iam::123456789012:role/ops/auditor",
    ]
    result = run("dev", {"clusterViewerRoleArns": json.dumps(roles)})
    assert result.error is None
    entries = of_type(result, "aws:eks/accessEntry:AccessEntry")
    assert sorted(e.inputs["principalArn"] for e in entries) == sorted(roles)
    assert all(e.inputs["clusterName"] == "cluster-eks-phys" for e in entries)
    # No Kubernetes groups: the access policy below is all they get.
    assert all("kubernetesGroups" not in e.inputs for e in entries)
    grants = of_type(result, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert sorted(g.inputs["principalArn"] for g in grants) == sorted(roles)
    for grant in grants:
        assert grant.inputs["policyArn"] == (
            "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
        )
        assert grant.inputs["accessScope"] == {"type": "cluster"}
        assert grant.inputs["clusterName"] == "cluster-eks-phys"


def test_viewer_resource_names_do_not_depend_on_list_order() -> None:
    roles = ["arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/b"]
    forward = run("dev", {"clusterViewerRoleArns": json.dumps(roles)})
    backward = run("dev", {"clusterViewerRoleArns": json.dumps(roles[::-1])})

    def names(result: Run) -> dict[str, str]:
        return {
            e.inputs["principalArn"]: e.name
            for e in of_type(result, "aws:eks/accessEntry:AccessEntry")
        }

    assert names(forward) == names(backward)


# --- nodes -----------------------------------------------------------------------------


def test_node_group_in_private_subnets_with_config_sizes(dev: Run, prod: Run) -> None:
    for run_, sizes, itype in ((dev, (1, 1, 2), "t4g.medium"), (prod, (3, 3, 6), "m7g.large")):
        ng = one(run_, NODES).inputs
        assert ng["clusterName"] == "cluster-eks-phys"
        assert sorted(ng["subnetIds"]) == sorted(ids(subnets(run_, "private")))
        assert ng["instanceTypes"] == [itype]
        assert ng["amiType"] == "AL2023_ARM_64_STANDARD"
        assert ng["capacityType"] == "ON_DEMAND"
        assert ng["version"] == "1.35"
        scaling = ng["scalingConfig"]
        assert (scaling["minSize"], scaling["desiredSize"], scaling["maxSize"]) == sizes


def test_amd64_nodes_get_the_x86_ami_and_image() -> None:
    result = run("dev", {"nodeArchitecture": "amd64", "nodeInstanceType": "m7i.large"})
    assert result.error is None
    assert one(result, NODES).inputs["amiType"] == "AL2023_x86_64_STANDARD"
    assert one(result, "docker-build:index:Image").inputs["platforms"] == ["linux/amd64"]


def test_nodes_require_imdsv2_and_encrypt_their_disks(stack: Run) -> None:
    lt = one(stack, "aws:ec2/launchTemplate:LaunchTemplate")
    meta = lt.inputs["metadataOptions"]
    assert meta["httpTokens"] == "required"
    assert meta["httpPutResponseHopLimit"] == 1
    ebs = lt.inputs["blockDeviceMappings"][0]["ebs"]
    assert ebs["encrypted"] == "true"
    assert ebs["volumeType"] == "gp3"
    assert one(stack, NODES).inputs["launchTemplate"] == {"id": f"{lt.name}-id", "version": "1"}


def test_node_role_has_exactly_the_three_node_policies(stack: Run) -> None:
    role = one(stack, "aws:iam/role:Role", "cluster-node-role")
    assert statements(role, "assumeRolePolicy") == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    attached = {
        a.inputs["policyArn"]
        for a in of_type(stack, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.inputs["role"] == role.outputs["name"]
    }
    assert attached == {
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
    }
    assert one(stack, NODES).inputs["nodeRoleArn"] == role.outputs["arn"]


def test_pod_identity_agent_and_coredns_addons_are_installed(stack: Run) -> None:
    addons = {a.inputs["addonName"]: a.inputs for a in of_type(stack, "aws:eks/addon:Addon")}
    assert set(addons) == {"eks-pod-identity-agent", "coredns", "metrics-server"}
    assert all(a["clusterName"] == "cluster-eks-phys" for a in addons.values())
    # pulumi-eks would create CoreDNS before any node exists to run it.
    assert one(stack, EKS).inputs["corednsAddonOptions"]["enabled"] is False


def test_kubernetes_objects_use_the_cluster_provider(stack: Run) -> None:
    provider = one(stack, "pulumi:providers:kubernetes")
    eks = one(stack, EKS)
    assert provider.inputs["kubeconfig"] == eks.outputs["kubeconfigJson"]
    k8s_objects = [r for r in stack.records if r.type.startswith("kubernetes:")]
    assert len(k8s_objects) >= 4
    assert all(r.provider == f"{provider.urn}::{provider.name}-id" for r in k8s_objects)


# --- the app ---------------------------------------------------------------------------


def test_namespace_enforces_restricted_pod_security(stack: Run) -> None:
    labels = one(stack, "kubernetes:core/v1:Namespace").inputs["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.35"


def test_app_identity_is_pod_identity_scoped_to_its_service_account(stack: Run) -> None:
    sa = one(stack, "kubernetes:core/v1:ServiceAccount").inputs["metadata"]
    role = one(stack, "aws:iam/role:Role", "cluster-app-role")
    assoc = one(stack, "aws:eks/podIdentityAssociation:PodIdentityAssociation").inputs
    assert assoc == {
        "clusterName": "cluster-eks-phys",
        "namespace": sa["namespace"],
        "serviceAccount": sa["name"],
        "roleArn": role.outputs["arn"],
    }
    [trust] = statements(role, "assumeRolePolicy")
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert trust["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert trust["Condition"]["StringEquals"] == {
        "aws:RequestTag/eks-cluster-arn": CLUSTER_ARN,
        "aws:RequestTag/kubernetes-namespace": sa["namespace"],
        "aws:RequestTag/kubernetes-service-account": sa["name"],
    }


def test_app_role_may_only_send_to_the_queue(stack: Run) -> None:
    queue = one(stack, "aws:sqs/queue:Queue", "consumer-queue")
    role = one(stack, "aws:iam/role:Role", "cluster-app-role")
    grants = [
        p
        for p in of_type(stack, "aws:iam/rolePolicy:RolePolicy")
        if p.inputs["role"] == f"{role.name}-id"
    ]
    assert len(grants) == 1
    assert policy(grants[0]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SendToQueue",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"],
                "Resource": queue.outputs["arn"],
            }
        ],
    }
    attached = of_type(stack, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert all(a.inputs["role"] != role.outputs["name"] for a in attached)


def test_deployment_runs_the_pushed_digest_with_the_queue_url(stack: Run) -> None:
    repo = one(stack, "aws:ecr/repository:Repository")
    image = one(stack, "docker-build:index:Image")
    queue = one(stack, "aws:sqs/queue:Queue", "consumer-queue")
    [container] = one(stack, DEPLOYMENT).inputs["spec"]["template"]["spec"]["containers"]
    expected = f"{repo.outputs['repositoryUrl']}@{image.outputs['digest']}"
    assert container["image"] == expected == stack.outputs["imageRef"]
    assert "@sha256:" in container["image"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"QUEUE_URL": queue.outputs["url"], "AWS_REGION": "eu-west-1", "PORT": "8080"}


def test_deployment_probes_resources_and_graceful_stop(stack: Run) -> None:
    pod = one(stack, DEPLOYMENT).inputs["spec"]["template"]["spec"]
    [c] = pod["containers"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["ports"] == [{"name": "http", "containerPort": 8080}]
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["serviceAccountName"] == "app"


def test_app_service_account_is_bound_to_no_kubernetes_role(stack: Run) -> None:
    rbac = [r for r in stack.records if r.type.startswith("kubernetes:rbac.authorization")]
    assert rbac == []


def test_pod_passes_the_restricted_pod_security_standard(stack: Run) -> None:
    pod = one(stack, DEPLOYMENT).inputs["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [c] = pod["containers"]
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["runAsNonRoot"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["runAsUser"] == 10001
    # restricted allows only these volume types
    assert all(
        set(v) - {"name"} <= {"emptyDir", "configMap", "secret", "projected"}
        for v in pod["volumes"]
    )


def test_pods_spread_across_zones(stack: Run) -> None:
    spec = one(stack, DEPLOYMENT).inputs["spec"]
    [spread] = spec["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    # Spread when possible, but never leave a replica Pending for want of a zone.
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
    assert spread["maxSkew"] == 1
    assert spread["labelSelector"] == spec["selector"]


def test_replicas_and_disruption_budget_per_stack(dev: Run, prod: Run) -> None:
    # Both stacks autoscale: dev from 1 to 2 pods, prod from 3 to 9 (tests/infra/test_scaling.py).
    assert one(dev, DEPLOYMENT).inputs["spec"]["replicas"] == 1
    assert one(prod, DEPLOYMENT).inputs["spec"]["replicas"] == 3
    for run_ in (dev, prod):
        pdb = one(run_, PDB).inputs["spec"]
        assert pdb["maxUnavailable"] == 1
        assert pdb["selector"] == one(run_, DEPLOYMENT).inputs["spec"]["selector"]


def test_service_is_cluster_ip_by_default(stack: Run) -> None:
    svc = one(stack, SERVICE).inputs
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    assert "loadBalancerSourceRanges" not in svc["spec"]
    assert "port-forward svc/app" in stack.outputs["appEndpoint"]


def test_public_service_is_an_nlb_limited_to_allowed_sources() -> None:
    result = run("dev", {"appPublic": "true", "appAllowedCidrs": '["203.0.113.0/24"]'})
    assert result.error is None
    svc = one(result, SERVICE).inputs
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["loadBalancerSourceRanges"] == ["203.0.113.0/24"]
    kubernetes_validate.validate(as_manifest(svc), "1.35", strict=True)
    assert svc["metadata"]["annotations"] == {
        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
    }


@pytest.mark.parametrize("kind", MANIFEST_TYPES)
def test_manifests_validate_strictly_for_the_cluster_version(prod: Run, kind: str) -> None:
    manifest = as_manifest(unwrap(one(prod, kind).inputs))
    kubernetes_validate.validate(manifest, "1.35", strict=True)


def test_strict_validation_catches_a_misspelt_field(prod: Run) -> None:
    manifest = as_manifest(one(prod, DEPLOYMENT).inputs)
    manifest["spec"]["replicass"] = manifest["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, "1.35", strict=True)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"public_access_cidrs": ("10.0.0.1/8",)}, "public_access_cidrs"),
        ({"availability_zone_count": 1}, "availability_zone_count"),
        ({"node_architecture": "x86"}, "node_architecture"),
        ({"capacity_type": "RESERVED"}, "capacity_type"),
        ({"node_min_size": 3}, "node sizes"),
        ({"vpc_cidr": "10.0.0.0/24"}, "vpc_cidr"),
        ({"viewer_role_arns": ("arn:aws:iam::123456789012:user/bob",)}, "viewer_role_arns"),
        ({"flow_log_traffic_type": "ACCEPT"}, "flow_log_traffic_type = 'ACCEPT': must be one of"),
        ({"flow_log_retention_days": 10}, "flow_log_retention_days = 10: must be one of 1, 3"),
    ],
)
def test_cluster_args_reject_bad_values(changes: dict, field: str) -> None:
    app = AppArgs(image="i", queue_url="q", policy="{}", region="eu-west-1")
    kwargs: dict[str, Any] = {"app": app, "public_access_cidrs": ()} | changes
    with pytest.raises(ValueError, match=rf"^{field}"):
        ClusterArgs(**kwargs)


def test_app_args_require_sources_when_public() -> None:
    with pytest.raises(ValueError, match=r"^allowed_cidrs"):
        AppArgs(image="i", queue_url="q", policy="{}", region="eu-west-1", public=True)
