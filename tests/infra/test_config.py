"""The config model: every bad value stops the program before anything is registered, each
key maps to one section field, and the sections are what the components get."""

from __future__ import annotations

import dataclasses
import re

import pulumi
import pytest
import yaml

from components.config import (
    KEYS,
    PROJECT,
    SECTIONS,
    AppConfig,
    ConfigError,
    FunctionConfig,
    SharedConfig,
    StackConfig,
    load_stack_config,
    stack_config_from_files,
    stack_values,
)
from components.config.base import FileConfig, Section, setting
from components.config.kinds import Integer, Invalid
from tests.infra.harness import ROOT, run
from tests.infra.lookup import PUBLIC_EDGE
from tests.stacks import STACKS


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"batchSize": "0"}, "ecr-eks-lambda:batchSize = 0: must be an integer from 1 to 10000"),
        (
            {"batchSize": "10001", "batchingWindowSeconds": "1"},
            "ecr-eks-lambda:batchSize = 10001: must be an integer from 1 to 10000",
        ),
        (
            {"batchSize": "50"},
            "ecr-eks-lambda:batchingWindowSeconds = 0: must be at least 1 when batchSize (50)",
        ),
        (
            {"batchingWindowSeconds": "301"},
            "batchingWindowSeconds = 301: must be an integer from 0 to 300",
        ),
        (
            {"maxConcurrency": "1"},
            "ecr-eks-lambda:maxConcurrency = 1: must be an integer from 2 to 1000",
        ),
        (
            {"functionReservedConcurrency": "3", "maxConcurrency": "4"},
            "functionReservedConcurrency = 3: must be at least maxConcurrency (4)",
        ),
        (
            {"functionTimeoutSeconds": "901"},
            "functionTimeoutSeconds = 901: must be an integer from 1 to 900",
        ),
        ({"functionMemoryMb": "64"}, "functionMemoryMb = 64: must be an integer from 128 to 10240"),
        (
            {"queueRetentionSeconds": "180"},
            "queueRetentionSeconds = 180: must be longer than the derived visibility timeout "
            "(180 s",
        ),
        (
            {"functionTimeoutSeconds": "900", "queueRetentionSeconds": "5400"},
            "queueRetentionSeconds = 5400: must be longer than the derived visibility timeout "
            "(5400 s = 6 x functionTimeoutSeconds + batchingWindowSeconds)",
        ),
        ({"maxReceiveCount": "0"}, "maxReceiveCount = 0: must be an integer from 1 to 1000"),
        ({"logRetentionDays": "10"}, "logRetentionDays = 10: must be one of 1, 3, 5, 7, 14, 30"),
        (
            {"clusterViewerRoleArns": '["arn:aws:iam::123456789012:user/bob"]'},
            "clusterViewerRoleArns = 'arn:aws:iam::123456789012:user/bob': must be IAM role ARNs",
        ),
        (
            {"clusterViewerRoleArns": '"arn:aws:iam::123456789012:role/a"'},
            "clusterViewerRoleArns = '\"arn:aws:iam::123456789012:role/a\"': must be a list of IAM",
        ),
        ({"nodeMinSize": "-1"}, "nodeMinSize = -1: must be an integer from 1 to 450"),
        (
            {"nodeDesiredSize": "3"},
            "nodeDesiredSize = 3: must lie between nodeMinSize (1) and nodeMaxSize (2)",
        ),
        ({"nodeDiskSizeGib": "8"}, "nodeDiskSizeGib = 8: must be an integer from 20 to 16384"),
        ({"appReplicas": "0"}, "appReplicas = 0: must be an integer from 1 to 100"),
        (
            {"availabilityZoneCount": "1"},
            "availabilityZoneCount = 1: must be an integer from 2 to 6",
        ),
        (
            {"functionArchitecture": "arm"},
            "functionArchitecture = 'arm': must be one of arm64, x86_64",
        ),
        (
            {"nodeArchitecture": "x86_64"},
            "nodeArchitecture = 'x86_64': must be one of arm64, amd64",
        ),
        (
            {"nodeInstanceType": "t3.medium"},
            "nodeInstanceType = 't3.medium': does not match nodeArchitecture 'arm64'",
        ),
        ({"nodeCapacityType": "spot"}, "nodeCapacityType = 'spot': must be one of ON_DEMAND, SPOT"),
        ({"natGateways": "two"}, "natGateways = 'two': must be one of perAz, single"),
        (
            {"clusterPublicAccessCidrs": '["10.0.0.300/32"]'},
            "clusterPublicAccessCidrs = '10.0.0.300/32': must be an IPv4 CIDR",
        ),
        (
            {"clusterPublicAccessCidrs": '["10.0.0.1/8"]'},
            "clusterPublicAccessCidrs = '10.0.0.1/8': must be an IPv4 CIDR with no host bits set",
        ),
        (
            {"clusterPublicAccessCidrs": "203.0.113.7/32"},
            "clusterPublicAccessCidrs = '203.0.113.7/32': must be a list of IPv4 CIDRs",
        ),
        ({"clusterPublicAccessCidrs": None}, "clusterPublicAccessCidrs = None: is required"),
        (
            {"appPublic": "true", **PUBLIC_EDGE},
            "appAllowedCidrs = []: must list at least one source CIDR when appPublic is true",
        ),
        (
            {"appCertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/not-a-uuid"},
            "appCertificateArn = 'arn:aws:acm:eu-west-1:123456789012:certificate/not-a-uuid': "
            "must be empty (no certificate) or an ACM certificate ARN",
        ),
        (
            {"appCertificateArn": "arn:aws:iam::123456789012:server-certificate/x"},
            "appCertificateArn = 'arn:aws:iam::123456789012:server-certificate/x': must be empty",
        ),
        (
            {"appAuthIssuer": "http://login.example.com", "appAuthAudience": "api://events"},
            "appAuthIssuer = 'http://login.example.com': must be empty (no authentication) or an "
            "https URL without query or fragment",
        ),
        (
            {"appAuthIssuer": "https://login.example.com/?tenant=1", "appAuthAudience": "a"},
            "appAuthIssuer = 'https://login.example.com/?tenant=1': must be empty",
        ),
        (
            {"appAuthIssuer": "https://login.example.com"},
            "appAuthAudience = '': must be set when appAuthIssuer is",
        ),
        (
            {"appAuthAudience": "api://events"},
            "appAuthIssuer = '': must be set when appAuthAudience is",
        ),
        (
            {"appAuthAudience": "api events", "appAuthIssuer": "https://login.example.com"},
            "appAuthAudience = 'api events': must be empty (no authentication) or 1 to 255 URI",
        ),
        (
            {"appAuthRequiredScope": "events:write"},
            "appAuthRequiredScope = 'events:write': must be empty unless appAuthIssuer is set",
        ),
        (
            {"appAuthRequiredScope": "events write", **PUBLIC_EDGE},
            "appAuthRequiredScope = 'events write': must be empty (any valid token) or a scope",
        ),
        (
            {"appAllowedNamespaces": '["producers", "Bad_NS"]'},
            "appAllowedNamespaces = 'Bad_NS': must be a namespace name: at most 63 lower-case",
        ),
        (
            {"appAllowedNamespaces": f'["{"a" * 64}"]'},
            f"appAllowedNamespaces = '{'a' * 64}': must be a namespace name",
        ),
        (
            {"appAllowedNamespaces": '["-producers"]'},
            "appAllowedNamespaces = '-producers': must be a namespace name",
        ),
        ({"appPublic": "yes"}, "appPublic = 'yes': must be true or false"),
        ({"vpcFlowLogs": "on"}, "ecr-eks-lambda:vpcFlowLogs = 'on': must be true or false"),
        (
            {"vpcFlowLogTrafficType": "reject"},
            "ecr-eks-lambda:vpcFlowLogTrafficType = 'reject': must be one of ALL, REJECT",
        ),
        (
            {"vpcFlowLogTrafficType": "ACCEPT"},
            "ecr-eks-lambda:vpcFlowLogTrafficType = 'ACCEPT': must be one of ALL, REJECT",
        ),
        (
            {"vpcCidr": "8.8.0.0/16"},
            "vpcCidr = '8.8.0.0/16': must be a private (RFC 1918) IPv4 CIDR from /16 to /22",
        ),
        ({"vpcCidr": "10.0.0.0/24"}, "vpcCidr = '10.0.0.0/24': must be a private"),
        (
            {"kubernetesVersion": "1.2"},
            "kubernetesVersion = '1.2': must be a Kubernetes minor version",
        ),
        ({"protectResources": "maybe"}, "protectResources = 'maybe': must be true or false"),
        ({"alarmEmail": "oncall"}, "alarmEmail = 'oncall': must be empty or an email address"),
        (
            {"oldestMessageAlarmSeconds": "30"},
            "oldestMessageAlarmSeconds = 30: must be an integer >= 60",
        ),
        ({"powertoolsLayerVersion": "x"}, "powertoolsLayerVersion = 'x': must be an integer >= 1"),
        ({"aws:region": "mars"}, "aws:region = 'mars': must be an AWS region name"),
    ],
)
def test_bad_value_names_key_value_and_allowed_and_registers_nothing(
    overrides: dict[str, str | None], message: str
) -> None:
    result = run("dev", overrides)
    assert isinstance(result.error, ConfigError)
    assert message in str(result.error)
    assert len(result.error.problems) == 1, result.error.problems
    assert result.records == []


