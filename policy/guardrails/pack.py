"""The pack: every rule of every concern as a mandatory pulumi-policy policy (`POLICIES`, which
policy/__main__.py serves)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from . import cloudwatch, ecr, eks, iam, pod_security, sqs, stack_rules
from .rules import ResourceCheck, StackCheck

RESOURCE_RULES: Final = (
    *ecr.RULES,
    *sqs.RULES,
    *iam.RULES,
    *eks.RULES,
    *pod_security.RULES,
    *cloudwatch.RULES,
)
STACK_RULES: Final = stack_rules.RULES


def _resource_validator(
    check: ResourceCheck,
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args.resource_type, args.props):
            report_violation(message, None)

    return validate


def _stack_validator(check: StackCheck) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for urn, message in check(args.resources):
            report_violation(message, urn)

    return validate


_MANDATORY: Final = EnforcementLevel.MANDATORY
POLICIES: Final[list[Policy]] = [
    *(
        ResourceValidationPolicy(r.name, r.description, _resource_validator(r.check), _MANDATORY)
        for r in RESOURCE_RULES
    ),
    *(
        StackValidationPolicy(r.name, r.description, _stack_validator(r.check), _MANDATORY)
        for r in STACK_RULES
    ),
]
