"""CiRunner: AWS CodeBuild-hosted GitHub Actions runners with one fixed egress address.

CodeBuild starts a build for every queued workflow job that asks for the label
`codebuild-<project>-<run id>-<attempt>`; the build registers itself as an ephemeral runner,
runs that one job and is gone. Builds run in a small VPC of their own whose only way out is a
NAT gateway on one Elastic IP, so a stack's EKS endpoint admits exactly that address (and an
operator's) in `clusterPublicAccessCidrs` and stays closed to the rest of the internet. The
runners live outside every stack: a stack's first `pulumi up` and its `pulumi destroy` can run
on them (docs/delivery.md weighs this against runners inside the cluster's VPC).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from github_oidc import service_trust_policy  # the CLI runs this directory: siblings by name
from iam_policies import AccountScope, log_publish_policy, runner_service_policy

# The builds' network is one /24: a /26 for the NAT gateway, a /26 for the builds' network
# interfaces (59 usable addresses, one per concurrent build).
VPC_CIDR = "10.255.0.0/24"
# The curated image with the GitHub Actions runner's dependencies (Ubuntu 22.04, x86_64):
# actions/setup-python ships builds for Ubuntu, not for Amazon Linux.
IMAGE = "aws/codebuild/standard:7.0"
# 4 vCPUs and 7 GB: the arm64 app image is built under QEMU emulation.
COMPUTE_TYPE = "BUILD_GENERAL1_MEDIUM"
# Longer than the longest job (a deploy: 90 minutes); CodeBuild stops a build at this limit.
BUILD_TIMEOUT_MINUTES = 120
# A job waits at most this long for a build to start (CodeBuild allows 5 to 480).
QUEUED_TIMEOUT_MINUTES = 60
LOG_RETENTION_DAYS = 30
# Everything the jobs reach (GitHub, PyPI, Pulumi, AWS APIs, registries, the EKS endpoint)
# speaks HTTPS. DNS and time go to the VPC's resolver and link-local addresses, which
# security groups do not filter.
EGRESS_PORT = 443


@dataclass(frozen=True, kw_only=True)
class CiRunnerArgs:
    """Inputs of the CiRunner component."""

    project_name: str
    """CodeBuild project name; jobs ask for `codebuild-<project_name>-<run id>-<attempt>`."""
    repository_url: str
    """`https://github.com/<owner>/<repo>`: the repository whose jobs the project runs."""
    connection_arn: str
    """The AWS CodeConnections connection to GitHub (created and authorised by hand)."""
    actor_ids: tuple[str, ...]
    """GitHub account IDs whose jobs may start a build; empty: any job GitHub queues."""
    scope: pulumi.Output[AccountScope]
    """Account and partition (known once the caller's identity is)."""
    region: str
    """Region of the project and its VPC."""
    role_path: str
    """IAM path of the component's roles."""


class CiRunner(pulumi.ComponentResource):
    """A CodeBuild runner project and the network its builds run in."""

    vpc: aws.ec2.Vpc
    """The builds' VPC."""
    egress_ip: aws.ec2.Eip
    """The only public address the builds use."""
    security_group: aws.ec2.SecurityGroup
    """The builds' security group: HTTPS out, nothing in."""
    service_role: aws.iam.Role
    """The project's service role (build logs, network interfaces, the GitHub connection)."""
    project: aws.codebuild.Project
    """The runner project."""
    webhook: aws.codebuild.Webhook
    """Starts a build for each queued workflow job."""

    def __init__(
        self, name: str, args: CiRunnerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecr-eks-lambda:components:CiRunner", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        public_block, private_block = list(ipaddress.ip_network(VPC_CIDR).subnets(new_prefix=26))[
            :2
        ]
        zone = aws.get_availability_zones_output(
            state="available", opts=pulumi.InvokeOutputOptions(parent=self)
        ).names[0]

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            aws.ec2.VpcArgs(
                cidr_block=VPC_CIDR, enable_dns_hostnames=True, enable_dns_support=True
            ),
            child,
        )
        # Take over the default security group and leave it without rules (CIS 5.4).
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", aws.ec2.DefaultSecurityGroupArgs(vpc_id=self.vpc.id), child
        )
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", aws.ec2.InternetGatewayArgs(vpc_id=self.vpc.id), child
        )
        public = self._subnet(
            name,
            "public",
            str(public_block),
            zone,
            aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id),
        )
        self.egress_ip = aws.ec2.Eip(f"{name}-egress-ip", aws.ec2.EipArgs(domain="vpc"), child)
        nat = aws.ec2.NatGateway(
            f"{name}-nat",
            aws.ec2.NatGatewayArgs(subnet_id=public.id, allocation_id=self.egress_ip.id),
            pulumi.ResourceOptions(parent=self, depends_on=[igw]),
        )
        builds = self._subnet(
            name,
            "builds",
            str(private_block),
            zone,
            aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id),
        )
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            aws.ec2.SecurityGroupArgs(
                vpc_id=self.vpc.id,
                description="CodeBuild runner builds: HTTPS out, nothing in",
                egress=[
                    aws.ec2.SecurityGroupEgressArgs(
                        protocol="tcp",
                        from_port=EGRESS_PORT,
                        to_port=EGRESS_PORT,
                        cidr_blocks=["0.0.0.0/0"],
                        description="HTTPS to GitHub, package registries, AWS and the clusters",
                    )
                ],
            ),
            child,
        )
        self._flow_logs(name, args)

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-build-logs",
            aws.cloudwatch.LogGroupArgs(
                name=f"/aws/codebuild/{args.project_name}", retention_in_days=LOG_RETENTION_DAYS
            ),
            child,
        )
        self.service_role = self._service_role(
            f"{name}-service-role",
            args,
            "codebuild.amazonaws.com",
            ("codebuild", f"project/{args.project_name}"),
            f"CodeBuild GitHub Actions runners of {args.repository_url}",
        )
        service_policy = aws.iam.RolePolicy(
            f"{name}-service-policy",
            aws.iam.RolePolicyArgs(
                role=self.service_role.id,
                policy=pulumi.Output.all(
                    args.scope, log_group.arn, builds.arn, self.security_group.arn
                ).apply(
                    lambda values: json.dumps(
                        runner_service_policy(
                            values[0],
                            region=args.region,
                            log_group_arn=values[1],
                            subnet_arn=values[2],
                            security_group_arn=values[3],
                            connection_arn=args.connection_arn,
                        )
                    )
                ),
            ),
            child,
        )
        self.project = aws.codebuild.Project(
            f"{name}-project",
            aws.codebuild.ProjectArgs(
                name=args.project_name,
                description=f"Ephemeral GitHub Actions runners for {args.repository_url}",
                service_role=self.service_role.arn,
                source=aws.codebuild.ProjectSourceArgs(
                    type="GITHUB",
                    location=args.repository_url,
                    auth=aws.codebuild.ProjectSourceAuthArgs(
                        type="CODECONNECTIONS", resource=args.connection_arn
                    ),
                ),
                artifacts=aws.codebuild.ProjectArtifactsArgs(type="NO_ARTIFACTS"),
                environment=aws.codebuild.ProjectEnvironmentArgs(
                    type="LINUX_CONTAINER",
                    compute_type=COMPUTE_TYPE,
                    image=IMAGE,
                    image_pull_credentials_type="CODEBUILD",
                    # The deploy jobs build the app image with Docker Buildx.
                    privileged_mode=True,
                ),
                vpc_config=aws.codebuild.ProjectVpcConfigArgs(
                    vpc_id=self.vpc.id,
                    subnets=[builds.id],
                    security_group_ids=[self.security_group.id],
                ),
                logs_config=aws.codebuild.ProjectLogsConfigArgs(
                    cloudwatch_logs=aws.codebuild.ProjectLogsConfigCloudwatchLogsArgs(
                        status="ENABLED", group_name=log_group.name
                    ),
                    s3_logs=aws.codebuild.ProjectLogsConfigS3LogsArgs(status="DISABLED"),
                ),
                build_timeout=BUILD_TIMEOUT_MINUTES,
                queued_timeout=QUEUED_TIMEOUT_MINUTES,
            ),
            # CodeBuild checks at creation that the service role may manage network
            # interfaces in the VPC: the policy must be in place first.
            pulumi.ResourceOptions(parent=self, depends_on=[service_policy]),
        )
        filters = [
            aws.codebuild.WebhookFilterGroupFilterArgs(type="EVENT", pattern="WORKFLOW_JOB_QUEUED")
        ]
        if args.actor_ids:
            filters.append(
                aws.codebuild.WebhookFilterGroupFilterArgs(
                    type="ACTOR_ACCOUNT_ID", pattern=f"^({'|'.join(args.actor_ids)})$"
                )
            )
        self.webhook = aws.codebuild.Webhook(
            f"{name}-webhook",
            aws.codebuild.WebhookArgs(
                project_name=self.project.name,
                build_type="BUILD",
                filter_groups=[aws.codebuild.WebhookFilterGroupArgs(filters=filters)],
            ),
            child,
        )

        self.egress_cidr: pulumi.Output[str] = self.egress_ip.public_ip.apply(lambda ip: f"{ip}/32")
        """The builds' public address as a CIDR, for the stacks' clusterPublicAccessCidrs."""
        self.register_outputs(
            {
                "project_name": self.project.name,
                "egress_cidr": self.egress_cidr,
                "service_role_arn": self.service_role.arn,
            }
        )

    def _subnet(
        self,
        name: str,
        tier: str,
        cidr: str,
        zone: pulumi.Input[str],
        route: aws.ec2.RouteTableRouteArgs,
    ) -> aws.ec2.Subnet:
        child = pulumi.ResourceOptions(parent=self)
        subnet = aws.ec2.Subnet(
            f"{name}-{tier}",
            aws.ec2.SubnetArgs(
                vpc_id=self.vpc.id,
                availability_zone=zone,
                cidr_block=cidr,
                map_public_ip_on_launch=False,
            ),
            child,
        )
        table = aws.ec2.RouteTable(
            f"{name}-{tier}-rt",
            aws.ec2.RouteTableArgs(vpc_id=self.vpc.id, routes=[route]),
            child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-{tier}-rta",
            aws.ec2.RouteTableAssociationArgs(subnet_id=subnet.id, route_table_id=table.id),
            child,
        )
        return subnet

    def _service_role(
        self,
        name: str,
        args: CiRunnerArgs,
        principal: str,
        source: tuple[str, str],
        description: str,
    ) -> aws.iam.Role:
        """A role only the service `principal` may assume, and only acting for `source`
        (service, resource pattern) in this account and region: AWS's guard against the
        cross-service confused deputy."""
        service, resource = source
        return aws.iam.Role(
            name,
            aws.iam.RoleArgs(
                path=args.role_path,
                description=description,
                assume_role_policy=args.scope.apply(
                    lambda scope: json.dumps(
                        service_trust_policy(
                            principal,
                            scope.account,
                            f"arn:{scope.partition}:{service}:{args.region}:{scope.account}"
                            f":{resource}",
                        )
                    )
                ),
            ),
            pulumi.ResourceOptions(parent=self),
        )

    def _flow_logs(self, name: str, args: CiRunnerArgs) -> None:
        """All traffic of the builds' VPC: the record of what each CI job talked to."""
        child = pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            aws.cloudwatch.LogGroupArgs(retention_in_days=LOG_RETENTION_DAYS),
            child,
        )
        # Only VPC Flow Logs, for a flow log of this account and region (the VPC guide's
        # confused-deputy conditions).
        role = self._service_role(
            f"{name}-flow-logs-role",
            args,
            "vpc-flow-logs.amazonaws.com",
            ("ec2", "vpc-flow-log/*"),
            "VPC flow logs of the CI runners",
        )
        publish = aws.iam.RolePolicy(
            f"{name}-flow-logs-policy",
            aws.iam.RolePolicyArgs(
                role=role.id,
                policy=log_group.arn.apply(lambda arn: json.dumps(log_publish_policy(arn))),
            ),
            child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            aws.ec2.FlowLogArgs(
                vpc_id=self.vpc.id,
                traffic_type="ALL",
                log_destination_type="cloud-watch-logs",
                log_destination=log_group.arn,
                iam_role_arn=role.arn,
            ),
            # Delivery starts at creation: the role must already be allowed to write.
            pulumi.ResourceOptions(parent=self, depends_on=[publish]),
        )
