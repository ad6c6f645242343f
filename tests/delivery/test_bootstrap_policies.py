"""What the CI roles' policies allow and deny, asked as requests (tests/delivery/iam_eval.py),
checked against AWS's Service Authorization Reference as parliament ships it, and against what
the main program's roles need (the boundary contract in docs/delivery.md)."""

from __future__ import annotations

import fnmatch
import importlib
import json
from collections.abc import Callable
from typing import Any

import parliament
import pytest

from tests.delivery.bootstrap_program import ROOT, iam_policies
from tests.delivery.iam_eval import Request, allows, evaluate

ACCOUNT = "111122223333"
REGION = "eu-west-1"
SCOPE = iam_policies.AccountScope("aws", ACCOUNT, (REGION,))
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
STATE = iam_policies.StateAccess("acme-pulumi-state", KEY)
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/ecr-eks-lambda-boundary"
PROGRAM_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecr-eks-lambda/cluster-app-role-1a2b3c4"
CI_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecr-eks-lambda-ci/github-deploy-1a2b3c4"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/OrganizationAccountAccessRole"
OURS = {"aws:ResourceTag/project": "ecr-eks-lambda", "aws:RequestedRegion": REGION}
FOREIGN = {"aws:ResourceTag/project": "payments", "aws:RequestedRegion": REGION}
UNTAGGED = {"aws:RequestedRegion": REGION}
TAGGED_REQUEST = {"aws:RequestTag/project": "ecr-eks-lambda", "aws:RequestedRegion": REGION}


def arn(service: str, resource: str, region: str = REGION) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


DEPLOY = [iam_policies.deploy_iam_policy(SCOPE), iam_policies.deploy_services_policy(SCOPE, STATE)]
PREVIEW = [iam_policies.preview_policy(SCOPE, STATE)]
BOUNDARY_POLICY = [iam_policies.boundary_policy(SCOPE)]


# ------------------------------------------------------------------------------------------
# The deploy role cannot take over the account through IAM
# ------------------------------------------------------------------------------------------


def with_boundary(arn_: str = BOUNDARY) -> dict[str, str]:
    return {"iam:PermissionsBoundary": arn_}


def test_the_deploy_role_creates_program_roles_only_with_the_boundary():
    assert allows(DEPLOY, "iam:CreateRole", PROGRAM_ROLE, with_boundary())
    assert not allows(DEPLOY, "iam:CreateRole", PROGRAM_ROLE)
    other_boundary = f"arn:aws:iam::{ACCOUNT}:policy/AdministratorAccess"
    assert not allows(DEPLOY, "iam:CreateRole", PROGRAM_ROLE, with_boundary(other_boundary))
    assert evaluate(DEPLOY, Request("iam:CreateRole", PROGRAM_ROLE)) == "ExplicitDeny"
    # Only under the program's path.
    assert not allows(DEPLOY, "iam:CreateRole", OTHER_ROLE, with_boundary())
    assert not allows(DEPLOY, "iam:CreateRole", CI_ROLE, with_boundary())


@pytest.mark.parametrize(
    "action",
    ["iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:AttachRolePolicy"],
)
def test_role_policies_change_only_on_roles_that_carry_the_boundary(action):
    managed = {"iam:PolicyARN": "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"}
    assert allows(DEPLOY, action, PROGRAM_ROLE, with_boundary() | managed)
    assert evaluate(DEPLOY, Request(action, PROGRAM_ROLE, managed)) == "ExplicitDeny"
    assert not allows(DEPLOY, action, OTHER_ROLE, with_boundary() | managed)


def test_only_known_managed_policies_can_be_attached():
    for name in iam_policies.ATTACHABLE_AWS_POLICIES:
        policy_arn = {"iam:PolicyARN": f"arn:aws:iam::aws:policy/{name}"}
        assert allows(DEPLOY, "iam:AttachRolePolicy", PROGRAM_ROLE, with_boundary() | policy_arn)
    own = {"iam:PolicyARN": f"arn:aws:iam::{ACCOUNT}:policy/ecr-eks-lambda/lbc-1a2b3c4"}
    assert allows(DEPLOY, "iam:AttachRolePolicy", PROGRAM_ROLE, with_boundary() | own)
    for forbidden in ("AdministratorAccess", "IAMFullAccess", "PowerUserAccess"):
        policy_arn = {"iam:PolicyARN": f"arn:aws:iam::aws:policy/{forbidden}"}
        assert not allows(
            DEPLOY, "iam:AttachRolePolicy", PROGRAM_ROLE, with_boundary() | policy_arn
        )


def test_no_boundary_can_be_removed_or_swapped():
    for role in (PROGRAM_ROLE, OTHER_ROLE, CI_ROLE):
        assert (
            evaluate(DEPLOY, Request("iam:DeleteRolePermissionsBoundary", role)) == "ExplicitDeny"
        )
    assert allows(DEPLOY, "iam:PutRolePermissionsBoundary", PROGRAM_ROLE, with_boundary())
    other = with_boundary(f"arn:aws:iam::{ACCOUNT}:policy/wide-open")
    assert evaluate(DEPLOY, Request("iam:PutRolePermissionsBoundary", PROGRAM_ROLE, other)) == (
        "ExplicitDeny"
    )


