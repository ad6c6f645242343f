"""Every EKS add-on is pinned: the versions of the stack's kubernetesVersion from the committed
table, per-add-on overrides, the refusals, and the table itself."""

from __future__ import annotations

import datetime
import logging
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from components import addons
from components.addons import Cell, Row, parse_table, render_table
from tests.infra.harness import ROOT, Run, run
from tests.infra.lookup import ADDON_KEYS, committed_addon_versions, of_type, one

EKS = "eks:index:Cluster"
ADDON = "aws:eks/addon:Addon"
TABLE_FILE = ROOT / "components" / "addon_versions.toml"
# The shape AWS gives add-on versions (EKS User Guide's version tables, DescribeAddonVersions).
SHAPE = re.compile(r"v\d+\.\d+\.\d+-eksbuild\.\d+")


def registered_versions(result: Run) -> dict[str, Any]:
    """The version each add-on was registered with: vpc-cni and kube-proxy in the remote
    eks.Cluster's inputs, the others in their aws.eks.Addon's."""
    cluster = one(result, EKS).inputs
    versions: dict[str, Any] = {
        "vpc-cni": cluster["vpcCniOptions"].get("addonVersion"),
        "kube-proxy": cluster["kubeProxyAddonOptions"].get("version"),
    }
    for addon in of_type(result, ADDON):
        versions[addon.inputs["addonName"]] = addon.inputs.get("addonVersion")
    return versions


def test_every_addon_carries_the_version_of_the_stacks_kubernetes_version(stack: Run) -> None:
    versions = registered_versions(stack)
    assert set(versions) == set(ADDON_KEYS)
    assert versions == committed_addon_versions("1.35")
    assert all(SHAPE.fullmatch(v) for v in versions.values()), versions
    # pulumi-eks keeps its own network policy switch next to the version.
    assert one(stack, EKS).inputs["vpcCniOptions"]["enableNetworkPolicy"] is True


def test_an_upgrade_overwrites_rather_than_fails_on_changed_fields(stack: Run) -> None:
    for addon in of_type(stack, ADDON):
        assert addon.inputs["resolveConflictsOnCreate"] == "OVERWRITE"
        assert addon.inputs["resolveConflictsOnUpdate"] == "OVERWRITE"


def test_a_second_run_registers_the_same_versions() -> None:
    first, second = run("dev"), run("dev")
    assert first.error is None
    assert second.error is None
    assert (
        registered_versions(first)
        == registered_versions(second)
        == committed_addon_versions("1.35")
    )


def test_the_committed_1_34_row_is_used_for_kubernetes_1_34() -> None:
    result = run("dev", {"kubernetesVersion": "1.34"})
    assert result.error is None, result.error
    assert registered_versions(result) == committed_addon_versions("1.34")
    assert one(result, EKS).inputs["version"] == "1.34"


def _distinct_table() -> dict[str, Row]:
    """Two rows that share no version, so a version left behind by a move shows."""

    def row(minor: int) -> Row:
        return Row(
            datetime.date(2026, 12, 1),
            {
                addon: Cell(f"v{minor}.{i}.0-eksbuild.1", True, "test")
                for i, addon in enumerate(addons.ADDONS)
            },
        )

    return {"1.33": row(33), "1.34": row(34)}


def test_moving_kubernetes_version_moves_every_addon_to_that_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = _distinct_table()
    monkeypatch.setattr(addons, "TABLE", table)
    for k8s in ("1.33", "1.34"):
        result = run("dev", {"kubernetesVersion": k8s})
        assert result.error is None, result.error
        assert registered_versions(result) == {
            a: cell.version for a, cell in table[k8s].cells.items()
        }


@pytest.mark.parametrize("addon", list(ADDON_KEYS))
def test_an_override_wins_for_its_addon_only(addon: str) -> None:
    result = run("dev", {ADDON_KEYS[addon]: "v9.8.7-eksbuild.6"})
    assert result.error is None, result.error
    assert registered_versions(result) == {
        **committed_addon_versions("1.35"),
        addon: "v9.8.7-eksbuild.6",
    }


@pytest.mark.parametrize("bad", ["latest", "1.14.3-eksbuild.3", "v1.14.3", "v1.14-eksbuild.1"])
def test_a_version_of_the_wrong_shape_is_refused_naming_key_and_shape(bad: str) -> None:
    result = run("dev", {"corednsVersion": bad})
    assert result.error is not None
    message = str(result.error)
    assert f"ecr-eks-lambda:corednsVersion = {bad!r}: must be " in message
    assert "vX.Y.Z-eksbuild.N" in message
    assert of_type(result, EKS) == []


