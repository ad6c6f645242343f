"""App: the HTTP service on the cluster, with its own AWS identity through Pod Identity."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.config import AppConfig
from components.iam import RoleSettings, role
from components.policies import document

NAMESPACE = "app"
"""The app's namespace, created with the "restricted" Pod Security Standard enforced."""
NAME = "app"
"""Name of the Deployment, Service, ServiceAccount, autoscaler and disruption budget."""
PORT = 8080
# The app drains within 25 s of SIGTERM (its interface); 30 s leaves it headroom.
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


class App(pulumi.ComponentResource):
    """The app Deployment in a namespace that enforces the "restricted" Pod Security Standard,
    allowed to send to one queue, behind a Service, autoscaled on CPU."""

    role: aws.iam.Role
    """The app's Pod Identity role."""
    deployment: k8s.apps.v1.Deployment
    """The app's Deployment."""
    service: k8s.core.v1.Service
    """The app's Service: ClusterIP, or an internet-facing NLB when `public`."""
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
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAMESPACE, labels=pss),
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
        self.role, credentials = self._identity(name, args)

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
                    spec=_pod(args, service_account.metadata.name, selector),
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                # Pods need nodes, and their AWS credentials from the association.
                depends_on=[args.nodes, *credentials],
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
        self.service = self._service(name, config, metadata, selector, on_cluster)
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
                    "http://" + (s.load_balancer.ingress[0].hostname or "")
                    if s and s.load_balancer and s.load_balancer.ingress
                    else "load balancer pending"
                )
            )
        else:
            self.app_endpoint = pulumi.Output.from_input(
                f"kubectl -n {NAMESPACE} port-forward svc/{NAME} 8080:80, "
                "then http://127.0.0.1:8080"
            )
        self.register_outputs({"app_endpoint": self.app_endpoint})

    def _identity(self, name: str, args: AppArgs) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
        """The app's role, and its one grant and the association that hands it to the app's
        pods: what pods need to exist before they start."""
        child = pulumi.ResourceOptions(parent=self)
        # Only pods of this service account, in this namespace, on this cluster may assume the
        # role: Pod Identity sets these session tags on every AssumeRole it makes.
        app_role = role(
            f"{name}-role",
            document(
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "pods.eks.amazonaws.com"},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                    "Condition": {
                        "StringEquals": {
                            "aws:RequestTag/eks-cluster-arn": args.cluster_arn,
                            "aws:RequestTag/kubernetes-namespace": NAMESPACE,
                            "aws:RequestTag/kubernetes-service-account": NAME,
                        }
                    },
                }
            ),
            args.roles,
            child,
        )
        grant = aws.iam.RolePolicy(
            f"{name}-policy",
            aws.iam.RolePolicyArgs(role=app_role.id, policy=args.send_policy),
            child,
        )
        association = aws.eks.PodIdentityAssociation(
            f"{name}-identity",
            aws.eks.PodIdentityAssociationArgs(
                cluster_name=args.cluster_name,
                namespace=NAMESPACE,
                service_account=NAME,
                role_arn=app_role.arn,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[args.pod_identity_agent]),
        )
        return app_role, [association, grant]

    def _service(
        self,
        name: str,
        config: AppConfig,
        metadata: k8s.meta.v1.ObjectMetaArgs,
        selector: dict[str, str],
        opts: pulumi.ResourceOptions,
    ) -> k8s.core.v1.Service:
        ports = [k8s.core.v1.ServicePortArgs(name="http", port=80, target_port="http")]
        if config.public:
            spec = k8s.core.v1.ServiceSpecArgs(
                type="LoadBalancer",
                selector=selector,
                ports=ports,
                load_balancer_source_ranges=list(config.allowed_cidrs),
            )
            annotations = {
                "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
            }
        else:
            spec = k8s.core.v1.ServiceSpecArgs(type="ClusterIP", selector=selector, ports=ports)
            annotations = {}
        return k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=metadata.name,
                namespace=metadata.namespace,
                labels=metadata.labels,
                annotations=annotations,
            ),
            spec=spec,
            opts=opts,
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
    args: AppArgs, service_account: pulumi.Input[str], selector: dict[str, str]
) -> k8s.core.v1.PodSpecArgs:
    """The app's pod: one container, non-root, read-only root, no capabilities, spread over
    zones; it passes the "restricted" Pod Security Standard."""
    config = args.config
    container = k8s.core.v1.ContainerArgs(
        name=NAME,
        image=args.image,
        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT)],
        env=[
            k8s.core.v1.EnvVarArgs(name="QUEUE_URL", value=args.queue_url),
            k8s.core.v1.EnvVarArgs(name="AWS_REGION", value=args.region),
            k8s.core.v1.EnvVarArgs(name="PORT", value=str(PORT)),
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
