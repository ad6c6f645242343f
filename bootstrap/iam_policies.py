"""IAM documents of the bootstrap program (pure functions, no resources), and the contract the
main program keeps so that its deploy role can run it (docs/delivery.md, "What the program
must do"):

- every IAM role, instance profile and customer-managed policy the program creates has the
  path `PROGRAM_PATH`; every role carries the permissions boundary `BOUNDARY_POLICY_NAME`
  (the stack's `iamPermissionsBoundaryArn`, this program's `permissionsBoundaryArn` output);
- every AWS resource it creates carries the tag `TAG_KEY`=`PROGRAM_TAG` (the AWS provider's
  default tags): the deploy role creates only resources that carry it and changes only
  resources that already do;
- every CloudWatch dashboard it creates is named `DASHBOARD_NAME_PREFIX`<something>;
- it passes roles only to the services in `PASS_ROLE_SERVICES`, plus its VPC flow-log role
  (a name containing `flow-logs`) to VPC Flow Logs, and attaches only the AWS managed policies
  in `ATTACHABLE_AWS_POLICIES` or its own.

Action names, resource types and condition keys follow AWS's Service Authorization Reference
("Actions, resources, and condition keys for AWS services"); tests/delivery checks every
statement against the copy of it that parliament ships.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from github_oidc import GITHUB_OIDC_HOST  # the CLI runs this directory: siblings by name

PROGRAM: Final = "ecr-eks-lambda"
PROGRAM_PATH: Final = f"/{PROGRAM}/"
"""IAM path of every role, instance profile and policy the main program creates."""
CI_PATH: Final = f"/{PROGRAM}-ci/"
"""IAM path of the roles this program creates (outside the program's path on purpose)."""
BOUNDARY_POLICY_NAME: Final = f"{PROGRAM}-boundary"
DASHBOARD_NAME_PREFIX: Final = f"{PROGRAM}-"
"""Start of the name of every CloudWatch dashboard the main program creates. A dashboard can
carry no tag the deploy role could be scoped by (the Service Authorization Reference lists no
condition keys for it, and the AWS provider sets no tags on it), so the role may manage only
dashboards named so."""
TAG_KEY: Final = "project"
PROGRAM_TAG: Final = PROGRAM
"""Value of `TAG_KEY` on everything the main program creates (its Pulumi project name)."""
BOOTSTRAP_TAG: Final = f"{PROGRAM}-bootstrap"
"""Value of `TAG_KEY` on everything this program creates: never the program's, so the deploy
role's tag-scoped statements cannot reach the runner, the state bucket or its key."""

# The services whose resources the main program creates. The deploy role may do anything to
# such a resource once it carries the program's tag, and create one only with that tag.
DEPLOY_SERVICES: Final = (
    "ec2",  # VPC, subnets, NAT gateways, EIPs, route tables, security groups, launch templates
    "eks",  # cluster, managed node group, access entries, pod identity associations, add-ons
    "ecr",  # repository, lifecycle policy, image push
    "sqs",  # queue and dead-letter queue
    "lambda",  # function, event source mapping
    "dynamodb",  # idempotency table
    "logs",  # log groups
    "cloudwatch",  # alarms (dashboards take no tags: ManageProgramDashboards)
    "sns",  # alarm topic and subscription
    "kms",  # keys for EKS secrets
)
PASS_ROLE_SERVICES: Final = (
    "eks.amazonaws.com",  # the cluster role (CreateCluster) and the node role (CreateNodegroup)
    "lambda.amazonaws.com",  # the function's execution role
    "pods.eks.amazonaws.com",  # Pod Identity roles: the app, later controllers and collectors
)
FLOW_LOG_ROLE_PATTERN: Final = "*flow-logs*"
ATTACHABLE_AWS_POLICIES: Final = (
    "AmazonEKSClusterPolicy",
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AWSXrayWriteOnlyAccess",
)
SERVICE_LINKED_ROLES: Final = (
    "eks.amazonaws.com",
    "eks-nodegroup.amazonaws.com",
    "autoscaling.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
)
# Reads of *data* (not configuration) that neither CI role may make, although AWS's
# ReadOnlyAccess grants most of them: pull-request previews run the pull request's code.
DATA_READ_ACTIONS: Final = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:PartiQLSelect",
    "dynamodb:GetRecords",
    "sqs:ReceiveMessage",
    "secretsmanager:GetSecretValue",
    "secretsmanager:BatchGetSecretValue",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
    "ssm:GetParameterHistory",
    "kms:Decrypt",
    "logs:GetLogEvents",
    "logs:FilterLogEvents",
    "logs:StartQuery",
    "logs:GetQueryResults",
    "logs:StartLiveTail",
    "logs:GetLogRecord",
    "logs:Unmask",
    # Image layers; ecr:BatchGetImage (the manifest) stays readable: pulumi-docker-build's
    # refresh reads it to see that a pushed image still exists.
    "ecr:GetDownloadUrlForLayer",
)
READ_ONLY_MANAGED_POLICY: Final = "ReadOnlyAccess"

