"""A mistyped config key is an error, not a silent default: an unknown key of the project,
or a key under a namespace that looks like a typo of the project's, is refused with the
closest declared key, together with every other problem, before anything is registered, in
the program (whatever way the engine passed the config) and where local/ reads the stack
files (`make demo`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from components.config import KEYS, PROJECT, ConfigError, stack_config_from_files, stack_values
from components.config.unknown import unknown_key_problems
from local.stack import LocalSettings
from tests.infra.harness import ROOT, TEST_API_CIDRS, run

TYPO = "ecr-eks-lambda:appReplica: not a key of this program; did you mean appReplicas?"
NAMESPACE_TYPO = (
    "ecr-eks-lamda:appReplicas: 'ecr-eks-lamda' is not a namespace this program or its "
    "providers read; did you mean ecr-eks-lambda:appReplicas?"
)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"appReplica": "3"}, TYPO),
        ({"ecr-eks-lamda:appReplicas": "3"}, NAMESPACE_TYPO),
        (
            {"ecr-eks-lambda:nodeInstanceTpye": "m7g.large"},
            "ecr-eks-lambda:nodeInstanceTpye: not a key of this program; did you mean "
            "nodeInstanceType?",
        ),
        (
            {"ecr-eks-lambdaa:natGateway": "single"},
            "ecr-eks-lambdaa:natGateway: 'ecr-eks-lambdaa' is not a namespace this program or "
            "its providers read; did you mean ecr-eks-lambda:natGateways?",
        ),
        (
            {"ecreks-lambda:somethingElse": "1"},
            "ecreks-lambda:somethingElse: 'ecreks-lambda' is not a namespace this program or "
            "its providers read; did you mean a key under ecr-eks-lambda:?",
        ),
        (
            {"zzzQqq": "1"},
            "ecr-eks-lambda:zzzQqq: not a key of this program; Pulumi.yaml's config block "
            "lists them",
        ),
    ],
)
def test_an_unknown_key_is_refused_with_the_closest_and_nothing_registered(
    overrides: dict[str, str | None], message: str
) -> None:
    result = run("dev", overrides)
    assert isinstance(result.error, ConfigError)
    assert result.error.problems == (message,)
    assert result.records == []


def test_unknown_keys_are_reported_with_the_other_problems() -> None:
    result = run("prod", {"appReplica": "3", "batchSize": "0", "ecr-eks-lamda:appReplicas": "3"})
    assert isinstance(result.error, ConfigError)
    assert set(result.error.problems) == {
        TYPO,
        NAMESPACE_TYPO,
        "ecr-eks-lambda:batchSize = 0: must be an integer from 1 to 10000",
    }
    assert result.records == []


def test_the_clis_pulumi_config_is_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI hands the program its config as JSON in PULUMI_CONFIG.
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"ecr-eks-lambda:appReplica": "3"}))
    result = run("dev")
    assert isinstance(result.error, ConfigError)
    assert result.error.problems == (TYPO,)
    assert result.records == []


def test_the_providers_namespaces_and_unrelated_ones_are_accepted() -> None:
    result = run(
        "dev",
        {
            "aws:skipMetadataApiCheck": "true",
            "kubernetes:enableServerSideApply": "true",
            "eks:someSetting": "x",
            "docker-build:host": "unix:///var/run/docker.sock",
            "pulumi:tags": '{"team": "platform"}',
            "other-project:appReplica": "3",
        },
    )
    assert result.error is None, result.error


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_key_todays_stacks_and_pulumi_yaml_set_is_accepted(stack: str) -> None:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    # What the CLI passes: Pulumi.yaml's defaults, then the stack file's values.
    keys = [f"{PROJECT}:{key}" for key in declared] + list(
        stack_values(stack, ROOT, {"clusterPublicAccessCidrs": TEST_API_CIDRS})
    )
    assert len(keys) > len(KEYS)
    assert list(unknown_key_problems(keys, PROJECT, KEYS)) == []
    stack_config_from_files(stack, ROOT, {"clusterPublicAccessCidrs": TEST_API_CIDRS})


def test_the_local_stand_ins_refuse_the_same_keys(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Pulumi.dev.yaml", tmp_path)
    written = yaml.safe_load((tmp_path / "Pulumi.dev.yaml").read_text())
    written["config"]["ecr-eks-lambda:appReplica"] = 3
    written["config"]["ecr-eks-lamda:appReplicas"] = 3
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(written))
    with pytest.raises(ConfigError) as raised:
        LocalSettings.from_stack("dev", tmp_path)
    assert raised.value.problems == (TYPO, NAMESPACE_TYPO)
