"""Config and trust policies of the bootstrap program (pure functions, no resources).

GitHub's OIDC tokens name the workflow run in the `sub` claim; with GitHub's default claim
template the forms are (docs.github.com, "About security hardening with OpenID Connect"):

- a job that references an environment:  repo:OWNER/REPO:environment:NAME
- a pull_request event (no environment): repo:OWNER/REPO:pull_request
- a branch (push, schedule, dispatch):    repo:OWNER/REPO:ref:refs/heads/BRANCH

The trust policies match `sub` with StringEquals against exact values, never StringLike
patterns, so a new branch, a fork or another repository can never assume the roles.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
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
# AWS CodeConnections (formerly CodeStar Connections) connection ARNs; both service prefixes
# are in use and an IAM policy must name the one the ARN has.
_CONNECTION_ARN_RE: Final = re.compile(
    r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:"
    r"connection/[0-9a-f-]{36}$"
)
# CodeBuild project names: 2-255 of letters, digits, hyphens and underscores, starting with a
# letter or digit (CodeBuild API reference, CreateProject `name`).
_PROJECT_NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,254}$")
# GitHub account IDs are the numeric `id` of a user (never the login, which can be renamed).
_ACCOUNT_ID_RE: Final = re.compile(r"^[1-9][0-9]{0,19}$")


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
    """Name of the S3 bucket of a self-managed Pulumi backend that this program creates, with
    its KMS key for the `awskms` secrets provider (None with Pulumi Cloud)."""
    existing_oidc_provider_arn: str | None
    """Reuse this account's GitHub OIDC provider instead of creating one (IAM allows only one
    provider per URL per account)."""
    github_connection_arn: str
    """The AWS CodeConnections connection to GitHub (made once by hand) that the CodeBuild
    runner project uses to register its runners."""
    runner_project_name: str
    """Name of the CodeBuild project; jobs ask for `codebuild-<name>-<run id>-<attempt>`.
    It must differ between accounts: every project hooked to the repository sees every job."""
    runner_actor_ids: tuple[str, ...]
    """GitHub account IDs whose workflow jobs may start a runner build (empty: anyone whose
    job GitHub queues)."""

    @property
    def repository(self) -> str:
        return f"{self.github_owner}/{self.github_repo}"

    @property
    def repository_url(self) -> str:
        return f"https://github.com/{self.repository}"

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


def _optional_string(
    raw: Mapping[str, Any], key: str, pattern: re.Pattern[str], allowed: str
) -> str | None:
    return None if raw.get(key) is None else _string(raw, key, pattern, f"{allowed}, or unset")


def _string_list(
    raw: Mapping[str, Any],
    key: str,
    default: Sequence[str],
    pattern: re.Pattern[str],
    allowed: str,
    *,
    may_be_empty: bool = False,
) -> tuple[str, ...]:
    value = raw.get(key, list(default))
    if (
        not isinstance(value, list)
        or (not value and not may_be_empty)
        or not all(isinstance(v, str) and pattern.match(v) for v in value)
    ):
        size = "a" if may_be_empty else "a non-empty"
        raise BootstrapConfigError(key, value, f"{size} list, each item {allowed}")
    if len(set(value)) != len(value):
        raise BootstrapConfigError(key, value, "a list without duplicates")
    return tuple(value)


REPO_ROOT: Final = Path(__file__).resolve().parent.parent


def program_stacks(root: Path = REPO_ROOT) -> tuple[str, ...]:
    """The main program's stacks (one per Pulumi.<stack>.yaml in the repository root), as
    the workflows list them (.github/scripts/ci_stacks.py): the deploy environments unless
    deployEnvironments names this account's."""
    spec = importlib.util.spec_from_file_location(
        "ci_stacks", root / ".github" / "scripts" / "ci_stacks.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.stacks(root))


def parse_config(
    raw: Mapping[str, Any], default_region: str | None, stack: str = "bootstrap"
) -> BootstrapConfig:
    """Validates the bootstrap stack's config (keys as in Pulumi.yaml, values already decoded
    from YAML/JSON) before any resource is created. `stack` (the bootstrap stack's name, one
    per AWS account) names the runner project unless `runnerProjectName` does."""
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
        program_stacks(),
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
    bucket = _optional_string(
        raw, "stateBucket", _BUCKET_RE, "an S3 bucket name (3-63 of a-z 0-9 . -)"
    )
    provider = _optional_string(
        raw,
        "existingOidcProviderArn",
        _PROVIDER_ARN_RE,
        f"arn:aws:iam::<12-digit account>:oidc-provider/{GITHUB_OIDC_HOST}",
    )
    connection = _string(
        raw,
        "githubConnectionArn",
        _CONNECTION_ARN_RE,
        "the ARN of an AWS CodeConnections connection to GitHub, "
        "arn:aws:codeconnections:<region>:<account>:connection/<uuid> (see docs/delivery.md)",
    )
    project = raw.get("runnerProjectName", f"{repo}-{stack}")
    if not isinstance(project, str) or not _PROJECT_NAME_RE.match(project):
        raise BootstrapConfigError(
            "runnerProjectName",
            project,
            "a CodeBuild project name (2-255 of A-Z a-z 0-9 - _, starting with a letter or digit)",
        )
    actors = _string_list(
        raw,
        "runnerActorIds",
        (),
        _ACCOUNT_ID_RE,
        "a numeric GitHub account ID (https://api.github.com/users/<login> shows `id`)",
        may_be_empty=True,
    )
    return BootstrapConfig(
        github_owner=owner,
        github_repo=repo,
        deploy_environments=environments,
        default_branch=branch,
        regions=regions,
        state_bucket=bucket,
        existing_oidc_provider_arn=provider,
        github_connection_arn=connection,
        runner_project_name=project,
        runner_actor_ids=actors,
    )


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


def service_trust_policy(service: str, source_account: str, source_arn: str) -> dict[str, Any]:
    """A role only `service` may assume, and only for `source_arn` (an ARN pattern) in
    `source_account`: AWS's guard against the cross-service confused deputy."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": source_account},
                    "ArnLike": {"aws:SourceArn": source_arn},
                },
            }
        ],
    }
