"""The bootstrap program (bootstrap/) run whole under recording Pulumi mocks, its config
validation, and its trust policies linted with parliament."""

from __future__ import annotations

import ast
import contextlib
import fnmatch
import json
import runpy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import parliament
import pulumi
import pulumi.runtime
import pytest
import yaml

from bootstrap import github_oidc
from bootstrap.github_oidc import (
    FLOW_LOG_ROLE_PATTERN,
    BootstrapConfigError,
    deploy_policy,
    parse_config,
    preview_deny_policy,
    trust_policy,
)

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "bootstrap" / "__main__.py"
PROJECT = "ecr-eks-lambda-bootstrap"
ACCOUNT = "111122223333"
HOST = "token.actions.githubusercontent.com"
BASE_CONFIG = {
    "aws:region": "eu-west-1",
    f"{PROJECT}:githubOwner": "acme",
    f"{PROJECT}:githubRepo": "ecr-eks-lambda",
}


@dataclass(frozen=True)
class Recorded:
    type: str
    name: str
    inputs: dict[str, Any]


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Recorded] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(Recorded(args.typ, args.name, dict(args.inputs)))
        outputs = dict(args.inputs)
        if args.typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            outputs["arn"] = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
        elif args.typ == "aws:iam/role:Role":
            outputs |= {
                "name": f"{args.name}-1a2b3c4",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/{args.name}-1a2b3c4",
            }
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return (
                {
                    "accountId": ACCOUNT,
                    "arn": f"arn:aws:iam::{ACCOUNT}:user/admin",
                    "userId": "AIDA",
                    "id": ACCOUNT,
                },
                [],
            )
        raise AssertionError(f"unexpected invoke {args.token}")


def run_bootstrap(config: dict[str, str]) -> list[Recorded]:
    """Runs bootstrap/__main__.py once under mocks and returns every registration."""
    mocks = RecordingMocks()
    pulumi.runtime.settings.ROOT.set(None)  # the root stack survives between runs otherwise
    pulumi.runtime.set_all_config(config)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="github", preview=False)
    # The program imports its sibling module by name (the CLI runs the directory); hand it
    # the module the tests import, so its exception classes are the same objects.
    sys.modules["github_oidc"] = github_oidc
    try:
        pulumi.runtime.test(lambda: runpy.run_path(str(PROGRAM), run_name="__main__"))()
    finally:
        del sys.modules["github_oidc"]
    return mocks.resources


def one(resources: list[Recorded], type_: str, name: str | None = None) -> Recorded:
    matches = [r for r in resources if r.type == type_ and (name is None or r.name == name)]
    assert len(matches) == 1, [(r.type, r.name) for r in resources]
    return matches[0]


@pytest.fixture(scope="module")
def created() -> list[Recorded]:
    return run_bootstrap(BASE_CONFIG)


@pytest.fixture(scope="module")
def reused() -> list[Recorded]:
    return run_bootstrap(
        BASE_CONFIG
        | {
            f"{PROJECT}:existingOidcProviderArn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}",
            f"{PROJECT}:deployEnvironments": '["staging", "prod"]',
            f"{PROJECT}:stateBucket": "acme-pulumi-state",
        }
    )


def trust_of(role: Recorded) -> dict[str, Any]:
    return json.loads(role.inputs["assumeRolePolicy"])


def test_registers_exactly_the_provider_two_roles_and_their_policies(created):
    assert sorted((r.type, r.name) for r in created) == sorted(
        [
            ("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "github-actions"),
            ("aws:iam/role:Role", "github-deploy"),
            ("aws:iam/rolePolicy:RolePolicy", "github-deploy"),
            ("aws:iam/role:Role", "github-preview"),
            ("aws:iam/rolePolicy:RolePolicy", "github-preview"),
            ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "github-preview-read-only"),
        ]
    )


def test_oidc_provider_is_github_for_sts(created):
    provider = one(created, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.inputs["url"] == f"https://{HOST}"
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]


def test_deploy_role_trusts_only_this_repositorys_environments(created):
    (statement,) = trust_of(one(created, "aws:iam/role:Role", "github-deploy"))["Statement"]
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{HOST}:aud": "sts.amazonaws.com",
            f"{HOST}:sub": [
                "repo:acme/ecr-eks-lambda:environment:dev",
                "repo:acme/ecr-eks-lambda:environment:prod",
            ],
        }
    }


