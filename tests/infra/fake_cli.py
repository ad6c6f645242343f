"""A copy of the repository's entry points (make targets, scripts/) with fake `pulumi`,
`aws`, `docker` and `kubectl` on PATH, to run them as a user would and see what they do.

The fake pulumi keeps its stacks and their config per backend URL (PULUMI_BACKEND_URL, or
the URL it is "logged in" to), and refuses what the real one refuses without a backend or a
passphrase, so a command that ran with another environment than `up` shows as a missing
stack or config. Every call is appended to calls.jsonl: argv, backend and passphrase.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.infra.harness import ROOT

CALLER_ADDRESS = "198.51.100.23"

FAKE_PULUMI = f"""#!{sys.executable}
import json, os, re, sys
from pathlib import Path

args = sys.argv[1:]
env = os.environ
logged_in = env.get("FAKE_LOGGED_IN_URL", "")
backend = env.get("PULUMI_BACKEND_URL") or logged_in
with open(env["FAKE_LOG"], "a") as log:
    log.write(json.dumps({{
        "argv": args,
        "backend": backend,
        "passfile": env.get("PULUMI_CONFIG_PASSPHRASE_FILE", ""),
        "passphrase": env.get("PULUMI_CONFIG_PASSPHRASE", ""),
    }}) + "\\n")

def die(message):
    print("error: " + message, file=sys.stderr)
    sys.exit(255)

if args[:1] == ["whoami"]:
    if not logged_in:
        die("PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions")
    print(json.dumps({{"user": "alice", "url": logged_in}}))
    sys.exit(0)
if not backend:
    die("PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions")
if backend.startswith("file://") and not (
    env.get("PULUMI_CONFIG_PASSPHRASE") or env.get("PULUMI_CONFIG_PASSPHRASE_FILE")
):
    die("passphrase must be set with PULUMI_CONFIG_PASSPHRASE or "
        "PULUMI_CONFIG_PASSPHRASE_FILE environment variables")
state_file = Path(env["FAKE_STATE"])
state = json.loads(state_file.read_text()) if state_file.exists() else {{}}
stacks = state.setdefault(backend, {{}})

def flag(name):
    if name in args:
        i = args.index(name)
        value = args[i + 1]
        del args[i:i + 2]
        return value
    return None

stack_name = flag("--stack")
as_json = "--json" in args
for switch in ("--non-interactive", "--json", "--show-secrets", "--path"):
    if switch in args:
        args.remove(switch)

def stack():
    if stack_name not in stacks:
        die(f"no stack named '{{stack_name}}' found")
    return stacks[stack_name]

if args[:2] == ["stack", "select"]:
    create = "--create" in args
    if create:
        args.remove("--create")
    provider = flag("--secrets-provider")
    stack_name = args[2]
    if stack_name not in stacks:
        if not create:
            die(f"no stack named '{{stack_name}}' found")
        stacks[stack_name] = {{"config": {{}}, "secrets_provider": provider or "default"}}
elif args[:2] == ["config", "set"]:
    key, value = args[2], args[3]
    match = re.fullmatch(r"(\\w+)\\[(\\d+)\\]", key)
    config = stack()["config"]
    if match:
        values = config.setdefault(match[1], [])
        values[int(match[2]):int(match[2]) + 1] = [value]
    else:
        config[key] = value
elif args[:2] == ["config", "get"]:
    config = stack()["config"]
    if args[2] not in config:
        die(f"configuration key '{{args[2]}}' not found for stack '{{stack_name}}'")
    value = config[args[2]]
    print(value if isinstance(value, str) else json.dumps(value))
elif args[:2] == ["config", "rm"]:
    stack()["config"].pop(args[2], None)
elif args[:2] == ["stack", "output"]:
    outputs = stack().get("outputs", {{}})
    value = outputs[args[2]] if len(args) > 2 else outputs
    print(json.dumps(value) if as_json or not isinstance(value, str) else value)
elif args[:2] == ["stack", "export"]:
    print(json.dumps(stack().get("export", {{}})))
elif args[:1] in (["up"], ["preview"], ["destroy"]):
    stack()
state_file.write_text(json.dumps(state))
"""

FAKE_DOCKER = """#!/bin/bash
case "$1 $2" in
  "info "*) exit "${FAKE_DOCKER_INFO_RC:-0}" ;;
  "buildx version") exit "${FAKE_BUILDX_RC:-0}" ;;
  "buildx inspect")
    echo "Name:      default"
    echo "Driver:    docker"
    echo "Platforms: ${FAKE_PLATFORMS-linux/amd64, linux/arm64, linux/386}"
    ;;
