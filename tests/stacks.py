"""The stacks, for the tests: one per Pulumi.<stack>.yaml, and the order merges deploy them
in, read by .github/scripts/ci_stacks.py (the one place that knows both; CI runs it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parent.parent
CI_STACKS = REPO_ROOT / ".github" / "scripts" / "ci_stacks.py"


def _ci_stacks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_stacks", CI_STACKS)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_MODULE = _ci_stacks()


def stack_names(root: Path = REPO_ROOT) -> list[str]:
    return list(_MODULE.stacks(root))


def promotion_order(root: Path = REPO_ROOT) -> list[str]:
    return list(_MODULE.promotion(root))


def policy_config_path(stack: str, root: Path = REPO_ROOT) -> str:
    """The policy-pack configuration the workflows pass for `stack`, relative to `root`."""
    return str(_MODULE.policy_config(stack, root))


STACKS = stack_names()
