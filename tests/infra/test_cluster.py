"""The Cluster component: EKS control plane, access, managed nodes, add-ons, the provider."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.cluster import Cluster, ClusterArgs
from components.config import ClusterConfig
from tests.infra.harness import ALONE_BOUNDARY, ALONE_ROLES, Run, run, run_component
from tests.infra.lookup import NODES, ids, of_type, one, statements, subnets

EKS = "eks:index:Cluster"
ADDON = "aws:eks/addon:Addon"


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
    assert eks["vpcId"] == "network-vpc-id"
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
    assert all(e.inputs["clusterName"] == "ecr-eks-lambda-dev" for e in entries)
    # No Kubernetes groups: the access policy below is all they get.
    assert all("kubernetesGroups" not in e.inputs for e in entries)
    grants = of_type(result, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert sorted(g.inputs["principalArn"] for g in grants) == sorted(roles)
    for grant in grants:
        assert grant.inputs["policyArn"] == (
            "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
        )
        assert grant.inputs["accessScope"] == {"type": "cluster"}
        assert grant.inputs["clusterName"] == "ecr-eks-lambda-dev"


ADMINS = [
    "arn:aws:iam::123456789012:role/ecr-eks-lambda-ci/github-deploy",
    "arn:aws:iam::123456789012:user/ops/break-glass",
]


def test_admins_get_cluster_wide_admin_access() -> None:
    result = run("dev", {"clusterAdminPrincipalArns": json.dumps(ADMINS)})
    assert result.error is None, result.error
    entries = of_type(result, "aws:eks/accessEntry:AccessEntry")
    assert sorted(e.inputs["principalArn"] for e in entries) == sorted(ADMINS)
    assert all(e.inputs["clusterName"] == "ecr-eks-lambda-dev" for e in entries)
    grants = of_type(result, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert sorted(
        (g.inputs["principalArn"], g.inputs["policyArn"], g.inputs["accessScope"]["type"])
        for g in grants
    ) == sorted(
        (arn, "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy", "cluster")
        for arn in ADMINS
    )


@pytest.mark.parametrize(
    ("admins", "viewers", "expected"),
    [
        (['"arn:aws:iam::123456789012:group/ops"'], [], "must be IAM role or user ARNs"),
        ([f'"{ADMINS[0]}"'], [f'"{ADMINS[0]}"'], "is also in clusterViewerRoleArns"),
        ([f'"{ADMINS[0]}"', f'"{ADMINS[0]}"'], [], "is listed twice"),
    ],
)
def test_bad_admin_lists_are_refused_naming_the_key(
    admins: list[str], viewers: list[str], expected: str
) -> None:
    result = run(
        "dev",
        {
            "clusterAdminPrincipalArns": f"[{', '.join(admins)}]",
            "clusterViewerRoleArns": f"[{', '.join(viewers)}]",
        },
    )
    assert result.error is not None
    assert "ecr-eks-lambda:clusterAdminPrincipalArns = " in str(result.error)
    assert expected in str(result.error)
    assert of_type(result, "eks:index:Cluster") == []


# The CI deploy role, as STS names it while the role is assumed.
DEPLOY_SESSION = "arn:aws:sts::123456789012:assumed-role/github-deploy/gha-1"
DEPLOY_ROLE = "arn:aws:iam::123456789012:role/github-deploy"


@pytest.mark.parametrize("caller", [DEPLOY_SESSION, "arn:aws:iam::123456789012:user/deployer"])
def test_the_identity_about_to_create_the_cluster_cannot_be_listed_as_admin(caller: str) -> None:
    creator = DEPLOY_ROLE if caller == DEPLOY_SESSION else caller
    admins = json.dumps([creator, ADMINS[1]])
    result = run("dev", {"clusterAdminPrincipalArns": admins}, caller_arn=caller)
    assert result.error is not None
    assert f"ecr-eks-lambda:clusterAdminPrincipalArns = {creator!r}" in str(result.error)
    assert "creating the cluster" in str(result.error)
    assert of_type(result, "eks:index:Cluster") == []


def test_once_the_cluster_exists_the_caller_may_be_an_admin() -> None:
    # A person created the cluster; CI's deploy role, listed as admin, runs every later up.
    result = run(
        "dev",
        {"clusterAdminPrincipalArns": json.dumps([DEPLOY_ROLE])},
        caller_arn=DEPLOY_SESSION,
        existing_clusters=("other-cluster", "ecr-eks-lambda-dev"),
    )
    assert result.error is None, result.error
    entry = one(result, "aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["principalArn"] == DEPLOY_ROLE


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
        assert ng["clusterName"] == f"ecr-eks-lambda-{run_.stack}"
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


def test_the_cluster_runs_as_the_programs_own_role_trusted_by_eks_for_this_cluster(
    stack: Run,
) -> None:
    role = one(stack, "aws:iam/role:Role", "cluster-service-role")
    cluster = one(stack, "eks:index:Cluster")
    assert cluster.inputs["serviceRole"] == role.urn
    assert statements(role, "assumeRolePolicy") == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "eks.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": "123456789012"},
                "ArnLike": {
                    "aws:SourceArn": (
                        f"arn:aws:eks:eu-west-1:123456789012:cluster/ecr-eks-lambda-{stack.stack}"
                    )
                },
            },
        }
    ]
    attachment = one(
        stack, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "cluster-service-policy"
    )
    assert attachment.inputs == {
        "role": role.outputs["name"],
        "policyArn": "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
    }
    # EKS gets the role only once it holds its policy: the cluster's name waits for it.
    assert attachment.urn in cluster.property_dependencies["name"]


def test_control_plane_logs_go_to_a_group_with_the_stacks_retention_made_first(
    dev: Run, prod: Run
) -> None:
    for run_, days in ((dev, 7), (prod, 90)):
        group = one(run_, "aws:cloudwatch/logGroup:LogGroup", "cluster-control-plane-logs")
        assert group.inputs == {
            "name": f"/aws/eks/ecr-eks-lambda-{run_.stack}/cluster",
            "retentionInDays": days,
        }
        cluster = one(run_, "eks:index:Cluster")
        assert cluster.inputs["name"] == f"ecr-eks-lambda-{run_.stack}"
        assert cluster.inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator"]
        # The cluster's name comes from the group's: EKS cannot create the group first.
        assert group.urn in cluster.property_dependencies["name"]


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
    assert all(a["clusterName"] == f"ecr-eks-lambda-{stack.stack}" for a in addons.values())
    # pulumi-eks would create CoreDNS before any node exists to run it.
    assert one(stack, EKS).inputs["corednsAddonOptions"]["enabled"] is False


def test_kubernetes_objects_use_the_cluster_provider(stack: Run) -> None:
    provider = one(stack, "pulumi:providers:kubernetes")
    eks = one(stack, EKS)
    assert provider.inputs["kubeconfig"] == eks.outputs["kubeconfigJson"]
    k8s_objects = [r for r in stack.records if r.type.startswith("kubernetes:")]
    assert len(k8s_objects) >= 4
    assert all(r.provider == f"{provider.urn}::{provider.name}-id" for r in k8s_objects)


# --- alone ----------------------------------------------------------------------------------


def cluster_alone(config: ClusterConfig, *, metrics_server: bool) -> Run:
    def build() -> dict[str, Any]:
        cluster = Cluster(
            "k8s",
            ClusterArgs(
                name="eks-alone",
                config=config,
                roles=ALONE_ROLES,
                vpc_id="vpc-1",
                public_subnet_ids=["subnet-pub-a", "subnet-pub-b"],
                private_subnet_ids=["subnet-priv-a", "subnet-priv-b"],
                deletion_protection=True,
                log_retention_days=90,
                metrics_server=metrics_server,
            ),
        )
        return {
            "name": cluster.cluster_name,
            "arn": cluster.cluster_arn,
            "kubeconfig": cluster.kubeconfig,
        }

    return run_component(build)


def test_alone_it_runs_in_the_given_subnets_with_the_configured_nodes() -> None:
    config = ClusterConfig(
        public_access_cidrs=("203.0.113.7/32",),
        kubernetes_version="1.34",
        node_instance_type="m7i.large",
        node_architecture="amd64",
        node_capacity_type="SPOT",
        node_min_size=1,
        node_desired_size=2,
        node_max_size=3,
        node_disk_size_gib=40,
    )
    result = cluster_alone(config, metrics_server=False)
    eks = one(result, EKS).inputs
    assert (eks["vpcId"], eks["version"], eks["deletionProtection"]) == ("vpc-1", "1.34", True)
    assert sorted(eks["publicSubnetIds"]) == ["subnet-pub-a", "subnet-pub-b"]
    assert sorted(eks["privateSubnetIds"]) == ["subnet-priv-a", "subnet-priv-b"]
    assert eks["publicAccessCidrs"] == ["203.0.113.7/32"]
    nodes = one(result, NODES).inputs
    assert nodes["clusterName"] == "eks-alone"
    assert sorted(nodes["subnetIds"]) == ["subnet-priv-a", "subnet-priv-b"]
    assert (nodes["instanceTypes"], nodes["amiType"], nodes["capacityType"]) == (
        ["m7i.large"],
        "AL2023_x86_64_STANDARD",
        "SPOT",
    )
    assert nodes["scalingConfig"] == {"minSize": 1, "desiredSize": 2, "maxSize": 3}
    lt = one(result, "aws:ec2/launchTemplate:LaunchTemplate").inputs
    assert lt["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 40
    assert sorted(a.inputs["addonName"] for a in of_type(result, ADDON)) == [
        "coredns",
        "eks-pod-identity-agent",
    ]
    # Its outputs are what the app takes.
    assert result.outputs["name"] == "eks-alone"
    assert result.outputs["arn"] == "arn:aws:eks:eu-west-1:123456789012:cluster/eks-alone"
    assert "kubeconfig" in result.secret_outputs
    group = one(result, "aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs == {"name": "/aws/eks/eks-alone/cluster", "retentionInDays": 90}
    roles = of_type(result, "aws:iam/role:Role")
    assert {(r.name, r.inputs["permissionsBoundary"]) for r in roles} == {
        ("k8s-service-role", ALONE_BOUNDARY),
        ("k8s-node-role", ALONE_BOUNDARY),
    }


def test_alone_the_metrics_server_follows_its_switch() -> None:
    result = cluster_alone(ClusterConfig(public_access_cidrs=()), metrics_server=True)
    addon = one(result, ADDON, "k8s-metrics-server")
    assert one(result, NODES).urn in addon.dependencies
    assert one(result, EKS).inputs["endpointPublicAccess"] is False


def test_the_upgrade_policy_is_set_explicitly_from_config(stack: Run) -> None:
    # Unset, EKS would apply EXTENDED support, billed extra after standard support ends.
    assert one(stack, "eks:index:Cluster").inputs["upgradePolicy"] == {"supportType": "STANDARD"}
    extended = run(stack.stack, {"kubernetesSupportType": "EXTENDED"})
    assert extended.error is None, extended.error
    assert one(extended, "eks:index:Cluster").inputs["upgradePolicy"] == {"supportType": "EXTENDED"}
    bad = run(stack.stack, {"kubernetesSupportType": "extended"})
    assert "ecr-eks-lambda:kubernetesSupportType = 'extended': must be one of STANDARD, " in str(
        bad.error
    )
