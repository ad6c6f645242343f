"""App: the HTTP service on the cluster, with its own AWS identity through Pod Identity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import iam
from components.config import AppConfig
from components.iam import RoleSettings, role
from components.load_balancer_controller import LOAD_BALANCER_CLASS
from components.policies import document, pod_identity_trust, write_log_streams

NAMESPACE = "app"
"""The app's namespace, created with the "restricted" Pod Security Standard enforced."""
NAME = "app"
"""Name of the Deployment, Service, ServiceAccount, autoscaler and disruption budget."""
PORT = 8080
METRICS_PORT = 9090
"""Where a public app serves /metrics: a load balancer that cannot route by path never
forwards to it."""
HTTPS_PORT = 443
# TLS 1.3 and 1.2 only, AWS's recommended policy for NLB TLS listeners (ELB guide,
# "Security policies for your Network Load Balancer").
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# The EKS Pod Identity agent's link-local addresses (EKS guide, "Pod Identity agent"): without
# them a pod gets no AWS credentials.
POD_IDENTITY_AGENT = ("169.254.170.23/32", "fd00:ec2::23/128")
POD_IDENTITY_AGENT_PORT = 80
READINESS_GATE_LABEL = "elbv2.k8s.aws/pod-readiness-gate-inject"
# The app drains within 27 s of SIGTERM (its interface); 30 s leaves it headroom.
TERMINATION_GRACE_SECONDS = 30
# The image's non-root user (app/Dockerfile).
RUN_AS = 10001


@dataclass(frozen=True, kw_only=True)
class AppArgs:
    """Inputs of the App component."""

    config: AppConfig
    """Replicas, exposure, container resources and autoscaling."""
    image: pulumi.Input[str]
    """Digest-pinned image reference (`repo@sha256:...`, `Registry.image_ref`)."""
    queue_url: pulumi.Input[str]
    """URL of the queue the app sends to (its QUEUE_URL)."""
    send_policy: pulumi.Input[str]
    """IAM policy document the app's role gets (`Function.send_policy()`)."""
    roles: RoleSettings
    """How its IAM roles are created (the stack's permissions boundary)."""
    region: str
    """AWS region of the queue (the app's AWS_REGION)."""
    log_group_name: str
    """Name of the app's own log group, created here: the app ships its log lines there (its
    LOG_GROUP), one stream per pod."""
    log_retention_days: int
    """Retention of that log group in days."""
    cluster_name: pulumi.Input[str]
    """The EKS cluster the Pod Identity association is made in."""
    cluster_arn: pulumi.Input[str]
    """Its ARN: only pods of this cluster may assume the app's role."""
    kubernetes_version: str
    """The cluster's minor version, which the Pod Security Standard labels pin."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster (`Cluster.provider`)."""
    nodes: pulumi.Resource
    """What must exist before pods can be scheduled (`Cluster.node_group`)."""
    pod_identity_agent: pulumi.Resource
    """The agent that hands pods their credentials (`Cluster.pod_identity_agent`)."""
    metrics_server: pulumi.Resource | None
    """What the autoscaler reads CPU from (`Cluster.metrics_server`); needed with autoscaling."""
    load_balancer_controller: pulumi.Resource | None
    """What makes the public load balancer from the Service (`LoadBalancerController.release`);
    needed when public, and deleted only after the Service and so after the load balancer."""
    load_balancer_cidrs: Sequence[str]
    """The public subnets' CIDRs, where the load balancer's addresses are: the only sources
    outside the cluster the app's pods accept (when public)."""