def test_a_public_app_without_tls_or_authentication_is_refused_naming_each_key() -> None:
    result = run("dev", {"appPublic": "true", "appAllowedCidrs": '["203.0.113.0/24"]'})
    assert isinstance(result.error, ConfigError)
    assert result.error.problems == (
        "ecr-eks-lambda:appCertificateArn = '': must be set when appPublic is true",
        "ecr-eks-lambda:appAuthIssuer = '': must be set when appPublic is true",
        "ecr-eks-lambda:appAuthAudience = '': must be set when appPublic is true",
    )
    assert result.records == []


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012",
        "arn:aws-cn:acm:cn-north-1:123456789012:certificate/abcdef01-2345-6789-abcd-ef0123456789",
        "arn:aws-us-gov:acm:us-gov-west-1:123456789012:certificate/"
        "abcdef01-2345-6789-abcd-ef0123456789",
    ],
)
def test_a_public_app_with_a_certificate_of_any_partition_and_auth_is_accepted(arn: str) -> None:
    config = stack_config_from_files(
        "dev",
        ROOT,
        {
            "clusterPublicAccessCidrs": "[]",
            "appPublic": "true",
            "appAllowedCidrs": '["203.0.113.0/24"]',
            **PUBLIC_EDGE,
            "appCertificateArn": arn,
            "appAuthRequiredScope": "events:write",
            "appAllowedNamespaces": '["producers", "a1-b"]',
        },
    )
    assert config.app.certificate_arn == arn
    assert config.app.authenticates
    assert config.app.auth_required_scope == "events:write"
    assert config.app.allowed_namespaces == ("producers", "a1-b")


