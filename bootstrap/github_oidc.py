"""Config and IAM documents of the bootstrap program (pure functions, no resources).

GitHub's OIDC tokens name the workflow run in the `sub` claim; with GitHub's default claim
template the forms are (docs.github.com, "About security hardening with OpenID Connect"):

- a job that references an environment:  repo:OWNER/REPO:environment:NAME
- a pull_request event (no environment): repo:OWNER/REPO:pull_request
- a branch (push, schedule, dispatch):    repo:OWNER/REPO:ref:refs/heads/BRANCH

The trust policies match `sub` with StringEquals against exact values, never StringLike
patterns, so a new branch, a fork or another repository can never assume the roles.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

GITHUB_OIDC_HOST: Final = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL: Final = f"https://{GITHUB_OIDC_HOST}"
AUDIENCE: Final = "sts.amazonaws.com"

# GitHub's rules: owner (user/org) 1-39 alphanumerics or single hyphens, not starting with one;
# repository up to 100 of [A-Za-z0-9._-]; environment and branch names here are kept to a safe
# subset without wildcards, so that they cannot widen a StringEquals match.
_OWNER_RE: Final = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_REPO_RE: Final = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_ENVIRONMENT_RE: Final = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
_BRANCH_RE: Final = re.compile(r"^[A-Za-z0-9._/-]{1,255}$")
_REGION_RE: Final = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_BUCKET_RE: Final = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PROVIDER_ARN_RE: Final = re.compile(
    r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/" + re.escape(GITHUB_OIDC_HOST) + "$"
)


class BootstrapConfigError(ValueError):
    """A bad config value; the message names the key, the value and what is allowed."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        super().__init__(f"config {key}={value!r} is invalid: {allowed}")
        self.key = key


@dataclass(frozen=True)
class BootstrapConfig:
    github_owner: str
    """GitHub user or organisation that owns the repository."""
    github_repo: str
    """Repository name (without the owner)."""
    deploy_environments: tuple[str, ...]
    """GitHub environments whose jobs may assume the deploy role (one per stack)."""
    default_branch: str
    """Branch whose runs (scheduled drift detection) may assume the read-only role."""
    regions: tuple[str, ...]
    """AWS regions the deploy role may act in."""
    state_bucket: str | None
    """S3 bucket of a self-managed Pulumi backend (None with Pulumi Cloud)."""
    existing_oidc_provider_arn: str | None
    """Reuse this account's GitHub OIDC provider instead of creating one (IAM allows only one
    provider per URL per account)."""

    @property
    def repository(self) -> str:
        return f"{self.github_owner}/{self.github_repo}"

    def deploy_subjects(self) -> list[str]:
        return [f"repo:{self.repository}:environment:{env}" for env in self.deploy_environments]

    def preview_subjects(self) -> list[str]:
        return [
            f"repo:{self.repository}:pull_request",
            f"repo:{self.repository}:ref:refs/heads/{self.default_branch}",
        ]


def _string(raw: Mapping[str, Any], key: str, pattern: re.Pattern[str], allowed: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not pattern.match(value):
        raise BootstrapConfigError(key, value, allowed)
    return value


def _string_list(
    raw: Mapping[str, Any], key: str, default: Sequence[str], pattern: re.Pattern[str], allowed: str
) -> tuple[str, ...]:
    value = raw.get(key, list(default))
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and pattern.match(v) for v in value)
    ):
        raise BootstrapConfigError(key, value, f"a non-empty list, each item {allowed}")
    if len(set(value)) != len(value):
        raise BootstrapConfigError(key, value, "a list without duplicates")
    return tuple(value)


