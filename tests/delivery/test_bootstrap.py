"""The bootstrap program (bootstrap/) run whole under recording Pulumi mocks, its config
validation, and every IAM document it writes linted with parliament."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import parliament
import pytest
import yaml

from components.iam import ROLE_PATH
from tests.delivery.bootstrap_program import (
    ACCOUNT,
    BASE_CONFIG,
    CONNECTION_ARN,
    EGRESS_IP,
    HOST,
    PROGRAM,
    PROJECT,
    PROVIDER_ARN,
    REGION,
    ZONES,
    Recorded,
    Run,
    github_oidc,
    iam_policies,
    one,
    run_bootstrap,
)
from tests.stacks import STACKS

BootstrapConfigError = github_oidc.BootstrapConfigError
parse_config = github_oidc.parse_config
SCOPE = iam_policies.AccountScope("aws", ACCOUNT, (REGION,))
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
PROJECT_NAME = "ecr-eks-lambda-dev-account"  # <githubRepo>-<bootstrap stack>


@pytest.fixture(scope="module")
def created() -> Run:
    return run_bootstrap(BASE_CONFIG)


@pytest.fixture(scope="module")
def reused() -> Run:
    return run_bootstrap(
        BASE_CONFIG
        | {
            f"{PROJECT}:existingOidcProviderArn": PROVIDER_ARN,
            f"{PROJECT}:deployEnvironments": '["staging", "prod"]',
            f"{PROJECT}:stateBucket": "acme-pulumi-state",
            f"{PROJECT}:runnerProjectName": "acme-ci-prod",
            f"{PROJECT}:runnerActorIds": '["583231", "9919"]',
        }
    )


def trust_of(role: Recorded) -> dict[str, Any]:
    return json.loads(role.inputs["assumeRolePolicy"])


def policy_of(resource: Recorded) -> dict[str, Any]:
    return json.loads(resource.inputs["policy"])


def names(run: Run) -> set[tuple[str, str]]:
    return {(r.type, r.name) for r in run.resources}


RUNNER = {
    ("ecr-eks-lambda:components:CiRunner", "runner"),
    ("aws:ec2/vpc:Vpc", "runner-vpc"),
    ("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "runner-default-sg"),
    ("aws:ec2/internetGateway:InternetGateway", "runner-igw"),
    ("aws:ec2/subnet:Subnet", "runner-public"),
    ("aws:ec2/routeTable:RouteTable", "runner-public-rt"),
    ("aws:ec2/routeTableAssociation:RouteTableAssociation", "runner-public-rta"),
    ("aws:ec2/eip:Eip", "runner-egress-ip"),
    ("aws:ec2/natGateway:NatGateway", "runner-nat"),
    ("aws:ec2/subnet:Subnet", "runner-builds"),
    ("aws:ec2/routeTable:RouteTable", "runner-builds-rt"),
    ("aws:ec2/routeTableAssociation:RouteTableAssociation", "runner-builds-rta"),
    ("aws:ec2/securityGroup:SecurityGroup", "runner-sg"),
    ("aws:cloudwatch/logGroup:LogGroup", "runner-flow-logs"),
    (ROLE, "runner-flow-logs-role"),
    (ROLE_POLICY, "runner-flow-logs-policy"),
    ("aws:ec2/flowLog:FlowLog", "runner-flow-log"),
    ("aws:cloudwatch/logGroup:LogGroup", "runner-build-logs"),
    (ROLE, "runner-service-role"),
    (ROLE_POLICY, "runner-service-policy"),
    ("aws:codebuild/project:Project", "runner-project"),
    ("aws:codebuild/webhook:Webhook", "runner-webhook"),
}
STATE = {
    ("ecr-eks-lambda:components:StateBackend", "state"),
    ("aws:kms/key:Key", "state-key"),
    ("aws:kms/alias:Alias", "state-key-alias"),
    ("aws:s3/bucket:Bucket", "state-bucket"),
    ("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "state-ownership"),
    ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "state-public-access-block"),
    ("aws:s3/bucketVersioning:BucketVersioning", "state-versioning"),
    (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "state-encryption",
    ),
    ("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "state-lifecycle"),
    ("aws:s3/bucketPolicy:BucketPolicy", "state-tls-only"),
}
ROLES = {
    ("pulumi:providers:aws", "aws"),
    ("aws:iam/policy:Policy", "program-boundary"),
    (ROLE, "github-deploy"),
    (ATTACHMENT, "github-deploy-read-only"),
    (ROLE_POLICY, "github-deploy-iam"),
    (ROLE_POLICY, "github-deploy-services"),
    (ROLE, "github-preview"),
    (ATTACHMENT, "github-preview-read-only"),
    (ROLE_POLICY, "github-preview"),
}


def test_registers_the_provider_the_roles_the_boundary_and_the_runner(created, reused):
    assert len(created.resources) == len(names(created))
    assert names(created) == ROLES | RUNNER | {
        ("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "github-actions")
    }
    assert names(reused) == ROLES | RUNNER | STATE


def test_every_aws_resource_goes_through_the_provider_with_the_bootstraps_own_tags(created):
    provider = one(created.resources, "pulumi:providers:aws")
    tags = json.loads(provider.inputs["defaultTags"])["tags"]
    # Never the main program's tag value: its deploy role changes what carries that tag.
    assert tags == {
        "project": "ecr-eks-lambda-bootstrap",
        "managed-by": "pulumi",
        "purpose": "github-actions-ci",
    }
    assert provider.inputs["region"] == REGION
    custom = [r for r in created.resources if r.type.startswith("aws:")]
    assert len(custom) == 30
    assert {r.provider for r in custom} == {
        f"urn:pulumi:dev-account::{PROJECT}::pulumi:pulumi:Stack$pulumi:providers:aws::aws::aws-id"
    }


def test_oidc_provider_is_github_for_sts(created):
    provider = one(created.resources, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.inputs["url"] == f"https://{HOST}"
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]


def test_deploy_role_trusts_only_this_repositorys_environments(created):
    (statement,) = trust_of(one(created.resources, ROLE, "github-deploy"))["Statement"]
    assert statement["Principal"] == {"Federated": PROVIDER_ARN}
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
    (statement,) = trust_of(one(created.resources, ROLE, "github-preview"))["Statement"]
    assert statement["Condition"]["StringEquals"][f"{HOST}:sub"] == [
        "repo:acme/ecr-eks-lambda:pull_request",
        "repo:acme/ecr-eks-lambda:ref:refs/heads/main",
    ]
    assert "StringLike" not in statement["Condition"]


def test_role_sessions_fit_the_jobs_that_use_them(created):
    # stack.yml asks for 5400 s for `up` (its job timeout); previews use the default hour.
    assert one(created.resources, ROLE, "github-deploy").inputs["maxSessionDuration"] == 7200
    assert one(created.resources, ROLE, "github-preview").inputs["maxSessionDuration"] == 3600


def test_every_role_of_this_program_lives_outside_the_main_programs_path(created):
    roles = [r for r in created.resources if r.type == ROLE]
    assert len(roles) == 4
    assert {r.inputs["path"] for r in roles} == {"/ecr-eks-lambda-ci/"}
    assert iam_policies.PROGRAM_PATH == "/ecr-eks-lambda/"


def test_the_main_program_creates_its_roles_under_the_path_the_deploy_role_allows():
    assert ROLE_PATH == iam_policies.PROGRAM_PATH


@pytest.mark.parametrize("role", ["github-deploy", "github-preview"])
def test_both_github_roles_are_read_only_plus_their_own_policies(created, role):
    attachment = one(created.resources, ATTACHMENT, f"{role}-read-only")
    assert attachment.inputs == {
        "role": f"{role}-1a2b3c4",
        "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
    }


def test_the_roles_carry_the_documents_of_iam_policies(created, reused):
    state = iam_policies.StateAccess("acme-pulumi-state", KEY_ARN)
    for run, backend in ((created, None), (reused, state)):
        policies = {
            r.name: (r.inputs["role"], policy_of(r)) for r in run.resources if r.type == ROLE_POLICY
        }
        assert policies["github-deploy-iam"] == (
            "github-deploy-1a2b3c4",
            iam_policies.deploy_iam_policy(SCOPE),
        )
        assert policies["github-deploy-services"] == (
            "github-deploy-1a2b3c4",
            iam_policies.deploy_services_policy(SCOPE, backend),
        )
        assert policies["github-preview"] == (
            "github-preview-1a2b3c4",
            iam_policies.preview_policy(SCOPE, backend),
        )


def test_the_boundary_has_a_fixed_name_at_the_root_path_and_is_exported(created):
    boundary = one(created.resources, "aws:iam/policy:Policy", "program-boundary")
    assert boundary.inputs["name"] == "ecr-eks-lambda-boundary"
    assert boundary.inputs["path"] == "/"
    assert policy_of(boundary) == iam_policies.boundary_policy(SCOPE)
    assert created.outputs["permissionsBoundaryArn"] == (
        f"arn:aws:iam::{ACCOUNT}:policy/ecr-eks-lambda-boundary"
    )
    assert created.outputs["permissionsBoundaryArn"] == SCOPE.boundary_arn


def test_outputs_name_what_the_repository_variables_and_stacks_need(created, reused):
    assert created.outputs == {
        "oidcProviderArn": PROVIDER_ARN,
        "deployRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecr-eks-lambda-ci/github-deploy-1a2b3c4",
        "previewRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecr-eks-lambda-ci/github-preview-1a2b3c4",
        "permissionsBoundaryArn": SCOPE.boundary_arn,
        "runnerProjectName": "ecr-eks-lambda-dev-account",
        "runnerEgressCidr": f"{EGRESS_IP}/32",
    }
    assert reused.outputs["stateBackendUrl"] == "s3://acme-pulumi-state?region=eu-west-1"
    assert reused.outputs["secretsProvider"] == (
        "awskms://alias/ecr-eks-lambda-pulumi-secrets?region=eu-west-1"
    )
    assert reused.outputs["runnerProjectName"] == "acme-ci-prod"


def test_existing_provider_is_reused_and_config_lists_apply(reused):
    assert not [r for r in reused.resources if r.type.endswith("OpenIdConnectProvider")]
    (statement,) = trust_of(one(reused.resources, ROLE, "github-deploy"))["Statement"]
    assert statement["Principal"]["Federated"] == PROVIDER_ARN
    assert statement["Condition"]["StringEquals"][f"{HOST}:sub"] == [
        "repo:acme/ecr-eks-lambda:environment:prod",
        "repo:acme/ecr-eks-lambda:environment:staging",
    ]


# ------------------------------------------------------------------------------------------
# The self-managed backend
# ------------------------------------------------------------------------------------------


def test_the_state_bucket_is_private_versioned_encrypted_with_its_key_and_tls_only(reused):
    resources = reused.resources
    bucket = one(resources, "aws:s3/bucket:Bucket")
    assert bucket.inputs["bucket"] == "acme-pulumi-state"
    assert one(resources, "aws:s3/bucketVersioning:BucketVersioning").inputs[
        "versioningConfiguration"
    ] == {"status": "Enabled"}
    (rule,) = one(
        resources,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    ).inputs["rules"]
    assert rule == {
        "applyServerSideEncryptionByDefault": {
            "sseAlgorithm": "aws:kms",
            "kmsMasterKeyId": KEY_ARN,
        },
        "bucketKeyEnabled": True,
    }
    block = one(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert {k: block[k] for k in block if k != "bucket"} == {
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    ownership = one(resources, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    (deny,) = policy_of(one(resources, "aws:s3/bucketPolicy:BucketPolicy"))["Statement"]
    assert deny == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::acme-pulumi-state", "arn:aws:s3:::acme-pulumi-state/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    (lifecycle,) = one(
        resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    ).inputs["rules"]
    assert lifecycle["noncurrentVersionExpiration"] == {"noncurrentDays": 90}
    key = one(resources, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    alias = one(resources, "aws:kms/alias:Alias")
    assert alias.inputs["name"] == "alias/ecr-eks-lambda-pulumi-secrets"


# ------------------------------------------------------------------------------------------
# The CodeBuild runner
# ------------------------------------------------------------------------------------------


def test_runner_builds_leave_through_one_nat_gateway_on_one_elastic_ip(created):
    resources = created.resources
    vpc = one(resources, "aws:ec2/vpc:Vpc").inputs
    assert vpc["cidrBlock"] == "10.255.0.0/24"
    public = one(resources, "aws:ec2/subnet:Subnet", "runner-public").inputs
    builds = one(resources, "aws:ec2/subnet:Subnet", "runner-builds").inputs
    assert (public["cidrBlock"], builds["cidrBlock"]) == ("10.255.0.0/26", "10.255.0.64/26")
    assert public["availabilityZone"] == builds["availabilityZone"] == ZONES[0]
    assert public["mapPublicIpOnLaunch"] is builds["mapPublicIpOnLaunch"] is False
    nat = one(resources, "aws:ec2/natGateway:NatGateway").inputs
    assert nat == {"subnetId": "runner-public-id", "allocationId": "runner-egress-ip-id"}
    assert one(resources, "aws:ec2/eip:Eip").inputs == {"domain": "vpc"}
    routes = {
        r.name: r.inputs["routes"] for r in resources if r.type == "aws:ec2/routeTable:RouteTable"
    }
    assert routes["runner-public-rt"] == [{"cidrBlock": "0.0.0.0/0", "gatewayId": "runner-igw-id"}]
    assert routes["runner-builds-rt"] == [
        {"cidrBlock": "0.0.0.0/0", "natGatewayId": "runner-nat-id"}
    ]
    assert created.outputs["runnerEgressCidr"] == f"{EGRESS_IP}/32"


def test_runner_builds_may_only_open_https_connections_out(created):
    group = one(created.resources, "aws:ec2/securityGroup:SecurityGroup").inputs
    assert "ingress" not in group
    (egress,) = group["egress"]
    assert (egress["protocol"], egress["fromPort"], egress["toPort"]) == ("tcp", 443, 443)
    assert egress["cidrBlocks"] == ["0.0.0.0/0"]
    default = one(created.resources, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs
    assert default == {"vpcId": "runner-vpc-id"}


def test_runner_vpc_has_a_flow_log_of_all_traffic(created):
    flow_log = one(created.resources, "aws:ec2/flowLog:FlowLog").inputs
    assert flow_log["vpcId"] == "runner-vpc-id"
    assert flow_log["trafficType"] == "ALL"
    assert flow_log["iamRoleArn"].endswith(":role/ecr-eks-lambda-ci/runner-flow-logs-role-1a2b3c4")
    (statement,) = trust_of(one(created.resources, ROLE, "runner-flow-logs-role"))["Statement"]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/*"},
    }


def test_runner_project_runs_github_actions_jobs_in_its_vpc(created):
    project = one(created.resources, "aws:codebuild/project:Project").inputs
    assert project["name"] == "ecr-eks-lambda-dev-account"
    assert project["source"] == {
        "type": "GITHUB",
        "location": "https://github.com/acme/ecr-eks-lambda",
        "auth": {"type": "CODECONNECTIONS", "resource": CONNECTION_ARN},
    }
    assert project["artifacts"] == {"type": "NO_ARTIFACTS"}
    assert project["environment"] == {
        "type": "LINUX_CONTAINER",
        "computeType": "BUILD_GENERAL1_MEDIUM",
        "image": "aws/codebuild/standard:7.0",
        "imagePullCredentialsType": "CODEBUILD",
        "privilegedMode": True,
    }
    assert project["vpcConfig"] == {
        "vpcId": "runner-vpc-id",
        "subnets": ["runner-builds-id"],
        "securityGroupIds": ["runner-sg-id"],
    }
    assert project["logsConfig"]["cloudwatchLogs"] == {
        "status": "ENABLED",
        "groupName": "/aws/codebuild/ecr-eks-lambda-dev-account",
    }
    # Longer than the longest job (90 minutes), within CodeBuild's 5 to 2160 minutes.
    assert 90 < project["buildTimeout"] <= 2160
    assert 5 <= project["queuedTimeout"] <= 480
    assert project["serviceRole"].endswith(":role/ecr-eks-lambda-ci/runner-service-role-1a2b3c4")


def test_the_webhook_starts_a_build_for_queued_workflow_jobs_of_allowed_actors(created, reused):
    hook = one(created.resources, "aws:codebuild/webhook:Webhook").inputs
    assert hook == {
        "projectName": "ecr-eks-lambda-dev-account",
        "buildType": "BUILD",
        "filterGroups": [{"filters": [{"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"}]}],
    }
    (group,) = one(reused.resources, "aws:codebuild/webhook:Webhook").inputs["filterGroups"]
    assert group["filters"] == [
        {"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"},
        {"type": "ACTOR_ACCOUNT_ID", "pattern": "^(583231|9919)$"},
    ]


def test_the_runner_service_role_is_codebuilds_for_this_project_only(created):
    role = one(created.resources, ROLE, "runner-service-role")
    (statement,) = trust_of(role)["Statement"]
    assert statement["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {
            "aws:SourceArn": f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{PROJECT_NAME}"
        },
    }
    policy = one(created.resources, ROLE_POLICY, "runner-service-policy")
    assert policy_of(policy) == iam_policies.runner_service_policy(
        SCOPE,
        region=REGION,
        log_group_arn=f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/codebuild/{PROJECT_NAME}",
        subnet_arn=f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/runner-builds-id",
        security_group_arn=f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/runner-sg-id",
        connection_arn=CONNECTION_ARN,
    )


# ------------------------------------------------------------------------------------------
# Config
# ------------------------------------------------------------------------------------------


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
        ("regions", json.dumps([f"eu-west-{i}" for i in range(1, 40)])),
        ("stateBucket", "Not_A_Bucket"),
        ("existingOidcProviderArn", "arn:aws:iam::123:oidc-provider/example.com"),
        ("githubConnectionArn", None),
        ("githubConnectionArn", "arn:aws:codestar:eu-west-1:111122223333:connection/x"),
        ("runnerProjectName", "-ci"),
        ("runnerProjectName", "ci runner"),
        ("runnerActorIds", '["octocat"]'),
        ("runnerActorIds", "583231"),
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


def test_the_region_of_the_runner_is_required():
    config = {k: v for k, v in BASE_CONFIG.items() if k != "aws:region"}
    with pytest.raises(BootstrapConfigError, match="aws:region"):
        run_bootstrap(config)


def test_bad_config_registers_nothing():
    resources: list[Recorded] = []
    with contextlib.suppress(BootstrapConfigError):
        resources = run_bootstrap({**BASE_CONFIG, f"{PROJECT}:githubRepo": "a/b"}).resources
    assert resources == []


def test_both_connection_service_prefixes_are_accepted():
    for prefix in ("codeconnections", "codestar-connections"):
        connection = CONNECTION_ARN.replace("codeconnections", prefix)
        settings = parse_config(
            {"githubOwner": "o", "githubRepo": "r", "githubConnectionArn": connection},
            REGION,
            "prod",
        )
        assert settings.github_connection_arn == connection
        assert settings.runner_project_name == "r-prod"


def test_pulumi_yaml_declares_the_keys_the_program_reads_with_the_same_defaults():
    project = yaml.safe_load((PROGRAM.parent / "Pulumi.yaml").read_text())
    assert project["name"] == PROJECT
    declared = project["config"]
    assert set(declared) == {
        "githubOwner",
        "githubRepo",
        "githubConnectionArn",
        "deployEnvironments",
        "defaultBranch",
        "runnerActorIds",
    }
    program_text = PROGRAM.read_text()
    optional = ["regions", "stateBucket", "existingOidcProviderArn", "runnerProjectName"]
    for key in [*declared, *optional]:
        assert f'"{key}"' in program_text, key
        assert key in (PROGRAM.parent / "Pulumi.yaml").read_text()
    defaults = parse_config(
        {"githubOwner": "o", "githubRepo": "r", "githubConnectionArn": CONNECTION_ARN}, REGION
    )
    # The default is the program's stack files, so it is the program's, not Pulumi.yaml's.
    assert "default" not in declared["deployEnvironments"]
    assert defaults.deploy_environments == tuple(STACKS)
    assert declared["defaultBranch"]["default"] == defaults.default_branch
    assert declared["runnerActorIds"]["default"] == list(defaults.runner_actor_ids)
    # Required keys have no default, so the CLI refuses to run without them.
    for required in ("githubOwner", "githubRepo", "githubConnectionArn"):
        assert "default" not in declared[required]


def test_the_example_stack_file_is_valid_config():
    example = yaml.safe_load((PROGRAM.parent / "Pulumi.example.yaml").read_text())["config"]
    prefix = f"{PROJECT}:"
    raw = {k.removeprefix(prefix): v for k, v in example.items() if k.startswith(prefix)}
    settings = parse_config(raw, example["aws:region"], "prod")
    assert settings.repository == "your-org/ecr-eks-lambda"
    assert settings.regions == ("eu-west-1",)
    assert settings.deploy_environments == ("prod",)


# ------------------------------------------------------------------------------------------
# parliament (AWS policy linter) over every document the program writes
# ------------------------------------------------------------------------------------------


def lint(document: dict[str, Any]) -> list[tuple[str, str]]:
    policy = parliament.analyze_policy_string(json.dumps(document), ignore_private_auditors=True)
    return [(f.issue, str(f.detail)) for f in policy.findings]


SETTINGS = parse_config(
    {
        "githubOwner": "acme",
        "githubRepo": "ecr-eks-lambda",
        "githubConnectionArn": CONNECTION_ARN,
    },
    REGION,
)
# parliament lints every document as an identity policy and knows only SAML providers and four
# web-identity hosts as federated principals, so it reports these two on any correct GitHub OIDC
# trust policy (IAM rejects a Resource element in a trust policy). Nothing else is accepted.
TRUST_POLICY_FALSE_POSITIVES = [
    ("MALFORMED", "Statement contains neither Resource nor NotResource"),
    ("UNKNOWN_FEDERATION_SOURCE", PROVIDER_ARN),
]


@pytest.mark.parametrize("subjects", [SETTINGS.deploy_subjects(), SETTINGS.preview_subjects()])
def test_trust_policies_have_no_parliament_findings(subjects):
    findings = lint(github_oidc.trust_policy(PROVIDER_ARN, subjects))
    assert sorted(findings) == sorted(TRUST_POLICY_FALSE_POSITIVES)


@pytest.mark.parametrize(
    ("field", "value", "issue"),
    [
        ("Principal", {"Federated": "evil.example.com"}, "UNKNOWN_FEDERATION_SOURCE"),
        ("Effect", "Alow", "MALFORMED"),
    ],
)
def test_parliament_flags_a_broken_trust_policy(field, value, issue):
    document = github_oidc.trust_policy(PROVIDER_ARN, SETTINGS.deploy_subjects())
    document["Statement"][0][field] = value
    assert issue in {i for i, _ in lint(document) if (i, _) not in TRUST_POLICY_FALSE_POSITIVES}


def test_service_trust_policies_have_only_the_missing_resource_finding(created):
    for name in ("runner-service-role", "runner-flow-logs-role"):
        assert lint(trust_of(one(created.resources, ROLE, name))) == [
            TRUST_POLICY_FALSE_POSITIVES[0]
        ]


def permission_documents(run: Run) -> dict[str, dict[str, Any]]:
    documents = {r.name: policy_of(r) for r in run.resources if r.type == ROLE_POLICY}
    documents["program-boundary"] = policy_of(
        one(run.resources, "aws:iam/policy:Policy", "program-boundary")
    )
    return documents


# The findings parliament reports on the permission policies, each deliberate:
# - the deploy role's RESOURCE_MISMATCH: `svc:*` on the program's tagged resources includes
#   actions whose resource types those ARN patterns cannot match (they then simply do not
#   apply), and each create names only the new resource's type, never its parent's (a parent
#   must already be the program's, through that same tagged statement);
# - the boundary's RESOURCE_STAR: what the cluster role, the nodes and the load balancer
#   controller do on "*" in AWS's own policies (Describe*, ELB, image pulls from AWS's
#   registries in other accounts, server certificates).
EXPECTED_FINDINGS = {
    "github-deploy-iam": set(),
    "github-deploy-services": {"RESOURCE_MISMATCH"},
    "github-preview": set(),
    "program-boundary": {"RESOURCE_STAR"},
    "runner-service-policy": set(),
    "runner-flow-logs-policy": set(),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_FINDINGS))
def test_permission_policies_have_only_the_documented_parliament_findings(reused, name):
    assert {issue for issue, _ in lint(permission_documents(reused)[name])} == (
        EXPECTED_FINDINGS[name]
    )


def test_parliament_flags_a_broken_permission_policy(reused):
    document = permission_documents(reused)["github-preview"]
    document["Statement"][0]["Action"].append("sqs:ReceiveMesage")
    assert "UNKNOWN_ACTION" in {issue for issue, _ in lint(document)}


def test_the_bucket_policy_has_no_parliament_findings(reused):
    assert lint(policy_of(one(reused.resources, "aws:s3/bucketPolicy:BucketPolicy"))) == []