class App(pulumi.ComponentResource):
    """The app Deployment in a namespace that enforces the "restricted" Pod Security Standard,
    allowed to send to one queue, behind a Service, autoscaled on CPU."""

    role: aws.iam.Role
    """The app's Pod Identity role."""
    log_group: aws.cloudwatch.LogGroup
    """The app's own log group: every line it writes, beside its stdout."""
    deployment: k8s.apps.v1.Deployment
    """The app's Deployment."""
    service: k8s.core.v1.Service
    """The app's Service: ClusterIP, or an internet-facing NLB (TLS on 443 only) when `public`."""
    network_policies: list[k8s.networking.v1.NetworkPolicy]
    """Who may reach the app's pods and whom they may reach: nothing else."""
    autoscaler: k8s.autoscaling.v2.HorizontalPodAutoscaler | None
    """The HorizontalPodAutoscaler; None when `autoscaling` is off."""
    app_endpoint: pulumi.Output[str]
    """How to reach the app."""

    def __init__(
        self, name: str, args: AppArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ecr-eks-lambda:components:App", name, None, opts)
        config = args.config
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.provider)
        labels = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "ecr-eks-lambda"}
        selector = {"app.kubernetes.io/name": NAME}

        pss = {
            f"pod-security.kubernetes.io/{mode}{suffix}": value
            for mode in ("enforce", "audit", "warn")
            for suffix, value in (("", "restricted"), ("-version", f"v{args.kubernetes_version}"))
        }
        # Behind the NLB the controller's webhook gives new pods a readiness gate that turns
        # true once their target is healthy, so a rolling update never leaves the target
        # group without a healthy pod (its pod readiness gate guide).
        gates = {READINESS_GATE_LABEL: "enabled"} if config.public else {}
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAMESPACE, labels=pss | gates),
            opts=on_cluster,
        )
        metadata = k8s.meta.v1.ObjectMetaArgs(
            name=NAME, namespace=namespace.metadata.name, labels=labels
        )
        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=metadata,
            # The token stays mounted: the Pod Identity webhook skips pods that opt out of it
            # (reported for IRSA and Pod Identity alike). The account is bound to no Role, so
            # the token grants nothing beyond what every authenticated pod has.
            opts=on_cluster,
        )
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            aws.cloudwatch.LogGroupArgs(
                name=args.log_group_name, retention_in_days=args.log_retention_days
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.role, credentials = self._identity(name, args)
        controller = args.load_balancer_controller
        edge = [controller] if config.public and controller else []

        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=metadata,
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=config.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_unavailable=0, max_surge=1
                    ),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=_pod(args, service_account.metadata.name, selector, self.log_group.name),
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                # Pods need nodes, and their AWS credentials from the association; behind the
                # NLB, the webhook that adds their readiness gate.
                depends_on=[args.nodes, *credentials, *edge],
                # With an autoscaler the Deployment starts at its minimum and the autoscaler
                # owns the count from then on. Kubernetes advises leaving spec.replicas out
                # (its HPA guide), which restarts an existing Deployment at 1 pod; instead the
                # field is ignored, so the update leaves the count alone and, once the
                # autoscaler has changed it, drops it from the server-side apply rather than
                # conflicting with the autoscaler's field manager (pulumi-kubernetes' SSA
                # guide, "Handle Field Conflicts on Existing Resources").
                ignore_changes=["spec.replicas"] if config.autoscaling else None,
            ),
        )
        self.service = self._service(name, args, metadata, selector)
        self.network_policies = _network_policies(name, args, namespace, selector, on_cluster)
        self.autoscaler = (
            self._autoscaler(name, args, metadata, self.deployment) if config.autoscaling else None
        )

        # maxUnavailable 1 never blocks a drain, even at 1 pod, so the budget can stay while
        # the autoscaler moves between 1 and many.
        if config.most_replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata=metadata,
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                ),
                opts=on_cluster,
            )

        if config.public:
            self.app_endpoint = self.service.status.apply(
                lambda s: (
                    "https://" + (s.load_balancer.ingress[0].hostname or "")
                    if s and s.load_balancer and s.load_balancer.ingress
                    else "load balancer pending"
                )
            )
        else:
            self.app_endpoint = pulumi.Output.from_input(
                f"kubectl -n {NAMESPACE} port-forward svc/{NAME} 8080:80, "
                "then http://127.0.0.1:8080"
            )
        self.register_outputs(
            {"app_endpoint": self.app_endpoint, "log_group_name": self.log_group.name}
        )

    def _identity(self, name: str, args: AppArgs) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
        """The app's role, and its one grant and the association that hands it to the app's
        pods: what pods need to exist before they start."""
        child = pulumi.ResourceOptions(parent=self)
        # Only pods of this service account, in this namespace, on this cluster may assume the
        # role: Pod Identity sets these session tags on every AssumeRole it makes.
        app_role = role(
            f"{name}-role",
            document(pod_identity_trust(args.cluster_arn, NAMESPACE, NAME)),
            args.roles,
            child,
        )
        # Its own log streams only: the group is the program's, never created by the app.
        write_logs = aws.iam.RolePolicy(
            f"{name}-logs-policy",
            aws.iam.RolePolicyArgs(
                role=app_role.id,
                policy=document(write_log_streams(self.log_group.arn, sid="WriteOwnLogs")),
            ),
            child,
        )
        return app_role, [
            write_logs,
            *iam.pod_identity(
                name,
                app_role,
                args.send_policy,
                cluster_name=args.cluster_name,
                namespace=NAMESPACE,
                service_account=NAME,
                agent=args.pod_identity_agent,
                parent=self,
            ),
        ]

    def _service(
        self,
        name: str,
        args: AppArgs,
        metadata: k8s.meta.v1.ObjectMetaArgs,
        selector: dict[str, str],
    ) -> k8s.core.v1.Service:
        config = args.config
        if config.public:
            # TLS ends at the load balancer, which forwards to the pods' IPs (target type ip).
            # Its one listener is 443: no plain-HTTP port, and never the metrics port.
            spec = k8s.core.v1.ServiceSpecArgs(
                type="LoadBalancer",
                load_balancer_class=LOAD_BALANCER_CLASS,
                selector=selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="https", port=HTTPS_PORT, target_port="http", protocol="TCP"
                    )
                ],
                load_balancer_source_ranges=list(config.allowed_cidrs),
                # IP targets need no node ports, so none is opened on the nodes.
                allocate_load_balancer_node_ports=False,
            )
            prefix = "service.beta.kubernetes.io/aws-load-balancer"
            annotations = {
                f"{prefix}-scheme": "internet-facing",
                f"{prefix}-nlb-target-type": "ip",
                f"{prefix}-ssl-cert": config.certificate_arn,
                f"{prefix}-ssl-ports": "https",
                f"{prefix}-ssl-negotiation-policy": TLS_POLICY,
                # Stated rather than left to the default: the pods' NetworkPolicy admits the
                # load balancer's own addresses, not the clients'.
                f"{prefix}-target-group-attributes": "preserve_client_ip.enabled=false",
                f"{prefix}-healthcheck-protocol": "HTTP",
                f"{prefix}-healthcheck-path": "/readyz",
                f"{prefix}-healthcheck-port": "traffic-port",
            }
        else:
            spec = k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=80, target_port="http")],
            )
            annotations = {}
        controller = args.load_balancer_controller
        return k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=metadata.name,
                namespace=metadata.namespace,
                labels=metadata.labels,
                annotations=annotations,
            ),
            spec=spec,
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                # Made by the controller and deleted before it: on destroy the controller
                # removes the load balancer (the Service's finalizer) while it still runs, so
                # no load balancer or ENI is left to block the VPC's deletion.
                depends_on=[controller] if config.public and controller else None,
            ),
        )

    def _autoscaler(
        self,
        name: str,
        args: AppArgs,
        metadata: k8s.meta.v1.ObjectMetaArgs,
        deployment: k8s.apps.v1.Deployment,
    ) -> k8s.autoscaling.v2.HorizontalPodAutoscaler:
        return k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=metadata,
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=deployment.metadata.name
                ),
                min_replicas=args.config.replicas,
                max_replicas=args.config.max_replicas,
                # Scale-up and scale-down rates are Kubernetes' defaults: up at once, down
                # after 5 minutes of lower demand.
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization",
                                average_utilization=args.config.target_cpu_utilization,
                            ),
                        ),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                depends_on=[args.metrics_server] if args.metrics_server else None,
            ),
        )


