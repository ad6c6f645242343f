"""Rewrite one row of components/addon_versions.toml from EKS: `make addon-versions K8S=1.36`.

For each add-on the cluster runs, asks `eks:DescribeAddonVersions` (kubernetesVersion, addonName)
and takes the version AWS marks `defaultVersion` for that Kubernetes version in
`compatibilities`, or, when none is marked, the newest. The row is dated today and every cell
marked confirmed with where it came from; the other rows stay as they are. Review the diff
(git diff components/addon_versions.toml) like any other change: an add-on upgrade is the
diff of this file. Needs AWS credentials that may call eks:DescribeAddonVersions.
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from components.addons import (
    ADDONS,
    KUBERNETES_VERSION,
    TABLE_PATH,
    VERSION,
    Cell,
    Row,
    load_table,
    render_table,
)


def _version_key(version: str) -> tuple[int, ...]:
    """v1.14.3-eksbuild.3 -> (1, 14, 3, 3): newest sorts last."""
    return tuple(int(n) for n in re.findall(r"\d+", version))


def _candidates(client: Any, kubernetes_version: str, addon: str) -> Iterator[dict[str, Any]]:
    """Every version EKS lists of `addon` for `kubernetes_version`, across pages."""
    pages = client.get_paginator("describe_addon_versions").paginate(
        kubernetesVersion=kubernetes_version, addonName=addon
    )
    for page in pages:
        for listed in page.get("addons", []):
            if listed.get("addonName") == addon:
                yield from listed.get("addonVersions", [])


def pick(client: Any, kubernetes_version: str, addon: str, region: str) -> Cell:
    """The version of `addon` to pin for `kubernetes_version`: AWS's default, else the newest."""
    versions = [
        v
        for v in _candidates(client, kubernetes_version, addon)
        if re.fullmatch(VERSION, v.get("addonVersion", ""))
    ]
    if not versions:
        raise SystemExit(f"EKS lists no {addon} version for Kubernetes {kubernetes_version}")
    defaults = [
        v["addonVersion"]
        for v in versions
        for c in v.get("compatibilities", [])
        if c.get("clusterVersion") == kubernetes_version and c.get("defaultVersion")
    ]
    if defaults:
        chosen, how = max(defaults, key=_version_key), "the default"
    else:
        chosen, how = max((v["addonVersion"] for v in versions), key=_version_key), "the newest"
    return Cell(
        version=chosen,
        confirmed=True,
        source=f"eks:DescribeAddonVersions in {region}: {how} for Kubernetes {kubernetes_version}",
    )


def update(
    client: Any,
    kubernetes_version: str,
    region: str,
    today: datetime.date,
    path: Path = TABLE_PATH,
) -> Row:
    """Replace (or add) the row of `kubernetes_version` in the table at `path`."""
    if not re.fullmatch(KUBERNETES_VERSION, kubernetes_version):
        raise SystemExit(f"K8S={kubernetes_version!r}: a Kubernetes minor version, e.g. 1.36")
    rows = load_table(path)
    row = Row(today, {a: pick(client, kubernetes_version, a, region) for a in ADDONS})
    rows[kubernetes_version] = row
    path.write_text(render_table(rows), encoding="utf-8")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Rewrite one row of components/addon_versions.toml from EKS."
    )
    parser.add_argument("kubernetes_version", help="e.g. 1.36")
    parser.add_argument("--region", help="default: the AWS CLI's (AWS_REGION, profile)")
    parser.add_argument("--table", type=Path, default=TABLE_PATH, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    import boto3

    client = boto3.client("eks", region_name=args.region)
    row = update(
        client, args.kubernetes_version, client.meta.region_name, datetime.date.today(), args.table
    )
    for addon, cell in row.cells.items():
        print(f"{addon}: {cell.version} ({cell.source})")
    print(f"rewrote {args.table.name} row {args.kubernetes_version}; review `git diff`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