def test_all_problems_are_reported_together() -> None:
    result = run("prod", {"batchSize": "0", "natGateways": "x", "appReplicas": "0"})
    assert isinstance(result.error, ConfigError)
    keys = sorted(re.findall(r"ecr-eks-lambda:(\w+) =", str(result.error)))
    assert keys == ["appReplicas", "batchSize", "natGateways"]
    assert result.records == []


def test_a_bad_value_and_a_broken_rule_of_one_section_are_reported_together() -> None:
    result = run("dev", {"batchSize": "50", "maxReceiveCount": "zero"})
    assert isinstance(result.error, ConfigError)
    assert result.error.problems == (
        "ecr-eks-lambda:maxReceiveCount = 'zero': must be an integer from 1 to 1000",
        "ecr-eks-lambda:batchingWindowSeconds = 0: must be at least 1 when batchSize (50) is "
        "above 10 (AWS Lambda's rule for SQS)",
    )


def test_a_rule_reading_a_bad_value_adds_no_second_problem() -> None:
    # nodeDesiredSize (1 in dev) cannot be checked against a nodeMinSize that is not a number.
    result = run("dev", {"nodeMinSize": "two"})
    assert isinstance(result.error, ConfigError)
    assert result.error.problems == (
        "ecr-eks-lambda:nodeMinSize = 'two': must be an integer from 1 to 450",
    )


def test_the_error_is_a_run_error_so_the_cli_prints_only_the_message() -> None:
    # The Python language host logs str(e) for a pulumi.RunError and a traceback otherwise.
    error = ConfigError(["ecr-eks-lambda:batchSize = 0: must be an integer from 1 to 10000"])
    assert isinstance(error, pulumi.RunError)
    assert isinstance(error, ValueError)
    assert str(error) == (
        "invalid stack configuration (1 problem(s)):\n"
        "  - ecr-eks-lambda:batchSize = 0: must be an integer from 1 to 10000"
    )