# IAM quotas: a role's inline policies together, and one managed policy, in characters
# (whitespace not counted).
INLINE_POLICIES_LIMIT: Final = 10_240
MANAGED_POLICY_LIMIT: Final = 6_144

Statement = dict[str, Any]


@dataclass(frozen=True)
class AccountScope:
    """Where the CI roles act: one AWS account, its partition, the regions of its stacks."""

    partition: str
    """`aws`, or `aws-cn` / `aws-us-gov` outside the commercial regions."""
    account: str
    """The 12-digit account ID."""
    regions: tuple[str, ...]
    """Regions the program's stacks live in."""

    def arn(self, service: str, resource: str) -> str:
        """`resource` of `service` in this account, any region: statements that use it also
        carry `in_regions`, which keeps one policy the same size for any number of regions."""
        return f"arn:{self.partition}:{service}:*:{self.account}:{resource}"

    def iam(self, resource: str) -> str:
        return f"arn:{self.partition}:iam::{self.account}:{resource}"

    def aws_managed_policy(self, name: str) -> str:
        return f"arn:{self.partition}:iam::aws:policy/{name}"

    @property
    def boundary_arn(self) -> str:
        return self.iam(f"policy/{BOUNDARY_POLICY_NAME}")

    @property
    def in_regions(self) -> dict[str, Any]:
        return {"aws:RequestedRegion": list(self.regions)}


@dataclass(frozen=True)
class StateAccess:
    """The self-managed Pulumi backend this program creates (stateBucket)."""

    bucket: str
    """Bucket name."""
    key_arn: str
    """ARN of the KMS key of the `awskms` secrets provider (and of the bucket's encryption)."""


def document(*statements: Statement) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _statement(
    sid: str,
    actions: Sequence[str],
    resources: str | Sequence[str],
    condition: dict[str, Any] | None = None,
    *,
    effect: str = "Allow",
) -> Statement:
    statement: Statement = {
        "Sid": sid,
        "Effect": effect,
        "Action": list(actions),
        "Resource": resources if isinstance(resources, str) else list(resources),
    }
    if condition:
        statement["Condition"] = condition
    return statement


def _program_tag(kind: str) -> dict[str, str]:
    return {f"aws:{kind}/{TAG_KEY}": PROGRAM_TAG}


def no_data_reads(scope: AccountScope, state: StateAccess | None) -> Statement:
    """Denies reads of data on every resource except the Pulumi state (its objects and its
    secrets key) and AWS's public parameters (pulumi-eks reads the EKS AMI from them)."""
    exceptions = [
        *([f"arn:{scope.partition}:s3:::{state.bucket}/*", state.key_arn] if state else []),
        # Public parameters have no account in their ARN and are the same for everyone.
        f"arn:{scope.partition}:ssm:*::parameter/aws/service/*",
    ]
    return {
        "Sid": "NoDataReads",
        "Effect": "Deny",
        "Action": list(DATA_READ_ACTIONS),
        "NotResource": exceptions,
    }


def preview_policy(scope: AccountScope, state: StateAccess | None) -> dict[str, Any]:
    """Added to ReadOnlyAccess for the preview/drift role: configuration reads only, plus
    decrypting the stack's secrets with the self-managed backend's key."""
    statements = [no_data_reads(scope, state)]
    if state:
        statements.append(_statement("DecryptStackSecrets", ["kms:Decrypt"], state.key_arn))
    return document(*statements)


