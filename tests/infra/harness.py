"""Runs the whole Pulumi program under recording mocks and returns what it registered.

`run_program(stack, overrides)` is the interface other parts (the policy pack's tests) use.
The stack's config is what the CLI would hand the program: Pulumi.<stack>.yaml, then
`overrides` (components.config.stack_values); unset keys take the model's defaults, as the
CLI applies them from the generated Pulumi.yaml. `run_component(build)` runs one component
alone under the same mocks.

Measured traps this works around (see shared notes on Pulumi mocks):
- remote components (`eks.Cluster`) register once and their resource-typed outputs must be
  resource references the monitor knows, so the mock registers a stand-in for the inner
  `aws.eks.Cluster` and returns a reference to it;
- the stock MockMonitor rebuilds resource references found in inputs on another thread and
  can hang; `RecordingMonitor.RegisterResource` replaces them with their URNs first;
- config and the root stack are process-global: each run resets both.
"""

from __future__ import annotations

import hashlib
import json
import runpy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import struct_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings

from components.config import PROJECT, stack_values
from components.iam import RoleSettings

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "eu-west-1"
"""The region of every stack file, and of single-component runs."""
# A documentation range (RFC 5737) stands in for the operator's address, which every real
# stack must set itself (the key has no default on purpose).
TEST_API_CIDRS = '["198.51.100.0/24"]'
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:user/deployer"
"""Who runs the program under the mocks, unless a test says otherwise."""
ALONE_BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/alone-boundary"
ALONE_ROLES = RoleSettings(permissions_boundary_arn=ALONE_BOUNDARY)
"""What components run alone create their roles with."""

# How a resource reference looks on the wire; the SDK keeps these private, the mock needs them
# to answer with references and to strip them from inputs.
_RESOURCE_SIG = rpc._special_resource_sig
_SIG_KEY = rpc._special_sig_key