@pytest.mark.parametrize("key", sorted(KEYS))
def test_every_declared_key_is_read_and_checked(key: str) -> None:
    result = run("dev", {key: "%%"})
    assert isinstance(result.error, ConfigError)
    assert f"ecr-eks-lambda:{key} = '%%'" in str(result.error)
    assert result.records == []


def test_keys_map_to_exactly_the_fields_of_the_sections() -> None:
    assert KEYS["appReplicas"] == ("app", "replicas")
    assert KEYS["vpcFlowLogs"] == ("network", "flow_logs")
    assert KEYS["logRetentionDays"] == ("shared", "log_retention_days")
    stack_fields = [f.name for f in dataclasses.fields(StackConfig)]
    assert stack_fields == ["project", "stack", "region", *SECTIONS]
    fields = [(name, f.name) for name, cls in SECTIONS.items() for f in dataclasses.fields(cls)]
    assert sorted(KEYS.values()) == sorted(fields)
    assert all(re.fullmatch(r"[a-z]+([A-Z][a-z0-9]*)*", key) for key in KEYS), list(KEYS)


def test_a_section_refuses_a_field_that_is_not_a_setting_or_a_bad_default() -> None:
    with pytest.raises(TypeError, match=r"Broken\.count is not a setting"):

        class Broken(Section):
            count: int = 3

    with pytest.raises(Invalid):

        class BadDefault(Section):
            count: int = setting("count", Integer(1, 5), "A count.", default=9)


def test_the_models_defaults_are_the_secure_highly_available_ones() -> None:
    assert SharedConfig().protect_resources is True
    assert (AppConfig().replicas, AppConfig().public, AppConfig().cpu_limit) == (2, False, None)
    assert FunctionConfig().architecture == "arm64"
    assert FunctionConfig().visibility_timeout_seconds == 180


def test_the_largest_allowed_timeout_and_window_stay_within_sqs_visibility() -> None:
    # No rule guards SQS's maximum visibility timeout (43200 s): the bounds cannot reach it.
    config = stack_config_from_files(
        "dev",
        ROOT,
        {
            "clusterPublicAccessCidrs": "[]",
            "functionTimeoutSeconds": "900",
            "batchingWindowSeconds": "300",
            # Above one poison message's age, 3 x 5700 s (tests/infra/test_poison_alarm.py).
            "oldestMessageAlarmSeconds": "17101",
        },
    )
    assert config.function.visibility_timeout_seconds == 5700 <= 43_200


def test_fixed_replicas_count_alone_when_nothing_autoscales() -> None:
    assert AppConfig(autoscaling=False, replicas=2, max_replicas=4).most_replicas == 2
    assert AppConfig(autoscaling=False, replicas=5, max_replicas=4).most_replicas == 5
    assert AppConfig(autoscaling=True, replicas=2, max_replicas=4).most_replicas == 4


def test_an_override_of_none_removes_the_stack_files_value_so_the_default_applies() -> None:
    overrides = {"clusterPublicAccessCidrs": "[]", "natGateways": None}
    assert "ecr-eks-lambda:natGateways" not in stack_values("dev", ROOT, overrides)
    assert stack_config_from_files("dev", ROOT, overrides).network.nat_gateways == "perAz"
    assert (
        stack_config_from_files(
            "dev", ROOT, {"clusterPublicAccessCidrs": "[]"}
        ).network.nat_gateways
        == "single"
    )


def test_stack_files_only_set_declared_keys() -> None:
    for stack in STACKS:
        config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        for key in config:
            namespace, _, name = key.partition(":")
            assert (namespace == "ecr-eks-lambda" and name in KEYS) or key == "aws:region", key


def test_a_stack_name_that_cannot_name_the_eks_cluster_is_refused() -> None:
    project = FileConfig(PROJECT, {"clusterPublicAccessCidrs": "[]"})
    region = FileConfig("aws", {"region": "eu-west-1"})
    assert (
        load_stack_config(project, region, project=PROJECT, stack="team_dev-2").cluster_name
        == "ecr-eks-lambda-team_dev-2"
    )
    with pytest.raises(ConfigError) as error:
        load_stack_config(project, region, project=PROJECT, stack="team.dev")
    assert error.value.problems == (
        "stack name 'team.dev': the EKS cluster is named 'ecr-eks-lambda-team.dev', which must "
        "be at most 100 letters, digits, hyphens and underscores; use a stack name of those",
    )
    with pytest.raises(ConfigError):
        load_stack_config(project, region, project=PROJECT, stack="d" * 86)
