"""scripts/up: its checks and the backend, secrets and stack set-up it does, with fake CLIs."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.servers import MotoServer
from tests.infra.harness import ROOT

FAKE_PULUMI = """#!/bin/bash
passfile="${PULUMI_CONFIG_PASSPHRASE_FILE:-}"
echo "pulumi $* | backend=${PULUMI_BACKEND_URL:-} | passfile=$passfile" >> "$FAKE_LOG"
case "$1" in
  whoami) exit 1 ;;
  config) exit "${FAKE_CONFIG_RC:-0}" ;;
esac
exit 0
"""


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A copy of the repository's entry points, sharing the installed .venv and .tools."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "up", repo / "scripts" / "up")
    # bootstrap itself runs in every `scripts/test`; here it must not touch the shared venv.
    (repo / "scripts" / "bootstrap").write_text("#!/bin/bash\nexit 0\n")
    for name in ("Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, repo / name)
    for name in (".venv", ".tools"):
        (repo / name).symlink_to(ROOT / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool, body in (
        ("pulumi", FAKE_PULUMI),
        ("docker", "#!/bin/bash\nexit 0\n"),
        ("aws", "#!/bin/bash\nexit 0\n"),
    ):
        path = bin_dir / tool
        path.write_text(body)
        path.chmod(0o755)
    for path in (repo / "scripts").iterdir():
        path.chmod(0o755)
    return repo


def up(
    repo: Path, *args: str, tools: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": (f"{repo.parent / 'bin'}:" if tools else "") + "/usr/bin:/bin",
        "HOME": str(repo.parent),
        "FAKE_LOG": str(repo.parent / "calls.log"),
        "AWS_CONFIG_FILE": str(repo.parent / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(repo.parent / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return subprocess.run(
        [str(repo / "scripts" / "up"), *args],
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def creds(moto: MotoServer) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_ENDPOINT_URL_STS": moto.endpoint,
    }


def calls(repo: Path) -> list[str]:
    return (repo.parent / "calls.log").read_text().splitlines()


def test_missing_pulumi_cli_is_explained(sandbox: Path) -> None:
    result = up(sandbox, "dev", tools=False)
    assert result.returncode == 1
    assert "the Pulumi CLI is not installed" in result.stderr


def test_unknown_stack_is_refused(sandbox: Path) -> None:
    result = up(sandbox, "staging")
    assert result.returncode == 1
    assert "no Pulumi.staging.yaml: stacks here are dev prod" in result.stderr


def test_missing_aws_credentials_are_explained(sandbox: Path) -> None:
    result = up(sandbox, "dev", "--preview")
    assert result.returncode == 1
    assert "no AWS credentials found" in result.stderr
    assert not (sandbox.parent / "calls.log").exists()


def test_preview_uses_a_local_backend_and_a_generated_passphrase(
    sandbox: Path, moto: MotoServer
) -> None:
    result = up(sandbox, "dev", "--preview", env=creds(moto))
    assert result.returncode == 0, result.stderr
    passfile = sandbox / ".pulumi-state" / "passphrase"
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
    assert len(passfile.read_text().strip()) >= 32
    assert f"generated a secrets passphrase in {passfile}" in result.stdout
    assert "account 123456789012" in result.stdout
    backend = f"backend=file://{sandbox}/.pulumi-state | passfile={passfile}"
    select = "stack select --create --secrets-provider passphrase dev --non-interactive"
    assert calls(sandbox)[1:] == [
        f"pulumi {select} | {backend}",
        f"pulumi config get clusterPublicAccessCidrs --stack dev | {backend}",
        f"pulumi preview --stack dev | {backend}",
    ]
    # A second run reuses the passphrase instead of replacing it.
    before = passfile.read_text()
    assert up(sandbox, "dev", "--preview", env=creds(moto)).returncode == 0
    assert passfile.read_text() == before


def test_a_given_passphrase_is_used_and_up_passes_extra_args(
    sandbox: Path, moto: MotoServer
) -> None:
    result = up(
        sandbox, "prod", "--", "--yes", env={"PULUMI_CONFIG_PASSPHRASE": "s3cret", **creds(moto)}
    )
    assert result.returncode == 0, result.stderr
    assert not (sandbox / ".pulumi-state" / "passphrase").exists()
    assert calls(sandbox)[-1].startswith("pulumi up --stack prod --yes | backend=file://")


def test_missing_api_cidrs_are_explained(sandbox: Path, moto: MotoServer) -> None:
    result = up(sandbox, "dev", "--preview", env={"FAKE_CONFIG_RC": "1", **creds(moto)})
    assert result.returncode == 1
    assert "clusterPublicAccessCidrs[0]" in result.stderr
    assert not any(c.startswith("pulumi preview") for c in calls(sandbox))


def test_script_is_executable() -> None:
    assert os.access(ROOT / "scripts" / "up", os.X_OK)
