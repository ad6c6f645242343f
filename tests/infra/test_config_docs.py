"""Pulumi.yaml's `config:` block and docs/infra.md's table are generated from the config model
and committed as generated; the project file stays one the Pulumi CLI accepts."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest
import yaml

from components.config import KEYS, SECTIONS
from components.config import docs as config_docs
from components.config.base import config_string
from tests.infra.harness import ROOT

PROJECT_FILE = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
DECLARED = {s.key: s for section in SECTIONS.values() for s in section.settings()}
# The properties a config type declaration may have, and its types (Pulumi's project file
# schema, sdk/go/common/workspace/project.json: configTypeDeclaration, simpleConfigType).
ALLOWED_PROPERTIES = {"type", "items", "description", "secret", "default"}
SIMPLE_TYPES = {"string", "integer", "boolean", "array"}


@pytest.mark.parametrize("name", sorted(config_docs.GENERATED))
def test_the_committed_file_is_what_make_config_docs_generates(name: str) -> None:
    current = (ROOT / name).read_text()
    assert config_docs.GENERATED[name](current) == current, f"run `make config-docs` ({name})"


def test_a_changed_setting_makes_the_committed_files_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    section, field = KEYS["batchSize"]
    declared = next(s for s in SECTIONS[section].settings() if s.field == field)
    changed = declared.__class__(
        declared.key, declared.kind, "Messages per batch.", 20, field=declared.field
    )
    settings = tuple(changed if s is declared else s for s in SECTIONS[section].settings())
    monkeypatch.setattr(SECTIONS[section], "_settings", settings)
    for name, generate in config_docs.GENERATED.items():
        current = (ROOT / name).read_text()
        assert generate(current) != current, name
    expected = "default: 20\n    description: >-\n      Messages per batch."
    assert expected in config_docs.config_block()


def test_the_command_rewrites_stale_files_and_check_reports_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in config_docs.GENERATED:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    stale = (tmp_path / "Pulumi.yaml").read_text().replace("default: perAz", "default: single")
    (tmp_path / "Pulumi.yaml").write_text(stale)
    assert config_docs.main(["--check"], root=tmp_path) == 1
    assert "stale, run `make config-docs`: Pulumi.yaml" in capsys.readouterr().err
    assert config_docs.main([], root=tmp_path) == 0
    assert (tmp_path / "Pulumi.yaml").read_text() == (ROOT / "Pulumi.yaml").read_text()
    assert config_docs.main(["--check"], root=tmp_path) == 0


def test_the_project_file_keeps_its_runtime_and_declares_every_key() -> None:
    assert PROJECT_FILE["name"] == "ecr-eks-lambda"
    assert PROJECT_FILE["runtime"] == {
        "name": "python",
        "options": {"toolchain": "uv", "virtualenv": ".venv", "typechecker": "pyright"},
    }
    assert list(PROJECT_FILE["config"]) == list(KEYS)


@pytest.mark.parametrize("key", list(KEYS))
def test_each_key_is_a_valid_config_type_declaration_of_the_model(key: str) -> None:
    spec = PROJECT_FILE["config"][key]
    declared = DECLARED[key]
    assert set(spec) <= ALLOWED_PROPERTIES
    assert spec["type"] in SIMPLE_TYPES
    assert spec["type"] == declared.kind.pulumi_type
    if spec["type"] == "array":
        assert spec["items"] == {"type": "string"}
    else:
        assert "items" not in spec
    assert spec["description"] == config_docs.pulumi_description(declared)
    assert declared.description in spec["description"]
    if spec["type"] != "boolean":
        assert f"Allowed: {declared.kind.allowed}." in spec["description"]
    if declared.default is None:
        assert "default" not in spec
        assert spec["description"].startswith("Required. ")
    else:
        # What the CLI hands the program for an unset key is what the model defaults to.
        assert config_string(spec["default"]) == config_string(declared.default)
        section, field = KEYS[key]
        defaults = {f.name: f.default for f in dataclasses.fields(SECTIONS[section])}
        assert declared.parse(config_string(spec["default"])) == defaults[field]


def test_only_the_api_cidrs_have_no_default() -> None:
    assert [k for k, spec in PROJECT_FILE["config"].items() if "default" not in spec] == [
        "clusterPublicAccessCidrs"
    ]


def test_the_docs_table_lists_every_key_with_type_default_and_what_is_allowed() -> None:
    docs = (ROOT / "docs" / "infra.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| (.+?) \| (.+?) \| (.+?) \|$", docs, re.MULTILINE)
    assert [r[0] for r in rows] == list(KEYS)
    for key, kind, _, allowed, description in rows:
        declared = DECLARED[key]
        assert kind == declared.kind.pulumi_type, key
        assert allowed == declared.kind.allowed, key
        assert description == declared.description, key
    defaults = {r[0]: r[2] for r in rows}
    assert defaults["clusterPublicAccessCidrs"] == "required"
    assert defaults["kubernetesVersion"] == "`1.35`"
    assert defaults["alarmEmail"] == '`""`'
    assert defaults["clusterViewerRoleArns"] == "`[]`"
    assert defaults["protectResources"] == "`true`"
