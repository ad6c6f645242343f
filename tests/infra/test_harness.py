"""The harness's public API (`run_program`), which the policy pack's tests build on."""

from __future__ import annotations

import pytest

from components.config import ConfigError
from tests.infra.harness import run_program


def test_run_program_returns_records_of_every_registration() -> None:
    records = run_program("dev")
    kinds = {r.type for r in records}
    assert {"aws:sqs/queue:Queue", "kubernetes:apps/v1:Deployment", "eks:index:Cluster"} <= kinds
    assert any(not r.custom for r in records)


def test_run_program_applies_overrides_and_raises_program_errors() -> None:
    records = run_program("dev", {"batchSize": "7"})
    [esm] = [r for r in records if r.type == "aws:lambda/eventSourceMapping:EventSourceMapping"]
    assert esm.inputs["batchSize"] == 7
    with pytest.raises(ConfigError, match="batchSize"):
        run_program("dev", {"batchSize": "0"})
