"""Creates what CI needs before it can deploy anything, once per AWS account (one account per
stack is the recommended layout):

- GitHub's OIDC identity provider and two roles only this repository's workflows can assume:
  the deploy role (jobs in the configured GitHub environments; `pulumi up`) and the preview
  role (pull requests and the default branch; `pulumi preview`, the drift check). Both are
  AWS's ReadOnlyAccess minus reads of data; the deploy role may change only what carries the
  main program's tag, and create IAM roles only under the program's path and with the
  permissions boundary created here;
- the permissions boundary: the most any role of the main program may ever do;
- the CodeBuild-hosted GitHub Actions runners the workflows run on, with one fixed egress
  address for the stacks' EKS endpoints;
- with `stateBucket`, a self-managed Pulumi backend (bucket and `awskms` key).

Run it as an administrator of the account (see docs/delivery.md).
"""

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
from github_oidc import (  # the CLI runs this directory, so siblings import by name
    AUDIENCE,
    GITHUB_OIDC_URL,
    BootstrapConfigError,
    parse_config,
    trust_policy,
)
from iam_policies import (
    BOOTSTRAP_TAG,
    BOUNDARY_POLICY_NAME,
    CI_PATH,
    INLINE_POLICIES_LIMIT,
    PROGRAM,
    READ_ONLY_MANAGED_POLICY,
    TAG_KEY,
    AccountScope,
    StateAccess,
    boundary_policy,
    deploy_iam_policy,
    deploy_inline_size,
    deploy_services_policy,
    preview_policy,
)
from runner import CiRunner, CiRunnerArgs
from state_backend import StateBackend, StateBackendArgs

config = pulumi.Config()
# Strings are read as strings and lists as JSON, so a malformed list reaches parse_config as
# the raw text and fails there with the key's name.
raw: dict[str, object] = {}
for key in (
    "githubOwner",
    "githubRepo",
    "defaultBranch",
    "stateBucket",
    "existingOidcProviderArn",
    "githubConnectionArn",
    "runnerProjectName",
):
    if (text := config.get(key)) is not None:
        raw[key] = text
for key in ("deployEnvironments", "regions", "runnerActorIds"):
    if (text := config.get(key)) is not None:
        try:
            raw[key] = json.loads(text)
        except ValueError:
            raw[key] = text
region = aws.config.region
if not region:
    raise BootstrapConfigError(
        "aws:region", None, "the region of the runner (and state bucket), e.g. eu-west-1"
    )
settings = parse_config(raw, region, pulumi.get_stack())
if (inline := deploy_inline_size(settings.regions, settings.state_bucket)) > INLINE_POLICIES_LIMIT:
    raise BootstrapConfigError(
        "regions",
        list(settings.regions),
        f"fewer regions: the deploy role's policies would take {inline} characters, above "
        f"IAM's {INLINE_POLICIES_LIMIT} for a role's inline policies",
    )

# Every taggable resource carries the bootstrap's own tag, never the main program's: the
# deploy role's tag-scoped permissions must not reach the runner, the state bucket or its key.
provider = aws.Provider(
    "aws",
    aws.ProviderArgs(
        region=region,
        default_tags=aws.ProviderDefaultTagsArgs(
            tags={TAG_KEY: BOOTSTRAP_TAG, "managed-by": "pulumi", "purpose": "github-actions-ci"}
        ),
    ),
)
with_aws = pulumi.ResourceOptions(provider=provider)
invoke = pulumi.InvokeOutputOptions(provider=provider)
identity = aws.get_caller_identity_output(opts=invoke)
partition = aws.get_partition_output(opts=invoke).partition
scope = pulumi.Output.all(identity.account_id, partition).apply(
    lambda values: AccountScope(partition=values[1], account=values[0], regions=settings.regions)
)
read_only = scope.apply(lambda s: s.aws_managed_policy(READ_ONLY_MANAGED_POLICY))
repo = settings.repository

if settings.existing_oidc_provider_arn:
    provider_arn: pulumi.Input[str] = settings.existing_oidc_provider_arn
