"""scripts/addon_versions.py against EKS's real response shape (botocore's Stubber validates
every request and response against the service model), with no AWS."""

from __future__ import annotations

import datetime
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from components.addons import ADDONS, TABLE_PATH
from scripts import addon_versions

ROOT = Path(__file__).resolve().parents[1]

TODAY = datetime.date(2027, 3, 4)


def eks_client() -> Any:
    return boto3.client(
        "eks", region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test"
    )


def listed(version: str, *compat: tuple[str, bool]) -> dict[str, Any]:
    """One entry of DescribeAddonVersions' addonVersions."""
    return {
        "addonVersion": version,
        "architecture": ["amd64", "arm64"],
        "compatibilities": [
            {"clusterVersion": k8s, "platformVersions": ["*"], "defaultVersion": default}
            for k8s, default in compat
        ],
        "requiresConfiguration": False,
    }


def page(addon: str, versions: list[dict[str, Any]], token: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "addons": [{"addonName": addon, "type": "networking", "addonVersions": versions}]
    }
    if token:
        response["nextToken"] = token
    return response


def stub_all(stubber: Stubber, k8s: str, answers: dict[str, list[dict[str, Any]]]) -> None:
    """One response per add-on, in the order the script asks (ADDONS)."""
    for addon in ADDONS:
        stubber.add_response(
            "describe_addon_versions",
            page(addon, answers[addon]),
            {"kubernetesVersion": k8s, "addonName": addon},
        )


@pytest.fixture
def table(tmp_path: Path) -> Path:
    copy = tmp_path / "addon_versions.toml"
    shutil.copy(TABLE_PATH, copy)
    return copy


def test_the_default_for_that_kubernetes_version_wins_over_a_newer_one(table: Path) -> None:
    client = eks_client()
    answers = {
        addon: [
            # Newer, but the default only for another Kubernetes version.
            listed("v2.0.0-eksbuild.1", ("1.36", False), ("1.37", True)),
            listed(f"v1.{i}.0-eksbuild.2", ("1.36", True)),
            listed("v0.9.0-eksbuild.1", ("1.36", False)),
        ]
        for i, addon in enumerate(ADDONS)
    }
    with Stubber(client) as stubber:
        stub_all(stubber, "1.36", answers)
        addon_versions.update(client, "1.36", "eu-west-1", TODAY, table)
        stubber.assert_no_pending_responses()
    written = tomllib.loads(table.read_text())
    row = written["1.36"]
    assert row["checked"] == TODAY
    for i, addon in enumerate(ADDONS):
        assert row[addon] == {
            "version": f"v1.{i}.0-eksbuild.2",
            "confirmed": True,
            "source": "eks:DescribeAddonVersions in eu-west-1: the default for Kubernetes 1.36",
        }
    # The other rows are kept as they were.
    before = tomllib.loads(TABLE_PATH.read_text())
    assert {k: v for k, v in written.items() if k != "1.36"} == before


def test_without_a_default_the_newest_is_taken_across_pages(table: Path) -> None:
    client = eks_client()
    with Stubber(client) as stubber:
        for addon in ADDONS:
            stubber.add_response(
                "describe_addon_versions",
                page(addon, [listed("v1.9.0-eksbuild.3", ("1.35", False))], token="more"),
                {"kubernetesVersion": "1.35", "addonName": addon},
            )
            stubber.add_response(
                "describe_addon_versions",
                page(
                    addon,
                    [
                        listed("v1.10.0-eksbuild.1", ("1.35", False)),
                        listed("v1.9.0-eksbuild.12", ("1.35", False)),
                    ],
                ),
                {"kubernetesVersion": "1.35", "addonName": addon, "nextToken": "more"},
            )
        addon_versions.update(client, "1.35", "eu-west-1", TODAY, table)
        stubber.assert_no_pending_responses()
    row = tomllib.loads(table.read_text())["1.35"]
    # 1.10 is newer than 1.9 (numbers, not text).
    assert {a: row[a]["version"] for a in ADDONS} == dict.fromkeys(ADDONS, "v1.10.0-eksbuild.1")
    assert all(row[a]["source"].endswith(": the newest for Kubernetes 1.35") for a in ADDONS)


def test_an_addon_eks_does_not_list_stops_with_its_name(table: Path) -> None:
    client = eks_client()
    before = table.read_text()
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_addon_versions",
            {"addons": []},
            {"kubernetesVersion": "1.40", "addonName": ADDONS[0]},
        )
        with pytest.raises(SystemExit, match=f"EKS lists no {ADDONS[0]} version for Kubernetes"):
            addon_versions.update(client, "1.40", "eu-west-1", TODAY, table)
    assert table.read_text() == before


def test_a_malformed_kubernetes_version_is_refused_before_asking(table: Path) -> None:
    client = eks_client()
    with Stubber(client), pytest.raises(SystemExit, match="K8S='latest'"):
        addon_versions.update(client, "latest", "eu-west-1", TODAY, table)


def test_main_asks_eks_in_the_clients_region_and_says_what_it_wrote(
    table: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = boto3.client(
        "eks", region_name="us-west-2", aws_access_key_id="test", aws_secret_access_key="test"
    )
    asked: list[str | None] = []

    def fake_client(service: str, region_name: str | None = None) -> Any:
        assert service == "eks"
        asked.append(region_name)
        return client

    monkeypatch.setattr(boto3, "client", fake_client)
    answers = {a: [listed("v1.0.0-eksbuild.1", ("1.36", True))] for a in ADDONS}
    with Stubber(client) as stubber:
        stub_all(stubber, "1.36", answers)
        assert addon_versions.main(["1.36", "--region", "us-west-2", "--table", str(table)]) == 0
    assert asked == ["us-west-2"]
    row = tomllib.loads(table.read_text())["1.36"]
    assert row["coredns"]["source"].startswith("eks:DescribeAddonVersions in us-west-2:")
    out = capsys.readouterr().out
    assert "coredns: v1.0.0-eksbuild.1" in out
    assert "rewrote addon_versions.toml row 1.36" in out


def test_the_make_target_needs_k8s() -> None:
    result = subprocess.run(
        ["make", "-s", "addon-versions"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "usage: make addon-versions K8S=1.36" in result.stderr
