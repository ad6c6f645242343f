"""The Powertools the tests run is the Powertools the deployed layer ships."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from components.function import POWERTOOLS_LAYER_RELEASES

ROOT = Path(__file__).resolve().parents[2]


def locked_version(package: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    [entry] = [p for p in lock["package"] if p["name"] == package]
    return entry["version"]


def layer_versions() -> dict[str, int]:
    """The layer version each stack deploys: its own setting, else Pulumi.yaml's default."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    default = project["config"]["powertoolsLayerVersion"]["default"]
    versions = {}
    for stack_file in sorted(ROOT.glob("Pulumi.*.yaml")):
        config = yaml.safe_load(stack_file.read_text()).get("config") or {}
        versions[stack_file.name] = int(
            config.get("ecr-eks-lambda:powertoolsLayerVersion", default)
        )
    return versions


def test_every_stack_deploys_the_layer_of_the_locked_powertools():
    locked = locked_version("aws-lambda-powertools")
    versions = layer_versions()
    assert set(versions) == {"Pulumi.dev.yaml", "Pulumi.prod.yaml"}
    for stack, layer in versions.items():
        assert layer in POWERTOOLS_LAYER_RELEASES, f"{stack}: layer {layer} has no known release"
        assert POWERTOOLS_LAYER_RELEASES[layer] == locked, (
            f"{stack} deploys layer {layer} (Powertools {POWERTOOLS_LAYER_RELEASES[layer]}) "
            f"but the tests run Powertools {locked}: pin the handler group to the layer's release"
        )


def test_the_installed_powertools_is_the_locked_one():
    from aws_lambda_powertools.shared.version import VERSION

    assert locked_version("aws-lambda-powertools") == VERSION
