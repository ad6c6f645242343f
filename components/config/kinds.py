"""The kinds of value a setting holds: each parses Pulumi's config string (Pulumi hands the
program every value as a string) and says what is allowed, for the error and for the docs."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, TypeVar

from components import limits

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Invalid(Exception):
    """A config string a kind refuses: (value to show, what is allowed) for each problem."""

    def __init__(self, *problems: tuple[object, str]) -> None:
        super().__init__(problems)
        self.problems = problems


class Kind(Protocol[T_co]):
    """What a setting holds: how to parse Pulumi's string and what is allowed."""

    pulumi_type: ClassVar[str]
    """The type Pulumi.yaml declares: string, integer, boolean or array (of strings)."""

    @property
    def allowed(self) -> str:
        """The values allowed, as a noun phrase ("an integer from 1 to 100")."""
        ...

    def parse(self, raw: str) -> T_co:
        """The value of `raw`; raises Invalid naming the value and what is allowed."""
        ...


@dataclass(frozen=True)
class Integer:
    lo: int
    hi: int | None = None
    pulumi_type: ClassVar[str] = "integer"

    @property
    def allowed(self) -> str:
        if self.hi is None:
            return f"an integer >= {self.lo}"
        return f"an integer from {self.lo} to {self.hi}"

    def parse(self, raw: str) -> int:
        return _integer(
            raw, self.allowed, lambda v: v >= self.lo and (self.hi is None or v <= self.hi)
        )


@dataclass(frozen=True)
class OneOfIntegers:
    values: tuple[int, ...]
    pulumi_type: ClassVar[str] = "integer"

    @property
    def allowed(self) -> str:
        return f"one of {', '.join(map(str, self.values))}"

    def parse(self, raw: str) -> int:
        return _integer(raw, self.allowed, self.values.__contains__)


def _integer(raw: str, allowed: str, ok: Callable[[int], bool]) -> int:
    """`raw` as an integer that `ok` accepts; otherwise Invalid showing the number (or the
    text, when it is not one)."""
    try:
        value = int(raw)
    except ValueError:
        raise Invalid((raw, f"must be {allowed}")) from None
    if not ok(value):
        raise Invalid((value, f"must be {allowed}"))
    return value


@dataclass(frozen=True)
class Boolean:
    pulumi_type: ClassVar[str] = "boolean"

    @property
    def allowed(self) -> str:
        return "true or false"

    def parse(self, raw: str) -> bool:
        if raw.lower() not in ("true", "false"):
            raise Invalid((raw, f"must be {self.allowed}"))
        return raw.lower() == "true"


@dataclass(frozen=True)
class Choice(Generic[T]):
    options: tuple[T, ...]
    pulumi_type: ClassVar[str] = "string"

    @property
    def allowed(self) -> str:
        return f"one of {', '.join(map(str, self.options))}"

    def parse(self, raw: str) -> T:
        for option in self.options:
            if raw == option:
                return option
        raise Invalid((raw, f"must be {self.allowed}"))


@dataclass(frozen=True)
class Text:
    """A string matching `pattern` (whole), `allowed` saying what that means."""

    pattern: str
    allowed: str
    pulumi_type: ClassVar[str] = "string"

    def parse(self, raw: str) -> str:
        if not re.fullmatch(self.pattern, raw):
            raise Invalid((raw, f"must be {self.allowed}"))
        return raw


@dataclass(frozen=True)
class OptionalEmail:
    pulumi_type: ClassVar[str] = "string"

    @property
    def allowed(self) -> str:
        return "empty or an email address"

    def parse(self, raw: str) -> str | None:
        if not re.fullmatch(r"|[^@\s]+@[^@\s]+\.[^@\s]+", raw):
            raise Invalid((raw, f"must be {self.allowed}"))
        return raw or None