def deploy_iam_policy(scope: AccountScope) -> dict[str, Any]:
    """What the deploy role may do to IAM: the program's own roles (by path), each with the
    boundary, and nothing to the boundary, to roles without it, or to the CI roles."""
    roles = scope.iam(f"role{PROGRAM_PATH}*")
    with_boundary = {"ArnEquals": {"iam:PermissionsBoundary": scope.boundary_arn}}
    attachable = [scope.aws_managed_policy(p) for p in ATTACHABLE_AWS_POLICIES]
    return document(
        _statement(
            "CreateProgramRolesWithTheBoundary",
            [
                "iam:CreateRole",
                "iam:PutRolePermissionsBoundary",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:DetachRolePolicy",
            ],
            roles,
            with_boundary,
        ),
        _statement(
            "AttachKnownPoliciesToProgramRoles",
            ["iam:AttachRolePolicy"],
            roles,
            {
                **with_boundary,
                "ArnLike": {"iam:PolicyARN": [*attachable, scope.iam(f"policy{PROGRAM_PATH}*")]},
            },
        ),
        _statement(
            "ManageProgramRoles",
            [
                "iam:DeleteRole",
                "iam:UpdateRole",
                "iam:UpdateRoleDescription",
                "iam:UpdateAssumeRolePolicy",
                "iam:TagRole",
                "iam:UntagRole",
            ],
            roles,
        ),
        _statement(
            "ManageProgramPolicies",
            [
                "iam:CreatePolicy",
                "iam:DeletePolicy",
                "iam:CreatePolicyVersion",
                "iam:DeletePolicyVersion",
                "iam:SetDefaultPolicyVersion",
                "iam:TagPolicy",
                "iam:UntagPolicy",
            ],
            scope.iam(f"policy{PROGRAM_PATH}*"),
        ),
        _statement(
            "ManageProgramInstanceProfiles",
            [
                "iam:CreateInstanceProfile",
                "iam:DeleteInstanceProfile",
                "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:TagInstanceProfile",
                "iam:UntagInstanceProfile",
            ],
            scope.iam(f"instance-profile{PROGRAM_PATH}*"),
        ),
        _statement(
            "PassProgramRoles",
            ["iam:PassRole"],
            roles,
            {"StringEquals": {"iam:PassedToService": list(PASS_ROLE_SERVICES)}},
        ),
        # CreateFlowLogs passes the flow-log role to VPC Flow Logs. AWS's flow-log docs grant
        # this PassRole without an iam:PassedToService condition (which service name, if any,
        # the call reports is not documented), so it is scoped by the role's name instead.
        _statement(
            "PassProgramFlowLogRole",
            ["iam:PassRole"],
            scope.iam(f"role{PROGRAM_PATH}{FLOW_LOG_ROLE_PATTERN}"),
        ),
        _statement(
            "ServiceLinkedRoles",
            ["iam:CreateServiceLinkedRole"],
            scope.iam("role/aws-service-role/*"),
            {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED_ROLES)}},
        ),
        # Explicit denies: no other statement (of this role or of any policy attached later)
        # can undo them.
        _statement(
            "DenyChangesToTheBoundary",
            [
                "iam:CreatePolicyVersion",
                "iam:DeletePolicyVersion",
                "iam:SetDefaultPolicyVersion",
                "iam:DeletePolicy",
                "iam:TagPolicy",
                "iam:UntagPolicy",
            ],
            scope.boundary_arn,
            effect="Deny",
        ),
        _statement(
            "DenyRemovingBoundaries",
            ["iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary"],
            "*",
            effect="Deny",
        ),
        _statement(
            "DenyRolesWithoutTheBoundary",
            [
                "iam:CreateRole",
                "iam:PutRolePermissionsBoundary",
                "iam:PutRolePolicy",
                "iam:AttachRolePolicy",
                "iam:DetachRolePolicy",
                "iam:DeleteRolePolicy",
            ],
            "*",
            {"ArnNotEquals": {"iam:PermissionsBoundary": scope.boundary_arn}},
            effect="Deny",
        ),
        {
            "Sid": "DenyChangesToCiIdentities",
            "Effect": "Deny",
            "NotAction": ["iam:Get*", "iam:List*"],
            "Resource": [
                scope.iam(f"role{CI_PATH}*"),
                scope.iam(f"oidc-provider/{GITHUB_OIDC_HOST}"),
            ],
        },
    )