def test_a_kubernetes_version_without_a_row_is_refused_unless_every_version_is_set() -> None:
    result = run("dev", {"kubernetesVersion": "1.37", "corednsVersion": "v1.14.3-eksbuild.3"})
    assert result.error is not None
    message = str(result.error)
    assert "ecr-eks-lambda:kubernetesVersion = '1.37': has no row in " in message
    assert "components/addon_versions.toml, which has 1.34, 1.35" in message
    unset = [key for addon, key in ADDON_KEYS.items() if addon != "coredns"]
    assert f"({', '.join(unset)} are unset)" in message
    assert "make addon-versions K8S=1.37" in message
    assert of_type(result, EKS) == []

    given = {key: f"v1.{i}.0-eksbuild.1" for i, key in enumerate(ADDON_KEYS.values())}
    accepted = run("dev", {"kubernetesVersion": "1.37", **given})
    assert accepted.error is None, accepted.error
    assert registered_versions(accepted) == {a: given[k] for a, k in ADDON_KEYS.items()}


def test_each_unconfirmed_default_in_use_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    unconfirmed = [
        ADDON_KEYS[a]
        for a, cell in tomllib.loads(TABLE_FILE.read_text())["1.35"].items()
        if a in ADDON_KEYS and not cell["confirmed"]
    ]
    with caplog.at_level(logging.WARNING):
        result = run("dev")
    assert result.error is None
    warned = [r.getMessage() for r in caplog.records if "not confirmed against AWS" in r.message]
    assert sorted(m.split()[0] for m in warned) == sorted(unconfirmed)
    assert all("make addon-versions K8S=1.35" in m for m in warned)

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run("dev", {key: "v1.0.0-eksbuild.1" for key in unconfirmed})
    assert not [r for r in caplog.records if "not confirmed against AWS" in r.getMessage()]


# --- the table ---------------------------------------------------------------------------


def test_the_committed_table_is_well_formed_and_in_its_written_form() -> None:
    text = TABLE_FILE.read_text()
    raw = tomllib.loads(text)
    assert "1.35" in raw, "the default kubernetesVersion needs a row"
    for k8s, row in raw.items():
        assert re.fullmatch(r"1\.\d+", k8s)
        assert isinstance(row["checked"], datetime.date)
        assert set(row) - {"checked"} == set(ADDON_KEYS)
        for addon in ADDON_KEYS:
            cell = row[addon]
            assert set(cell) == {"version", "confirmed", "source"}, (k8s, addon)
            assert SHAPE.fullmatch(cell["version"]), (k8s, addon)
            assert isinstance(cell["confirmed"], bool)
            assert cell["source"].strip(), (k8s, addon)
            if cell["confirmed"]:
                # Confirmed means AWS said so.
                assert "eks:DescribeAddonVersions" in cell["source"] or (
                    "docs.aws.amazon.com" in cell["source"]
                ), (k8s, addon)
    # What the update script writes back is the file as committed.
    assert render_table(parse_table(text)) == text


def _valid() -> str:
    return TABLE_FILE.read_text()


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace('"v1.14.3-eksbuild.3"', '"latest"', 1), "version 'latest' must be"),
        (lambda t: t.replace("\nconfirmed = true", '\nconfirmed = "yes"', 1), "'yes' must"),
        (lambda t: re.sub(r'source = "[^"]*"', 'source = " "', t, count=1), "source must name"),
        (lambda t: t.replace("checked = 2026-12-01", 'checked = "today"', 1), "must be a date"),
        (lambda t: t.replace('["1.35".metrics-server]', '["1.35".metrics-servr]'), "unknown"),
        (
            lambda t: re.sub(r'\n\["1\.35"\.metrics-server\]\n(.+\n){3}', "", t),
            "missing ['metrics-server']",
        ),
        (lambda t: t.replace('["1.35"]', '["latest"]'), "Kubernetes minor version"),
    ],
)
def test_a_malformed_table_is_refused_naming_the_place(edit: Any, expected: str) -> None:
    text = edit(_valid())
    assert text != _valid()
    with pytest.raises(ValueError, match=re.escape(expected)):
        parse_table(text)


def test_the_table_round_trips_through_render(tmp_path: Path) -> None:
    table = _distinct_table()
    assert parse_table(render_table(table)) == table