@pytest.mark.parametrize(
    "action",
    [
        "iam:CreatePolicyVersion",
        "iam:SetDefaultPolicyVersion",
        "iam:DeletePolicyVersion",
        "iam:DeletePolicy",
        "iam:TagPolicy",
        "iam:UntagPolicy",
    ],
)
def test_the_boundary_policy_cannot_be_rewritten_or_deleted(action):
    assert evaluate(DEPLOY, Request(action, BOUNDARY)) == "ExplicitDeny"
    # The program's own policies remain manageable.
    assert allows(DEPLOY, action, f"arn:aws:iam::{ACCOUNT}:policy/ecr-eks-lambda/lbc-1a2b3c4")


@pytest.mark.parametrize(
    "action",
    [
        "iam:UpdateAssumeRolePolicy",
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:DeleteRole",
        "iam:TagRole",
        "iam:UpdateRole",
        "iam:PassRole",
    ],
)
def test_the_deploy_role_cannot_change_itself_or_the_other_ci_roles(action):
    context = with_boundary() | {"iam:PassedToService": "eks.amazonaws.com"}
    assert evaluate(DEPLOY, Request(action, CI_ROLE, context)) == "ExplicitDeny"
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    assert evaluate(DEPLOY, Request("iam:UpdateOpenIDConnectProviderThumbprint", provider)) == (
        "ExplicitDeny"
    )


def test_trust_rewrites_reach_only_the_programs_roles():
    assert allows(DEPLOY, "iam:UpdateAssumeRolePolicy", PROGRAM_ROLE)
    assert not allows(DEPLOY, "iam:UpdateAssumeRolePolicy", OTHER_ROLE)


@pytest.mark.parametrize("service", iam_policies.PASS_ROLE_SERVICES)
def test_program_roles_are_passed_only_to_the_services_that_run_them(service):
    assert allows(DEPLOY, "iam:PassRole", PROGRAM_ROLE, {"iam:PassedToService": service})
    assert not allows(DEPLOY, "iam:PassRole", OTHER_ROLE, {"iam:PassedToService": service})
    for other in ("ec2.amazonaws.com", "codebuild.amazonaws.com", "cloudformation.amazonaws.com"):
        assert not allows(DEPLOY, "iam:PassRole", PROGRAM_ROLE, {"iam:PassedToService": other})


