"""The stack's configuration: read once from `pulumi.Config`, validated, frozen.

Defaults live in one place, the `config:` block of Pulumi.yaml, which the Pulumi CLI applies
before the program runs; this module only parses and checks. Every problem is collected and
reported together, each naming the key, the value received and what is allowed, and all of it
happens before the program creates its first resource.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, overload

import pulumi

from components import limits, quantity

PROJECT = "ecr-eks-lambda"

NodeArchitecture = Literal["arm64", "amd64"]
FunctionArchitecture = Literal["arm64", "x86_64"]
NatGateways = Literal["perAz", "single"]
CapacityType = Literal["ON_DEMAND", "SPOT"]
FlowLogTrafficType = Literal["ALL", "REJECT"]

T = TypeVar("T")


class ConfigError(ValueError):
    """One or more configuration values are invalid; `problems` lists each as a sentence."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid stack configuration ({len(self.problems)} problem(s)):\n{lines}")


@dataclass(frozen=True, kw_only=True)
class StackConfig:
    """Everything the program reads from config, typed and already validated."""

    project: str
    stack: str
    region: str
    protect_resources: bool
    availability_zone_count: int
    vpc_cidr: str
    nat_gateways: NatGateways
    kubernetes_version: str
    cluster_public_access_cidrs: tuple[str, ...]
    cluster_viewer_role_arns: tuple[str, ...]
    node_instance_type: str
    node_architecture: NodeArchitecture
    node_capacity_type: CapacityType
    node_min_size: int
    node_desired_size: int
    node_max_size: int
    node_disk_size_gib: int
    vpc_flow_logs: bool
    vpc_flow_log_traffic_type: FlowLogTrafficType
    app_replicas: int
    app_public: bool
    app_allowed_cidrs: tuple[str, ...]
    app_cpu_request: str
    app_cpu_limit: str | None
    app_memory: str
    app_autoscaling: bool
    app_max_replicas: int
    app_target_cpu_utilization: int
    function_architecture: FunctionArchitecture
    function_memory_mb: int
    function_timeout_seconds: int
    function_reserved_concurrency: int
    batch_size: int
    batching_window_seconds: int
    max_concurrency: int
    max_receive_count: int
    queue_retention_seconds: int
    log_retention_days: int
    powertools_layer_version: int
    oldest_message_alarm_seconds: int
    alarm_email: str | None

    @property
    def visibility_timeout_seconds(self) -> int:
        """The queue's visibility timeout, derived from the function (see limits)."""
        return limits.visibility_timeout_for(
            self.function_timeout_seconds, self.batching_window_seconds
        )


class _Reader:
    """Reads raw config strings and records every problem instead of stopping at the first."""

    def __init__(self, read: Callable[[str], str | None], namespace: str) -> None:
        self._read = read
        self._namespace = namespace
        self.problems: list[str] = []

    def problem(self, key: str, value: object, allowed: str) -> None:
        self.problems.append(f"{self._namespace}:{key} = {value!r}: {allowed}")

    def _raw(self, key: str) -> str | None:
        raw = self._read(key)
        if raw is None:
            self.problem(key, None, "is required (see Pulumi.yaml for its description)")
        return raw

    def integer(self, key: str, lo: int, hi: int | None = None) -> int:
        raw = self._raw(key)
        allowed = f"must be an integer from {lo} to {hi}" if hi else f"must be an integer >= {lo}"
        if raw is None:
            return lo
        try:
            value = int(raw)
        except ValueError:
            self.problem(key, raw, allowed)
            return lo
        if value < lo or (hi is not None and value > hi):
            self.problem(key, value, allowed)
        return value

    def boolean(self, key: str) -> bool:
        raw = self._raw(key)
        if raw is None:
            return True
        if raw.lower() not in ("true", "false"):
            self.problem(key, raw, "must be true or false")
        return raw.lower() == "true"

    def choice(self, key: str, allowed: Sequence[T]) -> T:
        raw = self._raw(key)
        for option in allowed:
            if raw == option:
                return option
        if raw is not None:
            self.problem(key, raw, f"must be one of {', '.join(map(str, allowed))}")
        return allowed[0]

    def text(self, key: str, pattern: str, allowed: str) -> str:
        raw = self._raw(key)
        if raw is None:
            return ""
        if not re.fullmatch(pattern, raw):
            self.problem(key, raw, allowed)
        return raw

    def strings(
        self, key: str, check: Callable[[str], bool], allowed: str, as_list: str
    ) -> tuple[str, ...]:
        """A JSON list of strings (`as_list` says so when it is not one), each passing `check`
        (`allowed` says what that means)."""
        raw = self._raw(key)
        if raw is None:
            return ()
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(key, raw, as_list)
            return ()
        for item in value:
            if not check(item):
                self.problem(key, item, allowed)
        return tuple(value)

    @overload
    def quantity(self, key: str, parse: Callable[[str], int]) -> str: ...

    @overload
    def quantity(self, key: str, parse: Callable[[str], int], *, none: str) -> str | None: ...

    def quantity(
        self, key: str, parse: Callable[[str], int], *, none: str | None = None
    ) -> str | None:
        """A Kubernetes quantity that `parse` accepts (its ValueError says what is allowed).
        With `none` (what it means), the word `none` is allowed too and read as None.
        On a problem: "" (or None with `none`)."""
        raw = self._raw(key)
        failed = "" if none is None else None
        if raw is None:
            return failed
        if none is not None and raw == "none":
            return None
        try:
            parse(raw)
        except ValueError as e:
            allowed = str(e)
            if none is not None:
                allowed = f"must be none ({none}) or {allowed.removeprefix('must be ')}"
            self.problem(key, raw, allowed)
            return failed
        return raw

    def cidrs(self, key: str) -> tuple[str, ...]:
        return self.strings(
            key,
            _is_ipv4_network,
            "must be an IPv4 CIDR with no host bits set, e.g. 203.0.113.7/32",
            'must be a list of IPv4 CIDRs, e.g. ["203.0.113.7/32"]',
        )


