"""What a rule of the pack is: a named, described check, over one resource or the stack."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pulumi_policy import PolicyResource

ResourceCheck = Callable[[str, Mapping[str, Any]], list[str]]
"""(resource type, properties) -> violation messages."""

StackCheck = Callable[[Sequence[PolicyResource]], list[tuple[str, str]]]
"""The stack's resources as pulumi-policy hands them over -> (URN, message) per violation."""

CheckT = TypeVar("CheckT", ResourceCheck, StackCheck)


@dataclass(frozen=True)
class Rule(Generic[CheckT]):
    name: str
    """The policy's name, which `policy/config/<stack>.json` refers to."""
    description: str
    check: CheckT


ResourceRule = Rule[ResourceCheck]
StackRule = Rule[StackCheck]