def parse_config(raw: Mapping[str, Any], default_region: str | None) -> BootstrapConfig:
    """Validates the bootstrap stack's config (keys as in Pulumi.yaml, values already decoded
    from YAML/JSON) before any resource is created."""
    owner = _string(
        raw,
        "githubOwner",
        _OWNER_RE,
        "a GitHub user or organisation name (1-39 letters, digits or single hyphens)",
    )
    repo = _string(raw, "githubRepo", _REPO_RE, "a repository name (1-100 of A-Z a-z 0-9 . _ -)")
    environments = _string_list(
        raw,
        "deployEnvironments",
        ("dev", "prod"),
        _ENVIRONMENT_RE,
        "a GitHub environment name of A-Z a-z 0-9 . _ - (no wildcards)",
    )
    branch = raw.get("defaultBranch", "main")
    if not isinstance(branch, str) or not _BRANCH_RE.match(branch) or ".." in branch:
        raise BootstrapConfigError(
            "defaultBranch", branch, "a branch name of A-Z a-z 0-9 . _ - / (no wildcards)"
        )
    regions = _string_list(
        raw,
        "regions",
        [default_region] if default_region else [],
        _REGION_RE,
        "an AWS region such as eu-west-1 (set aws:region or regions)",
    )
    bucket = raw.get("stateBucket")
    if bucket is not None and (not isinstance(bucket, str) or not _BUCKET_RE.match(bucket)):
        raise BootstrapConfigError(
            "stateBucket", bucket, "an S3 bucket name (3-63 of a-z 0-9 . -), or unset"
        )
    provider = raw.get("existingOidcProviderArn")
    if provider is not None and (
        not isinstance(provider, str) or not _PROVIDER_ARN_RE.match(provider)
    ):
        raise BootstrapConfigError(
            "existingOidcProviderArn",
            provider,
            f"arn:aws:iam::<12-digit account>:oidc-provider/{GITHUB_OIDC_HOST}, or unset",
        )
    return BootstrapConfig(owner, repo, environments, branch, regions, bucket, provider)