@dataclass(frozen=True)
class Recorded:
    """One registration the program made.

    `type`, `name`, `inputs` (plain, camelCase wire names) and `custom` are the interface; the
    rest are extras: the provider reference (`urn::id`, custom resources only), the URN,
    for components the providers map they were given, the outputs the mock answered,
    whether the `protect` option is set, the URNs it depends on (`depends_on` and the
    resources its inputs came from), its `ignore_changes` paths as the engine gets them, and
    per input property the URNs of the resources its value came from (what the engine hands
    policy packs as property dependencies).
    """

    type: str
    name: str
    inputs: dict
    custom: bool
    provider: str = ""
    urn: str = ""
    providers: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    protect: bool = False
    dependencies: tuple[str, ...] = ()
    ignore_changes: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class Run:
    """Everything one program run produced."""

    records: list[Recorded]
    stack: str = ""
    """The stack it ran as."""
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    invokes: list[tuple[str, str]] = field(default_factory=list)
    """(token, provider reference) of every invoke the program made."""
    error: BaseException | None = None


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every registration and answers with realistic outputs per type token."""

    def __init__(
        self, region: str, caller_arn: str = DEPLOYER, existing_clusters: tuple[str, ...] = ()
    ) -> None:
        self.region = region
        self.caller_arn = caller_arn
        self.existing_clusters = existing_clusters
        self.records: list[Recorded] = []
        self.invokes: list[tuple[str, str]] = []
        self.monitor: RecordingMonitor | None = None

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
        token = args.token
        self.invokes.append((token, args.provider or ""))
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{z}" for z in "abc"]
            return {
                "names": names,
                "zoneIds": [f"use1-az{i}" for i in range(3)],
                "id": self.region,
            }, []
        if token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            return {
                "authorizationToken": "QVdTOm1vY2stcGFzc3dvcmQ=",
                "userName": "AWS",
                "password": "mock-password",
                "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com",
                "expiresAt": "2030-01-01T00:00:00Z",
                "id": self.region,
            }, []
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT,
                "arn": self.caller_arn,
                "userId": "AIDAMOCK",
                "id": ACCOUNT,
            }, []
        if token == "aws:eks/getClusters:getClusters":
            return {"names": list(self.existing_clusters), "id": self.region}, []
        if token == "aws:iam/getSessionContext:getSessionContext":
            # STS's assumed-role ARN names the role, not its path: IAM maps it back.
            arn = args.args["arn"]
            kind, _, rest = arn.split(":", 5)[5].partition("/")
            issuer = arn
            if kind == "assumed-role":
                issuer = f"arn:aws:iam::{ACCOUNT}:role/{rest.split('/')[0]}"
            return {"arn": arn, "issuerArn": issuer, "id": arn}, []
        if token == "aws:index/getPartition:getPartition":
            return {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
                "id": "aws",
            }, []
        if token == "aws:index/getRegion:getRegion":
            return {
                "region": self.region,
                "name": self.region,
                "endpoint": f"ec2.{self.region}.amazonaws.com",
                "description": self.region,
                "id": self.region,
            }, []
        raise NotImplementedError(f"the mocks do not know the invoke {token!r}; add it on purpose")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        custom = bool(args.custom)
        urn, providers, protect, dependencies, ignore_changes, property_dependencies = (
            self.monitor.registration(args) if self.monitor else ("", {}, False, (), (), {})
        )
        if not custom:
            outputs = self._eks_cluster(args, urn) if args.typ == "eks:index:Cluster" else {}
        else:
            outputs = {**args.inputs, **self._outputs(args.typ, args.name, args.inputs)}
        self.records.append(
            Recorded(
                args.typ,
                args.name,
                args.inputs,
                custom,
                args.provider or "",
                urn,
                providers,
                outputs,
                protect,
                dependencies,
                ignore_changes,
                property_dependencies,
            )
        )
        return f"{args.name}-id", outputs

    def _outputs(self, typ: str, name: str, inputs: dict) -> dict[str, Any]:
        r, a = self.region, ACCOUNT
        phys = inputs.get("name") or f"{name}-phys"
        by_type: dict[str, dict[str, Any]] = {
            "aws:sqs/queue:Queue": {
                "url": f"https://sqs.{r}.amazonaws.com/{a}/{phys}",
                "arn": f"arn:aws:sqs:{r}:{a}:{phys}",
            },
            "aws:ecr/repository:Repository": {
                "repositoryUrl": f"{a}.dkr.ecr.{r}.amazonaws.com/{phys}",
                "registryId": a,
                "arn": f"arn:aws:ecr:{r}:{a}:repository/{phys}",
            },
            # As a registry's would, the digest follows what is built (its tags are
            # content-derived), so a new image reaches its consumers (the Deployment).
            "docker-build:index:Image": {
                "digest": "sha256:"
                + hashlib.sha256(json.dumps([name, inputs.get("tags")]).encode()).hexdigest(),
                "ref": f"{name}@sha256:mock",
            },
            "aws:dynamodb/table:Table": {"arn": f"arn:aws:dynamodb:{r}:{a}:table/{phys}"},
            "aws:cloudwatch/logGroup:LogGroup": {"arn": f"arn:aws:logs:{r}:{a}:log-group:{phys}"},
            "aws:iam/role:Role": {"arn": f"arn:aws:iam::{a}:role/{phys}"},
            "aws:lambda/function:Function": {"arn": f"arn:aws:lambda:{r}:{a}:function:{phys}"},
            "aws:kms/key:Key": {"arn": f"arn:aws:kms:{r}:{a}:key/{name}-key-id"},
            "aws:sns/topic:Topic": {"arn": f"arn:aws:sns:{r}:{a}:{phys}"},
            "aws:cloudwatch/metricAlarm:MetricAlarm": {
                "arn": f"arn:aws:cloudwatch:{r}:{a}:alarm:{phys}"
            },
            # Dashboards are global: no region in the ARN.
            "aws:cloudwatch/dashboard:Dashboard": {
                "dashboardArn": f"arn:aws:cloudwatch::{a}:dashboard/{inputs.get('dashboardName')}"
            },
            "aws:ec2/launchTemplate:LaunchTemplate": {"latestVersion": 1},
            "aws:ec2/flowLog:FlowLog": {"arn": f"arn:aws:ec2:{r}:{a}:vpc-flow-log/fl-{name}"},
        }
        if typ == "kubernetes:core/v1:Service" and inputs.get("spec", {}).get("type") == (
            "LoadBalancer"
        ):
            # What the load balancer controller writes back once the NLB exists.
            host = f"{name}-0123456789abcdef.elb.{r}.amazonaws.com"
            return {"status": {"loadBalancer": {"ingress": [{"hostname": host}]}}}
        return {"name": phys, **by_type.get(typ, {"arn": f"arn:aws:mock:{r}:{a}:{typ}/{phys}"})}

    def _eks_cluster(self, args: pulumi.runtime.MockResourceArgs, urn: str) -> dict[str, Any]:
        """Outputs of the remote eks.Cluster: plain kubeconfig, and a reference to a stand-in
        for the inner aws.eks.Cluster, registered with the monitor so it can be resolved."""
        assert self.monitor is not None
        inner_type = "aws:eks/cluster:Cluster"
        inner_name = f"{args.name}-eksCluster"
        inner_urn = urn.rsplit("::", 1)[0] + f"${inner_type}::{inner_name}"
        cluster_name = args.inputs.get("name") or f"{args.name}-phys"
        inner_state = {
            "name": cluster_name,
            "arn": f"arn:aws:eks:{self.region}:{ACCOUNT}:cluster/{cluster_name}",
            "version": args.inputs.get("version"),
        }
        self.monitor.resources[inner_urn] = pulumi_mocks.MockMonitor.ResourceRegistration(
            inner_urn, f"{cluster_name}", inner_state
        )
        kubeconfig = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": cluster_name}]}
        return {
            "kubeconfig": kubeconfig,
            "kubeconfigJson": json.dumps(kubeconfig),
            "eksCluster": {_SIG_KEY: _RESOURCE_SIG, "urn": inner_urn, "id": cluster_name},
        }


_Registration = tuple[
    str, dict[str, str], bool, tuple[str, ...], tuple[str, ...], dict[str, tuple[str, ...]]
]


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """MockMonitor that strips resource references from inputs (they hang the stock one)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        mocks.monitor = self
        self._seen: dict[tuple[str, str], _Registration] = {}

    def registration(self, args: pulumi.runtime.MockResourceArgs) -> _Registration:
        """The URN, providers map, protect flag, dependencies, ignore_changes paths and property
        dependencies of the registration being handled."""
        return self._seen.get((args.typ, args.name), ("", {}, False, (), (), {}))

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method's name
        _replace_references(request.object)
        self._seen[(request.type, request.name)] = (
            self.make_urn(request.parent, request.type, request.name),
            dict(request.providers),
            bool(request.protect),
            tuple(request.dependencies),
            tuple(request.ignoreChanges),
            {key: tuple(deps.urns) for key, deps in request.propertyDependencies.items()},
        )
        return super().RegisterResource(request)


