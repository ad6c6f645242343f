"""The cluster's EKS add-ons and the versions they are pinned to, per Kubernetes minor version.

Unpinned, pulumi-eks resolves vpc-cni and kube-proxy to the newest version at every up
(pulumi-eks `cni-addon.ts`, `cluster.ts`: `getAddonVersion(mostRecent: true)`), and an
`aws.eks.Addon` without a version takes AWS's default at creation and then stays there while
`kubernetesVersion` moves on. So every add-on gets a version: by default the one
`addon_versions.toml` lists for the stack's kubernetesVersion (the whole row moves with it),
or the stack's per-add-on key (components/config/cluster.py). `make addon-versions K8S=1.NN`
rewrites a row from EKS (scripts/addon_versions.py).
"""

from __future__ import annotations

import datetime
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ADDONS = ("vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent", "metrics-server")
"""Every add-on the cluster runs, by its EKS name."""
VERSION = r"v\d+\.\d+\.\d+-eksbuild\.\d+"
"""The shape of an EKS add-on version, e.g. v1.14.3-eksbuild.3."""
VERSION_SHAPE = "vX.Y.Z-eksbuild.N (e.g. v1.14.3-eksbuild.3)"
"""VERSION in words, for errors and docs."""
KUBERNETES_VERSION = r"1\.\d+"
TABLE_PATH = Path(__file__).with_name("addon_versions.toml")

HEADER = """\
# EKS add-on versions per Kubernetes minor version: the versions the cluster's add-ons are
# pinned to, by default, for the stack's kubernetesVersion (components/addons.py reads this;
# per-add-on overrides are config keys, docs/infra.md "Add-on versions").
#
# Rewrite a row from EKS itself with `make addon-versions K8S=1.NN` (scripts/addon_versions.py:
# eks:DescribeAddonVersions, the version AWS marks as the default for that Kubernetes version,
# else the newest), then review the diff like any other change. A cell edited by hand names
# its source.
#
# confirmed = true: AWS said so (DescribeAddonVersions, or the EKS User Guide's version table
# for that Kubernetes version). confirmed = false: found elsewhere and NOT checked against
# AWS; the program warns on every run that uses such a default.
"""


@dataclass(frozen=True)
class Cell:
    """One add-on's version for one Kubernetes version, and where it came from."""

    version: str
    confirmed: bool
    """True when AWS gave it (DescribeAddonVersions or the EKS User Guide's table)."""
    source: str


@dataclass(frozen=True)
class Row:
    """The versions of every add-on for one Kubernetes minor version."""

    checked: datetime.date
    """When the row was last checked against its sources."""
    cells: Mapping[str, Cell]
    """By add-on name; one for each of ADDONS."""


def _fail(where: str, problem: str) -> ValueError:
    return ValueError(f"{TABLE_PATH.name}: {where}: {problem}")


def _cell(where: str, raw: object) -> Cell:
    if not isinstance(raw, dict) or set(raw) != {"version", "confirmed", "source"}:
        raise _fail(where, "must be a table of exactly version, confirmed and source")
    version, confirmed, source = raw["version"], raw["confirmed"], raw["source"]
    if not isinstance(version, str) or not re.fullmatch(VERSION, version):
        raise _fail(where, f"version {version!r} must be {VERSION_SHAPE}")
    if not isinstance(confirmed, bool):
        raise _fail(where, f"confirmed {confirmed!r} must be true or false")
    if not isinstance(source, str) or not source.strip():
        raise _fail(where, "source must name where the version came from")
    return Cell(version, confirmed, source)


def parse_table(text: str) -> dict[str, Row]:
    """The rows of an add-on version table, by Kubernetes version; ValueError naming the row,
    the add-on and the field when one is malformed."""
    rows: dict[str, Row] = {}
    for k8s, raw in tomllib.loads(text).items():
        if not re.fullmatch(KUBERNETES_VERSION, k8s):
            raise _fail(repr(k8s), "a row is named after a Kubernetes minor version, e.g. 1.35")
        if not isinstance(raw, dict):
            raise _fail(k8s, "must be a table")
        checked = raw.get("checked")
        if type(checked) is not datetime.date:
            raise _fail(k8s, f"checked {checked!r} must be a date, e.g. 2026-12-01")
        names = set(raw) - {"checked"}
        if names != set(ADDONS):
            raise _fail(
                k8s,
                f"must have exactly the add-ons {', '.join(ADDONS)}; "
                f"missing {sorted(set(ADDONS) - names)}, unknown {sorted(names - set(ADDONS))}",
            )
        rows[k8s] = Row(checked, {a: _cell(f"{k8s}.{a}", raw[a]) for a in ADDONS})
    return rows


def _string(value: str) -> str:
    # A TOML basic string; the table's strings never hold a control character.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_table(rows: Mapping[str, Row]) -> str:
    """The table as addon_versions.toml holds it: rows in Kubernetes version order, add-ons
    in ADDONS order (what parse_table reads back unchanged)."""
    out = [HEADER]
    for k8s in sorted(rows, key=lambda v: tuple(int(p) for p in v.split("."))):
        row = rows[k8s]
        out.append(f'\n["{k8s}"]\nchecked = {row.checked.isoformat()}\n')
        for addon in ADDONS:
            cell = row.cells[addon]
            out.append(
                f'\n["{k8s}".{addon}]\nversion = {_string(cell.version)}\n'
                f"confirmed = {'true' if cell.confirmed else 'false'}\n"
                f"source = {_string(cell.source)}\n"
            )
    return "".join(out)


def load_table(path: Path = TABLE_PATH) -> dict[str, Row]:
    return parse_table(path.read_text(encoding="utf-8"))


TABLE: Mapping[str, Row] = load_table()
"""The committed table, by Kubernetes version."""


@dataclass(frozen=True, kw_only=True)
class AddonVersions:
    """The version of each add-on the cluster runs."""

    vpc_cni: str
    """vpc-cni, set through pulumi-eks' `vpcCniOptions.addonVersion`."""
    kube_proxy: str
    """kube-proxy, set through pulumi-eks' `kubeProxyAddonOptions.version`."""
    coredns: str
    """coredns, an `aws.eks.Addon` of the program's."""
    pod_identity_agent: str
    """eks-pod-identity-agent, an `aws.eks.Addon` of the program's."""
    metrics_server: str
    """metrics-server (EKS community add-on), an `aws.eks.Addon` of the program's."""

    @classmethod
    def of(cls, by_addon: Mapping[str, str]) -> AddonVersions:
        """From versions keyed by EKS add-on name (one for each of ADDONS)."""
        fields: dict[str, Any] = {FIELDS[a]: by_addon[a] for a in ADDONS}
        return cls(**fields)


FIELDS: Mapping[str, str] = {
    "vpc-cni": "vpc_cni",
    "kube-proxy": "kube_proxy",
    "coredns": "coredns",
    "eks-pod-identity-agent": "pod_identity_agent",
    "metrics-server": "metrics_server",
}
"""AddonVersions' field of each add-on, by EKS add-on name."""