def _pod(
    args: AppArgs,
    service_account: pulumi.Input[str],
    selector: dict[str, str],
    log_group: pulumi.Input[str],
) -> k8s.core.v1.PodSpecArgs:
    """The app's pod: one container, non-root, read-only root, no capabilities, spread over
    zones; it passes the "restricted" Pod Security Standard."""
    config = args.config
    container = k8s.core.v1.ContainerArgs(
        name=NAME,
        image=args.image,
        ports=[
            k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT),
            *(
                [k8s.core.v1.ContainerPortArgs(name="metrics", container_port=METRICS_PORT)]
                if config.public
                else []
            ),
        ],
        env=[
            k8s.core.v1.EnvVarArgs(name=key, value=value)
            for key, value in {
                "QUEUE_URL": args.queue_url,
                "AWS_REGION": args.region,
                "PORT": str(PORT),
                "METRICS_PORT": str(METRICS_PORT) if config.public else None,
                "AUTH_ISSUER": config.auth_issuer,
                "AUTH_AUDIENCE": config.auth_audience,
                "AUTH_REQUIRED_SCOPE": config.auth_required_scope,
                "LOG_GROUP": log_group,
            }.items()
            if value is not None
        ]
        + [
            # One log stream per pod, named after it, so replicas never write to the same one.
            k8s.core.v1.EnvVarArgs(
                name="LOG_STREAM",
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="metadata.name")
                ),
            )
        ],
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": config.cpu_request, "memory": config.memory},
            limits={"memory": config.memory}
            | ({"cpu": config.cpu_limit} if config.cpu_limit is not None else {}),
        ),
        readiness_probe=k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path="/readyz", port="http"),
            period_seconds=5,
            failure_threshold=2,
            timeout_seconds=2,
        ),
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="http"),
            initial_delay_seconds=5,
            period_seconds=10,
            failure_threshold=3,
            timeout_seconds=2,
        ),
        security_context=k8s.core.v1.SecurityContextArgs(
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            run_as_non_root=True,
            run_as_user=RUN_AS,
            run_as_group=RUN_AS,
            capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        ),
        # The root filesystem is read-only; Python and libraries may still want /tmp.
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],  # noqa: S108
    )
    return k8s.core.v1.PodSpecArgs(
        service_account_name=service_account,
        termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
        security_context=k8s.core.v1.PodSecurityContextArgs(
            run_as_non_root=True,
            run_as_user=RUN_AS,
            run_as_group=RUN_AS,
            fs_group=RUN_AS,
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        ),
        topology_spread_constraints=[
            k8s.core.v1.TopologySpreadConstraintArgs(
                max_skew=1,
                topology_key="topology.kubernetes.io/zone",
                # Prefer spreading; never leave a replica pending because a zone has no node
                # at the moment.
                when_unsatisfiable="ScheduleAnyway",
                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            )
        ],
        containers=[container],
        volumes=[
            k8s.core.v1.VolumeArgs(
                name="tmp",
                empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi"),
            )
        ],
    )


