"""The cluster's config section (components/cluster.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from components import addons, limits
from components.addons import AddonVersions
from components.config.base import Problem, Section, rule, setting
from components.config.kinds import (
    CIDRS,
    PRINCIPAL_ARNS,
    ROLE_ARNS,
    Choice,
    Integer,
    Text,
    or_empty,
)

NodeArchitecture = Literal["arm64", "amd64"]
CapacityType = Literal["ON_DEMAND", "SPOT"]
SupportType = Literal["STANDARD", "EXTENDED"]
# Graviton instance families carry a `g` after the generation digit (t4g, m7g, c7gn, r8gd).
_GRAVITON_FAMILY = re.compile(r"^[a-z]+\d+g[a-z]*\.")
_TABLE = f"components/{addons.TABLE_PATH.name}"
_ADDON_VERSION = or_empty(
    Text(addons.VERSION, f"an EKS add-on version {addons.VERSION_SHAPE}"),
    f"the version {_TABLE} lists for kubernetesVersion",
)


# ClusterConfig's version field of each add-on: AddonVersions' field, `_version` added.
_ADDON_FIELDS = {addon: f"{field}_version" for addon, field in addons.FIELDS.items()}


def _addon_version(key: str, addon: str) -> str | None:
    return setting(
        key,
        _ADDON_VERSION,
        f"Version of the {addon} add-on, pinned. Unset, it follows kubernetesVersion: a "
        "change of kubernetesVersion moves every unset add-on version to that row.",
        default="",
    )


class ClusterConfig(Section):
    """The EKS cluster and its nodes (components/cluster.py)."""

    kubernetes_version: str = setting(
        "kubernetesVersion",
        Text(
            r"1\.(3[0-9])",
            "a Kubernetes minor version EKS supports, written 1.NN (1.30 to 1.39)",
        ),
        "The EKS Kubernetes minor version, pinned.",
        default="1.35",
    )
    support_type: SupportType = setting(
        "kubernetesSupportType",
        Choice(limits.EKS_SUPPORT_TYPES),
        "What EKS does when kubernetesVersion leaves standard support: STANDARD upgrades the "
        "control plane itself to the next version (the drift check then reports it); "
        "EXTENDED keeps it, billed extra per cluster-hour for up to 12 more months.",
        default="STANDARD",
    )
    public_access_cidrs: tuple[str, ...] = setting(
        "clusterPublicAccessCidrs",
        CIDRS,
        "IPv4 CIDRs that may reach the cluster's public API endpoint (for example your own "
        "address/32). An empty list turns the public endpoint off (private access only).",
    )
    viewer_role_arns: tuple[str, ...] = setting(
        "clusterViewerRoleArns",
        ROLE_ARNS,
        "IAM roles given read-only access to the cluster (an EKS access entry with "
        "AmazonEKSViewPolicy, which excludes Secrets), e.g. the CI preview role, so that "
        "`pulumi preview` can read the Kubernetes resources.",
        default=[],
    )
    admin_principal_arns: tuple[str, ...] = setting(
        "clusterAdminPrincipalArns",
        PRINCIPAL_ARNS,
        "IAM roles or users given cluster-wide admin access (an EKS access entry with "
        "AmazonEKSClusterAdminPolicy): the CI deploy role and a break-glass role, except "
        "whichever creates the cluster, which EKS makes admin itself and which cannot have a "
        "second access entry.",
        default=[],
    )
    node_instance_type: str = setting(
        "nodeInstanceType",
        Text(r"[a-z][a-z0-9-]*\.[a-z0-9]+", "an EC2 instance type such as t4g.medium"),
        "EC2 instance type of the managed node group; must match nodeArchitecture (Graviton "
        "families such as t4g and m7g are arm64).",
        default="t4g.medium",
    )
    node_architecture: NodeArchitecture = setting(
        "nodeArchitecture",
        Choice(limits.NODE_ARCHITECTURES),
        "CPU architecture of the nodes and of the app image.",
        default="arm64",
    )
    node_capacity_type: CapacityType = setting(
        "nodeCapacityType",
        Choice(limits.CAPACITY_TYPES),
        "Capacity type of the node group.",
        default="ON_DEMAND",
    )
    node_min_size: int = setting(
        "nodeMinSize", Integer(1, limits.MAX_NODES), "Minimum number of nodes.", default=2
    )
    node_desired_size: int = setting(
        "nodeDesiredSize",
        Integer(1, limits.MAX_NODES),
        "Desired number of nodes at creation, between nodeMinSize and nodeMaxSize.",
        default=2,
    )
    node_max_size: int = setting(
        "nodeMaxSize", Integer(1, limits.MAX_NODES), "Maximum number of nodes.", default=4
    )
    node_disk_size_gib: int = setting(
        "nodeDiskSizeGib",
        Integer(*limits.NODE_DISK_GIB),
        "Size of each node's encrypted gp3 root volume in GiB.",
        default=20,
    )

    vpc_cni_version: str | None = _addon_version("vpcCniVersion", "vpc-cni")
    kube_proxy_version: str | None = _addon_version("kubeProxyVersion", "kube-proxy")
    coredns_version: str | None = _addon_version("corednsVersion", "coredns")
    pod_identity_agent_version: str | None = _addon_version(
        "podIdentityAgentVersion", "eks-pod-identity-agent"
    )
    metrics_server_version: str | None = _addon_version("metricsServerVersion", "metrics-server")

    def _addon_overrides(self) -> dict[str, str | None]:
        """Each add-on's version key's value (None: unset), by EKS add-on name."""
        return {addon: getattr(self, field) for addon, field in _ADDON_FIELDS.items()}

    @property
    def addon_versions(self) -> AddonVersions:
        """Every add-on's version: its key's, else the table's for kubernetes_version."""
        row = addons.TABLE.get(self.kubernetes_version)
        chosen: dict[str, str] = {}
        for addon, override in self._addon_overrides().items():
            if override is None and row is None:
                raise ValueError(
                    f"no {addon} version for Kubernetes {self.kubernetes_version} in {_TABLE}"
                )
            chosen[addon] = override or row.cells[addon].version  # type: ignore[union-attr]
        return AddonVersions.of(chosen)

    @property
    def unconfirmed_addon_defaults(self) -> tuple[tuple[str, str], ...]:
        """(config key, version) of each add-on whose version is a table default not yet
        confirmed against AWS."""
        row = addons.TABLE.get(self.kubernetes_version)
        if row is None:
            return ()
        return tuple(
            (self.key(_ADDON_FIELDS[addon]), row.cells[addon].version)
            for addon, override in self._addon_overrides().items()
            if override is None and not row.cells[addon].confirmed
        )

    @rule
    def _addon_versions_known(self) -> Iterator[Problem]:
        if self.kubernetes_version in addons.TABLE:
            return
        overrides = self._addon_overrides()
        unset = [self.key(_ADDON_FIELDS[a]) for a, v in overrides.items() if v is None]
        if unset:
            yield Problem(
                "kubernetes_version",
                self.kubernetes_version,
                f"has no row in {_TABLE}, which has {', '.join(addons.TABLE)}: set every "
                f"add-on version ({', '.join(unset)} are unset), or add the row with "
                f"`make addon-versions K8S={self.kubernetes_version}`",
            )

    @rule
    def _instance_type_matches_architecture(self) -> Iterator[Problem]:
        graviton = bool(_GRAVITON_FAMILY.match(self.node_instance_type))
        if graviton != (self.node_architecture == "arm64"):
            yield Problem(
                "node_instance_type",
                self.node_instance_type,
                f"does not match {self.key('node_architecture')} {self.node_architecture!r} "
                "(Graviton families such as t4g, m7g are arm64; others are amd64)",
            )

    @rule
    def _admins_listed_once_and_not_as_viewers(self) -> Iterator[Problem]:
        # An IAM principal can be in only one access entry of a cluster.
        seen: set[str] = set()
        for arn in self.admin_principal_arns:
            if arn in seen:
                yield Problem("admin_principal_arns", arn, "is listed twice")
            elif arn in self.viewer_role_arns:
                yield Problem(
                    "admin_principal_arns",
                    arn,
                    f"is also in {self.key('viewer_role_arns')}: a principal can have one "
                    "access entry only; list it in one of the two",
                )
            seen.add(arn)

    @rule
    def _desired_between_min_and_max(self) -> Iterator[Problem]:
        if not self.node_min_size <= self.node_desired_size <= self.node_max_size:
            yield Problem(
                "node_desired_size",
                self.node_desired_size,
                f"must lie between {self.key('node_min_size')} ({self.node_min_size}) and "
                f"{self.key('node_max_size')} ({self.node_max_size})",
            )
