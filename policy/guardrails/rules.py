"""What a rule of the pack is: a named, described check, over one resource or the stack."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource

ResourceCheck = Callable[[str, Mapping[str, Any]], list[str]]
"""(resource type, properties) -> violation messages."""

StackCheck = Callable[[Sequence[PolicyResource]], list[tuple[str, str]]]
"""The stack's resources as pulumi-policy hands them over -> (URN, message) per violation."""


@dataclass(frozen=True)
class ResourceRule:
    name: str
    description: str
    check: ResourceCheck


@dataclass(frozen=True)
class StackRule:
    name: str
    description: str
    check: StackCheck
