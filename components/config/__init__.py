"""The stack's configuration, declared once: every key's type, default, bounds and description.

Keys stay flat (`ecr-eks-lambda:appReplicas`); each belongs to the section of the component
that uses it, one module per section here (`KEYS` maps key -> (section, field)). Pulumi.yaml's
`config:` block and the table in docs/infra.md are generated from the sections
(`make config-docs`; a test fails when they are stale). `load_stack_config` reads and checks
everything before the program creates its first resource and reports every problem at once,
each naming the key, the value and what is allowed.

Adding a key: a `setting(...)` in its section, its use in the component, `make config-docs`.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components import limits
from components.config.alarms import AlarmsConfig
from components.config.app import AppConfig
from components.config.base import (
    ConfigError,
    ConfigSource,
    ConfigValue,
    FileConfig,
    Section,
    Setting,
    config_string,
    load_section,
    parse_setting,
    problem,
)
from components.config.cluster import ClusterConfig
from components.config.function import FunctionConfig
from components.config.kinds import Text
from components.config.network import NetworkConfig
from components.config.shared import SharedConfig
from components.config.unknown import unknown_key_problems

PROJECT = "ecr-eks-lambda"
"""The project's config namespace (Pulumi.yaml's `name`)."""

REGION = Setting(
    "region",
    Text(r"[a-z]{2}(-[a-z]+)+-\d", "an AWS region name such as eu-west-1"),
    "The AWS region, set per stack as aws:region.",
    None,
    field="region",
)


@dataclass(frozen=True, kw_only=True)
class StackConfig:
    """Everything the program reads from config, typed and already validated."""

    project: str
    stack: str
    region: str
    shared: SharedConfig
    network: NetworkConfig
    cluster: ClusterConfig
    app: AppConfig
    function: FunctionConfig
    alarms: AlarmsConfig

    @property
    def cluster_name(self) -> str:
        """The EKS cluster's name: fixed, not auto-named, so the program can create its log
        group first and tell whether it exists; one per stack."""
        return cluster_name(self.project, self.stack)

    @property
    def dashboard_name(self) -> str:
        """The CloudWatch dashboard's name: fixed and starting with the project's name, because
        dashboards are global to the account and the CI deploy role may manage only those
        (bootstrap/iam_policies.py, DASHBOARD_NAME_PREFIX). The stack-name check that keeps
        the cluster name valid keeps this one valid too (it is the same name)."""
        return cluster_name(self.project, self.stack)

    @property
    def app_log_group_name(self) -> str:
        """The app's own log group (its LOG_GROUP): fixed, so an operator's Logs Insights query
        can name it, and one per stack."""
        return f"/{self.project}/{self.stack}/app"


def cluster_name(project: str, stack: str) -> str:
    """The EKS cluster's name for `stack` of `project`."""
    return f"{project}-{stack}"


SECTIONS: Mapping[str, type[Section]] = {
    name: hint
    for name, hint in typing.get_type_hints(StackConfig).items()
    if isinstance(hint, type) and issubclass(hint, Section)
}
"""StackConfig's sections by attribute name, in order."""


def _keys() -> dict[str, tuple[str, str]]:
    keys: dict[str, tuple[str, str]] = {}
    for name, section in SECTIONS.items():
        for declared in section.settings():
            if declared.key in keys:
                raise TypeError(f"config key {declared.key!r} is declared twice")
            keys[declared.key] = (name, declared.field)
    return keys


KEYS: Mapping[str, tuple[str, str]] = _keys()
"""Every project key -> (section, field), e.g. `KEYS["appReplicas"] == ("app", "replicas")`."""


def _across_sections(sections: Mapping[str, Section | None], namespace: str) -> Iterator[str]:
    """The rules that read more than one section, for the sections that parsed."""
    alarms, function = sections["alarms"], sections["function"]
    if isinstance(alarms, AlarmsConfig) and isinstance(function, FunctionConfig):
        bound = function.poison_message_age_seconds
        if alarms.oldest_message_seconds <= bound:
            yield problem(
                namespace,
                AlarmsConfig.key("oldest_message_seconds"),
                alarms.oldest_message_seconds,
                f"must be above {bound} s = min(3, {FunctionConfig.key('max_receive_count')} "
                f"({function.max_receive_count})) x the derived visibility timeout "
                f"({function.visibility_timeout_seconds} s): SQS counts a message in "
                "ApproximateAgeOfOldestMessage until its third receive, so one poison message "
                "would raise the alarm",
            )


def engine_config_keys() -> list[str]:
    """Every `namespace:key` the engine passed the program: the CLI's PULUMI_CONFIG, and what
    the automation API or the mocks set in the SDK's config map."""
    return list(dict.fromkeys([*runtime_config.get_config_env(), *runtime_config.CONFIG.get()]))


