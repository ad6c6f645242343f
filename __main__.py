"""Composition root: read the stack's config, build the components, wire them, export."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.alarms import Alarms, AlarmsArgs
from components.app import App, AppArgs
from components.cluster import Cluster, ClusterArgs, cluster_creator
from components.config import check_cluster_creator, load_stack_config
from components.dashboard import Dashboard, DashboardArgs
from components.function import Function, FunctionArgs
from components.iam import RoleSettings
from components.load_balancer_controller import (
    LoadBalancerController,
    LoadBalancerControllerArgs,
)
from components.network import Network, NetworkArgs
from components.registry import TAG_SOURCES, Registry, RegistryArgs
from components.sources import check_build_context

ROOT = Path(__file__).resolve().parent

# Validated before anything is created: a bad value stops the program with nothing registered.
config = load_stack_config()
# Likewise the image's build context: only tracked files, with git's modes, so every checkout
# registers (and pulumi-docker-build hashes) the same build.
check_build_context(ROOT, TAG_SOURCES)
# Visible on every preview and up until the row is confirmed (make addon-versions).
for key, version in config.cluster.unconfirmed_addon_defaults:
    pulumi.log.warn(
        f"{key} defaults to {version}, which components/addon_versions.toml marks as not "
        f"confirmed against AWS for Kubernetes {config.cluster.kubernetes_version}: run "
        f"`make addon-versions K8S={config.cluster.kubernetes_version}` or set {key}"
    )
protect = config.shared.protect_resources
log_days = config.shared.log_retention_days
# Every role of the stack carries the boundary the CI deploy role requires (bootstrap/).
roles = RoleSettings(permissions_boundary_arn=config.shared.permissions_boundary_arn)

# Every AWS resource goes through this provider, so every taggable one carries these tags.
aws_provider = aws.Provider(
    "aws",
    aws.ProviderArgs(
        region=config.region,
        default_tags=aws.ProviderDefaultTagsArgs(
            tags={"project": config.project, "stack": config.stack, "managed-by": "pulumi"}
        ),
    ),
)
with_aws = pulumi.ResourceOptions(providers=[aws_provider])
cluster_name = config.cluster_name
check_cluster_creator(
    config, cluster_creator(cluster_name, pulumi.InvokeOptions(provider=aws_provider))
)

registry = Registry(
    "registry",
    RegistryArgs(
        context=ROOT, architecture=config.cluster.node_architecture, force_delete=not protect
    ),
    with_aws,
)
function = Function(
    "consumer",
    FunctionArgs(
        config=config.function,
        code_root=ROOT,
        region=config.region,
        log_retention_days=log_days,
        roles=roles,
        protect=protect,
    ),
    with_aws,
)
alarms = Alarms(
    "alarms",
    AlarmsArgs(
        config=config.alarms,
        queue_name=function.queue.name,
        dead_letter_queue_name=function.dead_letter_queue.name,
        function_name=function.function_name,
    ),
    with_aws,
)
dashboard = Dashboard(
    "dashboard",
    DashboardArgs(
        name=config.dashboard_name,
        stack=config.stack,
        region=config.region,
        queue_name=function.queue.name,
        dead_letter_queue_name=function.dead_letter_queue.name,
        function_name=function.function_name,
        alarm_arns=[alarm.arn for alarm in alarms.alarms.values()],
    ),
    with_aws,
)
network = Network(
    "network",
    NetworkArgs(config=config.network, flow_log_retention_days=log_days, roles=roles),
    with_aws,
)
cluster = Cluster(
    "cluster",
    ClusterArgs(
        name=cluster_name,
        config=config.cluster,
        roles=roles,
        vpc_id=network.vpc_id,
        public_subnet_ids=network.public_subnet_ids,
        private_subnet_ids=network.private_subnet_ids,
        deletion_protection=protect,
        log_retention_days=log_days,
        metrics_server=config.app.autoscaling,
    ),
    with_aws,
)
# The controller exists only for the public Service it turns into a load balancer.
controller = (
    LoadBalancerController(
        "lb-controller",
        LoadBalancerControllerArgs(
            cluster_name=cluster.cluster_name,
            cluster_arn=cluster.cluster_arn,
            region=config.region,
            vpc_id=network.vpc_id,
            roles=roles,
            provider=cluster.provider,
            nodes=cluster.node_group,
            pod_identity_agent=cluster.pod_identity_agent,
        ),
        with_aws,
    )
    if config.app.public
    else None
)
app = App(
    "app",
    AppArgs(
        config=config.app,
        image=registry.image_ref,
        queue_url=function.queue_url,
        send_policy=function.send_policy(),
        roles=roles,
        region=config.region,
        log_group_name=config.app_log_group_name,
        log_retention_days=log_days,
        cluster_name=cluster.cluster_name,
        cluster_arn=cluster.cluster_arn,
        kubernetes_version=cluster.kubernetes_version,
        provider=cluster.provider,
        nodes=cluster.node_group,
        pod_identity_agent=cluster.pod_identity_agent,
        metrics_server=cluster.metrics_server,
        load_balancer_controller=controller.release if controller else None,
        load_balancer_cidrs=network.public_subnet_cidrs,
    ),
    with_aws,
)

pulumi.export("clusterName", cluster.cluster_name)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("imageRef", registry.image_ref)
pulumi.export("queueUrl", function.queue_url)
pulumi.export("deadLetterQueueUrl", function.dead_letter_queue_url)
pulumi.export("functionName", function.function_name)
# The two log groups one Logs Insights query by trace id reads (docs/app.md).
pulumi.export("appLogGroupName", app.log_group.name)
pulumi.export("functionLogGroupName", function.log_group.name)
pulumi.export("appEndpoint", app.app_endpoint)
pulumi.export("dashboardName", dashboard.dashboard_name)
pulumi.export("dashboardUrl", dashboard.console_url)
