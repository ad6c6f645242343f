"""The local stack's settings come from the stack's config files, validated like `pulumi up`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from components.config import ConfigError, stack_config_from_files
from local.stack import LOCAL_ONLY_OVERRIDES, LocalSettings
from tests.stacks import STACKS

ROOT = Path(__file__).resolve().parents[2]


def test_dev_settings_are_the_dev_stack_config() -> None:
    config = stack_config_from_files("dev", ROOT, LOCAL_ONLY_OVERRIDES)
    settings = LocalSettings.from_stack("dev")
    assert config.project == "ecr-eks-lambda"
    assert config.stack == "dev"
    assert config.region == "eu-west-1"  # Pulumi.dev.yaml
    assert config.function.max_concurrency == 2  # Pulumi.dev.yaml over the default 5
    assert config.function.batch_size == 10  # the model's default
    assert settings.max_concurrency == 2
    assert settings.visibility_timeout_seconds == 6 * config.function.timeout_seconds
    assert settings.max_receive_count == config.function.max_receive_count == 5
    assert settings.receive_wait_time_seconds == 20
    assert settings.queue_retention_seconds == config.function.queue_retention_seconds


def copy_project(tmp_path: Path, dev_yaml: str) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.dev.yaml").write_text(dev_yaml)
    return tmp_path


def test_a_stack_file_value_overrides_the_default(tmp_path: Path) -> None:
    root = copy_project(
        tmp_path,
        "config:\n  aws:region: us-east-2\n  ecr-eks-lambda:batchSize: 25\n"
        "  ecr-eks-lambda:batchingWindowSeconds: 2\n  ecr-eks-lambda:appPublic: false\n",
    )
    settings = LocalSettings.from_stack("dev", root)
    assert (settings.batch_size, settings.batching_window_seconds) == (25, 2)
    assert settings.visibility_timeout_seconds == 6 * 30 + 2


def test_invalid_values_are_reported_with_the_key_and_what_is_allowed(tmp_path: Path) -> None:
    root = copy_project(
        tmp_path,
        "config:\n  aws:region: eu-west-1\n  ecr-eks-lambda:batchSize: 50\n"
        "  ecr-eks-lambda:maxReceiveCount: zero\n",
    )
    with pytest.raises(ConfigError) as caught:
        LocalSettings.from_stack("dev", root)
    problems = "\n".join(caught.value.problems)
    assert "ecr-eks-lambda:batchingWindowSeconds = 0: must be at least 1" in problems
    assert "ecr-eks-lambda:maxReceiveCount = 'zero': must be an integer from 1 to 1000" in problems


def test_a_missing_stack_file_is_an_error(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    with pytest.raises(ConfigError, match=r"Pulumi\.qa\.yaml does not exist"):
        LocalSettings.from_stack("qa", tmp_path)


@pytest.mark.parametrize("stack", STACKS)
def test_the_files_give_the_config_pulumi_hands_the_program(stack: str) -> None:
    """Read through pulumi.Config with the defaults the CLI applies from Pulumi.yaml, the
    same StackConfig as read from the files without Pulumi (with the model's defaults)."""
    import pulumi
    import yaml

    from components.config import PROJECT, load_stack_config, stack_values
    from components.config.base import config_string
    from tests.infra.harness import TEST_API_CIDRS

    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    cli_config = {
        f"{PROJECT}:{key}": config_string(spec["default"])
        for key, spec in declared.items()
        if "default" in spec
    } | stack_values(stack, ROOT, {"clusterPublicAccessCidrs": TEST_API_CIDRS})
    pulumi.runtime.set_all_config(cli_config)
    via_pulumi = load_stack_config(
        pulumi.Config("ecr-eks-lambda"), pulumi.Config("aws"), project="ecr-eks-lambda", stack=stack
    )
    from_files = stack_config_from_files(stack, ROOT, {"clusterPublicAccessCidrs": TEST_API_CIDRS})
    assert from_files == via_pulumi
