"""`make outputs`, `make kubeconfig` and `make destroy` after `make up`, with fake CLIs: the
same backend and passphrase as `up`, the outputs the program exports (under mocks), and a
destroy that stops before it starts when resources are protected, saying how to unprotect."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from tests.infra.fake_cli import Sandbox, make_sandbox, readme_blocks
from tests.infra.harness import Run, run

CIDR = "203.0.113.7/32"


def deployed(tmp_path: Path, creds: dict[str, str], stack: str) -> tuple[Sandbox, str]:
    """A sandbox after `make up STACK=<stack>` on the default local backend."""
    sandbox = make_sandbox(tmp_path)
    up = sandbox.run("make", "up", f"STACK={stack}", f"API_CIDR={CIDR}", env=creds)
    assert up.returncode == 0, up.stderr
    return sandbox, f"file://{sandbox.state_dir}"


def shown_outputs(result: Run) -> dict[str, Any]:
    """`pulumi stack output --json` of a stack the program made: secrets masked."""
    return {k: "[secret]" if k in result.secret_outputs else v for k, v in result.outputs.items()}


def export(result: Run) -> dict[str, Any]:
    """A `pulumi stack export` of a stack the program made (its custom resources)."""
    resources: list[dict[str, Any]] = []
    for record in result.records:
        entry: dict[str, Any] = {"urn": record.urn, "type": record.type, "custom": record.custom}
        if record.protect:
            entry["protect"] = True
        if record.custom:
            entry["outputs"] = json.loads(json.dumps(dict(record.outputs), default=str))
        resources.append(entry)
        if record.type == "eks:index:Cluster":
            # The remote component's aws.eks.Cluster, which the state holds with its outputs.
            resources.append(
                {
                    "urn": f"{record.urn}$aws:eks/cluster:Cluster::{record.name}-eksCluster",
                    "type": "aws:eks/cluster:Cluster",
                    "custom": True,
                    "outputs": {"deletionProtection": record.inputs.get("deletionProtection")},
                }
            )
    return {"version": 3, "deployment": {"resources": resources}}


def test_outputs_show_the_stack_and_how_to_reach_the_app(
    tmp_path: Path, creds: dict[str, str], dev: Run
) -> None:
    sandbox, backend = deployed(tmp_path, creds, "dev")
    sandbox.seed(backend, "dev", outputs=shown_outputs(dev))
    result = sandbox.run("make", "outputs", "STACK=dev")
    assert result.returncode == 0, result.stderr
    passfile = sandbox.state_dir / "passphrase"
    assert f"outputs: backend {backend} (local" in result.stderr
    assert f"outputs: secrets passphrase file {passfile}" in result.stderr
    shown = dict(line.split(None, 1) for line in result.stdout.split("\n\n")[0].splitlines()[1:])
    assert set(shown) == set(dev.outputs)
    assert shown["kubeconfig"] == "[secret]"
    assert shown["queueUrl"] == dev.outputs["queueUrl"]
    kubeconfig = sandbox.home / ".kube" / "ecr-eks-lambda-dev.yaml"
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert f"make kubeconfig STACK=dev     # writes {kubeconfig} (mode 600)" in lines
    assert f"export KUBECONFIG={kubeconfig}" in lines
    # dev's app is a ClusterIP Service: reached through kubectl port-forward.
    assert "kubectl -n app port-forward svc/app 8080:80      # leave it running" in lines
    # The README's "Use the stack" shows the same lines.
    readme = readme_blocks("Use the stack")[0]
    assert readme[2:] == [
        "export KUBECONFIG=~/.kube/ecr-eks-lambda-dev.yaml",
        "kubectl -n app port-forward svc/app 8080:80",
        next(line for line in lines if line.startswith("curl ")),
    ]
    assert any(line.startswith("curl -sS -X POST http://127.0.0.1:8080/events ") for line in lines)
    call = sandbox.calls()[-1]
    assert call["argv"] == ["stack", "output", "--json", "--stack", "dev"]
    assert (call["backend"], call["passfile"]) == (backend, str(passfile))


def test_kubeconfig_is_written_privately(tmp_path: Path, creds: dict[str, str], dev: Run) -> None:
    sandbox, backend = deployed(tmp_path, creds, "dev")
    path = sandbox.home / ".kube" / "ecr-eks-lambda-dev.yaml"
    # What the program exports (a JSON string), and an object, which is written as JSON.
    exported = dev.outputs["kubeconfig"]
    config = {"apiVersion": "v1", "kind": "Config"}
    for value in (exported, config):
        sandbox.seed(backend, "dev", outputs={"kubeconfig": value})
        result = sandbox.run("make", "kubeconfig", "STACK=dev")
        assert result.returncode == 0, result.stderr
        text = path.read_text()
        assert (text if value is exported else json.loads(text)) == value
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert f"kubeconfig: wrote {path} (mode 600): export KUBECONFIG={path}" in result.stderr
        assert sandbox.calls()[-1]["argv"][:3] == ["stack", "output", "kubeconfig"]
        assert "--show-secrets" in sandbox.calls()[-1]["argv"]


def test_outputs_of_a_stack_not_in_the_backend_say_which_backend(
    tmp_path: Path,
) -> None:
    sandbox = make_sandbox(tmp_path)
    result = sandbox.run("make", "outputs", "STACK=dev")
    assert result.returncode != 0
    assert "error: no stack named 'dev' found" in result.stderr
    assert f"(backend file://{sandbox.state_dir})" in result.stderr


def test_destroy_uses_the_backend_of_up(tmp_path: Path, creds: dict[str, str], dev: Run) -> None:
    sandbox, backend = deployed(tmp_path, creds, "dev")
    sandbox.seed(backend, "dev", export=export(dev))
    result = sandbox.run("make", "destroy", "STACK=dev", env=creds)
    assert result.returncode == 0, result.stderr
    assert f"destroy: backend {backend} (local" in result.stderr
    assert "destroy: deleting as arn:aws:sts::123456789012:" in result.stderr
    calls = [c for c in sandbox.calls() if c["argv"][0] != "whoami"]
    assert [" ".join(c["argv"]) for c in calls[-2:]] == [
        "stack export --stack dev",
        "destroy --stack dev",
    ]
    assert {(c["backend"], c["passfile"]) for c in calls} == {
        (backend, str(sandbox.state_dir / "passphrase"))
    }


def test_destroy_of_a_protected_stack_lists_what_and_how_to_unprotect(
    tmp_path: Path, creds: dict[str, str], prod: Run
) -> None:
    sandbox, backend = deployed(tmp_path, creds, "prod")
    sandbox.seed(backend, "prod", export=export(prod))
    result = sandbox.run("make", "destroy", "STACK=prod", env=creds)
    assert result.returncode != 0
    assert "stack prod has protected resources" in result.stderr
    assert "nothing was deleted" in result.stderr
    listed = [line[4:] for line in result.stderr.splitlines() if line.startswith("  - ")]
    kinds = {(line.split()[0], line.split(": ", 1)[1]) for line in listed}
    assert kinds == {
        ("aws:ecr/repository:Repository", "Pulumi protect"),
        ("aws:sqs/queue:Queue", "Pulumi protect"),
        ("aws:dynamodb/table:Table", "Pulumi protect, AWS deletionProtectionEnabled"),
        ("aws:eks/cluster:Cluster", "AWS deletionProtection"),
    }
    assert len([k for k in listed if k.startswith("aws:sqs/queue:Queue")]) == 2  # queue + DLQ
    assert not any(c["argv"][0] == "destroy" for c in sandbox.calls())

    # The way out it prints, pasted: protectResources off, applied, then destroy.
    steps = [line.strip() for line in result.stderr.splitlines() if line.startswith("    make ")]
    assert steps == [
        "make config STACK=prod ARGS='set protectResources false'",
        "make up STACK=prod",
        "make destroy STACK=prod",
    ]
    assert readme_blocks("Tear down")[1] == steps
    for step in steps[:2]:
        pasted = sandbox.shell(step, env=creds)
        assert pasted.returncode == 0, pasted.stderr
    assert sandbox.fake_state()[backend]["prod"]["config"]["protectResources"] == "false"
    # What the program registers once protectResources is false, as `make up` applies it.
    unprotected = run("prod", {"protectResources": "false"})
    assert unprotected.error is None
    sandbox.seed(backend, "prod", export=export(unprotected))
    pasted = sandbox.shell(steps[2], env=creds)
    assert pasted.returncode == 0, pasted.stderr
    assert sandbox.commands()[-1] == "destroy --stack prod"
