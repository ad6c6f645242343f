"""ECR repositories: scan on push, immutable tags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .rules import ResourceRule
from .values import UNKNOWN, get

ECR_REPOSITORY: Final = "aws:ecr/repository:Repository"


def check_ecr_scan_on_push(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type != ECR_REPOSITORY:
        return []
    scan = get(props, "imageScanningConfiguration", "scanOnPush")
    if scan is UNKNOWN or scan is True:
        return []
    return [
        "ECR repository must scan images on push: set "
        "image_scanning_configuration.scan_on_push=True "
        f"(imageScanningConfiguration.scanOnPush is {scan!r})."
    ]


def check_ecr_immutable_tags(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type != ECR_REPOSITORY:
        return []
    mutability = get(props, "imageTagMutability")
    if mutability is UNKNOWN or mutability == "IMMUTABLE":
        return []
    # Unset means MUTABLE (the provider's default); the *_WITH_EXCLUSION modes let some tags move.
    return [
        "ECR repository tags must be immutable so a tag always names one image: set "
        f"image_tag_mutability='IMMUTABLE' (got {mutability!r}; allowed: 'IMMUTABLE')."
    ]


RULES: Final = (
    ResourceRule(
        "ecr-scan-on-push",
        "ECR repositories scan every pushed image for vulnerabilities.",
        check_ecr_scan_on_push,
    ),
    ResourceRule(
        "ecr-immutable-tags",
        "ECR repositories use immutable tags.",
        check_ecr_immutable_tags,
    ),
)