def _replace_references(struct: struct_pb2.Struct) -> None:
    """Replace each resource reference in `struct` (recursively) with its URN string."""
    for key in list(struct.keys()):
        value = struct[key]
        if isinstance(value, struct_pb2.Struct):
            if _SIG_KEY in value and value[_SIG_KEY] == _RESOURCE_SIG:
                struct[key] = str(value["urn"])
            else:
                _replace_references(value)
        elif isinstance(value, struct_pb2.ListValue):
            _replace_in_list(value)


def _replace_in_list(values: struct_pb2.ListValue) -> None:
    for i, value in enumerate(values):
        if isinstance(value, struct_pb2.Struct):
            if _SIG_KEY in value and value[_SIG_KEY] == _RESOURCE_SIG:
                values[i] = str(value["urn"])
            else:
                _replace_references(value)
        elif isinstance(value, struct_pb2.ListValue):
            _replace_in_list(value)


def run(
    stack: str,
    overrides: Mapping[str, str | None] | None = None,
    *,
    caller_arn: str = DEPLOYER,
    existing_clusters: tuple[str, ...] = (),
) -> Run:
    """Run the program once for `stack`; never raises for a program error (see `Run.error`).
    `caller_arn` is the identity it runs as (getCallerIdentity's ARN); `existing_clusters`
    the EKS clusters already in the region."""
    config = stack_values(
        stack, ROOT, {"clusterPublicAccessCidrs": TEST_API_CIDRS, **(overrides or {})}
    )
    return _run_under_mocks(
        lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"),
        stack=stack,
        config=config,
        mocks=RecordingMocks(config.get("aws:region", "us-east-1"), caller_arn, existing_clusters),
    )


def run_component(
    build: Callable[[], Mapping[str, Any] | None], region: str = REGION, *, preview: bool = False
) -> Run:
    """Run `build` (which creates one component) alone under the recording mocks, in a stack
    with no config, as an update or (`preview`) a preview; the outputs it returns are resolved
    into `Run.outputs`. Raises what `build` raised."""

    def body() -> None:
        for key, value in (build() or {}).items():
            pulumi.export(key, value)

    result = _run_under_mocks(
        body, stack="component", config={}, mocks=RecordingMocks(region), preview=preview
    )
    if result.error is not None:
        raise result.error
    return result


def _run_under_mocks(
    body: Callable[[], object],
    *,
    stack: str,
    config: Mapping[str, str],
    mocks: RecordingMocks,
    preview: bool = False,
) -> Run:
    monitor = RecordingMonitor(mocks)
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    pulumi.runtime.set_all_config(dict(config))

    result = Run(records=mocks.records, stack=stack, invokes=mocks.invokes)

    async def resolve_exports() -> None:
        root = settings.get_root_resource()
        assert root is not None
        for key, value in dict(getattr(root, "outputs", {})).items():
            out = pulumi.Output.from_input(value)
            result.outputs[key] = await out.future()
            if await out.is_secret():
                result.secret_outputs.add(key)

    @pulumi.runtime.test
    def program() -> Any:
        body()
        return resolve_exports()

    try:
        program()
    except Exception as exc:  # handed to the caller, who asserts on it
        result.error = exc
    return result


def run_program(stack: str, overrides: dict[str, str] | None = None) -> list[Recorded]:
    """The whole program for `stack` under recording mocks; raises if the program fails."""
    result = run(stack, overrides)
    if result.error is not None:
        raise result.error
    return result.records
