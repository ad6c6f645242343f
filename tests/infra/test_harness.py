"""The harness's public API (`run_program`), which the policy pack's tests build on."""

from __future__ import annotations

import dataclasses

import pytest

from components.config import ConfigError
from tests.infra.harness import Recorded, run_program


def test_run_program_returns_frozen_records_of_every_registration() -> None:
    records = run_program("dev")
    assert all(isinstance(r, Recorded) for r in records)
    assert [f.name for f in dataclasses.fields(Recorded)][:4] == [
        "type",
        "name",
        "inputs",
        "custom",
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        records[0].name = "x"  # type: ignore[misc]
    kinds = {r.type for r in records}
    assert {"aws:sqs/queue:Queue", "kubernetes:apps/v1:Deployment", "eks:index:Cluster"} <= kinds
    assert any(not r.custom for r in records)


def test_run_program_applies_overrides_and_raises_program_errors() -> None:
    records = run_program("dev", {"batchSize": "7"})
    [esm] = [r for r in records if r.type == "aws:lambda/eventSourceMapping:EventSourceMapping"]
    assert esm.inputs["batchSize"] == 7
    with pytest.raises(ConfigError, match="batchSize"):
        run_program("dev", {"batchSize": "0"})
