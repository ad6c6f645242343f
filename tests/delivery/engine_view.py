"""What the Pulumi engine would hand the policy pack for a program run recorded under mocks.

`pulumi preview/up` calls `Analyze` with each resource's inputs, then `AnalyzeStack` with every
resource's outputs, URN, dependencies and property dependencies (the engine's
`stepGenerator.AnalyzeResources`). The records of tests/infra/harness.py hold the same facts
from the mock monitor's RegisterResource requests: `inputs`, `outputs` (what the mock answered),
`urn`, `dependencies`, `property_dependencies`. The records are duck-typed here: the harness
belongs to the infra tests and is imported when the tests run, not at collection.

Not carried over: the parent URN and the provider (no stack rule reads them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import json_format
from pulumi.runtime import rpc
from pulumi.runtime.proto import AnalyzerResource
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from tests.delivery.policy_sdk import Violation, analyze, stack_resource


def resource_violations(records: Sequence[Any]) -> list[Violation]:
    """Every resource policy over every recorded resource's inputs."""
    return [v for r in records for v in analyze(r.type, _wire(r.inputs), r.name, r.urn)]


def stack_view(records: Sequence[Any], *, first_preview: bool = False) -> list[AnalyzerResource]:
    """The `AnalyzeStackRequest` resources for the recorded run.

    `first_preview`: as in a preview before any resource exists, every value that comes from
    another resource (an input with a property dependency) and every value only the provider
    computes (an output the mock added to the inputs) is unknown; only the dependencies link
    resources then.
    """
    view = []
    for r in records:
        props = _wire(_downgrade_references(r.outputs))
        if first_preview:
            computed = set(props) - set(r.inputs)
            linked = {k for k, urns in r.property_dependencies.items() if urns}
            props = {
                k: UNKNOWN_STRING_VALUE if k in computed | linked else v for k, v in props.items()
            }
        view.append(
            stack_resource(r.type, r.name, r.urn, props, r.property_dependencies, r.dependencies)
        )
    return view


def _wire(props: Mapping[str, Any]) -> dict[str, Any]:
    """`props` the way they travel over gRPC (assets and archives in their wire form)."""
    # A loop of its own, never made the thread's current one: the mocked program runs on that.
    loop = asyncio.new_event_loop()
    try:
        struct = loop.run_until_complete(rpc.serialize_properties(dict(props), {}))
    finally:
        loop.close()
    return json_format.MessageToDict(struct)


def _downgrade_references(value: Any) -> Any:
    """Resource references as the engine sends them to analyzers, which do not accept
    resources: the resource's id when it has one, else its URN."""
    if isinstance(value, Mapping):
        if value.get(rpc._special_sig_key) == rpc._special_resource_sig:
            return value.get("id") or value["urn"]
        return {k: _downgrade_references(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_downgrade_references(v) for v in value]
    return value