def load_stack_config(
    config: ConfigSource | None = None,
    aws_config: ConfigSource | None = None,
    *,
    keys: Iterable[str] | None = None,
    project: str | None = None,
    stack: str | None = None,
) -> StackConfig:
    """Build the StackConfig from the stack's config; raise ConfigError listing every problem.
    An unset key takes the model's default (the Pulumi CLI applies the same from Pulumi.yaml).

    `keys` are every `namespace:key` the stack sets, checked for unknown project keys (by
    default the engine's, engine_config_keys). `project`/`stack` default to the running
    Pulumi program's.
    """
    config = config or pulumi.Config()
    aws_config = aws_config or pulumi.Config("aws")
    problems = list(
        unknown_key_problems(engine_config_keys() if keys is None else keys, PROJECT, KEYS)
    )
    _, region = parse_setting(REGION, aws_config.get, aws_config.name, problems)
    sections = {
        name: load_section(section, config.get, config.name, problems)
        for name, section in SECTIONS.items()
    }
    project = project or pulumi.get_project()
    stack = stack or pulumi.get_stack()
    name = cluster_name(project, stack)
    if not re.fullmatch(limits.EKS_CLUSTER_NAME, name):
        problems.append(
            f"stack name {stack!r}: the EKS cluster is named {name!r}, which must be at most "
            "100 letters, digits, hyphens and underscores; use a stack name of those"
        )
    problems.extend(_across_sections(sections, config.name))
    if problems:
        raise ConfigError(problems)
    return StackConfig(
        project=project,
        stack=stack,
        region=typing.cast(str, region),
        **typing.cast(dict[str, Any], sections),
    )


def check_cluster_creator(config: StackConfig, creator_arn: str | None) -> None:
    """Raise ConfigError if `creator_arn`, the principal about to create the cluster
    (components.cluster.cluster_creator), is listed as an admin: EKS makes it admin itself,
    and a principal can have only one access entry."""
    key = ClusterConfig.key("admin_principal_arns")
    if creator_arn is not None and creator_arn in config.cluster.admin_principal_arns:
        raise ConfigError(
            [
                problem(
                    PROJECT,
                    key,
                    creator_arn,
                    "is the identity creating the cluster, which EKS makes admin itself "
                    "(and a principal can have one access entry only); remove it from "
                    f"{key}, or run the first up as another identity",
                )
            ]
        )


def stack_values(
    stack: str, root: Path, overrides: Mapping[str, str | None] | None = None
) -> dict[str, str]:
    """What `stack` sets, as the CLI hands it to the program (`namespace:key` -> string):
    Pulumi.<stack>.yaml's values, then `overrides` (plain keys are the project's; None
    removes a key). Defaults are left out: the loader applies them."""
    import yaml

    stack_file = root / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        raise ConfigError([f"stack {stack!r}: {stack_file.name} does not exist"])
    written: dict[str, ConfigValue] = (yaml.safe_load(stack_file.read_text()) or {}).get(
        "config"
    ) or {}
    values: dict[str, str] = {}
    for key, value in [*written.items(), *(overrides or {}).items()]:
        full = key if ":" in key else f"{PROJECT}:{key}"
        if value is None:
            values.pop(full, None)
        else:
            values[full] = config_string(value)
    return values


def stack_config_from_files(
    stack: str, root: Path, overrides: Mapping[str, str | None] | None = None
) -> StackConfig:
    """The StackConfig the program would build for `stack`, without the Pulumi runtime: the
    model's defaults, then Pulumi.<stack>.yaml's values, then `overrides` (see stack_values).
    Same validation, same errors. The one way to read a stack's config outside Pulumi (the
    local stack, the tests), so local and cloud settings cannot drift."""
    namespaces: dict[str, dict[str, str]] = {PROJECT: {}, "aws": {}}
    for full_key, value in stack_values(stack, root, overrides).items():
        namespace, _, key = full_key.rpartition(":")
        namespaces.setdefault(namespace, {})[key] = value
    return load_stack_config(
        FileConfig(PROJECT, namespaces[PROJECT]),
        FileConfig("aws", namespaces["aws"]),
        keys=[f"{namespace}:{key}" for namespace, values in namespaces.items() for key in values],
        project=PROJECT,
        stack=stack,
    )


__all__ = [
    "KEYS",
    "PROJECT",
    "SECTIONS",
    "AlarmsConfig",
    "AppConfig",
    "ClusterConfig",
    "ConfigError",
    "FunctionConfig",
    "NetworkConfig",
    "SharedConfig",
    "StackConfig",
    "check_cluster_creator",
    "load_stack_config",
    "stack_config_from_files",
    "stack_values",
]