def _network_policies(
    name: str,
    args: AppArgs,
    namespace: k8s.core.v1.Namespace,
    selector: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> list[k8s.networking.v1.NetworkPolicy]:
    """Default deny in the app's namespace, then: in from the load balancer (when public) and
    from the allowed namespaces; out to DNS, HTTPS and the Pod Identity agent.

    The kubelet's probes need no rule: the VPC CNI's network policy agent, like every
    NetworkPolicy implementation, always admits traffic from the pod's own node
    (aws/aws-network-policy-agent#56, #65). An ipBlock for the nodes' subnets would be wrong
    anyway: the VPC CNI gives pods addresses in those same subnets.
    """
    config = args.config
    pods = k8s.meta.v1.LabelSelectorArgs(match_labels=selector)

    def policy(
        suffix: str, spec: k8s.networking.v1.NetworkPolicySpecArgs
    ) -> k8s.networking.v1.NetworkPolicy:
        return k8s.networking.v1.NetworkPolicy(
            f"{name}-{suffix}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=suffix, namespace=namespace.metadata.name),
            spec=spec,
            opts=opts,
        )

    def tcp(*ports: int) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
        return [k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=p) for p in ports]

    def ip_blocks(*cidrs: str) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
        return [
            k8s.networking.v1.NetworkPolicyPeerArgs(
                ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr)
            )
            for cidr in cidrs
        ]

    policies = [
        policy(
            "default-deny",
            k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Ingress", "Egress"],
            ),
        )
    ]
    ingress: list[k8s.networking.v1.NetworkPolicyIngressRuleArgs] = []
    if config.public:
        # The load balancer's addresses, in the public subnets: with client IP preservation
        # off the pods see them, not the clients', for traffic and health checks alike.
        ingress.append(
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=ip_blocks(*args.load_balancer_cidrs), ports=tcp(PORT)
            )
        )
    if config.allowed_namespaces:
        ingress.append(
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[
                    k8s.networking.v1.NetworkPolicyPeerArgs(
                        namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                            match_expressions=[
                                k8s.meta.v1.LabelSelectorRequirementArgs(
                                    key="kubernetes.io/metadata.name",
                                    operator="In",
                                    values=list(config.allowed_namespaces),
                                )
                            ]
                        )
                    )
                ],
                ports=tcp(PORT, *([METRICS_PORT] if config.public else [])),
            )
        )
    if ingress:
        policies.append(
            policy(
                "allow-callers",
                k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=pods, policy_types=["Ingress"], ingress=ingress
                ),
            )
        )
    dns_ports = [
        k8s.networking.v1.NetworkPolicyPortArgs(protocol=protocol, port=53)
        for protocol in ("UDP", "TCP")
    ]
    policies.append(
        policy(
            "allow-egress",
            k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=pods,
                policy_types=["Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": "kube-system"}
                                ),
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"k8s-app": "kube-dns"}
                                ),
                            )
                        ],
                        ports=dns_ports,
                    ),
                    # SQS and STS, through the NAT gateway: AWS's endpoints have no fixed
                    # addresses to name.
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(ports=tcp(HTTPS_PORT)),
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=ip_blocks(*POD_IDENTITY_AGENT), ports=tcp(POD_IDENTITY_AGENT_PORT)
                    ),
                ],
            ),
        )
    )
    return policies
