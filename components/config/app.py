"""The app's config section (components/app.py)."""

from __future__ import annotations

from collections.abc import Iterator

from components import limits, quantity
from components.config.base import Problem, Section, rule, setting
from components.config.kinds import CIDRS, Boolean, Integer, OrNone, Quantity


class AppConfig(Section):
    """The app on the cluster (components/app.py)."""

    replicas: int = setting(
        "appReplicas",
        Integer(1, limits.MAX_REPLICAS),
        "Replicas of the app Deployment; with appAutoscaling, the autoscaler's minimum. A "
        "PodDisruptionBudget (one pod down at a time) exists whenever there can be more than 1.",
        default=2,
    )
    public: bool = setting(
        "appPublic",
        Boolean(),
        "Expose the app through an internet-facing Network Load Balancer. Off: a ClusterIP "
        "Service reached with `kubectl port-forward`.",
        default=False,
    )
    allowed_cidrs: tuple[str, ...] = setting(
        "appAllowedCidrs",
        CIDRS,
        "Source CIDRs allowed through the load balancer; at least one when appPublic is true.",
        default=[],
    )
    cpu_request: str = setting(
        "appCpuRequest",
        Quantity(quantity.cpu_millicores, quantity.CPU_QUANTITY),
        "CPU request of the app container. The scheduler reserves it and the autoscaler's "
        "target is a percentage of it; one app process saturates about 1 CPU.",
        default="250m",
    )
    cpu_limit: str | None = setting(
        "appCpuLimit",
        OrNone(Quantity(quantity.cpu_millicores, quantity.CPU_QUANTITY), "no CPU limit"),
        "CPU limit of the app container, at least appCpuRequest; `none` lets the process use "
        "idle CPU on its node and never throttles it. A limit is enforced by CFS throttling: "
        "500m would halve a process that needs about 1 CPU.",
        default="none",
    )
    memory: str = setting(
        "appMemory",
        Quantity(quantity.memory_bytes, quantity.MEMORY_ALLOWED),
        "Memory request and limit of the app container (equal, so the pod reserves what it "
        "may use).",
        default="256Mi",
    )
    autoscaling: bool = setting(
        "appAutoscaling",
        Boolean(),
        "A HorizontalPodAutoscaler scales the app on CPU between appReplicas and "
        "appMaxReplicas, and the cluster gets EKS's metrics-server add-on. Off: a fixed "
        "appReplicas, no add-on.",
        default=True,
    )
    max_replicas: int = setting(
        "appMaxReplicas",
        Integer(1, limits.MAX_REPLICAS),
        "The autoscaler's maximum, at least appReplicas. Nodes do not scale with it: keep "
        "appMaxReplicas x appCpuRequest within what nodeDesiredSize nodes can hold.",
        default=4,
    )
    target_cpu_utilization: int = setting(
        "appTargetCpuUtilization",
        Integer(*limits.CPU_UTILIZATION),
        "Average CPU use the autoscaler keeps the app's pods at, in percent of appCpuRequest; "
        "the rest is headroom while new pods start.",
        default=70,
    )

    @property
    def most_replicas(self) -> int:
        """The most pods the Deployment can have."""
        return max(self.replicas, self.max_replicas) if self.autoscaling else self.replicas

    @rule
    def _public_needs_sources(self) -> Iterator[Problem]:
        if self.public and not self.allowed_cidrs:
            yield Problem(
                "allowed_cidrs",
                [],
                f"must list at least one source CIDR when {self.key('public')} is true",
            )

    @rule
    def _limit_at_least_request(self) -> Iterator[Problem]:
        limit = self.cpu_limit
        if limit is not None and (
            quantity.cpu_millicores(limit) < quantity.cpu_millicores(self.cpu_request)
        ):
            yield Problem(
                "cpu_limit",
                limit,
                f"must be none or at least {self.key('cpu_request')} ({self.cpu_request!r})",
            )

    @rule
    def _max_at_least_replicas(self) -> Iterator[Problem]:
        if self.autoscaling and self.max_replicas < self.replicas:
            yield Problem(
                "max_replicas",
                self.max_replicas,
                f"must be at least {self.key('replicas')} ({self.replicas}), the autoscaler's "
                "minimum",
            )