# EC2 resources the program creates, by the action that creates them. An action's parent
# resources (the VPC of a subnet, the subnet of a NAT gateway) must already carry the tag:
# statements that allow a create on tags in the request name only the new resource's type,
# never a parent's, so nothing can be created inside someone else's VPC or subnet.
_EC2_CREATES: Final = (
    ("CreateTaggedTopLevelNetworkResources", ("CreateVpc", "vpc")),
    ("CreateTaggedTopLevelNetworkResources", ("AllocateAddress", "elastic-ip")),
    ("CreateTaggedTopLevelNetworkResources", ("CreateInternetGateway", "internet-gateway")),
    ("CreateTaggedTopLevelNetworkResources", ("CreateLaunchTemplate", "launch-template")),
    ("CreateTaggedSubnets", ("CreateSubnet", "subnet")),
    ("CreateTaggedVpcResources", ("CreateRouteTable", "route-table")),
    ("CreateTaggedVpcResources", ("CreateSecurityGroup", "security-group")),
    ("CreateTaggedVpcResources", ("CreateNatGateway", "natgateway")),
    ("CreateTaggedVpcResources", ("CreateFlowLogs", "vpc-flow-log")),
)
# Other creates whose new resource has an ARN of this account and region.
_SCOPED_CREATES: Final = (
    ("lambda:CreateFunction", "lambda", "function:*"),
    ("sqs:CreateQueue", "sqs", "*"),
    ("dynamodb:CreateTable", "dynamodb", "table/*"),
    ("logs:CreateLogGroup", "logs", "log-group:*"),
    ("cloudwatch:PutMetricAlarm", "cloudwatch", "alarm:*"),
    ("sns:CreateTopic", "sns", "*"),
    ("ecr:CreateRepository", "ecr", "repository/*"),
)
UNSCOPED_CREATES: Final = ("eks:CreateCluster", "kms:CreateKey")
"""Creates that support no resource ARN (Resource must be "*"); scoped by the tag in the
request and the region."""
DASHBOARD_ACTIONS: Final = (
    "cloudwatch:PutDashboard",
    "cloudwatch:GetDashboard",
    "cloudwatch:DeleteDashboards",
)
"""What the AWS provider calls to create, update, read back and delete a dashboard."""
UNSCOPED_WRITES: Final = ("sns:Unsubscribe", "sns:SetSubscriptionAttributes")
"""Writes the program needs that support no resource-level permissions and no tag condition
at all; scoped by region only (docs/delivery.md lists them)."""


def _regional(
    scope: AccountScope,
    sid: str,
    actions: Sequence[str],
    resources: str | Sequence[str],
    condition: dict[str, Any] | None = None,
) -> Statement:
    """A statement about regional services: only in the stacks' regions."""
    merged = dict(condition or {})
    merged["StringEquals"] = {**merged.get("StringEquals", {}), **scope.in_regions}
    return _statement(sid, actions, resources, merged)


def deploy_services_policy(scope: AccountScope, state: StateAccess | None) -> dict[str, Any]:
    """What `pulumi up` of the main program may change outside IAM: its own tagged resources,
    new resources that carry its tag, and the Pulumi state. Reads come from ReadOnlyAccess."""
    requested = {"StringEquals": _program_tag("RequestTag")}
    untagged = {"Null": {f"aws:ResourceTag/{TAG_KEY}": "true"}}
    security_groups = scope.arn("ec2", "security-group/*")
    ec2_creates: dict[str, tuple[list[str], list[str]]] = {}
    for sid, (action, resource_type) in _EC2_CREATES:
        actions, resources = ec2_creates.setdefault(sid, ([], []))
        actions.append(f"ec2:{action}")
        resources.append(scope.arn("ec2", f"{resource_type}/*"))
    statements = [
        _regional(
            scope,
            "ChangeOwnResources",
            [f"{service}:*" for service in DEPLOY_SERVICES],
            [scope.arn(service, "*") for service in DEPLOY_SERVICES],
            {"StringEquals": _program_tag("ResourceTag")},
        ),
        *(
            _regional(scope, sid, actions, resources, requested)
            for sid, (actions, resources) in ec2_creates.items()
        ),
        _regional(
            scope,
            "TagEc2ResourcesOnCreate",
            ["ec2:CreateTags"],
            scope.arn("ec2", "*"),
            {"StringEquals": {"ec2:CreateAction": [a for _, (a, _) in _EC2_CREATES]}},
        ),
        # The VPC's default security group exists before the program adopts it (to strip its
        # rules, CIS 5.4), so it carries no tag yet: only groups without any project tag.
        _regional(
            scope,
            "AdoptDefaultSecurityGroupRules",
            ["ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress"],
            security_groups,
            untagged,
        ),
        _regional(
            scope,
            "AdoptDefaultSecurityGroupTags",
            ["ec2:CreateTags"],
            security_groups,
            {**untagged, **requested},
        ),
        _regional(
            scope,
            "CreateTaggedResources",
            [action for action, _, _ in _SCOPED_CREATES],
            [scope.arn(service, resource) for _, service, resource in _SCOPED_CREATES],
            requested,
        ),
        _regional(scope, "CreateTaggedUnscopedResources", UNSCOPED_CREATES, "*", requested),
        _regional(
            scope,
            "CreateTaggedEventSourceMappings",
            ["lambda:CreateEventSourceMapping"],
            "*",
            {**requested, "ArnLike": {"lambda:FunctionArn": scope.arn("lambda", "function:*")}},
        ),
        _regional(scope, "UnscopedSubscriptionWrites", UNSCOPED_WRITES, "*"),
        # Dashboards are global (no region in their ARN, as with IAM: not region-conditioned)
        # and untaggable: scoped by name.
        _statement(
            "ManageProgramDashboards",
            DASHBOARD_ACTIONS,
            f"arn:{scope.partition}:cloudwatch::{scope.account}:dashboard/{DASHBOARD_NAME_PREFIX}*",
        ),
    ]
    if state:
        statements += [
            _statement(
                "WritePulumiState",
                ["s3:PutObject", "s3:DeleteObject"],
                f"arn:{scope.partition}:s3:::{state.bucket}/*",
            ),
            _statement(
                "EncryptPulumiState",
                ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
                state.key_arn,
            ),
        ]
    statements.append(no_data_reads(scope, state))
    return document(*statements)


