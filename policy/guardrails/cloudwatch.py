"""CloudWatch dashboards: a name the CI deploy role may manage, within CloudWatch's rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from .rules import ResourceRule
from .values import UNKNOWN, get

CLOUDWATCH_DASHBOARD: Final = "aws:cloudwatch/dashboard:Dashboard"
DASHBOARD_NAME_PREFIX: Final = "ecr-eks-lambda-"
"""bootstrap/iam_policies.py's DASHBOARD_NAME_PREFIX (a test keeps the two equal; the CLI runs
each directory alone, so neither can import the other)."""
# PutDashboard's DashboardName: "The maximum length is 255, and valid characters are A-Z, a-z,
# 0-9, "-", and "_"" (CloudWatch API reference).
_DASHBOARD_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,255}")


def check_dashboard_name(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type != CLOUDWATCH_DASHBOARD:
        return []
    name = get(props, "dashboardName")
    if name is UNKNOWN:
        return []
    if (
        isinstance(name, str)
        and name.startswith(DASHBOARD_NAME_PREFIX)
        and _DASHBOARD_NAME.fullmatch(name)
    ):
        return []
    # Dashboards carry no tag, so the deploy role manages them by this name only: any other
    # name would pass the preview and be refused at `pulumi up`.
    return [
        f"CloudWatch dashboard name must start with {DASHBOARD_NAME_PREFIX!r} (the CI deploy "
        "role may manage only dashboards named so) and be at most 255 letters, digits, '-' "
        f"and '_' (got dashboardName={name!r})."
    ]


RULES: Final = (
    ResourceRule(
        "cloudwatch-dashboard-name",
        "CloudWatch dashboards are named so that the CI deploy role may manage them.",
        check_dashboard_name,
    ),
)