def test_preview_role_trusts_pull_requests_and_the_default_branch(created):
    (statement,) = trust_of(one(created, "aws:iam/role:Role", "github-preview"))["Statement"]
    assert statement["Condition"]["StringEquals"][f"{HOST}:sub"] == [
        "repo:acme/ecr-eks-lambda:pull_request",
        "repo:acme/ecr-eks-lambda:ref:refs/heads/main",
    ]
    assert "StringLike" not in statement["Condition"]


def test_role_sessions_fit_the_jobs_that_use_them(created):
    # deploy.yml asks for 5400 s (its job timeout); preview jobs use the default hour.
    assert one(created, "aws:iam/role:Role", "github-deploy").inputs["maxSessionDuration"] == 7200
    assert one(created, "aws:iam/role:Role", "github-preview").inputs["maxSessionDuration"] == 3600


def test_deploy_policy_is_attached_to_the_deploy_role_and_scoped_to_account_and_region(created):
    policy = one(created, "aws:iam/rolePolicy:RolePolicy", "github-deploy")
    assert policy.inputs["role"] == "github-deploy-1a2b3c4"
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert statements["ManageProgramServices"]["Condition"] == {
        "StringEquals": {"aws:RequestedRegion": ["eu-west-1"]}
    }
    assert all(
        r.startswith(f"arn:aws:iam::{ACCOUNT}:") for r in statements["ManageProgramIam"]["Resource"]
    )
    assert not any(
        a.startswith("iam:") and "*" in a for a in statements["ManageProgramIam"]["Action"]
    )
    assert statements["PassProgramRoles"]["Condition"]["StringEquals"]["iam:PassedToService"]
    assert "PulumiStateObjects" not in statements
    # The flow-log role is passed without a service condition, so only that role may be.
    flow_logs = statements["PassFlowLogRole"]
    assert flow_logs["Action"] == "iam:PassRole"
    assert flow_logs["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/*-flow-logs-role-*"
    assert "Condition" not in flow_logs


def test_the_pass_role_pattern_names_the_networks_flow_log_role():
    # Pulumi's auto-name: the logical name, a dash and 7 random characters.
    source = (ROOT / "components" / "network.py").read_text()
    assert 'f"{name}-flow-logs-role"' in source
    assert fnmatch.fnmatchcase("network-flow-logs-role-1a2b3c4", FLOW_LOG_ROLE_PATTERN)
    assert not fnmatch.fnmatchcase("cluster-node-role-1a2b3c4", FLOW_LOG_ROLE_PATTERN)


def test_preview_role_is_read_only_without_data_reads(created):
    attachment = one(created, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs == {
        "role": "github-preview-1a2b3c4",
        "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
    }
    policy = json.loads(
        one(created, "aws:iam/rolePolicy:RolePolicy", "github-preview").inputs["policy"]
    )
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny"
    assert {"s3:GetObject", "sqs:ReceiveMessage", "dynamodb:Scan"} <= set(deny["Action"])


def test_existing_provider_is_reused_and_config_lists_apply(reused):
    assert not [r for r in reused if r.type.endswith("OpenIdConnectProvider")]
    (statement,) = trust_of(one(reused, "aws:iam/role:Role", "github-deploy"))["Statement"]
    assert statement["Principal"]["Federated"] == f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
    assert statement["Condition"]["StringEquals"][f"{HOST}:sub"] == [
        "repo:acme/ecr-eks-lambda:environment:prod",
        "repo:acme/ecr-eks-lambda:environment:staging",
    ]
    policy = json.loads(
        one(reused, "aws:iam/rolePolicy:RolePolicy", "github-deploy").inputs["policy"]
    )
    sids = {s["Sid"]: s for s in policy["Statement"]}
    assert sids["PulumiStateObjects"]["Resource"] == "arn:aws:s3:::acme-pulumi-state/*"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("githubOwner", None),
        ("githubOwner", "-acme"),
        ("githubOwner", "ac*me"),
        ("githubRepo", "ecr/eks"),
        ("githubRepo", ""),
        ("deployEnvironments", '["dev", "pr*d"]'),
        ("deployEnvironments", "[]"),
        ("deployEnvironments", '["dev", "dev"]'),
        ("deployEnvironments", "dev"),
        ("defaultBranch", "release/*"),
        ("regions", '["eu-west"]'),
        ("stateBucket", "Not_A_Bucket"),
        ("existingOidcProviderArn", "arn:aws:iam::123:oidc-provider/example.com"),
    ],
)
def test_bad_config_stops_the_program_before_any_resource(key, value):
    config = {k: v for k, v in BASE_CONFIG.items() if not k.endswith(f":{key}")}
    if value is not None:
        config[f"{PROJECT}:{key}"] = value
    with pytest.raises(BootstrapConfigError) as info:
        run_bootstrap(config)
    assert info.value.key == key
    assert f"config {key}=" in str(info.value)