@dataclass(frozen=True)
class PrivateCidr:
    """An RFC 1918 IPv4 network with no host bits set, of a prefix length within bounds."""

    shortest: int
    longest: int
    pulumi_type: ClassVar[str] = "string"

    @property
    def allowed(self) -> str:
        return f"a private (RFC 1918) IPv4 CIDR from /{self.shortest} to /{self.longest}"

    def parse(self, raw: str) -> str:
        try:
            net = ipaddress.ip_network(raw, strict=True)
        except ValueError:
            net = None
        if not (
            isinstance(net, ipaddress.IPv4Network)
            and net.is_private
            and self.shortest <= net.prefixlen <= self.longest
        ):
            raise Invalid((raw, f"must be {self.allowed}"))
        return raw


@dataclass(frozen=True)
class Strings:
    """A JSON list of strings (`allowed` describes the list), each passing `check`
    (`item_problem` says what an item must be)."""

    check: Callable[[str], bool]
    allowed: str
    item_problem: str
    pulumi_type: ClassVar[str] = "array"

    def parse(self, raw: str) -> tuple[str, ...]:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise Invalid((raw, f"must be {self.allowed}"))
        bad = [(item, self.item_problem) for item in value if not self.check(item)]
        if bad:
            raise Invalid(*bad)
        return tuple(value)


@dataclass(frozen=True)
class Quantity:
    """A Kubernetes quantity that `measure` accepts; its ValueError says what is allowed
    (`forms` says it for the documentation)."""

    measure: Callable[[str], int]
    forms: str
    pulumi_type: ClassVar[str] = "string"

    @property
    def allowed(self) -> str:
        return self.forms

    def parse(self, raw: str) -> str:
        try:
            self.measure(raw)
        except ValueError as e:
            raise Invalid((raw, str(e))) from None
        return raw


@dataclass(frozen=True)
class OrNone(Generic[T]):
    """What `kind` allows, or `word` (`none` unless given; read as None), which means
    `meaning`; a string, whatever `kind` is."""

    kind: Kind[T]
    meaning: str
    word: str = "none"
    pulumi_type: ClassVar[str] = "string"

    @property
    def allowed(self) -> str:
        return f"{self.word or 'empty'} ({self.meaning}) or {self.kind.allowed}"

    def parse(self, raw: str) -> T | None:
        if raw == self.word:
            return None
        try:
            return self.kind.parse(raw)
        except Invalid as e:
            alternative = self.allowed.removesuffix(self.kind.allowed)
            raise Invalid(
                *(
                    (value, f"must be {alternative}{allowed.removeprefix('must be ')}")
                    for value, allowed in e.problems
                )
            ) from None


def or_empty(kind: Kind[T], meaning: str) -> OrNone[T]:
    """What `kind` allows, or the empty string (read as None), which means `meaning`."""
    return OrNone(kind, meaning, word="")


def _is_ipv4_network(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_network(text, strict=True), ipaddress.IPv4Network)
    except ValueError:
        return False


CIDRS = Strings(
    _is_ipv4_network,
    'a list of IPv4 CIDRs, e.g. ["203.0.113.7/32"]',
    "must be an IPv4 CIDR with no host bits set, e.g. 203.0.113.7/32",
)
PRINCIPAL_ARNS = Strings(
    lambda arn: re.fullmatch(limits.IAM_PRINCIPAL_ARN, arn) is not None,
    'a list of IAM role or user ARNs, e.g. ["arn:aws:iam::123456789012:role/break-glass"]',
    "must be IAM role or user ARNs, e.g. arn:aws:iam::123456789012:role/break-glass",
)
ROLE_ARNS = Strings(
    lambda arn: re.fullmatch(limits.IAM_ROLE_ARN, arn) is not None,
    'a list of IAM role ARNs, e.g. ["arn:aws:iam::123456789012:role/preview"]',
    "must be IAM role ARNs, e.g. arn:aws:iam::123456789012:role/preview",
)
NAMESPACES = Strings(
    lambda name: re.fullmatch(limits.DNS1123_LABEL, name) is not None,
    'a list of Kubernetes namespace names, e.g. ["producers"]',
    "must be a namespace name: at most 63 lower-case letters, digits or '-', starting and "
    "ending with a letter or digit (a DNS-1123 label)",
)
