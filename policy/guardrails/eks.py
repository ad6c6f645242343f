"""EKS clusters (the pulumi-eks component and the raw resource): control-plane logging,
secrets encryption."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .rules import ResourceRule
from .values import UNKNOWN, get, is_set, items

EKS_COMPONENT_CLUSTER: Final = "eks:index:Cluster"
EKS_CLUSTER: Final = "aws:eks/cluster:Cluster"
REQUIRED_CLUSTER_LOG_TYPES: Final = ("api", "audit", "authenticator")


def check_eks_control_plane_logging(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type not in (EKS_COMPONENT_CLUSTER, EKS_CLUSTER):
        return []
    logged = items(props, "enabledClusterLogTypes")
    if get(props, "enabledClusterLogTypes") is UNKNOWN or UNKNOWN in logged:
        return []
    enabled = {t for t in logged if isinstance(t, str)}
    missing = [t for t in REQUIRED_CLUSTER_LOG_TYPES if t not in enabled]
    if not missing:
        return []
    return [
        "EKS control-plane logging must include "
        f"{list(REQUIRED_CLUSTER_LOG_TYPES)}: enabled_cluster_log_types is missing {missing} "
        f"(got {sorted(enabled)})."
    ]


def check_eks_secrets_encryption(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type == EKS_COMPONENT_CLUSTER:
        if is_set(get(props, "encryptionConfigKeyArn")):
            return []
        return [
            "EKS cluster must encrypt Kubernetes secrets with a KMS key: set "
            "encryption_config_key_arn to a customer-managed key's ARN."
        ]
    if resource_type == EKS_CLUSTER:
        key = get(props, "encryptionConfig", "provider", "keyArn")
        resources = get(props, "encryptionConfig", "resources")
        covers_secrets = resources is UNKNOWN or "secrets" in items(
            props, "encryptionConfig", "resources"
        )
        if is_set(key) and covers_secrets:
            return []
        return [
            "EKS cluster must encrypt Kubernetes secrets with a KMS key: set "
            "encryption_config.provider.key_arn and encryption_config.resources=['secrets'] "
            f"(got keyArn={key!r}, resources={resources!r})."
        ]
    return []


RULES: Final = (
    ResourceRule(
        "eks-control-plane-logging",
        "EKS clusters send api, audit and authenticator control-plane logs to CloudWatch.",
        check_eks_control_plane_logging,
    ),
    ResourceRule(
        "eks-secrets-encryption",
        "EKS clusters encrypt Kubernetes secrets with a KMS key.",
        check_eks_secrets_encryption,
    ),
)
