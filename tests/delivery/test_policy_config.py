"""Each stack's policy-pack configuration, `policy/config/<stack>.json`, which the workflows pass
as `policyPackConfigs`: valid, and an exception to a rule only where the stack needs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.config import stack_config_from_files
from policy.guardrails.pack import RESOURCE_RULES, STACK_RULES

ROOT = Path(__file__).resolve().parents[2]
STACKS = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))
# https://www.pulumi.com/docs/iac/using-pulumi/crossguard/configuration/
LEVELS = {"advisory", "mandatory", "remediate", "disabled"}
RULES = {rule.name for rule in (*RESOURCE_RULES, *STACK_RULES)}


def policy_config(stack: str) -> dict[str, Any]:
    return json.loads((ROOT / "policy" / "config" / f"{stack}.json").read_text())


def level(value: Any) -> str:
    return value if isinstance(value, str) else value.get("enforcementLevel", "")


def test_there_is_one_per_stack():
    assert STACKS == ["dev", "prod"]
    assert sorted(p.stem for p in (ROOT / "policy" / "config").glob("*.json")) == STACKS


@pytest.mark.parametrize("stack", STACKS)
def test_it_names_only_the_packs_rules_with_valid_enforcement_levels(stack):
    config = policy_config(stack)
    assert isinstance(config, dict)
    for name, value in config.items():
        assert name in RULES | {"all"}, f"{stack}: {name!r} is not a rule of the pack"
        assert level(value) in LEVELS, f"{stack}: {name!r} has enforcement level {value!r}"
    assert level(config.get("all", "mandatory")) == "mandatory"  # no stack turns them all off


@pytest.mark.parametrize("stack", STACKS)
def test_the_flow_log_rule_is_disabled_exactly_where_the_stack_turns_flow_logs_off(stack):
    # clusterPublicAccessCidrs is required and set per deployment, not in the stack files.
    flow_logs = stack_config_from_files(
        stack, ROOT, {"clusterPublicAccessCidrs": "[]"}
    ).network.flow_logs
    disabled = level(policy_config(stack).get("vpc-flow-logs", "mandatory")) == "disabled"
    assert disabled == (not flow_logs)
