"""Cluster: a VPC, an EKS cluster with a managed node group, and the app running on it."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components import limits, quantity
from components.policies import allow, document, service_trust

LOG_TYPES = ("api", "audit", "authenticator")
AMI_TYPES = {"arm64": "AL2023_ARM_64_STANDARD", "amd64": "AL2023_x86_64_STANDARD"}
APP_PORT = 8080
# The app drains within 25 s of SIGTERM (its interface); 30 s leaves it headroom.
TERMINATION_GRACE_SECONDS = 30
# Flow log records aggregate up to 10 minutes (EC2's default; 60 s is the only other value):
# up to 10x fewer records for long-lived connections, at the cost of coarser timing.
FLOW_LOG_AGGREGATION_SECONDS = 600


def _check_cidrs(field_name: str, cidrs: Sequence[str]) -> None:
    for cidr in cidrs:
        try:
            ok = isinstance(ipaddress.ip_network(cidr, strict=True), ipaddress.IPv4Network)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"{field_name} contains {cidr!r}: must be IPv4 CIDRs, e.g. 203.0.113.7/32"
            )


# Read-only on most namespaced objects, not Secrets; an EKS access policy, not an IAM policy.
# https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html
VIEW_POLICY_ARN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"


@dataclass(frozen=True, kw_only=True)
class AppArgs:
    """What runs on the cluster: the app Deployment and what it needs."""

    image: pulumi.Input[str]
    """Digest-pinned image reference (`repo@sha256:...`)."""
    queue_url: pulumi.Input[str]
    """URL of the queue the app sends to (its QUEUE_URL)."""
    policy: pulumi.Input[str]
    """IAM policy document the app's Pod Identity role gets (from `Function.send_policy()`)."""
    region: str
    """AWS region of the queue (the app's AWS_REGION)."""
    namespace: str = "app"
    """Namespace the app runs in; created with the "restricted" Pod Security Standard enforced."""
    name: str = "app"
    """Name of the Deployment, Service, ServiceAccount and PodDisruptionBudget."""
    replicas: int = 2
    """Replicas; with `autoscaling` the HorizontalPodAutoscaler's minimum (and the count the
    Deployment starts with). A PodDisruptionBudget keeps all but one up during node drains
    whenever there can be more than one."""
    public: bool = False
    """Internet-facing NLB when True. Unset: a ClusterIP Service, reached by port-forward."""
    allowed_cidrs: tuple[str, ...] = ()
    """Source ranges the load balancer admits; required when `public`."""
    cpu_request: str = "250m"
    """CPU request of the container (a Kubernetes quantity). What the scheduler reserves and
    what the autoscaler's utilisation is a percentage of. One app process can use about one
    CPU (docs/app.md); prod requests 500m and lets it burst beyond (no CPU limit), 1 CPU per
    pod needs larger nodes (docs/infra.md)."""
    cpu_limit: str | None = None
    """CPU limit of the container. Unset: none, so the process is never CFS-throttled while
    its node has idle CPU (a 500m limit would cap a process that needs about one CPU at half
    its throughput); its request still guarantees it its share under contention."""
    memory: str = "256Mi"
    """Memory request and limit of the container (equal: memory cannot be throttled, only
    reclaimed by killing, so the pod reserves what it may use)."""
    autoscaling: bool = True
    """A HorizontalPodAutoscaler scales the Deployment on CPU between `replicas` and
    `max_replicas`, and the cluster gets the metrics-server add-on it reads CPU from. Off: a
    fixed `replicas`."""
    max_replicas: int = 4
    """The autoscaler's maximum; at least `replicas`."""
    target_cpu_utilization: int = 70
    """Average CPU use, in percent of `cpu_request`, the autoscaler keeps the pods at (1-100)."""

    @property
    def most_replicas(self) -> int:
        """The most pods the Deployment can have."""
        return max(self.replicas, self.max_replicas) if self.autoscaling else self.replicas

    def __post_init__(self) -> None:
        limits.check_range("replicas", self.replicas, (1, limits.MAX_REPLICAS))
        limits.check_range("max_replicas", self.max_replicas, (1, limits.MAX_REPLICAS))
        limits.check_range(
            "target_cpu_utilization", self.target_cpu_utilization, limits.CPU_UTILIZATION
        )
        if self.autoscaling and self.max_replicas < self.replicas:
            raise ValueError(
                f"max_replicas = {self.max_replicas}: must be at least replicas ({self.replicas})"
            )
        for field_name, text, parse in (
            ("cpu_request", self.cpu_request, quantity.cpu_millicores),
            ("cpu_limit", self.cpu_limit, quantity.cpu_millicores),
            ("memory", self.memory, quantity.memory_bytes),
        ):
            if text is not None:
                try:
                    parse(text)
                except ValueError as e:
                    raise ValueError(f"{field_name} = {text!r}: {e}") from None
        if self.cpu_limit is not None and quantity.cpu_millicores(
            self.cpu_limit
        ) < quantity.cpu_millicores(self.cpu_request):
            raise ValueError(
                f"cpu_limit = {self.cpu_limit!r}: must be at least cpu_request "
                f"({self.cpu_request!r})"
            )
        _check_cidrs("allowed_cidrs", self.allowed_cidrs)
        if self.public and not self.allowed_cidrs:
            raise ValueError("allowed_cidrs = (): must list source CIDRs when public is True")


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    """Inputs of the Cluster component. Defaults are the highly available, protected choice."""

    app: AppArgs
    """The app to run."""
    public_access_cidrs: tuple[str, ...]
    """CIDRs allowed to the public API endpoint; empty turns the public endpoint off."""
    kubernetes_version: str = "1.35"
    """EKS Kubernetes minor version, pinned."""
    availability_zone_count: int = 2
    """Zones for subnets and nodes (2 or more)."""
    vpc_cidr: str = "10.0.0.0/16"
    """The VPC's range; split into 16 equal subnets, 2 per zone used."""
    nat_per_az: bool = True
    """One NAT gateway per zone. False: one shared NAT gateway (cheaper, one zone's fate)."""
    node_instance_type: str = "t4g.medium"
    """EC2 instance type of the nodes."""
    node_architecture: str = "arm64"
    """`arm64` or `amd64`; picks the AL2023 AMI type."""
    capacity_type: str = "ON_DEMAND"
    """`ON_DEMAND` or `SPOT`."""
    node_min_size: int = 2
    """Minimum nodes."""
    node_desired_size: int = 2
    """Desired nodes at creation."""
    node_max_size: int = 4
    """Maximum nodes."""
    node_disk_size_gib: int = 20
    """Encrypted gp3 root volume per node."""
    deletion_protection: bool = True
    """EKS cluster deletion protection. Unset: on."""
    viewer_role_arns: tuple[str, ...] = ()
    """IAM roles given read-only access to the cluster (AmazonEKSViewPolicy, no Secrets), e.g.
    the CI preview role. Unset: only the identity that created the cluster has access."""
    log_types: tuple[str, ...] = field(default=LOG_TYPES)
    """Control-plane log types sent to CloudWatch."""
    flow_logs: bool = True
    """VPC flow logs for the whole VPC, published to a CloudWatch log group of this component
    (AWS Security Hub control EC2.6). Unset: on."""
    flow_log_traffic_type: str = "ALL"
    """`ALL` or `REJECT` (EC2's `ACCEPT` would miss the rejected traffic EC2.6 asks for).
    Unset: ALL, the accepted flows too, which an investigation needs (whom did a compromised
    pod talk to?); REJECT records far less and costs accordingly."""
    flow_log_retention_days: int = 30
    """Retention of the flow log group; a value CloudWatch Logs accepts."""

    def __post_init__(self) -> None:
        _check_cidrs("public_access_cidrs", self.public_access_cidrs)
        for arn in self.viewer_role_arns:
            if not re.fullmatch(limits.IAM_ROLE_ARN, arn):
                raise ValueError(
                    f"viewer_role_arns contains {arn!r}: must be IAM role ARNs, "
                    "e.g. arn:aws:iam::123456789012:role/preview"
                )
        limits.check_range(
            "availability_zone_count", self.availability_zone_count, (2, limits.MAX_AZS)
        )
        limits.check_choice("node_architecture", self.node_architecture, limits.NODE_ARCHITECTURES)
        limits.check_choice("capacity_type", self.capacity_type, limits.CAPACITY_TYPES)
        limits.check_range("node_disk_size_gib", self.node_disk_size_gib, limits.NODE_DISK_GIB)
        if not 1 <= self.node_min_size <= self.node_desired_size <= self.node_max_size:
            raise ValueError(
                f"node sizes min={self.node_min_size} desired={self.node_desired_size} "
                f"max={self.node_max_size}: need 1 <= min <= desired <= max"
            )
        net = ipaddress.ip_network(self.vpc_cidr, strict=True)
        if net.prefixlen > 22:
            raise ValueError(f"vpc_cidr = {self.vpc_cidr!r}: must be /22 or larger")
        limits.check_choice(
            "flow_log_traffic_type", self.flow_log_traffic_type, limits.FLOW_LOG_TRAFFIC_TYPES
        )
        if self.flow_log_retention_days not in limits.LOG_RETENTION_DAYS:
            raise ValueError(
                f"flow_log_retention_days = {self.flow_log_retention_days}: must be one of "
                f"{', '.join(map(str, limits.LOG_RETENTION_DAYS))}"
            )