def test_bad_config_registers_nothing():
    mocks_resources: list[Recorded] = []
    with contextlib.suppress(BootstrapConfigError):
        mocks_resources = run_bootstrap({**BASE_CONFIG, f"{PROJECT}:githubRepo": "a/b"})
    assert mocks_resources == []


def test_region_is_required_somewhere():
    with pytest.raises(BootstrapConfigError, match="regions"):
        parse_config({"githubOwner": "acme", "githubRepo": "r"}, None)


# ------------------------------------------------------------------------------------------
# parliament (AWS policy linter) over every document the program writes
# ------------------------------------------------------------------------------------------


def lint(document: dict[str, Any]) -> list[tuple[str, str]]:
    policy = parliament.analyze_policy_string(json.dumps(document), ignore_private_auditors=True)
    return [(f.issue, str(f.detail)) for f in policy.findings]


SETTINGS = parse_config(
    {"githubOwner": "acme", "githubRepo": "ecr-eks-lambda", "stateBucket": "acme-state"},
    "eu-west-1",
)
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
# parliament lints every document as an identity policy and knows only SAML providers and four
# web-identity hosts as federated principals, so it reports these two on any correct GitHub OIDC
# trust policy (IAM rejects a Resource element in a trust policy). Nothing else is accepted.
TRUST_POLICY_FALSE_POSITIVES = [
    ("MALFORMED", "Statement contains neither Resource nor NotResource"),
    ("UNKNOWN_FEDERATION_SOURCE", PROVIDER_ARN),
]


@pytest.mark.parametrize("subjects", [SETTINGS.deploy_subjects(), SETTINGS.preview_subjects()])
def test_trust_policies_have_no_parliament_findings(subjects):
    findings = lint(trust_policy(PROVIDER_ARN, subjects))
    assert sorted(findings) == sorted(TRUST_POLICY_FALSE_POSITIVES)


@pytest.mark.parametrize(
    ("field", "value", "issue"),
    [
        ("Principal", {"Federated": "evil.example.com"}, "UNKNOWN_FEDERATION_SOURCE"),
        ("Effect", "Alow", "MALFORMED"),
    ],
)
def test_parliament_flags_a_broken_trust_policy(field, value, issue):
    document = trust_policy(PROVIDER_ARN, SETTINGS.deploy_subjects())
    document["Statement"][0][field] = value
    assert issue in {i for i, _ in lint(document) if (i, _) not in TRUST_POLICY_FALSE_POSITIVES}


def test_permission_policies_have_only_the_documented_parliament_finding():
    assert lint(preview_deny_policy(SETTINGS)) == []
    # The one deliberate finding: service-level actions on "*" for the services the program
    # manages (see DEPLOY_SERVICES), bounded by the region condition.
    findings = lint(deploy_policy(SETTINGS, ACCOUNT))
    assert [issue for issue, _ in findings] == ["RESOURCE_STAR"]
    assert all(
        a.split(":")[0] in github_oidc.DEPLOY_SERVICES for a in ast.literal_eval(findings[0][1])
    )


def test_pulumi_yaml_declares_the_keys_the_program_reads_with_the_same_defaults():
    project = yaml.safe_load((PROGRAM.parent / "Pulumi.yaml").read_text())
    assert project["name"] == PROJECT
    declared = project["config"]
    assert set(declared) == {"githubOwner", "githubRepo", "deployEnvironments", "defaultBranch"}
    program_text = PROGRAM.read_text()
    for key in [*declared, "regions", "stateBucket", "existingOidcProviderArn"]:
        assert f'"{key}"' in program_text, key
    defaults = parse_config({"githubOwner": "o", "githubRepo": "r"}, "eu-west-1")
    assert declared["deployEnvironments"]["default"] == list(defaults.deploy_environments)
    assert declared["defaultBranch"]["default"] == defaults.default_branch
    # Required keys have no default, so the CLI refuses to run without them.
    assert "default" not in declared["githubOwner"]
    assert "default" not in declared["githubRepo"]


def test_the_example_stack_file_is_valid_config():
    example = yaml.safe_load((PROGRAM.parent / "Pulumi.example.yaml").read_text())["config"]
    prefix = f"{PROJECT}:"
    raw = {k.removeprefix(prefix): v for k, v in example.items() if k.startswith(prefix)}
    settings = parse_config(raw, example["aws:region"])
    assert settings.repository == "your-org/ecr-eks-lambda"
    assert settings.regions == ("eu-west-1",)
