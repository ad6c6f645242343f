"""`make up` / `make preview` / `make config` (scripts/up, scripts/stack) as a new user runs
them, with fake CLIs: the checks, all reported at once; the backend and passphrase, announced
and kept outside the clone; commands they print, pasted, work on the same backend."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.infra.fake_cli import (
    CALLER_ADDRESS,
    Sandbox,
    make_sandbox,
    readme_blocks,
)
from tests.infra.harness import ROOT

CIDR = "203.0.113.7/32"


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return make_sandbox(tmp_path)


def local_backend(sandbox: Sandbox) -> tuple[str, str]:
    """The backend URL and passphrase file a run should use by default."""
    directory = sandbox.home / ".pulumi-ecr-eks-lambda"
    return f"file://{directory}", str(directory / "passphrase")


def problems(stderr: str) -> list[str]:
    return [line[4:] for line in stderr.splitlines() if line.startswith("  - ")]


def test_every_missing_prerequisite_is_reported_in_one_message(sandbox: Sandbox) -> None:
    result = sandbox.run("make", "up", "STACK=dev", f"API_CIDR={CIDR}", tools=())
    assert result.returncode != 0
    assert "`up` of stack dev needs what is missing below (5); nothing was changed:" in (
        result.stderr
    )
    found = problems(result.stderr)
    assert [p.split(":")[0] for p in found] == [
        "the Pulumi CLI",
        "AWS credentials",
        "the AWS CLI",
        "Docker",
        "kubectl",
    ]
    assert "none found" in found[1]
    assert "docs.docker.com" in found[3]
    # Each problem once, none of them an empty line (the old script printed a bare "up: ").
    assert not re.search(r"^(up|preview): *$", result.stderr, re.M)
    assert sandbox.calls() == []


def test_docker_is_checked_for_buildx_and_for_emulating_the_nodes_architecture(
    sandbox: Sandbox, creds: dict[str, str]
) -> None:
    up = ("make", "up", "STACK=dev", f"API_CIDR={CIDR}")
    no_daemon = sandbox.run(*up, env={**creds, "FAKE_DOCKER_INFO_RC": "1"})
    assert [p.split(":")[0] for p in problems(no_daemon.stderr)] == ["Docker"]
    assert "`docker info` failed" in no_daemon.stderr

    no_buildx = sandbox.run(*up, env={**creds, "FAKE_BUILDX_RC": "1"})
    assert [p.split(":")[0] for p in problems(no_buildx.stderr)] == ["Docker Buildx"]

    # dev's nodes are arm64 (Graviton): a builder without arm64 needs QEMU registered.
    no_qemu = sandbox.run(*up, env={**creds, "FAKE_PLATFORMS": "linux/amd64, linux/386"})
    [problem] = problems(no_qemu.stderr)
    assert problem.startswith("emulation for linux/arm64: the nodes are arm64")
    assert "linux/amd64, linux/386" in problem
    assert "docker run --privileged --rm tonistiigi/binfmt --install arm64" in problem
    assert sandbox.calls() == []

    emulated = sandbox.run(*up, env={**creds, "FAKE_PLATFORMS": "linux/amd64, linux/arm64*"})
    assert emulated.returncode == 0, emulated.stderr


def test_preview_needs_neither_docker_nor_kubectl(sandbox: Sandbox, creds: dict[str, str]) -> None:
    result = sandbox.run(
        "make", "preview", "STACK=dev", f"API_CIDR={CIDR}", tools=("pulumi", "aws"), env=creds
    )
    assert result.returncode == 0, result.stderr
    assert sandbox.commands()[-1] == "preview --stack dev"


def test_missing_aws_credentials_are_explained(sandbox: Sandbox) -> None:
    result = sandbox.run("scripts/up", "dev", "--preview")
    assert result.returncode == 1
    [problem] = problems(result.stderr)
    assert problem.startswith("AWS credentials: none found. Configure a profile")
    assert sandbox.calls() == []


def test_unknown_stack_is_refused(sandbox: Sandbox) -> None:
    result = sandbox.run("scripts/up", "staging")
    assert result.returncode == 1
    assert "no Pulumi.staging.yaml: stacks here are dev prod" in result.stderr


def test_a_bad_api_cidr_is_refused_in_the_programs_words(
    sandbox: Sandbox, creds: dict[str, str]
) -> None:
    result = sandbox.run("make", "up", "STACK=dev", "API_CIDR=203.0.113.7/33", env=creds)
    assert result.returncode != 0
    [problem] = problems(result.stderr)
    assert problem.startswith(
        "config: ecr-eks-lambda:clusterPublicAccessCidrs = '203.0.113.7/33': must be an IPv4"
    )
    assert sandbox.calls() == []


def test_first_up_keeps_state_and_passphrase_outside_the_clone_and_says_where(
    sandbox: Sandbox, creds: dict[str, str]
) -> None:
    result = sandbox.run("make", "up", "STACK=dev", f"API_CIDR={CIDR}", env=creds)
    assert result.returncode == 0, result.stderr
    backend, passfile = local_backend(sandbox)
    assert f"up: backend {backend} (local, outside the clone: for your personal sandbox" in (
        result.stderr
    )
    assert "the team's stacks live in the backend CI uses" in result.stderr
    assert f"up: generated a secrets passphrase in {passfile} (mode 600)" in result.stderr
    assert f"up: secrets passphrase file {passfile}\n" in result.stderr
    assert "up: deploying as arn:aws:sts::123456789012:" in result.stderr
    assert stat.S_IMODE(Path(passfile).stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(passfile).parent.stat().st_mode) == 0o700
    assert len(Path(passfile).read_text().strip()) >= 32
    assert not Path(passfile).is_relative_to(sandbox.repo)
    assert list(sandbox.repo.glob(".pulumi*")) == []

    calls = sandbox.calls()
    select = "stack select --create --secrets-provider passphrase dev --non-interactive"
    assert [c["argv"] for c in calls] == [
        ["whoami", "--json", "--non-interactive"],
        select.split(),
        ["config", "rm", "clusterPublicAccessCidrs", "--stack", "dev"],
        ["config", "set", "--path", "clusterPublicAccessCidrs[0]", CIDR, "--stack", "dev"],
        ["config", "get", "clusterPublicAccessCidrs", "--stack", "dev"],
        ["up", "--stack", "dev"],
    ]
    assert {(c["backend"], c["passfile"]) for c in calls[1:]} == {(backend, passfile)}
    assert sandbox.fake_state()[backend]["dev"]["config"] == {"clusterPublicAccessCidrs": [CIDR]}

    # A second run reuses the passphrase.
    before = Path(passfile).read_text()
    again = sandbox.run("make", "up", "STACK=dev", env=creds)
    assert again.returncode == 0, again.stderr
    assert "generated a secrets passphrase" not in again.stderr
    assert Path(passfile).read_text() == before

    # `git clean -fdx` in the clone (here: everything in it is untracked) leaves the state.
    for git in (["git", "init", "-q"], ["git", "clean", "-fdxq"]):
        subprocess.run(git, cwd=sandbox.repo, check=True, capture_output=True)
    assert not (sandbox.repo / "Makefile").exists()
    assert Path(passfile).read_text() == before


def test_several_api_cidrs_replace_the_old_list(sandbox: Sandbox, creds: dict[str, str]) -> None:
    up = ("make", "up", "STACK=dev")
    assert sandbox.run(*up, "API_CIDR=198.51.100.0/24,192.0.2.1/32", env=creds).returncode == 0
    assert sandbox.run(*up, f"API_CIDR={CIDR}", env=creds).returncode == 0
    backend, _ = local_backend(sandbox)
    assert sandbox.fake_state()[backend]["dev"]["config"] == {"clusterPublicAccessCidrs": [CIDR]}


def test_missing_api_cidrs_print_a_command_that_works_when_pasted(
    sandbox: Sandbox, creds: dict[str, str]
) -> None:
    result = sandbox.run("make", "up", "STACK=dev", env=creds)
    assert result.returncode != 0
    assert "up: stack dev must say who may reach the Kubernetes API" in result.stderr
    assert not any(c["argv"][0] == "up" for c in sandbox.calls())
    [hint] = [line.strip() for line in result.stderr.splitlines() if "API_CIDR=" in line][:1]
    assert hint == 'make up STACK=dev API_CIDR="$(curl -fsS https://checkip.amazonaws.com)/32"'

    # Pasted as printed (curl stands in for checkip), in a shell with nothing else set.
    pasted = sandbox.shell(hint, env=creds)
    assert pasted.returncode == 0, pasted.stderr
    backend, passfile = local_backend(sandbox)
    assert sandbox.fake_state()[backend]["dev"]["config"] == {
        "clusterPublicAccessCidrs": [f"{CALLER_ADDRESS}/32"]
    }
    assert sandbox.calls()[-1] == {
        "argv": ["up", "--stack", "dev"],
        "backend": backend,
        "passfile": passfile,
        "passphrase": "",
    }


def test_the_readme_sets_up_with_two_commands_and_the_first_works_when_pasted(
    sandbox: Sandbox, creds: dict[str, str]
) -> None:
    first_screen = readme_blocks("Usage")[0]
    assert len(first_screen) == 2
    assert first_screen[0].startswith("make up STACK=dev ")
    assert first_screen[1] == "make test"
    pasted = sandbox.shell(first_screen[0], env=creds)
    assert pasted.returncode == 0, pasted.stderr
    backend, _ = local_backend(sandbox)
    assert sandbox.fake_state()[backend]["dev"]["config"] == {
        "clusterPublicAccessCidrs": [f"{CALLER_ADDRESS}/32"]
    }
    assert sandbox.commands()[-1] == "up --stack dev"


def test_make_config_before_the_first_up_uses_the_same_backend(
    sandbox: Sandbox, creds: dict[str, str]
) -> None:
    # The stack does not exist yet: `make config` creates it, where `make up` will look.
    config = sandbox.run(
        "make", "config", "STACK=dev", f"ARGS=set --path 'clusterPublicAccessCidrs[0]' {CIDR}"
    )
    assert config.returncode == 0, config.stderr
    backend, passfile = local_backend(sandbox)
    assert f"config: backend {backend} (local, outside the clone" in config.stderr
    assert f"config: secrets passphrase file {passfile}" in config.stderr
    assert sandbox.commands()[-1] == (
        f"config set --path clusterPublicAccessCidrs[0] {CIDR} --stack dev"
    )

    up = sandbox.run("make", "up", "STACK=dev", env=creds)
    assert up.returncode == 0, up.stderr
    assert sandbox.commands()[-1] == "up --stack dev"
    used = {(c["backend"], c["passfile"]) for c in sandbox.calls() if c["argv"][0] != "whoami"}
    assert used == {(backend, passfile)}


def test_env_gives_your_own_shell_the_same_backend(sandbox: Sandbox, creds: dict[str, str]) -> None:
    assert sandbox.run("make", "up", "STACK=dev", f"API_CIDR={CIDR}", env=creds).returncode == 0
    pasted = sandbox.shell(
        'eval "$(scripts/stack env)" && pulumi config get clusterPublicAccessCidrs --stack dev'
    )
    assert pasted.returncode == 0, pasted.stderr
    assert pasted.stdout.strip() == f'["{CIDR}"]'
    backend, _ = local_backend(sandbox)
    assert f"env: backend {backend}" in pasted.stderr


def test_a_logged_in_backend_is_used_and_named(sandbox: Sandbox, creds: dict[str, str]) -> None:
    cloud = "https://app.pulumi.com/alice"
    env = {**creds, "FAKE_LOGGED_IN_URL": cloud}
    result = sandbox.run("make", "up", "STACK=dev", f"API_CIDR={CIDR}", env=env)
    assert result.returncode == 0, result.stderr
    assert f"up: backend {cloud} (logged in as alice;" in result.stderr
    assert "up: secrets: the stack's own secrets provider" in result.stderr
    assert sandbox.commands()[1] == "stack select --create dev --non-interactive"
    assert not sandbox.state_dir.exists()

    # PULUMI_BACKEND_URL, as CI sets it for a self-managed backend, comes first.
    bucket = "s3://team-state?region=eu-west-1"
    env |= {"PULUMI_BACKEND_URL": bucket, "PULUMI_CONFIG_PASSPHRASE": "team"}
    result = sandbox.run("make", "up", "STACK=dev", f"API_CIDR={CIDR}", env=env)
    assert result.returncode == 0, result.stderr
    assert f"up: backend {bucket} (from PULUMI_BACKEND_URL)" in result.stderr
    assert sandbox.calls()[-1]["backend"] == bucket
    assert not sandbox.state_dir.exists()


def test_a_given_passphrase_is_used_and_up_passes_extra_args(
    sandbox: Sandbox, creds: dict[str, str]
) -> None:
    env = {"PULUMI_CONFIG_PASSPHRASE": "s3cret", **creds}
    result = sandbox.run("make", "up", "STACK=prod", f"API_CIDR={CIDR}", "ARGS=--yes", env=env)
    assert result.returncode == 0, result.stderr
    assert "up: secrets passphrase: from PULUMI_CONFIG_PASSPHRASE" in result.stderr
    assert not (sandbox.state_dir / "passphrase").exists()
    assert sandbox.calls()[-1]["argv"] == ["up", "--stack", "prod", "--yes"]
    assert sandbox.calls()[-1]["passphrase"] == "s3cret"


def test_state_left_in_the_clone_is_moved_out_not_abandoned(
    sandbox: Sandbox, creds: dict[str, str]
) -> None:
    old = sandbox.repo / ".pulumi-state"
    old.mkdir()
    (old / "passphrase").write_text("the-old-passphrase\n")
    result = sandbox.run("make", "up", "STACK=dev", f"API_CIDR={CIDR}", env=creds)
    assert result.returncode != 0
    assert f"the local state of this clone is in {old}, inside the clone" in result.stderr
    assert sandbox.commands() == ["whoami --json --non-interactive"]
    [move] = [line.strip() for line in result.stderr.splitlines() if line.strip().startswith("mv ")]
    assert subprocess.run(move, shell=True, cwd=sandbox.repo, check=False).returncode == 0

    again = sandbox.run("make", "up", "STACK=dev", f"API_CIDR={CIDR}", env=creds)
    assert again.returncode == 0, again.stderr
    assert (sandbox.state_dir / "passphrase").read_text() == "the-old-passphrase\n"
    assert "generated a secrets passphrase" not in again.stderr


def test_make_help_lists_the_stack_targets(sandbox: Sandbox) -> None:
    result = sandbox.run("make", "help")
    targets = [line.split()[1] for line in result.stdout.splitlines()]
    for target in ("up", "preview", "config", "outputs", "kubeconfig", "destroy", "demo", "test"):
        assert target in targets


def test_scripts_are_executable() -> None:
    for name in ("up", "stack"):
        assert os.access(ROOT / "scripts" / name, os.X_OK), name
