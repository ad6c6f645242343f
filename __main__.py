"""Composition root: read the stack's config, build the three components, wire them, export."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.alarms import Alarms, AlarmsArgs
from components.cluster import AppArgs, Cluster, ClusterArgs
from components.config import load_stack_config
from components.function import Function, FunctionArgs
from components.registry import Registry, RegistryArgs

ROOT = Path(__file__).resolve().parent

# Validated before anything is created: a bad value stops the program with nothing registered.
config = load_stack_config()

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

registry = Registry(
    "registry",
    RegistryArgs(
        context=ROOT,
        architecture=config.node_architecture,
        force_delete=not config.protect_resources,
    ),
    with_aws,
)

function = Function(
    "consumer",
    FunctionArgs(
        code_root=ROOT,
        region=config.region,
        architecture=config.function_architecture,
        memory_mb=config.function_memory_mb,
        timeout_seconds=config.function_timeout_seconds,
        reserved_concurrency=config.function_reserved_concurrency,
        batch_size=config.batch_size,
        batching_window_seconds=config.batching_window_seconds,
        max_concurrency=config.max_concurrency,
        max_receive_count=config.max_receive_count,
        queue_retention_seconds=config.queue_retention_seconds,
        log_retention_days=config.log_retention_days,
        powertools_layer_version=config.powertools_layer_version,
        protect=config.protect_resources,
    ),
    with_aws,
)

Alarms(
    "alarms",
    AlarmsArgs(
        queue_name=function.queue.name,
        dead_letter_queue_name=function.dead_letter_queue.name,
        function_name=function.function_name,
        oldest_message_seconds=config.oldest_message_alarm_seconds,
        email=config.alarm_email,
    ),
    with_aws,
)

cluster = Cluster(
    "cluster",
    ClusterArgs(
        app=AppArgs(
            image=registry.image_ref,
            queue_url=function.queue_url,
            policy=function.send_policy(),
            region=config.region,
            replicas=config.app_replicas,
            public=config.app_public,
            allowed_cidrs=config.app_allowed_cidrs,
            cpu_request=config.app_cpu_request,
            cpu_limit=config.app_cpu_limit,
            memory=config.app_memory,
            autoscaling=config.app_autoscaling,
            max_replicas=config.app_max_replicas,
            target_cpu_utilization=config.app_target_cpu_utilization,
        ),
        public_access_cidrs=config.cluster_public_access_cidrs,
        viewer_role_arns=config.cluster_viewer_role_arns,
        kubernetes_version=config.kubernetes_version,
        availability_zone_count=config.availability_zone_count,
        vpc_cidr=config.vpc_cidr,
        nat_per_az=config.nat_gateways == "perAz",
        node_instance_type=config.node_instance_type,
        node_architecture=config.node_architecture,
        capacity_type=config.node_capacity_type,
        node_min_size=config.node_min_size,
        node_desired_size=config.node_desired_size,
        node_max_size=config.node_max_size,
        node_disk_size_gib=config.node_disk_size_gib,
        deletion_protection=config.protect_resources,
        flow_logs=config.vpc_flow_logs,
        flow_log_traffic_type=config.vpc_flow_log_traffic_type,
        flow_log_retention_days=config.log_retention_days,
    ),
    with_aws,
)

pulumi.export("clusterName", cluster.cluster_name)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("imageRef", registry.image_ref)
pulumi.export("queueUrl", function.queue_url)
pulumi.export("deadLetterQueueUrl", function.dead_letter_queue_url)
pulumi.export("functionName", function.function_name)
pulumi.export("appEndpoint", cluster.app_endpoint)
