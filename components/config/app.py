"""The app's config section (components/app.py)."""

from __future__ import annotations

from collections.abc import Iterator

from components import limits, quantity
from components.config.base import Problem, Section, rule, setting
from components.config.kinds import (
    CIDRS,
    NAMESPACES,
    Boolean,
    Integer,
    OrNone,
    Quantity,
    Text,
    or_empty,
)


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
        "Expose the app through an internet-facing Network Load Balancer (HTTPS only, made by "
        "the AWS Load Balancer Controller, which the program then installs); needs "
        "appAllowedCidrs, appCertificateArn, appAuthIssuer and appAuthAudience. Off: a "
        "ClusterIP Service reached with `kubectl port-forward`.",
        default=False,
    )
    allowed_cidrs: tuple[str, ...] = setting(
        "appAllowedCidrs",
        CIDRS,
        "Source CIDRs allowed through the load balancer; at least one when appPublic is true.",
        default=[],
    )
    certificate_arn: str | None = setting(
        "appCertificateArn",
        or_empty(Text(limits.ACM_CERTIFICATE_ARN, "an ACM certificate ARN"), "no certificate"),
        "ACM certificate of the load balancer's TLS listener (port 443), in the stack's "
        "region; required when appPublic is true.",
        default="",
    )
    auth_issuer: str | None = setting(
        "appAuthIssuer",
        or_empty(
            Text(
                r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?",
                "an https URL without query or fragment, e.g. https://login.example.com/tenant",
            ),
            "no authentication",
        ),
        "OIDC issuer (the tokens' `iss`) whose signed bearer tokens the app requires on POST "
        "/events; set together with appAuthAudience, required when appPublic is true.",
        default="",
    )
    auth_audience: str | None = setting(
        "appAuthAudience",
        or_empty(
            Text(
                r"[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=-]{1,255}",
                "1 to 255 URI characters without spaces or %, e.g. api://events",
            ),
            "no authentication",
        ),
        "The `aud` a token must carry; set together with appAuthIssuer.",
        default="",
    )
    auth_required_scope: str | None = setting(
        "appAuthRequiredScope",
        or_empty(
            Text(
                r"[A-Za-z0-9._:/-]+", "a scope of letters, digits and . _ : / -, e.g. events:write"
            ),
            "any valid token",
        ),
        "A scope a token must carry to post events (403 without it); needs appAuthIssuer.",
        default="",
    )
    allowed_namespaces: tuple[str, ...] = setting(
        "appAllowedNamespaces",
        NAMESPACES,
        "Namespaces whose pods may call the app inside the cluster; a NetworkPolicy denies "
        "every other pod.",
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

    @property
    def authenticates(self) -> bool:
        """Whether the app verifies tokens on POST /events."""
        return self.auth_issuer is not None and self.auth_audience is not None

    @rule
    def _public_needs_sources(self) -> Iterator[Problem]:
        if self.public and not self.allowed_cidrs:
            yield Problem(
                "allowed_cidrs",
                [],
                f"must list at least one source CIDR when {self.key('public')} is true",
            )

    @rule
    def _public_needs_tls_and_auth(self) -> Iterator[Problem]:
        if not self.public:
            return
        for field in ("certificate_arn", "auth_issuer", "auth_audience"):
            if getattr(self, field) is None:
                yield Problem(field, "", f"must be set when {self.key('public')} is true")

    @rule
    def _issuer_and_audience_together(self) -> Iterator[Problem]:
        pair = ("auth_issuer", "auth_audience")
        for field, other in (pair, pair[::-1]):
            if self.public or getattr(self, other) is None:
                continue
            if getattr(self, field) is None:
                yield Problem(field, "", f"must be set when {self.key(other)} is")

    @rule
    def _scope_needs_issuer(self) -> Iterator[Problem]:
        if self.auth_required_scope is not None and self.auth_issuer is None:
            yield Problem(
                "auth_required_scope",
                self.auth_required_scope,
                f"must be empty unless {self.key('auth_issuer')} is set",
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
