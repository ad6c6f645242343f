"""Stack configuration: every bad value stops the program before anything is registered."""

from __future__ import annotations

import dataclasses
import re

import pytest
import yaml

from components.config import ConfigError, StackConfig
from tests.infra.harness import ROOT, run

PROJECT_FILE = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
KEYS = PROJECT_FILE["config"]


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
            {"appPublic": "true"},
            "appAllowedCidrs = []: must list at least one source CIDR when appPublic is true",
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


def test_all_problems_are_reported_together() -> None:
    result = run("prod", {"batchSize": "0", "natGateways": "x", "appReplicas": "0"})
    assert isinstance(result.error, ConfigError)
    keys = sorted(re.findall(r"ecr-eks-lambda:(\w+) =", str(result.error)))
    assert keys == ["appReplicas", "batchSize", "natGateways"]
    assert result.records == []


@pytest.mark.parametrize("key", sorted(KEYS))
def test_every_declared_key_is_read_and_checked(key: str) -> None:
    result = run("dev", {key: "%%"})
    assert isinstance(result.error, ConfigError)
    assert f"ecr-eks-lambda:{key} = '%%'" in str(result.error)
    assert result.records == []


def test_stack_config_covers_exactly_the_declared_keys() -> None:
    fields = {f.name for f in dataclasses.fields(StackConfig)} - {"project", "stack", "region"}
    snake = {re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower() for key in KEYS}
    assert fields == snake


def test_more_zones_than_the_region_has_is_refused() -> None:
    result = run("dev", {"availabilityZoneCount": "4"})
    assert isinstance(result.error, ValueError)
    assert "availability_zone_count = 4: the region offers only 3 zones" in str(result.error)


def test_project_file_declares_every_key_with_type_and_description() -> None:
    runtime = PROJECT_FILE["runtime"]
    assert runtime["name"] == "python"
    assert runtime["options"] == {
        "toolchain": "uv",
        "virtualenv": ".venv",
        "typechecker": "pyright",
    }
    for key, spec in KEYS.items():
        assert spec["type"] in {"string", "integer", "boolean", "array"}, key
        assert spec["description"].strip(), key
    without_default = sorted(k for k, spec in KEYS.items() if "default" not in spec)
    assert without_default == ["clusterPublicAccessCidrs"]


def test_stack_files_only_set_declared_keys() -> None:
    for stack in ("dev", "prod"):
        config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        for key in config:
            namespace, _, name = key.partition(":")
            assert (namespace, name in KEYS) in {
                ("ecr-eks-lambda", True),
                ("aws", True),
            } or key == "aws:region", key


def test_docs_table_matches_the_project_file() -> None:
    docs = (ROOT / "docs" / "infra.md").read_text()
    rows = {
        m.group(1): (m.group(2), m.group(3))
        for m in re.finditer(r"^\| `(\w+)` \| (\w+) \| `?([^|`]*?)`? \|", docs, re.MULTILINE)
    }
    expected = {
        key: (spec["type"], _render(spec["default"]) if "default" in spec else "required")
        for key, spec in KEYS.items()
    }
    assert rows == expected


def _render(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[]"
    return str(value) if value != "" else '""'