def _is_ipv4_network(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_network(text, strict=True), ipaddress.IPv4Network)
    except ValueError:
        return False


# Graviton instance families carry a `g` after the generation digit (t4g, m7g, c7gn, r8gd).
_GRAVITON_FAMILY = re.compile(r"^[a-z]+\d+g[a-z]*\.")


class ConfigSource(Protocol):
    """What load_stack_config reads: `pulumi.Config`, or `FileConfig` outside Pulumi."""

    @property
    def name(self) -> str: ...

    def get(self, key: str) -> str | None: ...


def load_stack_config(
    config: ConfigSource | None = None,
    aws_config: ConfigSource | None = None,
    *,
    project: str | None = None,
    stack: str | None = None,
) -> StackConfig:
    """Build the StackConfig from the stack's config; raise ConfigError listing every problem.

    `project`/`stack` default to the running Pulumi program's.
    """
    config = config or pulumi.Config()
    aws_config = aws_config or pulumi.Config("aws")
    r = _Reader(config.get, config.name)

    region_reader = _Reader(aws_config.get, "aws")
    region = region_reader.text(
        "region", r"[a-z]{2}(-[a-z]+)+-\d", "must be an AWS region name such as eu-west-1"
    )

    vpc_cidr = r.text("vpcCidr", r".+", "")
    if vpc_cidr:
        try:
            net = ipaddress.ip_network(vpc_cidr, strict=True)
            if not (
                isinstance(net, ipaddress.IPv4Network)
                and net.is_private
                and 16 <= net.prefixlen <= 22
            ):
                raise ValueError
        except ValueError:
            r.problem("vpcCidr", vpc_cidr, "must be a private (RFC 1918) IPv4 CIDR from /16 to /22")

    version = r.text(
        "kubernetesVersion",
        r"1\.(3[0-9])",
        "must be a Kubernetes minor version EKS supports, written 1.NN (1.30 to 1.39)",
    )

    instance_type = r.text(
        "nodeInstanceType",
        r"[a-z][a-z0-9-]*\.[a-z0-9]+",
        "must be an EC2 instance type such as t4g.medium",
    )
    node_arch = r.choice("nodeArchitecture", limits.NODE_ARCHITECTURES)
    if instance_type and bool(_GRAVITON_FAMILY.match(instance_type)) != (node_arch == "arm64"):
        r.problem(
            "nodeInstanceType",
            instance_type,
            f"does not match nodeArchitecture {node_arch!r} (Graviton families such as t4g, m7g "
            "are arm64; others are amd64)",
        )

    node_min = r.integer("nodeMinSize", 1, limits.MAX_NODES)
    node_desired = r.integer("nodeDesiredSize", 1, limits.MAX_NODES)
    node_max = r.integer("nodeMaxSize", 1, limits.MAX_NODES)
    if not node_min <= node_desired <= node_max:
        r.problem(
            "nodeDesiredSize",
            node_desired,
            f"must lie between nodeMinSize ({node_min}) and nodeMaxSize ({node_max})",
        )

    app_public = r.boolean("appPublic")
    app_cidrs = r.cidrs("appAllowedCidrs")
    if app_public and not app_cidrs:
        r.problem(
            "appAllowedCidrs", [], "must list at least one source CIDR when appPublic is true"
        )

    app_replicas = r.integer("appReplicas", 1, limits.MAX_REPLICAS)
    cpu_request = r.quantity("appCpuRequest", quantity.cpu_millicores)
    cpu_limit = r.quantity("appCpuLimit", quantity.cpu_millicores, none="no CPU limit")
    if (
        cpu_request
        and cpu_limit
        and quantity.cpu_millicores(cpu_limit) < quantity.cpu_millicores(cpu_request)
    ):
        r.problem(
            "appCpuLimit", cpu_limit, f"must be none or at least appCpuRequest ({cpu_request!r})"
        )
    app_autoscaling = r.boolean("appAutoscaling")
    app_max_replicas = r.integer("appMaxReplicas", 1, limits.MAX_REPLICAS)
    if app_autoscaling and 1 <= app_max_replicas < app_replicas:
        r.problem(
            "appMaxReplicas",
            app_max_replicas,
            f"must be at least appReplicas ({app_replicas}), the autoscaler's minimum",
        )

    timeout = r.integer("functionTimeoutSeconds", *limits.FUNCTION_TIMEOUT)
    batch_size = r.integer("batchSize", *limits.BATCH_SIZE)
    window = r.integer("batchingWindowSeconds", *limits.BATCHING_WINDOW)
    if batch_size > limits.BATCH_SIZE_WITHOUT_WINDOW and window < 1:
        r.problem(
            "batchingWindowSeconds",
            window,
            f"must be at least 1 when batchSize ({batch_size}) is above "
            f"{limits.BATCH_SIZE_WITHOUT_WINDOW} (AWS Lambda's rule for SQS)",
        )
    max_concurrency = r.integer("maxConcurrency", *limits.MAX_CONCURRENCY)
    reserved = r.integer("functionReservedConcurrency", limits.MAX_CONCURRENCY[0])
    if reserved < max_concurrency:
        r.problem(
            "functionReservedConcurrency",
            reserved,
            f"must be at least maxConcurrency ({max_concurrency}); below it the SQS poller's "
            "invocations are throttled and messages go to the DLQ early",
        )
    retention = r.integer("queueRetentionSeconds", *limits.QUEUE_RETENTION)
    visibility = limits.visibility_timeout_for(timeout, window)
    if visibility > limits.MAX_VISIBILITY_TIMEOUT:
        r.problem(
            "functionTimeoutSeconds",
            timeout,
            f"gives a visibility timeout of {visibility} s (6 x timeout + batching window), "
            f"above SQS's maximum of {limits.MAX_VISIBILITY_TIMEOUT} s",
        )
    if retention <= visibility:
        r.problem(
            "queueRetentionSeconds",
            retention,
            f"must be longer than the derived visibility timeout ({visibility} s = 6 x "
            "functionTimeoutSeconds + batchingWindowSeconds)",
        )

    log_days = r.integer("logRetentionDays", 1)
    if log_days not in limits.LOG_RETENTION_DAYS:
        r.problem(
            "logRetentionDays",
            log_days,
            f"must be one of {', '.join(map(str, limits.LOG_RETENTION_DAYS))}",
        )

    email = r.text("alarmEmail", r"|[^@\s]+@[^@\s]+\.[^@\s]+", "must be empty or an email address")

    stack_config = StackConfig(
        project=project or pulumi.get_project(),
        stack=stack or pulumi.get_stack(),
        region=region,
        protect_resources=r.boolean("protectResources"),
        availability_zone_count=r.integer("availabilityZoneCount", 2, limits.MAX_AZS),
        vpc_cidr=vpc_cidr,
        nat_gateways=r.choice("natGateways", limits.NAT_GATEWAYS),
        kubernetes_version=version,
        cluster_public_access_cidrs=r.cidrs("clusterPublicAccessCidrs"),
        cluster_viewer_role_arns=r.strings(
            "clusterViewerRoleArns",
            lambda arn: re.fullmatch(limits.IAM_ROLE_ARN, arn) is not None,
            "must be IAM role ARNs, e.g. arn:aws:iam::123456789012:role/preview",
            'must be a list of IAM role ARNs, e.g. ["arn:aws:iam::123456789012:role/preview"]',
        ),
        node_instance_type=instance_type,
        node_architecture=node_arch,
        node_capacity_type=r.choice("nodeCapacityType", limits.CAPACITY_TYPES),
        node_min_size=node_min,
        node_desired_size=node_desired,
        node_max_size=node_max,
        node_disk_size_gib=r.integer("nodeDiskSizeGib", *limits.NODE_DISK_GIB),
        vpc_flow_logs=r.boolean("vpcFlowLogs"),
        vpc_flow_log_traffic_type=r.choice("vpcFlowLogTrafficType", limits.FLOW_LOG_TRAFFIC_TYPES),
        app_replicas=app_replicas,
        app_public=app_public,
        app_allowed_cidrs=app_cidrs,
        app_cpu_request=cpu_request,
        app_cpu_limit=cpu_limit,
        app_memory=r.quantity("appMemory", quantity.memory_bytes),
        app_autoscaling=app_autoscaling,
        app_max_replicas=app_max_replicas,
        app_target_cpu_utilization=r.integer("appTargetCpuUtilization", *limits.CPU_UTILIZATION),
        function_architecture=r.choice("functionArchitecture", limits.FUNCTION_ARCHITECTURES),
        function_memory_mb=r.integer("functionMemoryMb", *limits.FUNCTION_MEMORY),
        function_timeout_seconds=timeout,
        function_reserved_concurrency=reserved,
        batch_size=batch_size,
        batching_window_seconds=window,
        max_concurrency=max_concurrency,
        max_receive_count=r.integer("maxReceiveCount", *limits.MAX_RECEIVE_COUNT),
        queue_retention_seconds=retention,
        log_retention_days=log_days,
        powertools_layer_version=r.integer("powertoolsLayerVersion", 1),
        oldest_message_alarm_seconds=r.integer("oldestMessageAlarmSeconds", 60),
        alarm_email=email or None,
    )
    problems = region_reader.problems + r.problems
    if problems:
        raise ConfigError(problems)
    return stack_config