else:
    # No thumbprint: for GitHub, IAM verifies the certificate against its own trusted CAs.
    provider_arn = aws.iam.OpenIdConnectProvider(
        "github-actions",
        aws.iam.OpenIdConnectProviderArgs(url=GITHUB_OIDC_URL, client_id_lists=[AUDIENCE]),
        with_aws,
    ).arn

# A fixed name: the program's stacks and the deploy role's conditions name it by its ARN.
boundary = aws.iam.Policy(
    "program-boundary",
    aws.iam.PolicyArgs(
        name=BOUNDARY_POLICY_NAME,
        path="/",
        description="Permissions boundary of every IAM role the ecr-eks-lambda program creates",
        policy=scope.apply(lambda s: json.dumps(boundary_policy(s))),
    ),
    with_aws,
)

backend = (
    StateBackend(
        "state",
        StateBackendArgs(
            bucket_name=settings.state_bucket,
            region=region,
            key_alias=f"alias/{PROGRAM}-pulumi-secrets",
        ),
        with_aws,
    )
    if settings.state_bucket
    else None
)
state: pulumi.Output[StateAccess | None] = (
    backend.key.arn.apply(lambda arn: StateAccess(bucket=settings.state_bucket or "", key_arn=arn))
    if backend
    else pulumi.Output.from_input(None)
)


def github_role(name: str, description: str, subjects: list[str], session: int) -> aws.iam.Role:
    """A role that GitHub's OIDC tokens for `subjects` (and nothing else) may assume, with
    AWS's ReadOnlyAccess; callers add what it may change."""
    role = aws.iam.Role(
        name,
        aws.iam.RoleArgs(
            path=CI_PATH,
            description=description,
            assume_role_policy=pulumi.Output.from_input(provider_arn).apply(
                lambda arn: json.dumps(trust_policy(arn, subjects))
            ),
            max_session_duration=session,
        ),
        with_aws,
    )
    aws.iam.RolePolicyAttachment(
        f"{name}-read-only",
        aws.iam.RolePolicyAttachmentArgs(role=role.name, policy_arn=read_only),
        with_aws,
    )
    return role


def role_policy(
    name: str,
    role: aws.iam.Role,
    build: Callable[[AccountScope, StateAccess | None], dict[str, Any]],
) -> None:
    """An inline policy of `role`, built once the account (and the state's key) are known."""
    aws.iam.RolePolicy(
        name,
        aws.iam.RolePolicyArgs(
            role=role.name,
            policy=pulumi.Output.all(scope, state).apply(
                lambda values: json.dumps(build(values[0], values[1]))
            ),
        ),
        with_aws,
    )


deploy_role = github_role(
    "github-deploy",
    f"pulumi up from GitHub Actions environments of {repo}",
    settings.deploy_subjects(),
    # Creating a cluster and its node groups can outlast the default one-hour session; the
    # deploy jobs ask for 90 minutes, their own timeout.
    7200,
)
role_policy("github-deploy-iam", deploy_role, lambda s, _: deploy_iam_policy(s))
role_policy("github-deploy-services", deploy_role, deploy_services_policy)
preview_role = github_role(
    "github-preview",
    f"pulumi preview/refresh from pull requests and {settings.default_branch} of {repo}",
    settings.preview_subjects(),
    3600,
)
role_policy("github-preview", preview_role, preview_policy)

runner = CiRunner(
    "runner",
    CiRunnerArgs(
        project_name=settings.runner_project_name,
        repository_url=settings.repository_url,
        connection_arn=settings.github_connection_arn,
        actor_ids=settings.runner_actor_ids,
        scope=scope,
        region=region,
        role_path=CI_PATH,
    ),
    with_aws,
)

pulumi.export("oidcProviderArn", provider_arn)
pulumi.export("deployRoleArn", deploy_role.arn)
pulumi.export("previewRoleArn", preview_role.arn)
pulumi.export("permissionsBoundaryArn", boundary.arn)
pulumi.export("runnerProjectName", runner.project.name)
pulumi.export("runnerEgressCidr", runner.egress_cidr)
if backend:
    pulumi.export("stateBackendUrl", backend.backend_url)
    pulumi.export("secretsProvider", backend.secrets_provider)