esac
exit 0
"""

TOOLS = {
    "pulumi": FAKE_PULUMI,
    "docker": FAKE_DOCKER,
    "aws": "#!/bin/bash\nexit 0\n",
    "kubectl": "#!/bin/bash\nexit 0\n",
    # As `curl -fsS https://checkip.amazonaws.com` answers: the caller's public address.
    "curl": f"#!/bin/bash\necho {CALLER_ADDRESS}\n",
}
# What the scripts and make themselves run: a PATH of these alone keeps the machine's own
# docker, aws or kubectl out of the way.
SYSTEM_TOOLS = ("bash", "sh", "env", "dirname", "make", "grep", "awk", "cat", "uname", "sed")


@dataclass
class Sandbox:
    """A repository copy in `tmp/repo`, its fakes, and a HOME of its own."""

    repo: Path
    home: Path
    tmp: Path

    @property
    def log(self) -> Path:
        return self.tmp / "calls.jsonl"

    @property
    def state_dir(self) -> Path:
        return self.home / ".pulumi-ecr-eks-lambda"

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def commands(self) -> list[str]:
        return [" ".join(c["argv"]) for c in self.calls()]

    def fake_state(self) -> dict[str, Any]:
        path = self.tmp / "fake-pulumi-state.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def seed(self, backend: str, stack: str, **values: Any) -> None:
        """Give the fake pulumi a stack in `backend` with outputs or an export."""
        path = self.tmp / "fake-pulumi-state.json"
        state = self.fake_state()
        entry = state.setdefault(backend, {}).setdefault(
            stack, {"config": {}, "secrets_provider": "passphrase"}
        )
        entry.update(values)
        path.write_text(json.dumps(state))

    def bin_dir(self, tools: Iterable[str]) -> Path:
        wanted = sorted(tools)
        directory = self.tmp / ("bin-" + "-".join(wanted) if wanted else "bin-none")
        if not directory.exists():
            directory.mkdir()
            for tool in wanted:
                path = directory / tool
                path.write_text(TOOLS[tool])
                path.chmod(0o755)
            for tool in SYSTEM_TOOLS:
                found = shutil.which(tool)
                assert found, f"{tool} is needed to run the scripts"
                (directory / tool).symlink_to(found)
        return directory

    def env(self, tools: Iterable[str], extra: Mapping[str, str] | None) -> dict[str, str]:
        return {
            "PATH": str(self.bin_dir(tools)),
            "HOME": str(self.home),
            "FAKE_LOG": str(self.log),
            "FAKE_STATE": str(self.tmp / "fake-pulumi-state.json"),
            "AWS_CONFIG_FILE": str(self.tmp / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.tmp / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            **(extra or {}),
        }

    def run(
        self,
        *argv: str,
        tools: Iterable[str] = TOOLS,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """`argv` in the repository copy, as typed in a shell there."""
        return subprocess.run(
            list(argv),
            cwd=self.repo,
            env=self.env(tools, env),
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )

    def shell(self, line: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """A line pasted into bash in the repository copy."""
        return self.run("bash", "-c", line, **kwargs)


def make_sandbox(tmp_path: Path) -> Sandbox:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    for name in ("up", "stack", "stack_cli.py", "__init__.py"):
        shutil.copy(ROOT / "scripts" / name, repo / "scripts" / name)
    # bootstrap itself runs in every `scripts/test`; here it must not touch the shared venv.
    (repo / "scripts" / "bootstrap").write_text("#!/bin/bash\nexit 0\n")
    for path in (repo / "scripts").iterdir():
        path.chmod(0o755)
    for path in [ROOT / "Makefile", ROOT / "Pulumi.yaml", *ROOT.glob("Pulumi.*.yaml")]:
        shutil.copy(path, repo / path.name)
    for name in (".venv", ".tools", "components"):
        (repo / name).symlink_to(ROOT / name)
    home = tmp_path / "home"
    home.mkdir()
    return Sandbox(repo=repo, home=home, tmp=tmp_path)


def readme_blocks(heading: str) -> list[list[str]]:
    """The commands of each ```sh block in the README section `heading`, comments cut."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```sh\n")[1:]
    return [
        [line.split("  #", 1)[0].strip() for line in block.split("```", 1)[0].splitlines()]
        for block in blocks
    ]


def moto_credentials(endpoint: str) -> dict[str, str]:
    """Credentials that moto's STS accepts (account 123456789012)."""
    return {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_ENDPOINT_URL_STS": endpoint,
    }
