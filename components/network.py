"""Network: the cluster's VPC with a public and a private subnet per zone, NAT, and flow logs."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import PROJECT, ConfigError, NetworkConfig
from components.iam import RoleSettings, role, trust_for_own
from components.policies import allow, document

# Flow log records aggregate up to 10 minutes (EC2's default; 60 s is the only other value):
# up to 10x fewer records for long-lived connections, at the cost of coarser timing.
FLOW_LOG_AGGREGATION_SECONDS = 600


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    """Inputs of the Network component."""

    config: NetworkConfig
    """Zones, address range, NAT gateways and flow logs."""
    flow_log_retention_days: int
    """Retention of the flow log group (logRetentionDays); a value CloudWatch Logs accepts."""
    roles: RoleSettings
    """How its IAM roles are created (the stack's permissions boundary)."""


class Network(pulumi.ComponentResource):
    """A VPC over `availability_zone_count` zones: load balancers and NAT in public subnets,
    nodes in private ones, its default security group emptied, its traffic flow-logged."""

    vpc: aws.ec2.Vpc
    """The VPC."""
    public_subnets: list[aws.ec2.Subnet]
    """One per zone, for load balancers and NAT gateways."""
    private_subnets: list[aws.ec2.Subnet]
    """One per zone, for the nodes."""
    flow_log: aws.ec2.FlowLog | None
    """The VPC's flow log; None when flow logs are off."""
    flow_log_group: aws.cloudwatch.LogGroup | None
    """The log group the flow log publishes to; None when flow logs are off."""
    vpc_id: pulumi.Output[str]
    """ID of the VPC."""
    public_subnet_ids: list[pulumi.Output[str]]
    """IDs of the public subnets, one per zone."""
    public_subnet_cidrs: list[str]
    """Address ranges of the public subnets, where internet-facing load balancers are."""
    private_subnet_ids: list[pulumi.Output[str]]
    """IDs of the private subnets, one per zone."""

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecr-eks-lambda:components:Network", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)

        count = config.availability_zone_count
        zones = aws.get_availability_zones(
            state="available", opts=pulumi.InvokeOptions(parent=self)
        ).names[:count]
        if len(zones) < count:
            key = NetworkConfig.key("availability_zone_count")
            raise ConfigError(
                [
                    f"{PROJECT}:{key} = {count}: the region offers only {len(zones)} zones "
                    f"({', '.join(zones)})"
                ]
            )

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            aws.ec2.VpcArgs(
                cidr_block=config.vpc_cidr, enable_dns_hostnames=True, enable_dns_support=True
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
        blocks = list(ipaddress.ip_network(config.vpc_cidr).subnets(prefixlen_diff=4))
        self.public_subnet_cidrs = [str(block) for block in blocks[: len(zones)]]
        self.public_subnets, self.private_subnets = [], []
        nat_ids: list[pulumi.Output[str]] = []
        for i, zone in enumerate(zones):
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                aws.ec2.SubnetArgs(
                    vpc_id=self.vpc.id,
                    availability_zone=zone,
                    cidr_block=self.public_subnet_cidrs[i],
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
            if config.nat_gateways == "perAz" or i == 0:
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

        self.flow_log, self.flow_log_group = (
            self._flow_logs(name, self.vpc.id, args) if config.flow_logs else (None, None)
        )

        self.vpc_id = self.vpc.id
        self.public_subnet_ids = [s.id for s in self.public_subnets]
        self.private_subnet_ids = [s.id for s in self.private_subnets]
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
            }
        )

    def _flow_logs(
        self, name: str, vpc_id: pulumi.Input[str], args: NetworkArgs
    ) -> tuple[aws.ec2.FlowLog, aws.cloudwatch.LogGroup]:
        child = pulumi.ResourceOptions(parent=self)
        # CloudWatch Logs encrypts every log group at rest; like the function's log group this
        # one uses the service's key, not a customer-managed key (which would need a key policy
        # for logs.<region>.amazonaws.com and buys no narrower read access than IAM gives).
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            aws.cloudwatch.LogGroupArgs(retention_in_days=args.flow_log_retention_days),
            child,
        )
        # Only the flow logs service, acting for a flow log of this account and region, may
        # assume the role (the VPC guide's confused-deputy conditions). The flow log's own ID
        # cannot be named: the flow log is created after, and from, this role.
        flow_logs_role = role(
            f"{name}-flow-logs-role",
            trust_for_own("vpc-flow-logs.amazonaws.com", "ec2", "vpc-flow-log/*", self),
            args.roles,
            child,
        )
        # The VPC guide lists CreateLogGroup and DescribeLogGroups as well; the group exists
        # before the flow log, and DescribeLogGroups cannot be scoped (it needs "*"). These
        # three, on this group's streams, are what AWS CDK grants its flow logs too.
        publish = aws.iam.RolePolicy(
            f"{name}-flow-logs-policy",
            aws.iam.RolePolicyArgs(
                role=flow_logs_role.id,
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
                vpc_id=vpc_id,
                traffic_type=args.config.flow_log_traffic_type,
                log_destination_type="cloud-watch-logs",
                log_destination=log_group.arn,
                iam_role_arn=flow_logs_role.arn,
                max_aggregation_interval=FLOW_LOG_AGGREGATION_SECONDS,
            ),
            # Delivery starts at creation: the role must already be allowed to write.
            pulumi.ResourceOptions(parent=self, depends_on=[publish]),
        )
        return flow_log, log_group