def test_the_flow_log_role_is_passed_by_name():
    flow_logs = f"arn:aws:iam::{ACCOUNT}:role/ecr-eks-lambda/cluster-flow-logs-role-1a2b3c4"
    assert allows(DEPLOY, "iam:PassRole", flow_logs)
    assert not allows(DEPLOY, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/flow-logs")


def test_the_pass_role_pattern_names_the_networks_flow_log_role():
    # Pulumi's auto-name: the logical name, a dash and 7 random characters.
    source = (ROOT / "components" / "network.py").read_text()
    assert 'f"{name}-flow-logs-role"' in source
    pattern = iam_policies.FLOW_LOG_ROLE_PATTERN
    assert fnmatch.fnmatchcase("network-flow-logs-role-1a2b3c4", pattern)
    assert not fnmatch.fnmatchcase("cluster-node-role-1a2b3c4", pattern)


def test_service_linked_roles_only_for_the_services_the_program_uses():
    slr = (
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS"
    )
    for service in iam_policies.SERVICE_LINKED_ROLES:
        assert allows(DEPLOY, "iam:CreateServiceLinkedRole", slr, {"iam:AWSServiceName": service})
    assert not allows(
        DEPLOY,
        "iam:CreateServiceLinkedRole",
        slr,
        {"iam:AWSServiceName": "ops.apigateway.amazonaws.com"},
    )


def test_the_deploy_role_creates_no_identity_providers_users_or_access_keys():
    for action, resource in [
        ("iam:CreateOpenIDConnectProvider", f"arn:aws:iam::{ACCOUNT}:oidc-provider/example.com"),
        ("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/ecr-eks-lambda/x"),
        ("iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/admin"),
        ("sts:AssumeRole", OTHER_ROLE),
    ]:
        assert not allows(DEPLOY, action, resource, with_boundary())


# ------------------------------------------------------------------------------------------
# Outside IAM: only its own tagged resources, in its regions
# ------------------------------------------------------------------------------------------

CHANGES = [
    ("lambda:UpdateFunctionCode", arn("lambda", "function:consumer-1a2b3c4")),
    ("eks:CreateAccessEntry", arn("eks", "cluster/cluster-eks-1a2b3c4")),
    ("eks:UpdateClusterConfig", arn("eks", "cluster/cluster-eks-1a2b3c4")),
    ("ecr:PutImage", arn("ecr", "repository/registry-repo-1a2b3c4")),
    ("kms:PutKeyPolicy", arn("kms", "key/1234")),
    ("sqs:SetQueueAttributes", arn("sqs", "consumer-events-1a2b3c4")),
    ("dynamodb:DeleteTable", arn("dynamodb", "table/consumer-idempotency-1a2b3c4")),
    ("logs:DeleteLogGroup", arn("logs", "log-group:consumer-logs-1a2b3c4")),
    ("sns:Subscribe", arn("sns", "alarms-topic-1a2b3c4")),
    ("cloudwatch:DeleteAlarms", arn("cloudwatch", "alarm:alarms-dlq-1a2b3c4")),
    ("ec2:AuthorizeSecurityGroupIngress", arn("ec2", "security-group/sg-1")),
    ("ec2:CreateRoute", arn("ec2", "route-table/rtb-1")),
    ("ec2:DeleteVpc", arn("ec2", "vpc/vpc-1")),
]


@pytest.mark.parametrize(("action", "resource"), CHANGES)
def test_the_deploy_role_changes_only_resources_that_carry_the_programs_tag(action, resource):
    assert allows(DEPLOY, action, resource, OURS)
    assert not allows(DEPLOY, action, resource, FOREIGN)
    assert not allows(DEPLOY, action, resource, UNTAGGED)
    elsewhere = OURS | {"aws:RequestedRegion": "us-east-1"}
    assert not allows(DEPLOY, action, resource.replace(REGION, "us-east-1"), elsewhere)


CREATES = [
    ("ec2:CreateVpc", arn("ec2", "vpc/*")),
    ("ec2:CreateSubnet", arn("ec2", "subnet/*")),
    ("ec2:CreateSecurityGroup", arn("ec2", "security-group/*")),
    ("ec2:CreateNatGateway", arn("ec2", "natgateway/*")),
    ("ec2:CreateFlowLogs", arn("ec2", "vpc-flow-log/*")),
    ("ec2:AllocateAddress", arn("ec2", "elastic-ip/*")),
    ("ec2:CreateLaunchTemplate", arn("ec2", "launch-template/*")),
    ("lambda:CreateFunction", arn("lambda", "function:consumer-1a2b3c4")),
    ("sqs:CreateQueue", arn("sqs", "consumer-events-1a2b3c4")),
    ("dynamodb:CreateTable", arn("dynamodb", "table/t")),
    ("logs:CreateLogGroup", arn("logs", "log-group:/aws/eks/c/cluster")),
    ("sns:CreateTopic", arn("sns", "alarms")),
    ("ecr:CreateRepository", arn("ecr", "repository/app")),
    ("cloudwatch:PutMetricAlarm", arn("cloudwatch", "alarm:dlq")),
    ("eks:CreateCluster", "*"),
    ("kms:CreateKey", "*"),
]


@pytest.mark.parametrize(("action", "resource"), CREATES)
def test_the_deploy_role_creates_only_resources_tagged_as_the_programs(action, resource):
    assert allows(DEPLOY, action, resource, TAGGED_REQUEST)
    assert not allows(DEPLOY, action, resource, UNTAGGED)
    assert not allows(DEPLOY, action, resource, {"aws:RequestTag/project": "payments"} | UNTAGGED)


# The app's own log group (components/app.py): a fixed name under the project's prefix.
APP_LOG_GROUP = arn("logs", "log-group:/ecr-eks-lambda/dev/app")


def test_the_deploy_role_manages_the_app_log_group_as_its_own():
    # Created with the program's tag in the request, like every other log group.
    assert allows(DEPLOY, "logs:CreateLogGroup", APP_LOG_GROUP, TAGGED_REQUEST)
    assert not allows(DEPLOY, "logs:CreateLogGroup", APP_LOG_GROUP, UNTAGGED)
    # Then tagged, given its retention and deleted only while it carries the tag.
    for action in ("logs:TagResource", "logs:PutRetentionPolicy", "logs:DeleteLogGroup"):
        assert allows(DEPLOY, action, APP_LOG_GROUP, OURS), action
        assert not allows(DEPLOY, action, APP_LOG_GROUP, FOREIGN), action
        assert not allows(DEPLOY, action, APP_LOG_GROUP, UNTAGGED), action
    # It reads none of the app's lines.
    assert not allows(DEPLOY, "logs:FilterLogEvents", APP_LOG_GROUP, OURS)


def test_the_boundary_lets_the_app_write_its_log_streams_and_not_read_them():
    stream = f"{APP_LOG_GROUP}:log-stream:app-7d9f5c6b8-abcde"
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert allows(BOUNDARY_POLICY, action, stream, ROLE_CONTEXT), action
    for action in ("logs:FilterLogEvents", "logs:GetLogEvents", "logs:DeleteLogGroup"):
        assert not allows(BOUNDARY_POLICY, action, stream, ROLE_CONTEXT), action
    elsewhere = ROLE_CONTEXT | {"aws:RequestedRegion": "us-east-1"}
    assert not allows(
        BOUNDARY_POLICY, "logs:PutLogEvents", stream.replace(REGION, "us-east-1"), elsewhere
    )


def test_nothing_is_created_inside_someone_elses_network():
    # A create is authorized on the new resource (tag in the request) and on its parents,
    # which must already be the program's.
    for action, parent in [
        ("ec2:CreateSubnet", arn("ec2", "vpc/vpc-foreign")),
        ("ec2:CreateSecurityGroup", arn("ec2", "vpc/vpc-foreign")),
        ("ec2:CreateRouteTable", arn("ec2", "vpc/vpc-foreign")),
        ("ec2:CreateFlowLogs", arn("ec2", "vpc/vpc-foreign")),
        ("ec2:CreateNatGateway", arn("ec2", "elastic-ip/eipalloc-foreign")),
    ]:
        assert not allows(DEPLOY, action, parent, TAGGED_REQUEST | FOREIGN)
        assert allows(DEPLOY, action, parent, TAGGED_REQUEST | OURS)


def test_ec2_tags_are_set_only_at_creation_or_on_own_or_untagged_security_groups():
    instance = arn("ec2", "instance/i-foreign")
    on_create = UNTAGGED | {"ec2:CreateAction": "CreateVpc"}
    assert allows(DEPLOY, "ec2:CreateTags", arn("ec2", "vpc/vpc-new"), on_create)
    # Re-tagging someone's instance or VPC as the program's would hand it over.
    assert not allows(DEPLOY, "ec2:CreateTags", instance, TAGGED_REQUEST | FOREIGN)
    assert not allows(DEPLOY, "ec2:CreateTags", arn("ec2", "vpc/v"), TAGGED_REQUEST)
    # The VPC's default security group is adopted untagged (documented residual: any
    # security group without a project tag).
    group = arn("ec2", "security-group/sg-default")
    assert allows(DEPLOY, "ec2:CreateTags", group, TAGGED_REQUEST)
    assert allows(DEPLOY, "ec2:RevokeSecurityGroupIngress", group, UNTAGGED)
    assert not allows(DEPLOY, "ec2:CreateTags", group, TAGGED_REQUEST | FOREIGN)
    assert not allows(DEPLOY, "ec2:AuthorizeSecurityGroupIngress", group, UNTAGGED)


def test_the_deploy_role_launches_no_instances():
    # RunInstances touches an AWS-owned AMI, which is never the program's.
    for resource in (arn("ec2", "instance/*"), "arn:aws:ec2:eu-west-1::image/ami-1"):
        assert not allows(DEPLOY, "ec2:RunInstances", resource, TAGGED_REQUEST | UNTAGGED)


def test_event_source_mappings_only_for_the_accounts_functions():
    context = TAGGED_REQUEST | {"lambda:FunctionArn": arn("lambda", "function:consumer")}
    assert allows(DEPLOY, "lambda:CreateEventSourceMapping", "*", context)
    foreign = context | {"lambda:FunctionArn": "arn:aws:lambda:eu-west-1:999988887777:function:x"}
    assert not allows(DEPLOY, "lambda:CreateEventSourceMapping", "*", foreign)


def dashboard(name: str) -> str:
    # Dashboards are global: their ARN has no region (Service Authorization Reference).
    return f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{name}"


@pytest.mark.parametrize(
    "action", ["cloudwatch:PutDashboard", "cloudwatch:GetDashboard", "cloudwatch:DeleteDashboards"]
)
def test_the_deploy_role_manages_only_dashboards_named_as_the_programs(action):
    # A dashboard carries no tag, so nothing but the name can tell whose it is.
    assert allows(DEPLOY, action, dashboard("ecr-eks-lambda-dev"), UNTAGGED)
    assert allows(DEPLOY, action, dashboard("ecr-eks-lambda-sandbox-me"), UNTAGGED)
    for foreign in ("payments-prod", "ecr-eks-lambda", "team-ecr-eks-lambda-dev"):
        assert not allows(DEPLOY, action, dashboard(foreign), UNTAGGED), foreign
    # Another account's dashboard, even with the program's name.
    other_account = "arn:aws:cloudwatch::999988887777:dashboard/ecr-eks-lambda-dev"
    assert not allows(DEPLOY, action, other_account, UNTAGGED)


def test_the_deploy_role_may_manage_the_programs_dashboard():
    run_program: Callable[..., list[Any]] = importlib.import_module(
        "tests.infra.harness"
    ).run_program
    (board,) = [r for r in run_program("dev") if r.type == "aws:cloudwatch/dashboard:Dashboard"]
    name = board.inputs["dashboardName"]
    assert name.startswith(iam_policies.DASHBOARD_NAME_PREFIX)
    for action in iam_policies.DASHBOARD_ACTIONS:
        assert allows(DEPLOY, action, dashboard(name), UNTAGGED), action


def test_dashboards_can_be_scoped_by_name_only():
    # Why ManageProgramDashboards names dashboards instead of conditioning on the tag.
    assert resource_condition_keys("cloudwatch", "dashboard") == []
    for action in iam_policies.DASHBOARD_ACTIONS:
        types = [t["resource_type"] for t in privilege(action)["resource_types"]]
        assert types == ["dashboard*"], action
    found = statement(SERVICES_POLICY, "ManageProgramDashboards")
    assert found["Action"] == list(iam_policies.DASHBOARD_ACTIONS)
    assert found["Resource"] == dashboard("ecr-eks-lambda-*")


def test_the_pulumi_state_is_written_with_its_own_key_and_nowhere_else():
    objects = "arn:aws:s3:::acme-pulumi-state/.pulumi/stacks/ecr-eks-lambda/dev.json"
    assert allows(DEPLOY, "s3:PutObject", objects)
    assert not allows(DEPLOY, "s3:PutObject", "arn:aws:s3:::other-bucket/x")
    assert not allows(DEPLOY, "s3:PutBucketPolicy", "arn:aws:s3:::acme-pulumi-state")
    assert allows(DEPLOY, "kms:Decrypt", KEY)
    # The key carries the bootstrap's tag, not the program's: no key management.
    bootstrap_tag = {"aws:ResourceTag/project": "ecr-eks-lambda-bootstrap"}
    assert not allows(DEPLOY, "kms:ScheduleKeyDeletion", KEY, bootstrap_tag | UNTAGGED)


# ------------------------------------------------------------------------------------------
# Neither role reads data; the preview role changes nothing
# ------------------------------------------------------------------------------------------

DATA_READS = [
    ("logs:GetLogEvents", arn("logs", "log-group:consumer-logs:log-stream:s")),
    ("logs:FilterLogEvents", arn("logs", "log-group:consumer-logs")),
    ("logs:StartQuery", arn("logs", "log-group:consumer-logs")),
    ("logs:GetQueryResults", "*"),
    ("logs:StartLiveTail", arn("logs", "log-group:consumer-logs")),
    ("ecr:GetDownloadUrlForLayer", arn("ecr", "repository/app")),
    ("sqs:ReceiveMessage", arn("sqs", "events")),
    ("dynamodb:GetItem", arn("dynamodb", "table/t")),
    ("dynamodb:Scan", arn("dynamodb", "table/t")),
    ("dynamodb:Query", arn("dynamodb", "table/t")),
    ("s3:GetObject", "arn:aws:s3:::someone-elses-bucket/report.csv"),
    ("secretsmanager:GetSecretValue", arn("secretsmanager", "secret:db-AbCdEf")),
    ("ssm:GetParameter", arn("ssm", "parameter/db/password")),
    ("kms:Decrypt", arn("kms", "key/other")),
]


@pytest.mark.parametrize("policies", [PREVIEW, DEPLOY], ids=["preview", "deploy"])
@pytest.mark.parametrize(("action", "resource"), DATA_READS)
def test_neither_ci_role_reads_data(policies, action, resource):
    assert evaluate(policies, Request(action, resource, OURS)) == "ExplicitDeny"


@pytest.mark.parametrize("policies", [PREVIEW, DEPLOY], ids=["preview", "deploy"])
def test_configuration_and_the_state_stay_readable(policies):
    for action, resource in [
        # pulumi-docker-build's refresh reads the manifest to see the image still exists.
        ("ecr:BatchGetImage", arn("ecr", "repository/app")),
        ("s3:GetObject", "arn:aws:s3:::acme-pulumi-state/.pulumi/stacks/ecr-eks-lambda/dev.json"),
        ("kms:Decrypt", KEY),
        ("ssm:GetParameter", "arn:aws:ssm:eu-west-1::parameter/aws/service/eks/optimized-ami/x"),
        ("eks:DescribeCluster", arn("eks", "cluster/c")),
        # A refresh reads the dashboard back (ReadOnlyAccess grants it to the preview role).
        ("cloudwatch:GetDashboard", dashboard("ecr-eks-lambda-dev")),
    ]:
        assert evaluate(policies, Request(action, resource, OURS)) != "ExplicitDeny", action
    assert allows(PREVIEW, "kms:Decrypt", KEY)


def test_the_preview_role_may_write_nothing():
    for action, resource in CHANGES + CREATES:
        assert not allows(PREVIEW, action, resource, OURS | TAGGED_REQUEST), action
    for action in ("cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"):
        assert not allows(PREVIEW, action, dashboard("ecr-eks-lambda-dev"), UNTAGGED), action
    assert not allows(PREVIEW, "s3:PutObject", "arn:aws:s3:::acme-pulumi-state/x")
    assert not allows(PREVIEW, "kms:Encrypt", KEY)


def test_with_pulumi_cloud_no_state_exception_remains():
    for policies in (
        [iam_policies.preview_policy(SCOPE, None)],
        [iam_policies.deploy_services_policy(SCOPE, None)],
    ):
        assert evaluate(policies, Request("kms:Decrypt", KEY)) == "ExplicitDeny"
        state_object = "arn:aws:s3:::acme-pulumi-state/.pulumi/stacks/x.json"
        assert evaluate(policies, Request("s3:GetObject", state_object)) == "ExplicitDeny"


# ------------------------------------------------------------------------------------------
# The boundary: what every program role needs, and no way out
# ------------------------------------------------------------------------------------------

# AWS managed policies the program attaches, action lists as published (IAM console,
# versions current when written: AmazonEKSClusterPolicy v10, AmazonEKSWorkerNodePolicy v3,
# AmazonEKS_CNI_Policy v6, AmazonEC2ContainerRegistryPullOnly v1, AWSXrayWriteOnlyAccess v2),
# plus the AWS Load Balancer Controller's published policy (docs/install/iam_policy.json at
# v3.5.0, the version the program installs).
MANAGED_POLICY_ACTIONS = {
    "AmazonEKSClusterPolicy": """
        autoscaling:DescribeAutoScalingGroups autoscaling:UpdateAutoScalingGroup
        ec2:AttachVolume ec2:AuthorizeSecurityGroupIngress ec2:CreateRoute
        ec2:CreateSecurityGroup ec2:CreateTags ec2:CreateVolume ec2:DeleteRoute
        ec2:DeleteSecurityGroup ec2:DeleteVolume ec2:DescribeInstances ec2:DescribeRouteTables
        ec2:DescribeSecurityGroups ec2:DescribeSubnets ec2:DescribeVolumes
        ec2:DescribeVolumesModifications ec2:DescribeVpcs ec2:DescribeDhcpOptions
        ec2:DescribeNetworkInterfaces ec2:DescribeAvailabilityZones ec2:DetachVolume
        ec2:ModifyInstanceAttribute ec2:ModifyVolume ec2:RevokeSecurityGroupIngress
        ec2:DescribeAccountAttributes ec2:DescribeAddresses ec2:DescribeInternetGateways
        ec2:DescribeInstanceTopology ec2:DeleteNetworkInterface
        elasticloadbalancing:AddTags elasticloadbalancing:ApplySecurityGroupsToLoadBalancer
        elasticloadbalancing:AttachLoadBalancerToSubnets elasticloadbalancing:ConfigureHealthCheck
        elasticloadbalancing:CreateListener elasticloadbalancing:CreateLoadBalancer
        elasticloadbalancing:CreateLoadBalancerListeners
        elasticloadbalancing:CreateLoadBalancerPolicy elasticloadbalancing:CreateTargetGroup
        elasticloadbalancing:DeleteListener elasticloadbalancing:DeleteLoadBalancer
        elasticloadbalancing:DeleteLoadBalancerListeners elasticloadbalancing:DeleteTargetGroup
        elasticloadbalancing:DeregisterInstancesFromLoadBalancer
        elasticloadbalancing:DeregisterTargets elasticloadbalancing:DescribeListeners
        elasticloadbalancing:DescribeLoadBalancerAttributes
        elasticloadbalancing:DescribeLoadBalancerPolicies
        elasticloadbalancing:DescribeLoadBalancers
        elasticloadbalancing:DescribeTargetGroupAttributes
        elasticloadbalancing:DescribeTargetGroups elasticloadbalancing:DescribeTargetHealth
        elasticloadbalancing:DetachLoadBalancerFromSubnets elasticloadbalancing:ModifyListener
        elasticloadbalancing:ModifyLoadBalancerAttributes elasticloadbalancing:ModifyTargetGroup
        elasticloadbalancing:ModifyTargetGroupAttributes
        elasticloadbalancing:RegisterInstancesWithLoadBalancer
        elasticloadbalancing:RegisterTargets
        elasticloadbalancing:SetLoadBalancerPoliciesForBackendServer
        elasticloadbalancing:SetLoadBalancerPoliciesOfListener kms:DescribeKey
    """,
    "AmazonEKSWorkerNodePolicy": """
        ec2:DescribeInstances ec2:DescribeInstanceTypes ec2:DescribeRouteTables
        ec2:DescribeSecurityGroups ec2:DescribeSubnets ec2:DescribeVolumes
        ec2:DescribeVolumesModifications ec2:DescribeVpcs eks:DescribeCluster
        eks-auth:AssumeRoleForPodIdentity
    """,
    "AmazonEKS_CNI_Policy": """
        ec2:AssignPrivateIpAddresses ec2:AttachNetworkInterface ec2:CreateNetworkInterface
        ec2:DeleteNetworkInterface ec2:DescribeInstances ec2:DescribeTags
        ec2:DescribeNetworkInterfaces ec2:DescribeInstanceTypes ec2:DescribeSubnets
        ec2:DescribeSecurityGroups ec2:DetachNetworkInterface ec2:ModifyNetworkInterfaceAttribute
        ec2:UnassignPrivateIpAddresses ec2:CreateTags
    """,
    "AmazonEC2ContainerRegistryPullOnly": """
        ecr:GetAuthorizationToken ecr:BatchGetImage ecr:GetDownloadUrlForLayer
        ecr:BatchImportUpstreamImage
    """,
    "AWSXrayWriteOnlyAccess": """
        xray:PutTraceSegments xray:PutTelemetryRecords xray:GetSamplingRules
        xray:GetSamplingTargets xray:GetSamplingStatisticSummaries
    """,
    "AWSLoadBalancerControllerIAMPolicy": """
        iam:CreateServiceLinkedRole ec2:DescribeAccountAttributes ec2:DescribeAddresses
        ec2:DescribeInternetGateways ec2:DescribeVpcs ec2:DescribeSubnets
        ec2:DescribeSecurityGroups ec2:DescribeInstances ec2:DescribeNetworkInterfaces
        ec2:DescribeTags elasticloadbalancing:DescribeLoadBalancers
        elasticloadbalancing:DescribeLoadBalancerAttributes elasticloadbalancing:DescribeListeners
        elasticloadbalancing:DescribeListenerCertificates elasticloadbalancing:DescribeSSLPolicies
        elasticloadbalancing:DescribeRules elasticloadbalancing:DescribeTargetGroups
        elasticloadbalancing:DescribeTargetGroupAttributes elasticloadbalancing:DescribeTargetHealth
        elasticloadbalancing:DescribeTags cognito-idp:DescribeUserPoolClient acm:ListCertificates
        acm:DescribeCertificate iam:ListServerCertificates iam:GetServerCertificate
        waf-regional:GetWebACL waf-regional:GetWebACLForResource waf-regional:AssociateWebACL
        waf-regional:DisassociateWebACL wafv2:GetWebACL wafv2:GetWebACLForResource
        wafv2:AssociateWebACL wafv2:DisassociateWebACL shield:GetSubscriptionState
        shield:DescribeProtection shield:CreateProtection shield:DeleteProtection
        ec2:AuthorizeSecurityGroupIngress ec2:RevokeSecurityGroupIngress ec2:CreateSecurityGroup
        ec2:CreateTags ec2:DeleteTags ec2:DeleteSecurityGroup
        elasticloadbalancing:CreateLoadBalancer elasticloadbalancing:CreateListener
        elasticloadbalancing:DeleteListener
        elasticloadbalancing:CreateRule elasticloadbalancing:DeleteRule
        elasticloadbalancing:CreateTargetGroup elasticloadbalancing:AddTags
        elasticloadbalancing:RemoveTags elasticloadbalancing:ModifyLoadBalancerAttributes
        elasticloadbalancing:SetIpAddressType elasticloadbalancing:SetSecurityGroups
        elasticloadbalancing:SetSubnets elasticloadbalancing:DeleteLoadBalancer
        elasticloadbalancing:ModifyTargetGroup elasticloadbalancing:ModifyTargetGroupAttributes
        elasticloadbalancing:RegisterTargets elasticloadbalancing:DeregisterTargets
        elasticloadbalancing:DeleteTargetGroup elasticloadbalancing:ModifyListener
        elasticloadbalancing:AddListenerCertificates elasticloadbalancing:RemoveListenerCertificates
        elasticloadbalancing:ModifyRule elasticloadbalancing:SetWebAcl
        ec2:DescribeAvailabilityZones ec2:DescribeCoipPools ec2:DescribeIpamPools
        ec2:DescribeRouteTables ec2:DescribeVpcPeeringConnections ec2:GetCoipPoolUsage
        ec2:GetSecurityGroupsForVpc elasticloadbalancing:DescribeCapacityReservation
        elasticloadbalancing:DescribeListenerAttributes elasticloadbalancing:DescribeTrustStores
        elasticloadbalancing:ModifyCapacityReservation elasticloadbalancing:ModifyIpPools
        elasticloadbalancing:ModifyListenerAttributes elasticloadbalancing:SetRulePriorities
    """,
}

# A representative resource of this account and region for an action of a service.
SAMPLE_RESOURCES = {
    "ec2": arn("ec2", "network-interface/eni-1"),
    "eks": arn("eks", "cluster/c"),
    "eks-auth": arn("eks", "cluster/c"),
    "sqs": arn("sqs", "events"),
    "dynamodb": arn("dynamodb", "table/t"),
    "logs": arn("logs", "log-group:g:log-stream:s"),
    "iam": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/elasticloadbalancing.amazonaws.com/x",
}
ROLE_CONTEXT = OURS | {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}


@pytest.mark.parametrize("policy", sorted(MANAGED_POLICY_ACTIONS))
def test_the_boundary_allows_every_action_of_the_policies_program_roles_use(policy):
    for action in MANAGED_POLICY_ACTIONS[policy].split():
        resource = SAMPLE_RESOURCES.get(action.split(":")[0], "*")
        assert allows(BOUNDARY_POLICY, action, resource, ROLE_CONTEXT), (policy, action)


def test_every_attachable_policy_is_covered():
    assert set(iam_policies.ATTACHABLE_AWS_POLICIES) <= set(MANAGED_POLICY_ACTIONS)


@pytest.fixture(scope="module")
def program_role_policies() -> list[dict[str, Any]]:
    """Every inline policy document the main program gives its roles, run under mocks."""
    run_program: Callable[..., list[Any]] = importlib.import_module(
        "tests.infra.harness"
    ).run_program
    records = run_program("dev")
    return [
        json.loads(r.inputs["policy"]) for r in records if r.type == "aws:iam/rolePolicy:RolePolicy"
    ]


def test_the_boundary_allows_every_statement_of_the_programs_own_role_policies(
    program_role_policies,
):
    harness = importlib.import_module("tests.infra.harness")
    scope = iam_policies.AccountScope("aws", harness.ACCOUNT, (REGION,))
    boundary = [iam_policies.boundary_policy(scope)]
    statements = [s for doc in program_role_policies for s in doc["Statement"]]
    # The app (2), the Lambda (4 statements) and the flow logs.
    assert len(statements) >= 7
    for statement in statements:
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"]
        for resource in [resources] if isinstance(resources, str) else resources:
            for action in statement["Action"]:
                # The program's resources carry its tag (the AWS provider's default tags).
                assert allows(boundary, action, resource, OURS), (action, resource)


def test_every_managed_policy_the_program_attaches_is_one_the_deploy_role_may_attach():
    run_program: Callable[..., list[Any]] = importlib.import_module(
        "tests.infra.harness"
    ).run_program
    attached = {
        r.inputs["policyArn"]
        for r in run_program("dev")
        if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    }
    assert "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy" in attached
    assert attached <= {
        f"arn:aws:iam::aws:policy/{name}" for name in iam_policies.ATTACHABLE_AWS_POLICIES
    }


def test_the_boundary_allows_nothing_that_escalates_or_reads_elsewhere():
    for action, resource in [
        ("iam:CreateRole", PROGRAM_ROLE),
        ("iam:PassRole", PROGRAM_ROLE),
        ("iam:AttachRolePolicy", PROGRAM_ROLE),
        ("sts:AssumeRole", OTHER_ROLE),
        ("iam:CreateServiceLinkedRole", f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/x"),
        ("lambda:UpdateFunctionCode", arn("lambda", "function:f")),
        ("ec2:RunInstances", arn("ec2", "instance/*")),
        ("s3:GetObject", "arn:aws:s3:::bucket/key"),
        ("secretsmanager:GetSecretValue", arn("secretsmanager", "secret:s")),
        ("ssm:GetParameter", arn("ssm", "parameter/p")),
        ("kms:Decrypt", arn("kms", "key/k")),
        ("ec2:CreateSnapshot", arn("ec2", "volume/vol-1")),
        ("ec2:GetPasswordData", arn("ec2", "instance/i-1")),
    ]:
        assert not allows(BOUNDARY_POLICY, action, resource, ROLE_CONTEXT), action
    # Queues and tables of other workloads stay out of reach.
    assert not allows(BOUNDARY_POLICY, "sqs:ReceiveMessage", arn("sqs", "payments"), FOREIGN)
    assert not allows(BOUNDARY_POLICY, "dynamodb:GetItem", arn("dynamodb", "table/u"), FOREIGN)
    elsewhere = OURS | {"aws:RequestedRegion": "us-east-1"}
    assert not allows(
        BOUNDARY_POLICY, "ec2:CreateTags", arn("ec2", "vpc/v", "us-east-1"), elsewhere
    )


# ------------------------------------------------------------------------------------------
# AWS's Service Authorization Reference (parliament's copy): why each statement is shaped so
# ------------------------------------------------------------------------------------------

REFERENCE = {service["prefix"]: service for service in parliament.iam_definition}


def privilege(action: str) -> dict[str, Any]:
    prefix, name = action.split(":")
    (found,) = [p for p in REFERENCE[prefix]["privileges"] if p["privilege"] == name]
    return found


def resource_condition_keys(prefix: str, resource_type: str) -> list[str]:
    (found,) = [r for r in REFERENCE[prefix]["resources"] if r["resource"] == resource_type]
    return found["condition_keys"]


def statement(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    (found,) = [s for s in policy["Statement"] if s.get("Sid") == sid]
    return found


SERVICES_POLICY = iam_policies.deploy_services_policy(SCOPE, STATE)


@pytest.mark.parametrize(
    "sid",
    [
        "CreateTaggedUnscopedResources",
        "CreateTaggedEventSourceMappings",
        "UnscopedSubscriptionWrites",
    ],
)
def test_statements_on_every_resource_hold_only_actions_without_resource_types(sid):
    found = statement(SERVICES_POLICY, sid)
    assert found["Resource"] == "*"
    for action in found["Action"]:
        types = [t["resource_type"] for t in privilege(action)["resource_types"]]
        assert types == [""], (action, types)


def test_the_unscoped_writes_support_no_tag_condition_either():
    for action in iam_policies.UNSCOPED_WRITES:
        (only,) = privilege(action)["resource_types"]
        assert not [k for k in only["condition_keys"] if k.startswith("aws:")], action


@pytest.mark.parametrize(
    "sid",
    [
        "CreateTaggedTopLevelNetworkResources",
        "CreateTaggedSubnets",
        "CreateTaggedVpcResources",
        "CreateTaggedResources",
        "CreateTaggedUnscopedResources",
        "CreateTaggedEventSourceMappings",
    ],
)
def test_every_create_can_be_conditioned_on_the_tag_in_the_request(sid):
    for action in statement(SERVICES_POLICY, sid)["Action"]:
        keys = {k for t in privilege(action)["resource_types"] for k in t["condition_keys"]}
        assert "aws:RequestTag/${TagKey}" in keys, action


# The resource types the program creates, per service: each can be scoped by its tag.
PROGRAM_RESOURCE_TYPES = {
    "ec2": [
        "vpc",
        "subnet",
        "security-group",
        "route-table",
        "internet-gateway",
        "natgateway",
        "elastic-ip",
        "launch-template",
        "vpc-flow-log",
    ],
    "eks": ["cluster", "nodegroup", "addon", "access-entry", "podidentityassociation"],
    "ecr": ["repository"],
    "sqs": ["queue"],
    "lambda": ["function", "eventSourceMapping"],
    "dynamodb": ["table"],
    "logs": ["log-group"],
    "cloudwatch": ["alarm"],
    "sns": ["topic"],
    "kms": ["key"],
}


def test_every_resource_type_the_program_creates_can_be_scoped_by_its_tag():
    assert set(PROGRAM_RESOURCE_TYPES) == set(iam_policies.DEPLOY_SERVICES)
    for prefix, types in PROGRAM_RESOURCE_TYPES.items():
        for resource_type in types:
            keys = resource_condition_keys(prefix, resource_type)
            assert "aws:ResourceTag/${TagKey}" in keys, (prefix, resource_type)


def test_every_action_named_exists_in_the_reference():
    documents = [
        *DEPLOY,
        *PREVIEW,
        *BOUNDARY_POLICY,
        iam_policies.runner_service_policy(
            SCOPE,
            region=REGION,
            log_group_arn=arn("logs", "log-group:/aws/codebuild/p"),
            subnet_arn=arn("ec2", "subnet/subnet-1"),
            security_group_arn=arn("ec2", "security-group/sg-1"),
            connection_arn=f"arn:aws:codeconnections:{REGION}:{ACCOUNT}:connection/x",
        ),
    ]
    for document in documents:
        for found in document["Statement"]:
            for action in found.get("Action", []) + found.get("NotAction", []):
                expanded = parliament.expand_action(action)
                assert expanded, action


def test_the_deploy_policies_fit_iams_inline_quota_for_up_to_three_regions():
    assert iam_policies.deploy_inline_size(
        ("eu-west-1", "eu-central-1", "us-east-1"), "x" * 63
    ) <= (10_240)
    assert iam_policies.deploy_inline_size(tuple(f"eu-west-{i}" for i in range(1, 40)), None) > (
        10_240
    )


def test_the_boundary_fits_a_managed_policy():
    regions = ("eu-west-1", "eu-central-1", "us-east-1")
    scope = iam_policies.AccountScope("aws-us-gov", ACCOUNT, regions)
    assert iam_policies.size(iam_policies.boundary_policy(scope)) <= 6_144