class FileConfig:
    """One namespace of config values read from files, answering `get` as `pulumi.Config`
    does: the stack's value, else the project's default, as a string (None when unset)."""

    def __init__(self, name: str, values: Mapping[str, str]) -> None:
        self._name = name
        self._values = dict(values)

    @property
    def name(self) -> str:
        return self._name

    def get(self, key: str) -> str | None:
        return self._values.get(key)


def _config_string(value: Any) -> str:
    # Pulumi hands the program every value as a string: JSON for lists and objects,
    # lower-case booleans, numbers as written.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def stack_config_from_files(
    stack: str, root: Path, overrides: Mapping[str, str] | None = None
) -> StackConfig:
    """The StackConfig the program would build for `stack`, without the Pulumi runtime:
    Pulumi.yaml's `config:` defaults, then Pulumi.<stack>.yaml's values, then `overrides`
    (keys without the project prefix; `aws:region` with it). Same validation, same errors.
    Used by the local stack (local/stack.py) so local and cloud settings cannot drift."""
    import yaml

    project_file = yaml.safe_load((root / "Pulumi.yaml").read_text())
    project = str(project_file["name"])
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        raise ConfigError([f"stack {stack!r}: {stack_file.name} does not exist"])
    stack_values = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}

    namespaces: dict[str, dict[str, str]] = {project: {}, "aws": {}}
    for key, spec in (project_file.get("config") or {}).items():
        if isinstance(spec, dict) and "default" in spec:
            namespaces[project][key] = _config_string(spec["default"])
    for full_key, value in {**stack_values, **(overrides or {})}.items():
        namespace, _, key = full_key.rpartition(":")
        namespaces.setdefault(namespace or project, {})[key] = _config_string(value)
    return load_stack_config(
        FileConfig(project, namespaces[project]),
        FileConfig("aws", namespaces["aws"]),
        project=project,
        stack=stack,
    )
