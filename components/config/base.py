"""The machinery of the stack's config model (components/config/).

A `Section` is a frozen dataclass whose fields are `setting(...)`s: each names its flat config
key, the kind of value it holds (which parses Pulumi's config string and says what is allowed),
its default as Pulumi.yaml writes it, and a one-line description. Cross-field rules are the
section's `@rule` methods. `load_section` reads every key of a section and returns it, or every
problem found: a rule runs whenever the fields it reads parsed, so one bad value never hides
another and never causes a second, spurious problem.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar, dataclass_transform

import pulumi

from components.config.kinds import Invalid, Kind

T = TypeVar("T")
S = TypeVar("S", bound="Section")
ConfigValue = str | int | bool | list[str]
"""A value as Pulumi.yaml and the stack files write it."""

REQUIRED_HINT = "is required (see Pulumi.yaml for its description)"


class ConfigError(pulumi.RunError, ValueError):
    """One or more configuration values are invalid; `problems` lists each as a sentence.

    A RunError, so the Pulumi CLI prints the message alone rather than a traceback.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid stack configuration ({len(self.problems)} problem(s)):\n{lines}")


def problem(namespace: str, key: str, value: object, allowed: str) -> str:
    """One problem as the program reports it: `namespace:key = value: what is allowed`."""
    return f"{namespace}:{key} = {value!r}: {allowed}"


def config_string(value: ConfigValue) -> str:
    """A value the way Pulumi hands it to the program: JSON for lists, lower-case booleans,
    numbers and strings as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One config key: where it lives, what it holds, its default, what it is for."""

    key: str
    """The flat key users set (`ecr-eks-lambda:<key>`)."""
    kind: Kind[T]
    description: str
    """One line: what it does (what is allowed comes from `kind`)."""
    default: ConfigValue | None
    """As Pulumi.yaml writes it; None: the key is required."""
    field: str = ""
    """The section's attribute (set when the section is defined)."""

    def parse(self, raw: str) -> T:
        return self.kind.parse(raw)


_SETTING = "setting"


def setting(key: str, kind: Kind[T], description: str, *, default: ConfigValue | None = None) -> T:
    """A section field read from config key `key`. Without `default` the key is required.

    The field's Python default is `default` parsed, so a section built in code (a test's)
    holds exactly what an unset key gives, and a default the kind refuses fails at import.
    """
    meta = {_SETTING: Setting(key, kind, description, default)}
    if default is None:
        return dataclasses.field(metadata=meta)  # type: ignore[return-value]
    return dataclasses.field(default=kind.parse(config_string(default)), metadata=meta)  # type: ignore[return-value]


@dataclass(frozen=True)
class Problem:
    """A cross-field rule's finding: the field at fault, the value shown, what is allowed."""

    field: str
    value: object
    allowed: str


_RULES: list[Callable[..., Iterator[Problem]]] = []


def rule(method: Callable[[S], Iterator[Problem]]) -> Callable[[S], Iterator[Problem]]:
    """Mark a section method as a cross-field rule (it yields Problems)."""
    _RULES.append(method)
    return method


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(setting,))
class Section:
    """Base of the config model's sections: frozen, keyword-only dataclasses of settings."""

    _settings: ClassVar[tuple[Setting[Any], ...]]
    __dataclass_fields__: ClassVar[dict[str, Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True, kw_only=True)(cls)
        declared: list[Setting[Any]] = []
        for f in dataclasses.fields(cls):
            one = f.metadata.get(_SETTING)
            if not isinstance(one, Setting):
                raise TypeError(f"{cls.__name__}.{f.name} is not a setting(...)")
            declared.append(dataclasses.replace(one, field=f.name))
        cls._settings = tuple(declared)

    @classmethod
    def settings(cls) -> tuple[Setting[Any], ...]:
        """Its settings in declaration order."""
        return cls._settings

    @classmethod
    def key(cls, field: str) -> str:
        """The config key of `field`."""
        return next(s.key for s in cls._settings if s.field == field)

    @classmethod
    def rules(cls) -> tuple[Callable[..., Iterator[Problem]], ...]:
        """Its cross-field rules in declaration order."""
        return tuple(r for r in _RULES if vars(cls).get(r.__name__) is r)


class _Unparsed(Exception):
    """A rule read a field whose value did not parse."""


class _Parsed:
    """A section's parsed fields, for its rules: reading a field that did not parse stops the
    rule (its own problem is reported already); properties and methods work as on the section."""

    def __init__(self, cls: type[Section], values: Mapping[str, Any]) -> None:
        self._cls = cls
        self._values = values
        self._fields = {s.field for s in cls.settings()}

    def __getattr__(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        if name in self._fields:
            raise _Unparsed(name)
        return inspect.getattr_static(self._cls, name).__get__(self, self._cls)


def parse_setting(
    declared: Setting[T], read: Callable[[str], str | None], namespace: str, problems: list[str]
) -> tuple[bool, T | None]:
    """(parsed?, value) of one setting read with `read`; its problems appended to `problems`."""
    raw = read(declared.key)
    if raw is None:
        if declared.default is None:
            problems.append(problem(namespace, declared.key, None, REQUIRED_HINT))
            return False, None
        raw = config_string(declared.default)
    try:
        return True, declared.parse(raw)
    except Invalid as e:
        problems.extend(problem(namespace, declared.key, v, a) for v, a in e.problems)
        return False, None


def load_section(
    cls: type[S], read: Callable[[str], str | None], namespace: str, problems: list[str]
) -> S | None:
    """The section with every key read by `read`, or None with its problems appended."""
    values: dict[str, Any] = {}
    found: list[str] = []
    for declared in cls.settings():
        ok, value = parse_setting(declared, read, namespace, found)
        if ok:
            values[declared.field] = value
    parsed = _Parsed(cls, values)
    for check in cls.rules():
        try:
            found.extend(
                problem(namespace, cls.key(p.field), p.value, p.allowed) for p in check(parsed)
            )
        except _Unparsed:
            continue
    problems.extend(found)
    return None if found else cls(**values)


class ConfigSource(Protocol):
    """What the loader reads: `pulumi.Config`, or `FileConfig` outside Pulumi."""

    @property
    def name(self) -> str: ...

    def get(self, key: str) -> str | None: ...


class FileConfig:
    """One namespace of config values read from files, answering `get` as `pulumi.Config`
    does: the value as a string, None when unset."""

    def __init__(self, name: str, values: Mapping[str, str]) -> None:
        self._name = name
        self._values = dict(values)

    @property
    def name(self) -> str:
        return self._name

    def get(self, key: str) -> str | None:
        return self._values.get(key)
