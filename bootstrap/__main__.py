"""Creates what CI needs before it can deploy anything: GitHub's OIDC identity provider in
this AWS account and two roles that only this repository's workflows can assume.

- deploy role: assumed by jobs running in the configured GitHub environments (dev, prod);
  runs `pulumi up`.
- preview role: assumed by pull-request runs and by runs on the default branch (scheduled
  drift detection); AWS's ReadOnlyAccess minus data reads; runs `pulumi preview`/`refresh`.

Run once per AWS account by an administrator (see docs/delivery.md).
"""

import json

import pulumi
import pulumi_aws as aws
from github_oidc import (  # the CLI runs this directory, so siblings import by name
    AUDIENCE,
    GITHUB_OIDC_URL,
    READ_ONLY_MANAGED_POLICY,
    deploy_policy,
    parse_config,
    preview_deny_policy,
    trust_policy,
)

config = pulumi.Config()
# Strings are read as strings and lists as JSON, so a malformed list reaches parse_config as
# the raw text and fails there with the key's name.
raw: dict[str, object] = {}
for key in ("githubOwner", "githubRepo", "defaultBranch", "stateBucket", "existingOidcProviderArn"):
    if (text := config.get(key)) is not None:
        raw[key] = text
for key in ("deployEnvironments", "regions"):
    if (text := config.get(key)) is not None:
        try:
            raw[key] = json.loads(text)
        except ValueError:
            raw[key] = text
settings = parse_config(raw, aws.config.region)
tags = {"project": "ecr-eks-lambda", "managed-by": "pulumi", "purpose": "github-actions-oidc"}

if settings.existing_oidc_provider_arn:
    provider_arn: pulumi.Input[str] = settings.existing_oidc_provider_arn
else:
    # No thumbprint: for GitHub, IAM verifies the certificate against its own trusted CAs.
    provider = aws.iam.OpenIdConnectProvider(
        "github-actions",
        aws.iam.OpenIdConnectProviderArgs(
            url=GITHUB_OIDC_URL, client_id_lists=[AUDIENCE], tags=tags
        ),
    )
    provider_arn = provider.arn

account_id = aws.get_caller_identity_output().account_id
repo = settings.repository

deploy_role = aws.iam.Role(
    "github-deploy",
    aws.iam.RoleArgs(
        description=f"pulumi up from GitHub Actions environments of {repo}",
        assume_role_policy=pulumi.Output.from_input(provider_arn).apply(
            lambda arn: json.dumps(trust_policy(arn, settings.deploy_subjects()))
        ),
        # Creating a cluster and its node groups can outlast the default one-hour session;
        # the deploy jobs ask for 90 minutes, their own timeout.
        max_session_duration=7200,
        tags=tags,
    ),
)
aws.iam.RolePolicy(
    "github-deploy",
    aws.iam.RolePolicyArgs(
        role=deploy_role.name,
        policy=account_id.apply(lambda account: json.dumps(deploy_policy(settings, account))),
    ),
)

preview_role = aws.iam.Role(
    "github-preview",
    aws.iam.RoleArgs(
        description=f"pulumi preview/refresh from pull requests and {settings.default_branch} "
        f"of {repo}",
        assume_role_policy=pulumi.Output.from_input(provider_arn).apply(
            lambda arn: json.dumps(trust_policy(arn, settings.preview_subjects()))
        ),
        max_session_duration=3600,
        tags=tags,
    ),
)
aws.iam.RolePolicyAttachment(
    "github-preview-read-only",
    aws.iam.RolePolicyAttachmentArgs(role=preview_role.name, policy_arn=READ_ONLY_MANAGED_POLICY),
)
aws.iam.RolePolicy(
    "github-preview",
    aws.iam.RolePolicyArgs(
        role=preview_role.name, policy=json.dumps(preview_deny_policy(settings))
    ),
)

pulumi.export("oidcProviderArn", provider_arn)
pulumi.export("deployRoleArn", deploy_role.arn)
pulumi.export("previewRoleArn", preview_role.arn)