def boundary_policy(scope: AccountScope) -> dict[str, Any]:
    """The most any role of the main program may ever do: the union of what its roles need
    (the cluster role's AmazonEKSClusterPolicy; the nodes' AmazonEKSWorkerNodePolicy,
    AmazonEKS_CNI_Policy and AmazonEC2ContainerRegistryPullOnly; the app's SQS sends; the
    Lambda's SQS consumption, logs, X-Ray and DynamoDB items; the flow logs' writes) and room
    for the AWS Load Balancer Controller's published policy and an X-Ray writer. No IAM
    (beyond ELB's service-linked role and reading server certificates), no STS, no other
    service: a role the deploy role rewrites or creates can never do more than this."""
    own = {"StringEquals": _program_tag("ResourceTag")}
    return document(
        _regional(
            scope,
            "ReadNetworkAndClusterConfiguration",
            [
                "ec2:Describe*",
                "ec2:GetSecurityGroupsForVpc",
                "ec2:GetCoipPoolUsage",
                "autoscaling:DescribeAutoScalingGroups",
                "eks:DescribeCluster",
                "kms:DescribeKey",
                "logs:DescribeLogGroups",
                "acm:DescribeCertificate",
                "acm:ListCertificates",
                "cognito-idp:DescribeUserPoolClient",
                "shield:DescribeProtection",
                "shield:GetSubscriptionState",
                "waf-regional:GetWebACL",
                "waf-regional:GetWebACLForResource",
                "wafv2:GetWebACL",
                "wafv2:GetWebACLForResource",
            ],
            "*",
        ),
        _regional(
            scope,
            "ClusterAndPodNetworking",
            [
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
                "ec2:AttachNetworkInterface",
                "ec2:DetachNetworkInterface",
                "ec2:CreateNetworkInterface",
                "ec2:DeleteNetworkInterface",
                "ec2:ModifyNetworkInterfaceAttribute",
                "ec2:CreateTags",
                "ec2:DeleteTags",
                "ec2:CreateSecurityGroup",
                "ec2:DeleteSecurityGroup",
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:CreateRoute",
                "ec2:DeleteRoute",
                "ec2:CreateVolume",
                "ec2:DeleteVolume",
                "ec2:AttachVolume",
                "ec2:DetachVolume",
                "ec2:ModifyVolume",
                "ec2:ModifyInstanceAttribute",
            ],
            scope.arn("ec2", "*"),
        ),
        _regional(
            scope,
            "LoadBalancers",
            [
                "elasticloadbalancing:*",
                "autoscaling:UpdateAutoScalingGroup",
                "shield:CreateProtection",
                "shield:DeleteProtection",
                "waf-regional:AssociateWebACL",
                "waf-regional:DisassociateWebACL",
                "wafv2:AssociateWebACL",
                "wafv2:DisassociateWebACL",
            ],
            "*",
        ),
        # Nodes pull EKS's own images (VPC CNI, kube-proxy, CoreDNS) from AWS's registries in
        # other accounts, so pulls cannot be scoped to this account's repositories.
        _regional(
            scope,
            "PullImages",
            [
                "ecr:GetAuthorizationToken",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchImportUpstreamImage",
            ],
            "*",
        ),
        _regional(
            scope,
            "PodIdentity",
            ["eks-auth:AssumeRoleForPodIdentity"],
            scope.arn("eks", "cluster/*"),
        ),
        _regional(
            scope,
            "ProgramQueues",
            [
                "sqs:SendMessage",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes",
            ],
            scope.arn("sqs", "*"),
            own,
        ),
        _regional(
            scope,
            "ProgramTableItems",
            [
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:ConditionCheckItem",
            ],
            scope.arn("dynamodb", "table/*"),
            own,
        ),
        _regional(
            scope,
            "WriteLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            scope.arn("logs", "log-group:*"),
        ),
        _regional(
            scope,
            "Tracing",
            [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "*",
        ),
        # IAM is global (its requests name no region of the stacks): not region-conditioned.
        _statement(
            "LoadBalancerServiceLinkedRole",
            ["iam:CreateServiceLinkedRole"],
            scope.iam("role/aws-service-role/elasticloadbalancing.amazonaws.com/*"),
            {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
        ),
        _statement(
            "ReadServerCertificates",
            ["iam:ListServerCertificates", "iam:GetServerCertificate"],
            "*",
        ),
    )


def runner_service_policy(
    scope: AccountScope,
    *,
    region: str,
    log_group_arn: str,
    subnet_arn: str,
    security_group_arn: str,
    connection_arn: str,
) -> dict[str, Any]:
    """The CodeBuild runner project's service role: write its own build logs, put its builds'
    network interfaces in its own subnet (AWS's policy for CodeBuild in a VPC, narrowed to that
    subnet and security group), and fetch tokens from the one GitHub connection. Job steps
    can use these credentials too, so nothing else: the jobs assume the OIDC roles."""
    interfaces = f"arn:{scope.partition}:ec2:{region}:{scope.account}:network-interface/*"
    in_subnet = {"ArnEquals": {"ec2:Subnet": subnet_arn}}
    connections = connection_arn.split(":")[2]  # codeconnections or codestar-connections
    return document(
        _statement(
            "WriteBuildLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], f"{log_group_arn}:*"
        ),
        _statement(
            "DescribeBuildNetwork",
            [
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeVpcs",
            ],
            "*",
            {"StringEquals": {"aws:RequestedRegion": region}},
        ),
        _statement(
            "CreateBuildInterfaces",
            ["ec2:CreateNetworkInterface"],
            [interfaces, subnet_arn, security_group_arn],
        ),
        _statement(
            "DeleteBuildInterfaces",
            ["ec2:DeleteNetworkInterface"],
            interfaces,
            in_subnet,
        ),
        _statement(
            "AuthorizeCodeBuildOnInterfaces",
            ["ec2:CreateNetworkInterfacePermission"],
            interfaces,
            {**in_subnet, "StringEquals": {"ec2:AuthorizedService": "codebuild.amazonaws.com"}},
        ),
        _statement(
            "UseGitHubConnection",
            [f"{connections}:GetConnectionToken", f"{connections}:GetConnection"],
            connection_arn,
        ),
    )


def log_publish_policy(log_group_arn: str) -> dict[str, Any]:
    """A flow log's role: write streams of one log group (what AWS CDK grants its flow logs)."""
    return document(
        _statement(
            "PublishFlowLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            f"{log_group_arn}:*",
        )
    )


def size(policy: dict[str, Any]) -> int:
    """A policy's size as IAM counts it against its quotas (whitespace not counted)."""
    return len(json.dumps(policy, separators=(",", ":")))


def deploy_inline_size(regions: Sequence[str], state_bucket: str | None) -> int:
    """The largest the deploy role's inline policies can be for these regions and bucket, in
    any account and partition (account IDs are 12 digits, key IDs 36 characters)."""
    scope = AccountScope("aws-us-gov", "0" * 12, tuple(regions))
    state = (
        StateAccess(state_bucket, f"arn:{scope.partition}:kms:{'x' * 20}:{'0' * 12}:key/{'0' * 36}")
        if state_bucket
        else None
    )
    return size(deploy_iam_policy(scope)) + size(deploy_services_policy(scope, state))