def trust_policy(provider_arn: str, subjects: Sequence[str]) -> dict[str, Any]:
    """Who may assume a role: GitHub's OIDC tokens for sts.amazonaws.com with one of `subjects`."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActionsOidc",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": sorted(subjects),
                    }
                },
            }
        ],
    }


# The AWS services whose resources the main program creates, updates and deletes. Pulumi's
# AWS provider calls many actions per resource (create, describe, tag, list tags, put/get
# attributes, ...) and the set grows with provider versions, so these are granted per service
# instead of as a list that silently breaks `pulumi up` after a provider upgrade.
DEPLOY_SERVICES: Final = (
    "ec2",  # VPC, subnets, NAT gateways, EIPs, route tables, security groups, launch templates
    "eks",  # cluster, managed node group, access entries, pod identity associations, add-ons
    "ecr",  # repository, lifecycle policy, image push
    "sqs",  # queue and dead-letter queue
    "lambda",  # function, event source mapping
    "dynamodb",  # idempotency table
    "logs",  # log groups
    "cloudwatch",  # alarms
    "sns",  # alarm topic and subscription
    "kms",  # keys for EKS secrets, ECR, SQS
)
# IAM actions the program needs for its own roles, policies, instance profiles and the EKS
# cluster's OIDC provider. Limited to this account; PassRole only to the services that run them.
IAM_MANAGE_ACTIONS: Final = (
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:GetRole",
    "iam:UpdateRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
    "iam:PutRolePolicy",
    "iam:GetRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:CreatePolicy",
    "iam:DeletePolicy",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:ListPolicyVersions",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:TagPolicy",
    "iam:UntagPolicy",
    "iam:CreateInstanceProfile",
    "iam:DeleteInstanceProfile",
    "iam:GetInstanceProfile",
    "iam:AddRoleToInstanceProfile",
    "iam:RemoveRoleFromInstanceProfile",
    "iam:TagInstanceProfile",
    "iam:CreateOpenIDConnectProvider",
    "iam:DeleteOpenIDConnectProvider",
    "iam:GetOpenIDConnectProvider",
    "iam:TagOpenIDConnectProvider",
    "iam:UpdateOpenIDConnectProviderThumbprint",
    # Reads the provider makes to refresh tags and to detach a policy before deleting it.
    "iam:ListRoleTags",
    "iam:ListPolicyTags",
    "iam:ListInstanceProfileTags",
    "iam:ListOpenIDConnectProviderTags",
    "iam:ListEntitiesForPolicy",
)
PASS_ROLE_SERVICES: Final = (
    "eks.amazonaws.com",
    "ec2.amazonaws.com",
    "lambda.amazonaws.com",
    "pods.eks.amazonaws.com",
)
FLOW_LOG_ROLE_PATTERN: Final = "*-flow-logs-role-*"
SERVICE_LINKED_ROLES: Final = (
    "eks.amazonaws.com",
    "eks-nodegroup.amazonaws.com",
    "autoscaling.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
)
# Reads of *data* (not configuration) that the read-only role must never do, even though AWS's
# ReadOnlyAccess grants some of them: pull-request previews run the pull request's code.
DATA_READ_ACTIONS: Final = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:PartiQLSelect",
    "sqs:ReceiveMessage",
    "secretsmanager:GetSecretValue",
    "kms:Decrypt",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
)
READ_ONLY_MANAGED_POLICY: Final = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def _state_bucket_statements(bucket: str) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "PulumiStateBucket",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": f"arn:aws:s3:::{bucket}",
        },
        {
            "Sid": "PulumiStateObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": f"arn:aws:s3:::{bucket}/*",
        },
    ]


def deploy_policy(config: BootstrapConfig, account_id: str) -> dict[str, Any]:
    """What `pulumi up` of the main program needs, and no other service or account."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ManageProgramServices",
            "Effect": "Allow",
            "Action": [f"{service}:*" for service in DEPLOY_SERVICES],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": list(config.regions)}},
        },
        {
            "Sid": "ManageProgramIam",
            "Effect": "Allow",
            "Action": list(IAM_MANAGE_ACTIONS),
            "Resource": [
                f"arn:aws:iam::{account_id}:role/*",
                f"arn:aws:iam::{account_id}:policy/*",
                f"arn:aws:iam::{account_id}:instance-profile/*",
                f"arn:aws:iam::{account_id}:oidc-provider/*",
            ],
        },
        {
            "Sid": "PassProgramRoles",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": f"arn:aws:iam::{account_id}:role/*",
            "Condition": {"StringEquals": {"iam:PassedToService": list(PASS_ROLE_SERVICES)}},
        },
        {
            # CreateFlowLogs passes the cluster's flow-log role to VPC Flow Logs. AWS's flow-log
            # docs grant this PassRole without an iam:PassedToService condition (which service
            # name, if any, the call reports is not documented), so it is scoped by the role's
            # name instead: Pulumi names it `<cluster component>-flow-logs-role-<suffix>`.
            "Sid": "PassFlowLogRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": f"arn:aws:iam::{account_id}:role/{FLOW_LOG_ROLE_PATTERN}",
        },
        {
            "Sid": "ServiceLinkedRoles",
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": f"arn:aws:iam::{account_id}:role/aws-service-role/*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED_ROLES)}},
        },
        {
            # pulumi-eks looks up the EKS-optimised AMI in AWS's public parameters.
            "Sid": "ReadPublicAmiParameters",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": [f"arn:aws:ssm:{r}:*:parameter/aws/service/eks/*" for r in config.regions],
        },
    ]
    if config.state_bucket:
        statements += _state_bucket_statements(config.state_bucket)
    return {"Version": "2012-10-17", "Statement": statements}


def preview_deny_policy(config: BootstrapConfig) -> dict[str, Any]:
    """Added to ReadOnlyAccess for the preview/drift role: configuration reads only."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "NoDataReads",
            "Effect": "Deny",
            "Action": list(DATA_READ_ACTIONS),
            # Except the Pulumi state objects and AWS's public parameters (the EKS AMI).
            "NotResource": [
                *([f"arn:aws:s3:::{config.state_bucket}/*"] if config.state_bucket else []),
                *[f"arn:aws:ssm:{r}:*:parameter/aws/service/*" for r in config.regions],
            ],
        }
    ]
    if config.state_bucket:
        statements += _state_bucket_statements(config.state_bucket)
    return {"Version": "2012-10-17", "Statement": statements}