class Cluster(pulumi.ComponentResource):
    """A private-node EKS cluster in its own VPC, running the app with Pod Identity."""

    vpc: aws.ec2.Vpc
    """The cluster's VPC."""
    flow_log: aws.ec2.FlowLog | None
    """The VPC's flow log; None when `flow_logs` is off."""
    flow_log_group: aws.cloudwatch.LogGroup | None
    """The log group the flow log publishes to; None when `flow_logs` is off."""
    public_subnets: list[aws.ec2.Subnet]
    """One per zone, for load balancers and NAT gateways."""
    private_subnets: list[aws.ec2.Subnet]
    """One per zone, for the nodes."""
    eks_cluster: eks.Cluster
    """The pulumi-eks cluster component."""
    node_group: aws.eks.NodeGroup
    """The managed node group."""
    provider: k8s.Provider
    """Kubernetes provider for this cluster, from its kubeconfig."""
    app_role: aws.iam.Role
    """The app's Pod Identity role."""
    deployment: k8s.apps.v1.Deployment
    """The app's Deployment."""
    service: k8s.core.v1.Service
    """The app's Service."""
    metrics_server: aws.eks.Addon | None
    """The metrics-server add-on; None when the app's `autoscaling` is off."""
    autoscaler: k8s.autoscaling.v2.HorizontalPodAutoscaler | None
    """The app's HorizontalPodAutoscaler; None when the app's `autoscaling` is off."""

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecr-eks-lambda:components:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        zones = aws.get_availability_zones(
            state="available", opts=pulumi.InvokeOptions(parent=self)
        ).names[: args.availability_zone_count]
        if len(zones) < args.availability_zone_count:
            raise ValueError(
                f"availability_zone_count = {args.availability_zone_count}: the region offers "
                f"only {len(zones)} zones ({', '.join(zones)})"
            )
        self._network(name, args, zones, child)
        self.flow_log, self.flow_log_group = (
            self._flow_logs(name, args, child) if args.flow_logs else (None, None)
        )
        self._control_plane(name, args, child)
        self._nodes(name, args, child)
        self._viewers(name, args, child)
        self._app(name, args)

        self.cluster_name: pulumi.Output[str] = self.eks_cluster.eks_cluster.name
        """The EKS cluster's name."""
        self.kubeconfig: pulumi.Output[str] = pulumi.Output.secret(self.eks_cluster.kubeconfig_json)
        """Kubeconfig (secret) that authenticates with `aws eks get-token`."""
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "kubeconfig": self.kubeconfig,
                "app_endpoint": self.app_endpoint,
            }
        )

    def _network(
        self, name: str, args: ClusterArgs, zones: Sequence[str], child: pulumi.ResourceOptions
    ) -> None:
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            aws.ec2.VpcArgs(
                cidr_block=args.vpc_cidr, enable_dns_hostnames=True, enable_dns_support=True
            ),
            child,
        )
        # Take over the VPC's default security group and leave it without rules, so nothing
        # placed in it by accident can talk to anything (CIS AWS Foundations 5.4).
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", aws.ec2.DefaultSecurityGroupArgs(vpc_id=self.vpc.id), child
        )
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", aws.ec2.InternetGatewayArgs(vpc_id=self.vpc.id), child
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            aws.ec2.RouteTableArgs(
                vpc_id=self.vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            ),
            child,
        )
        blocks = list(ipaddress.ip_network(args.vpc_cidr).subnets(prefixlen_diff=4))
        self.public_subnets, self.private_subnets = [], []
        nat_ids: list[pulumi.Output[str]] = []
        for i, zone in enumerate(zones):
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                aws.ec2.SubnetArgs(
                    vpc_id=self.vpc.id,
                    availability_zone=zone,
                    cidr_block=str(blocks[i]),
                    map_public_ip_on_launch=False,
                    tags={"kubernetes.io/role/elb": "1"},
                ),
                child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}-rt",
                aws.ec2.RouteTableAssociationArgs(subnet_id=public.id, route_table_id=public_rt.id),
                child,
            )
            self.public_subnets.append(public)
            if args.nat_per_az or i == 0:
                eip = aws.ec2.Eip(f"{name}-nat-{zone}-ip", aws.ec2.EipArgs(domain="vpc"), child)
                nat = aws.ec2.NatGateway(
                    f"{name}-nat-{zone}",
                    aws.ec2.NatGatewayArgs(subnet_id=public.id, allocation_id=eip.id),
                    pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
                nat_ids.append(nat.id)
            private = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                aws.ec2.SubnetArgs(
                    vpc_id=self.vpc.id,
                    availability_zone=zone,
                    cidr_block=str(blocks[len(zones) + i]),
                    tags={"kubernetes.io/role/internal-elb": "1"},
                ),
                child,
            )
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-{zone}-rt",
                aws.ec2.RouteTableArgs(
                    vpc_id=self.vpc.id,
                    routes=[
                        aws.ec2.RouteTableRouteArgs(
                            cidr_block="0.0.0.0/0", nat_gateway_id=nat_ids[-1]
                        )
                    ],
                ),
                child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}-rta",
                aws.ec2.RouteTableAssociationArgs(
                    subnet_id=private.id, route_table_id=private_rt.id
                ),
                child,
            )
            self.private_subnets.append(private)

    def _flow_logs(
        self, name: str, args: ClusterArgs, child: pulumi.ResourceOptions
    ) -> tuple[aws.ec2.FlowLog, aws.cloudwatch.LogGroup]:
        # CloudWatch Logs encrypts every log group at rest; like the function's log group this
        # one uses the service's key, not a customer-managed key (which would need a key policy
        # for logs.<region>.amazonaws.com and buys no narrower read access than IAM gives).
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            aws.cloudwatch.LogGroupArgs(retention_in_days=args.flow_log_retention_days),
            child,
        )
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition
        region = aws.get_region_output(opts=invoke).region
        # Only the flow logs service, acting for a flow log of this account and region, may
        # assume the role (the VPC guide's confused-deputy conditions). The flow log's own ID
        # cannot be named: the flow log is created after, and from, this role.
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            aws.iam.RoleArgs(
                assume_role_policy=document(
                    service_trust(
                        "vpc-flow-logs.amazonaws.com",
                        source_account=account,
                        source_arn=pulumi.Output.concat(
                            "arn:", partition, ":ec2:", region, ":", account, ":vpc-flow-log/*"
                        ),
                    )
                )
            ),
            child,
        )
        # The VPC guide lists CreateLogGroup and DescribeLogGroups as well; the group exists
        # before the flow log, and DescribeLogGroups cannot be scoped (it needs "*"). These
        # three, on this group's streams, are what AWS CDK grants its flow logs too.
        publish = aws.iam.RolePolicy(
            f"{name}-flow-logs-policy",
            aws.iam.RolePolicyArgs(
                role=role.id,
                policy=document(
                    allow(
                        ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                        pulumi.Output.concat(log_group.arn, ":*"),
                        sid="PublishFlowLogs",
                    )
                ),
            ),
            child,
        )
        flow_log = aws.ec2.FlowLog(
            f"{name}-flow-log",
            aws.ec2.FlowLogArgs(
                vpc_id=self.vpc.id,
                traffic_type=args.flow_log_traffic_type,
                log_destination_type="cloud-watch-logs",
                log_destination=log_group.arn,
                iam_role_arn=role.arn,
                max_aggregation_interval=FLOW_LOG_AGGREGATION_SECONDS,
            ),
            # Delivery starts at creation: the role must already be allowed to write.
            pulumi.ResourceOptions(parent=self, depends_on=[publish]),
        )
        return flow_log, log_group

    def _control_plane(self, name: str, args: ClusterArgs, child: pulumi.ResourceOptions) -> None:
        self.secrets_key = aws.kms.Key(
            f"{name}-secrets-key",
            aws.kms.KeyArgs(
                description="EKS envelope encryption of Kubernetes secrets",
                enable_key_rotation=True,
                deletion_window_in_days=30,
            ),
            child,
        )
        self.eks_cluster = eks.Cluster(
            f"{name}-eks",
            eks.ClusterArgs(
                vpc_id=self.vpc.id,
                public_subnet_ids=[s.id for s in self.public_subnets],
                private_subnet_ids=[s.id for s in self.private_subnets],
                authentication_mode=eks.AuthenticationMode.API,
                version=args.kubernetes_version,
                enabled_cluster_log_types=list(args.log_types),
                encryption_config_key_arn=self.secrets_key.arn,
                endpoint_private_access=True,
                endpoint_public_access=bool(args.public_access_cidrs),
                public_access_cidrs=list(args.public_access_cidrs) or None,
                deletion_protection=args.deletion_protection,
                # Nodes come from the managed node group below; Pod Identity replaces IRSA.
                skip_default_node_group=True,
                skip_default_security_groups=True,
                create_oidc_provider=False,
                # pulumi-eks only manages CoreDNS with its default node group; the add-on is
                # created below, once the managed nodes exist to run it.
                coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
            ),
            child,
        )

    def _nodes(self, name: str, args: ClusterArgs, child: pulumi.ResourceOptions) -> None:
        cluster_name = self.eks_cluster.eks_cluster.name
        node_role = aws.iam.Role(
            f"{name}-node-role",
            aws.iam.RoleArgs(assume_role_policy=document(service_trust("ec2.amazonaws.com"))),
            child,
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
                            volume_size=args.node_disk_size_gib,
                            volume_type="gp3",
                            encrypted="true",
                            delete_on_termination="true",
                        ),
                    )
                ],
            ),
            child,
        )
        self.node_group = aws.eks.NodeGroup(
            f"{name}-nodes",
            aws.eks.NodeGroupArgs(
                cluster_name=cluster_name,
                version=args.kubernetes_version,
                node_role_arn=node_role.arn,
                subnet_ids=[s.id for s in self.private_subnets],
                instance_types=[args.node_instance_type],
                ami_type=AMI_TYPES[args.node_architecture],
                capacity_type=args.capacity_type,
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                    min_size=args.node_min_size,
                    desired_size=args.node_desired_size,
                    max_size=args.node_max_size,
                ),
                update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
                launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                    id=template.id, version=template.latest_version.apply(str)
                ),
            ),
            pulumi.ResourceOptions(parent=self, depends_on=attachments),
        )
        # CoreDNS as a managed add-on, adopting the self-managed copy EKS installs at creation.
        aws.eks.Addon(
            f"{name}-coredns",
            aws.eks.AddonArgs(
                cluster_name=cluster_name,
                addon_name="coredns",
                resolve_conflicts_on_create="OVERWRITE",
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[self.node_group]),
        )
        # Pod Identity needs its agent (a DaemonSet) on the nodes.
        self.pod_identity_agent = aws.eks.Addon(
            f"{name}-pod-identity-agent",
            aws.eks.AddonArgs(
                cluster_name=cluster_name,
                addon_name="eks-pod-identity-agent",
                resolve_conflicts_on_create="OVERWRITE",
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[self.node_group]),
        )
        # The HorizontalPodAutoscaler reads CPU from the resource metrics API, which EKS does
        # not serve by default: metrics-server, as EKS's community add-on (no IAM role needed;
        # AWS checks its version against the cluster's).
        self.metrics_server = (
            aws.eks.Addon(
                f"{name}-metrics-server",
                aws.eks.AddonArgs(
                    cluster_name=cluster_name,
                    addon_name="metrics-server",
                    resolve_conflicts_on_create="OVERWRITE",
                ),
                pulumi.ResourceOptions(parent=self, depends_on=[self.node_group]),
            )
            if args.app.autoscaling
            else None
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            k8s.ProviderArgs(kubeconfig=self.eks_cluster.kubeconfig_json),
            child,
        )

    def _viewers(self, name: str, args: ClusterArgs, child: pulumi.ResourceOptions) -> None:
        cluster_name = self.eks_cluster.eks_cluster.name
        for arn in args.viewer_role_arns:
            # Named after the ARN, not its position: reordering the list replaces nothing.
            suffix = hashlib.sha256(arn.encode()).hexdigest()[:8]
            entry = aws.eks.AccessEntry(
                f"{name}-viewer-{suffix}",
                aws.eks.AccessEntryArgs(cluster_name=cluster_name, principal_arn=arn),
                child,
            )
            # View, not edit: a pull request's preview must not be able to change the cluster.
            # With view only, pulumi-kubernetes falls back from a server-side dry run (which
            # needs `patch`) to a client-side preview (pulumi/pulumi-kubernetes#2419).
            aws.eks.AccessPolicyAssociation(
                f"{name}-viewer-{suffix}-view",
                aws.eks.AccessPolicyAssociationArgs(
                    cluster_name=cluster_name,
                    principal_arn=entry.principal_arn,
                    policy_arn=VIEW_POLICY_ARN,
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                ),
                child,
            )

    def _app(self, name: str, args: ClusterArgs) -> None:
        app = args.app
        cluster_name = self.eks_cluster.eks_cluster.name
        cluster_arn = self.eks_cluster.eks_cluster.arn
        k8s_child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        labels = {"app.kubernetes.io/name": app.name, "app.kubernetes.io/part-of": "ecr-eks-lambda"}
        selector = {"app.kubernetes.io/name": app.name}

        pss = {
            f"pod-security.kubernetes.io/{mode}{suffix}": value
            for mode in ("enforce", "audit", "warn")
            for suffix, value in (("", "restricted"), ("-version", f"v{args.kubernetes_version}"))
        }
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=app.namespace, labels=pss),
            opts=k8s_child,
        )
        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=app.name, namespace=namespace.metadata.name, labels=labels
            ),
            # The token stays mounted: the Pod Identity webhook skips pods that opt out of it
            # (reported for IRSA and Pod Identity alike). The account is bound to no Role, so
            # the token grants nothing beyond what every authenticated pod has.
            opts=k8s_child,
        )

        # Only pods of this service account, in this namespace, on this cluster may assume the
        # role: Pod Identity sets these session tags on every AssumeRole it makes.
        self.app_role = aws.iam.Role(
            f"{name}-app-role",
            aws.iam.RoleArgs(
                assume_role_policy=document(
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "pods.eks.amazonaws.com"},
                        "Action": ["sts:AssumeRole", "sts:TagSession"],
                        "Condition": {
                            "StringEquals": {
                                "aws:RequestTag/eks-cluster-arn": cluster_arn,
                                "aws:RequestTag/kubernetes-namespace": app.namespace,
                                "aws:RequestTag/kubernetes-service-account": app.name,
                            }
                        },
                    }
                )
            ),
            pulumi.ResourceOptions(parent=self),
        )
        app_policy = aws.iam.RolePolicy(
            f"{name}-app-policy",
            aws.iam.RolePolicyArgs(role=self.app_role.id, policy=app.policy),
            pulumi.ResourceOptions(parent=self),
        )
        association = aws.eks.PodIdentityAssociation(
            f"{name}-app-identity",
            aws.eks.PodIdentityAssociationArgs(
                cluster_name=cluster_name,
                namespace=app.namespace,
                service_account=app.name,
                role_arn=self.app_role.arn,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[self.pod_identity_agent]),
        )

        container_security = k8s.core.v1.SecurityContextArgs(
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            run_as_non_root=True,
            run_as_user=10001,
            run_as_group=10001,
            capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        )
        container = k8s.core.v1.ContainerArgs(
            name=app.name,
            image=app.image,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=APP_PORT)],
            env=[
                k8s.core.v1.EnvVarArgs(name="QUEUE_URL", value=app.queue_url),
                k8s.core.v1.EnvVarArgs(name="AWS_REGION", value=app.region),
                k8s.core.v1.EnvVarArgs(name="PORT", value=str(APP_PORT)),
            ],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": app.cpu_request, "memory": app.memory},
                limits={"memory": app.memory}
                | ({"cpu": app.cpu_limit} if app.cpu_limit is not None else {}),
            ),
            readiness_probe=k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path="/readyz", port="http"),
                period_seconds=5,
                failure_threshold=2,
                timeout_seconds=2,
            ),
            liveness_probe=k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="http"),
                initial_delay_seconds=5,
                period_seconds=10,
                failure_threshold=3,
                timeout_seconds=2,
            ),
            security_context=container_security,
            # The root filesystem is read-only; Python and libraries may still want /tmp.
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],  # noqa: S108
        )
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=app.name, namespace=namespace.metadata.name, labels=labels
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=app.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_unavailable=0, max_surge=1
                    ),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=service_account.metadata.name,
                        termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True,
                            run_as_user=10001,
                            run_as_group=10001,
                            fs_group=10001,
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        topology_spread_constraints=[
                            k8s.core.v1.TopologySpreadConstraintArgs(
                                max_skew=1,
                                topology_key="topology.kubernetes.io/zone",
                                # Prefer spreading; never leave a replica pending because a
                                # zone has no node at the moment.
                                when_unsatisfiable="ScheduleAnyway",
                                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                            )
                        ],
                        containers=[container],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="tmp",
                                empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi"),
                            )
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=self.provider,
                # Pods need nodes, and their AWS credentials from the association.
                depends_on=[self.node_group, association, app_policy],
                # With an autoscaler the Deployment starts at its minimum and the autoscaler
                # owns the count from then on. Kubernetes advises leaving spec.replicas out
                # (its HPA guide), which restarts an existing Deployment at 1 pod; instead the
                # field is ignored, so the update leaves the count alone and, once the
                # autoscaler has changed it, drops it from the server-side apply rather than
                # conflicting with the autoscaler's field manager (pulumi-kubernetes' SSA
                # guide, "Handle Field Conflicts on Existing Resources").
                ignore_changes=["spec.replicas"] if app.autoscaling else None,
            ),
        )

        if app.public:
            service_spec = k8s.core.v1.ServiceSpecArgs(
                type="LoadBalancer",
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=80, target_port="http")],
                load_balancer_source_ranges=list(app.allowed_cidrs),
            )
            annotations = {
                "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
            }
        else:
            service_spec = k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=80, target_port="http")],
            )
            annotations = {}
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=app.name,
                namespace=namespace.metadata.name,
                labels=labels,
                annotations=annotations,
            ),
            spec=service_spec,
            opts=k8s_child,
        )
        self.autoscaler = (
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-hpa",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=app.name, namespace=namespace.metadata.name, labels=labels
                ),
                spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                    scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                        api_version="apps/v1", kind="Deployment", name=self.deployment.metadata.name
                    ),
                    min_replicas=app.replicas,
                    max_replicas=app.max_replicas,
                    # Scale-up and scale-down rates are Kubernetes' defaults: up at once, down
                    # after 5 minutes of lower demand.
                    metrics=[
                        k8s.autoscaling.v2.MetricSpecArgs(
                            type="Resource",
                            resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                                name="cpu",
                                target=k8s.autoscaling.v2.MetricTargetArgs(
                                    type="Utilization",
                                    average_utilization=app.target_cpu_utilization,
                                ),
                            ),
                        )
                    ],
                ),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    provider=self.provider,
                    depends_on=[self.metrics_server] if self.metrics_server else None,
                ),
            )
            if app.autoscaling
            else None
        )

        # maxUnavailable 1 never blocks a drain, even at 1 pod, so the budget can stay while
        # the autoscaler moves between 1 and many.
        if app.most_replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=app.name, namespace=namespace.metadata.name, labels=labels
                ),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                ),
                opts=k8s_child,
            )

        if app.public:
            self.app_endpoint: pulumi.Output[str] = self.service.status.apply(
                lambda s: (
                    "http://" + (s.load_balancer.ingress[0].hostname or "")
                    if s and s.load_balancer and s.load_balancer.ingress
                    else "load balancer pending"
                )
            )
        else:
            self.app_endpoint = pulumi.Output.from_input(
                f"kubectl -n {app.namespace} port-forward svc/{app.name} 8080:80, "
                "then http://127.0.0.1:8080"
            )
        """How to reach the app."""
