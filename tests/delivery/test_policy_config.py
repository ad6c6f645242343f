"""Each stack's policy-pack configuration, which the workflows pass as `policyPackConfigs`:
`policy/config/<stack>.json` where the stack has an exception to a rule, else
`policy/default-config.json`; valid, and an exception only where the stack needs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.config import stack_config_from_files
from policy.guardrails.pack import RESOURCE_RULES, STACK_RULES
from tests.stacks import STACKS, policy_config_path

ROOT = Path(__file__).resolve().parents[2]
# https://www.pulumi.com/docs/iac/using-pulumi/crossguard/configuration/
LEVELS = {"advisory", "mandatory", "remediate", "disabled"}
RULES = {rule.name for rule in (*RESOURCE_RULES, *STACK_RULES)}


def policy_config(stack: str) -> dict[str, Any]:
    return json.loads((ROOT / policy_config_path(stack)).read_text())


def level(value: Any) -> str:
    return value if isinstance(value, str) else value.get("enforcementLevel", "")


def test_a_stacks_own_file_belongs_to_a_stack_and_the_default_turns_nothing_off():
    assert set(STACKS) >= {"dev", "prod"}
    own = sorted(p.stem for p in (ROOT / "policy" / "config").glob("*.json"))
    assert set(own) <= set(STACKS), own
    assert json.loads((ROOT / "policy" / "default-config.json").read_text()) == {}


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
