"""A small evaluator of IAM identity policies, to assert what the CI policies allow and deny
as requests (an action on a resource with request context) rather than as statement text.

It implements the part of AWS's evaluation logic these policies use (IAM User Guide, "Policy
evaluation logic" and "IAM JSON policy elements: Condition operators"): an explicit Deny
wins, otherwise any Allow allows, otherwise the request is implicitly denied; Action and
NotAction match case-insensitively with `*` and `?`; Resource and NotResource match with
`*` and `?`; within a Condition every operator and every key must hold, and a key holds when
any of its values matches. A key missing from the request makes every operator false except
the negated ones (`StringNotEquals`, `ArnNotEquals`, `ArnNotLike`), which are then true, and
`Null`, which tests exactly that. Condition keys are case-insensitive. Anything else
(ForAnyValue/ForAllValues, IfExists, policy variables, other operators) raises, so a policy
that starts using it fails its tests instead of being misjudged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Decision = Literal["Allow", "ExplicitDeny", "ImplicitDeny"]


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


def _pattern(glob: str, *, case_insensitive: bool) -> re.Pattern[str]:
    if "${" in glob:
        raise NotImplementedError(f"policy variables are not supported: {glob}")
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{body}$", re.IGNORECASE if case_insensitive else 0)


def _matches_any(value: str, globs: str | Sequence[str], *, case_insensitive: bool) -> bool:
    globs = [globs] if isinstance(globs, str) else globs
    return any(_pattern(g, case_insensitive=case_insensitive).match(value) for g in globs)


def _values(raw: str | bool | Sequence[str]) -> list[str]:
    if isinstance(raw, bool):
        return [str(raw).lower()]
    return [raw] if isinstance(raw, str) else list(raw)


def _operator_holds(operator: str, present: str | None, wanted: list[str]) -> bool:
    if operator == "Null":
        (expect_missing,) = wanted
        return (present is None) == (expect_missing == "true")
    negated = operator in {"StringNotEquals", "ArnNotEquals", "ArnNotLike"}
    if present is None:
        return negated
    if operator in {"StringEquals", "StringNotEquals"}:
        hit = present in wanted
    elif operator in {"StringLike", "ArnLike", "ArnEquals", "ArnNotEquals", "ArnNotLike"}:
        hit = _matches_any(present, wanted, case_insensitive=False)
    elif operator == "Bool":
        hit = present.lower() in wanted
    else:
        raise NotImplementedError(f"condition operator {operator} is not supported")
    return hit != negated


def _condition_holds(
    condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]
) -> bool:
    lowered = {k.lower(): v for k, v in context.items()}
    return all(
        _operator_holds(operator, lowered.get(key.lower()), _values(raw))
        for operator, keys in condition.items()
        for key, raw in keys.items()
    )


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    if "Action" in statement:
        action_ok = _matches_any(request.action, statement["Action"], case_insensitive=True)
    else:
        action_ok = not _matches_any(request.action, statement["NotAction"], case_insensitive=True)
    if "Resource" in statement:
        resource_ok = _matches_any(request.resource, statement["Resource"], case_insensitive=False)
    else:
        resource_ok = not _matches_any(
            request.resource, statement["NotResource"], case_insensitive=False
        )
    return (
        action_ok
        and resource_ok
        and _condition_holds(statement.get("Condition", {}), request.context)
    )


def evaluate(policies: Sequence[Mapping[str, Any]], request: Request) -> Decision:
    """The decision of a set of identity policies (of one principal) on one request."""
    statements = [s for policy in policies for s in policy["Statement"]]
    applicable = [s for s in statements if _applies(s, request)]
    if any(s["Effect"] == "Deny" for s in applicable):
        return "ExplicitDeny"
    return "Allow" if applicable else "ImplicitDeny"


def allows(
    policies: Sequence[Mapping[str, Any]],
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
) -> bool:
    """Whether the policies allow `action` on `resource` with this request context."""
    return evaluate(policies, Request(action, resource, context or {})) == "Allow"
