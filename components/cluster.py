"""Cluster: EKS with secrets encryption, a managed node group, add-ons, read-only access for
named roles, and a Kubernetes provider for what runs on it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components.config import ClusterConfig
from components.iam import RoleSettings, role, trust_for_own
from components.policies import document, service_trust

LOG_TYPES = ("api", "audit", "authenticator")
"""Control-plane log types sent to CloudWatch."""
AMI_TYPES = {"arm64": "AL2023_ARM_64_STANDARD", "amd64": "AL2023_x86_64_STANDARD"}
# Read-only on most namespaced objects, not Secrets; an EKS access policy, not an IAM policy.
# https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html
VIEW_POLICY_ARN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
# Everything, cluster-wide (access-policy-permissions.html: cluster-admin's permissions).
ADMIN_POLICY_ARN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# The managed policy EKS's cluster role needs (EKS user guide, "Amazon EKS cluster IAM role").
CLUSTER_POLICY = "AmazonEKSClusterPolicy"


def _cluster_of(log_group_name: str) -> str:
    """The cluster whose control-plane log group is `log_group_name`."""
    return log_group_name.removeprefix("/aws/eks/").removesuffix("/cluster")


def cluster_creator(cluster_name: str, opts: pulumi.InvokeOptions) -> str | None:
    """The IAM principal this run would create the cluster as: the caller (an assumed role as
    its role's ARN, path included), while no cluster of that name exists in the region; None
    once it exists (its creator is no longer visible).

    pulumi-eks always creates the cluster with bootstrapClusterCreatorAdminPermissions (not an
    option: pulumi/pulumi-eks#2373), so EKS gives the creator an admin access entry itself, and
    a second entry for the same principal fails."""
    if cluster_name in aws.eks.get_clusters(opts=opts).names:
        return None
    caller = aws.get_caller_identity(opts=opts).arn
    return aws.iam.get_session_context(arn=caller, opts=opts).issuer_arn


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    """Inputs of the Cluster component."""

    name: str
    """The EKS cluster's name, fixed by the program (it includes the stack)."""
    config: ClusterConfig
    """Version, API access, viewers and the node group's size and type."""
    roles: RoleSettings
    """How its IAM roles are created (the stack's permissions boundary)."""
    vpc_id: pulumi.Input[str]
    """The VPC the cluster runs in (`Network.vpc_id`)."""
    public_subnet_ids: Sequence[pulumi.Input[str]]
    """Subnets for internet-facing load balancers, one per zone."""
    private_subnet_ids: Sequence[pulumi.Input[str]]
    """Subnets for the nodes and the control plane's interfaces, one per zone."""
    deletion_protection: bool
    """EKS cluster deletion protection (protectResources)."""
    log_retention_days: int
    """Retention of the control-plane log group (logRetentionDays)."""
    metrics_server: bool
    """Install EKS's metrics-server add-on, which a HorizontalPodAutoscaler reads CPU from."""


class Cluster(pulumi.ComponentResource):
    """A private-node EKS cluster in API authentication mode, ready for Pod Identity."""

    secrets_key: aws.kms.Key
    """Envelope encryption of Kubernetes Secrets, rotated yearly."""
    service_role: aws.iam.Role
    """The role EKS manages the cluster with (AmazonEKSClusterPolicy)."""
    log_group: aws.cloudwatch.LogGroup
    """`/aws/eks/<cluster>/cluster`, the control-plane logs, with the stack's retention."""
    eks_cluster: eks.Cluster
    """The pulumi-eks cluster component."""
    node_group: aws.eks.NodeGroup
    """The managed node group; pods can run once it exists."""
    pod_identity_agent: aws.eks.Addon
    """The Pod Identity agent add-on; pods get their AWS credentials once it runs."""
    metrics_server: aws.eks.Addon | None
    """The metrics-server add-on; None unless `metrics_server`."""
    provider: k8s.Provider
    """Kubernetes provider for this cluster, from its kubeconfig."""
    cluster_name: pulumi.Output[str]
    """The EKS cluster's name."""
    cluster_arn: pulumi.Output[str]
    """The EKS cluster's ARN."""
    kubernetes_version: str
    """The cluster's Kubernetes minor version, e.g. 1.35."""
    kubeconfig: pulumi.Output[str]
    """Kubeconfig (secret) that authenticates with `aws eks get-token`."""

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecr-eks-lambda:components:Cluster", name, None, opts)
        config = args.config
        versions = config.addon_versions
        child = pulumi.ResourceOptions(parent=self)

        self.secrets_key = aws.kms.Key(
            f"{name}-secrets-key",
            aws.kms.KeyArgs(
                description="EKS envelope encryption of Kubernetes secrets",
                enable_key_rotation=True,
                deletion_window_in_days=30,
            ),
            child,
        )
        self.service_role, service_policy = self._service_role(name, args)
        # EKS writes to this group, and creates it without retention if it does not exist yet.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            aws.cloudwatch.LogGroupArgs(
                name=f"/aws/eks/{args.name}/cluster", retention_in_days=args.log_retention_days
            ),
            child,
        )
        self.eks_cluster = eks.Cluster(
            f"{name}-eks",
            eks.ClusterArgs(
                # Derived from the log group's and the policy attachment's outputs: data
                # dependencies, so the cluster is created once its log group exists and its
                # role holds its policy (`depends_on` on this remote component may not order
                # the cluster created inside it).
                name=pulumi.Output.all(self.log_group.name, service_policy.policy_arn).apply(
                    lambda values: _cluster_of(values[0])
                ),
                # The program's own role: pulumi-eks' would have no IAM path and no boundary.
                service_role=self.service_role,
                vpc_id=args.vpc_id,
                public_subnet_ids=list(args.public_subnet_ids),
                private_subnet_ids=list(args.private_subnet_ids),
                authentication_mode=eks.AuthenticationMode.API,
                version=config.kubernetes_version,
                # Explicit: unset, EKS applies EXTENDED (pulumi-eks' docstring).
                upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=config.support_type),
                enabled_cluster_log_types=list(LOG_TYPES),
                encryption_config_key_arn=self.secrets_key.arn,
                endpoint_private_access=True,
                endpoint_public_access=bool(config.public_access_cidrs),
                public_access_cidrs=list(config.public_access_cidrs) or None,
                deletion_protection=args.deletion_protection,
                # Nodes come from the managed node group below; Pod Identity replaces IRSA.
                skip_default_node_group=True,
                skip_default_security_groups=True,
                create_oidc_provider=False,
                # pulumi-eks only manages CoreDNS with its default node group; the add-on is
                # created below, once the managed nodes exist to run it.
                coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
                # The VPC CNI's network policy agent enforces the app's NetworkPolicies; without
                # it Kubernetes accepts them and nothing enforces them. Both versions pinned:
                # unset, pulumi-eks resolves the newest at every up.
                vpc_cni_options=eks.VpcCniOptionsArgs(
                    enable_network_policy=True, addon_version=versions.vpc_cni
                ),
                kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(version=versions.kube_proxy),
            ),
            child,
        )
        self.cluster_name = self.eks_cluster.eks_cluster.name
        self.cluster_arn = self.eks_cluster.eks_cluster.arn
        self.kubernetes_version = config.kubernetes_version

        self.node_group = self._nodes(name, args, self.cluster_name)
        nodes = (self.cluster_name, self.node_group)
        # CoreDNS as a managed add-on, adopting the self-managed copy EKS installs at creation.
        self._addon(name, "coredns", versions.coredns, *nodes)
        self.pod_identity_agent = self._addon(
            name, "eks-pod-identity-agent", versions.pod_identity_agent, *nodes
        )
        # The HorizontalPodAutoscaler reads CPU from the resource metrics API, which EKS does
        # not serve by default: metrics-server, as EKS's community add-on (no IAM role needed;
        # AWS checks its version against the cluster's).
        self.metrics_server = (
            self._addon(name, "metrics-server", versions.metrics_server, *nodes)
            if args.metrics_server
            else None
        )
        # View, not edit, for viewers: a pull request's preview must not be able to change the
        # cluster. With view only, pulumi-kubernetes falls back from a server-side dry run
        # (which needs `patch`) to a client-side preview (pulumi/pulumi-kubernetes#2419).
        self._access(name, "viewer", config.viewer_role_arns, VIEW_POLICY_ARN)
        self._access(name, "admin", config.admin_principal_arns, ADMIN_POLICY_ARN)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            k8s.ProviderArgs(kubeconfig=self.eks_cluster.kubeconfig_json),
            child,
        )

        self.kubeconfig = pulumi.Output.secret(self.eks_cluster.kubeconfig_json)
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "cluster_arn": self.cluster_arn,
                "kubeconfig": self.kubeconfig,
            }
        )

    def _nodes(
        self, name: str, args: ClusterArgs, cluster_name: pulumi.Input[str]
    ) -> aws.eks.NodeGroup:
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        node_role = role(
            f"{name}-node-role", document(service_trust("ec2.amazonaws.com")), args.roles, child
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{short}",
                aws.iam.RolePolicyAttachmentArgs(
                    role=node_role.name,
                    policy_arn=f"arn:aws:iam::aws:policy/{policy}",
                ),
                child,
            )
            for short, policy in (
                ("worker", "AmazonEKSWorkerNodePolicy"),
                ("cni", "AmazonEKS_CNI_Policy"),
                # Pull-only: ReadOnly would also let nodes list and describe every repository.
                ("ecr", "AmazonEC2ContainerRegistryPullOnly"),
            )
        ]
        template = aws.ec2.LaunchTemplate(
            f"{name}-nodes-lt",
            aws.ec2.LaunchTemplateArgs(
                # IMDSv2 only, one hop: pods (one hop further away) cannot reach the node's
                # credentials; they get their own through Pod Identity.
                metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                    http_endpoint="enabled",
                    http_tokens="required",
                    http_put_response_hop_limit=1,
                ),
                block_device_mappings=[
                    aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                        device_name="/dev/xvda",
                        ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                            volume_size=config.node_disk_size_gib,
                            volume_type="gp3",
                            encrypted="true",
                            delete_on_termination="true",
                        ),
                    )
                ],
            ),
            child,
        )
        return aws.eks.NodeGroup(
            f"{name}-nodes",
            aws.eks.NodeGroupArgs(
                cluster_name=cluster_name,
                version=config.kubernetes_version,
                node_role_arn=node_role.arn,
                subnet_ids=list(args.private_subnet_ids),
                instance_types=[config.node_instance_type],
                ami_type=AMI_TYPES[config.node_architecture],
                capacity_type=config.node_capacity_type,
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                    min_size=config.node_min_size,
                    desired_size=config.node_desired_size,
                    max_size=config.node_max_size,
                ),
                update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
                launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                    id=template.id, version=template.latest_version.apply(str)
                ),
            ),
            pulumi.ResourceOptions(parent=self, depends_on=attachments),
        )

    def _service_role(
        self, name: str, args: ClusterArgs
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicyAttachment]:
        """The cluster role and its AmazonEKSClusterPolicy attachment. Only EKS, acting for
        this cluster of this account, may assume it (EKS accepts aws:SourceArn and
        aws:SourceAccount in a cluster role's trust: EKS user guide, "Cross-service confused
        deputy prevention in Amazon EKS")."""
        child = pulumi.ResourceOptions(parent=self)
        service_role = role(
            f"{name}-service-role",
            trust_for_own("eks.amazonaws.com", "eks", f"cluster/{args.name}", self),
            args.roles,
            child,
        )
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-service-policy",
            aws.iam.RolePolicyAttachmentArgs(
                role=service_role.name,
                policy_arn=pulumi.Output.concat(
                    "arn:", partition, ":iam::aws:policy/", CLUSTER_POLICY
                ),
            ),
            child,
        )
        return service_role, attachment

    def _addon(
        self,
        name: str,
        addon: str,
        version: str,
        cluster_name: pulumi.Input[str],
        nodes: aws.eks.NodeGroup,
    ) -> aws.eks.Addon:
        """An EKS add-on at `version`, created once the nodes exist (an add-on without nodes
        to run on stays DEGRADED). Without a version EKS would install its default and keep
        it while the cluster's Kubernetes version moves on."""
        return aws.eks.Addon(
            f"{name}-{addon.removeprefix('eks-')}",
            aws.eks.AddonArgs(
                cluster_name=cluster_name,
                addon_name=addon,
                addon_version=version,
                resolve_conflicts_on_create="OVERWRITE",
                # An upgrade (a new pinned version) replaces what was changed outside the
                # program rather than failing on it.
                resolve_conflicts_on_update="OVERWRITE",
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[nodes]),
        )

    def _access(self, name: str, kind: str, principal_arns: Sequence[str], policy_arn: str) -> None:
        """An access entry per principal with `policy_arn`, cluster-wide."""
        child = pulumi.ResourceOptions(parent=self)
        short = policy_arn.rsplit("/", 1)[-1].removeprefix("AmazonEKS").removesuffix("Policy")
        for arn in principal_arns:
            # Named after the ARN, not its position: reordering the list replaces nothing.
            suffix = hashlib.sha256(arn.encode()).hexdigest()[:8]
            entry = aws.eks.AccessEntry(
                f"{name}-{kind}-{suffix}",
                aws.eks.AccessEntryArgs(cluster_name=self.cluster_name, principal_arn=arn),
                child,
            )
            aws.eks.AccessPolicyAssociation(
                f"{name}-{kind}-{suffix}-{short.lower()}",
                aws.eks.AccessPolicyAssociationArgs(
                    cluster_name=self.cluster_name,
                    principal_arn=entry.principal_arn,
                    policy_arn=policy_arn,
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                ),
                child,
            )
