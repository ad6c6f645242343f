"""What `make up | preview | config | outputs | kubeconfig | destroy` do (run by scripts/stack,
after scripts/bootstrap):

    scripts/stack up STACK [--preview] [--api-cidr CIDR[,CIDR...]] [-- pulumi args]
    scripts/stack config STACK <pulumi config arguments>
    scripts/stack outputs STACK
    scripts/stack kubeconfig STACK [FILE]
    scripts/stack destroy STACK [-- pulumi args]
    eval "$(scripts/stack env)"      # the same backend and passphrase in your own shell

Every command picks the Pulumi backend and secrets passphrase the same way and says which
it uses, so a command one of them prints works when pasted:
- PULUMI_BACKEND_URL when set; otherwise the backend you are logged in to (`pulumi login`);
  otherwise a local file backend in ~/.pulumi-ecr-eks-lambda/, outside the clone, so that
  `git clean -fdx` cannot take the state of stacks whose AWS resources still exist;
- PULUMI_CONFIG_PASSPHRASE(_FILE) when set; with the local backend, otherwise a generated
  passphrase file next to its state (mode 600).
Before touching a stack, `up` and `destroy` check every prerequisite and report all the
missing ones in one message.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent.parent
# The local backend's directory under $HOME: state (file backend) and passphrase.
LOCAL_DIR_NAME = ".pulumi-ecr-eks-lambda"
# Where the local backend lived before it moved out of the clone.
OLD_LOCAL_STATE = ".pulumi-state"
CIDRS_KEY = "clusterPublicAccessCidrs"
PROTECT_KEY = "protectResources"
CHECKIP = "https://checkip.amazonaws.com"
# Resource outputs that are AWS-side deletion protection (aws.eks.Cluster, aws.dynamodb.Table).
DELETION_PROTECTION_OUTPUTS = ("deletionProtection", "deletionProtectionEnabled")


class Stop(Exception):
    """A message for the user; the command exits 1."""


def fail(message: str) -> NoReturn:
    raise Stop(message)


# -- stacks and checks ------------------------------------------------------------------------


def stack_names(root: Path = ROOT) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def check_stack(stack: str) -> str:
    names = stack_names()
    if stack not in names:
        fail(f"no Pulumi.{stack}.yaml: stacks here are {' '.join(names)}")
    return stack


@dataclass(frozen=True)
class StackFacts:
    region: str
    node_architecture: str


def stack_facts(stack: str, api_cidrs: Sequence[str]) -> StackFacts:
    """The stack's region and node architecture, validated by the program's own config model
    (so a bad value is reported here, before anything runs, in the program's words)."""
    from components.config import stack_config_from_files

    overrides: dict[str, str] = {}
    if api_cidrs:
        overrides[CIDRS_KEY] = json.dumps(list(api_cidrs))
    elif not stack_file_sets(stack, CIDRS_KEY):
        # Checked (with the hint how to set it) once the stack is selected.
        overrides[CIDRS_KEY] = "[]"
    config = stack_config_from_files(stack, ROOT, overrides)
    return StackFacts(config.region, config.cluster.node_architecture)


def stack_file_values(stack: str) -> dict[str, Any]:
    import yaml

    values = (yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()) or {}).get("config")
    return dict(values or {})


def stack_file_sets(stack: str, key: str) -> bool:
    return any(k.rpartition(":")[2] == key for k in stack_file_values(stack))


def stack_file_region(stack: str) -> str:
    return str(stack_file_values(stack).get("aws:region", ""))


def _runs(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str] | None:
    """`argv` run quietly; None when it cannot be started."""
    try:
        # A fixed tool name and arguments, no shell.
        return subprocess.run(  # noqa: S603
            argv, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def _ok(*argv: str) -> bool:
    result = _runs(*argv)
    return result is not None and result.returncode == 0


def aws_identity(region: str) -> tuple[str | None, str | None]:
    """(who, None) for the caller's AWS identity, or (None, the problem)."""
    import boto3
    import botocore.exceptions

    try:
        who = boto3.client("sts", region_name=region).get_caller_identity()
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError):
        return None, (
            "AWS credentials: none found. Configure a profile (aws configure sso, then "
            "export AWS_PROFILE=<profile>) or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    except botocore.exceptions.ClientError as exc:
        return None, f"AWS credentials: AWS rejected them: {exc}"
    except botocore.exceptions.BotoCoreError as exc:
        return None, f"AWS credentials: could not check them: {exc}"
    return f"{who['Arn']} (account {who['Account']})", None


def builder_platforms() -> list[str] | None:
    """The platforms Docker's current Buildx builder can build for (emulated ones included)."""
    result = _runs("docker", "buildx", "inspect", "--bootstrap", timeout=120)
    if result is None or result.returncode != 0:
        return None
    for line in result.stdout.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "Platforms":
            return [p.strip().rstrip("*") for p in value.split(",") if p.strip()]
    return []


def docker_problems(node_arch: str | None) -> list[str]:
    """What keeps Docker from building the app image for `node_arch` (None: not known)."""
    image = "`pulumi up` builds the app image with Docker Buildx"
    if shutil.which("docker") is None:
        return [f"Docker: not installed; {image} (https://docs.docker.com/engine/install/)"]
    if not _ok("docker", "info"):
        return [f"Docker: `docker info` failed: start the daemon (may you use it?); {image}"]
    if not _ok("docker", "buildx", "version"):
        return [
            "Docker Buildx: `docker buildx version` failed: install the buildx plugin "
            "(https://docs.docker.com/go/buildx/)"
        ]
    if node_arch is None:
        return []
    wanted = f"linux/{node_arch}"
    platforms = builder_platforms()
    if platforms is None:
        return [
            "Docker Buildx: `docker buildx inspect --bootstrap` failed, so whether the "
            f"builder can build {wanted} is unknown"
        ]
    if wanted in platforms:
        return []
    return [
        f"emulation for {wanted}: the nodes are {node_arch} and this machine is "
        f"{platform.machine()}; the Buildx builder can build {', '.join(platforms) or 'nothing'}"
        f". Register QEMU (binfmt_misc): "
        f"docker run --privileged --rm tonistiigi/binfmt --install {node_arch}"
    ]


def prerequisite_problems(
    action: str, stack: str, api_cidrs: Sequence[str]
) -> tuple[list[str], str, str]:
    """Everything `action` needs that is missing, all of it; the stack's region and the AWS
    identity (empty when not needed or not found)."""
    from components.config import ConfigError

    problems: list[str] = []
    if shutil.which("pulumi") is None:
        problems.append(
            "the Pulumi CLI: https://www.pulumi.com/docs/iac/download-install/ "
            "(e.g. curl -fsSL https://get.pulumi.com | sh)"
        )
    if action not in ("up", "preview", "destroy"):
        # config, outputs, kubeconfig, env: the CLI alone (and `config` must work on a stack
        # whose configuration is still wrong, to fix it).
        return problems, "", ""
    region = stack_file_region(stack)
    node_arch: str | None = None
    if action != "destroy":  # destroy works from the state, whatever the config says now
        try:
            facts = stack_facts(stack, api_cidrs)
            region, node_arch = facts.region, facts.node_architecture
        except ConfigError as exc:
            problems.extend(f"config: {p}" for p in exc.problems)
    identity = ""
    if region:
        who, problem = aws_identity(region)
        identity = who or ""
        problems += [problem] if problem else []
    if shutil.which("aws") is None:
        problems.append(
            "the AWS CLI: the cluster's kubeconfig authenticates with `aws eks get-token` "
            "(https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html)"
        )
    if action == "up":
        problems += docker_problems(node_arch)
        if shutil.which("kubectl") is None:
            problems.append(
                "kubectl: to reach the app (port-forward) and look into the cluster "
                "(https://kubernetes.io/docs/tasks/tools/)"
            )
    return problems, region, identity


def require(action: str, stack: str = "", api_cidrs: Sequence[str] = ()) -> tuple[str, str]:
    """The stack's region and the AWS identity, once nothing `action` needs is missing."""
    problems, region, identity = prerequisite_problems(action, stack, api_cidrs)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        of = f" of stack {stack}" if stack else ""
        fail(
            f"`{action}`{of} needs what is missing below ({len(problems)}); "
            f"nothing was changed:\n{lines}"
        )
    return region, identity


# -- backend and passphrase ---------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    url: str
    local: bool
    """The default local backend (personal sandbox stacks)."""
    env: dict[str, str]
    """What the pulumi commands get on top of the caller's environment."""
    notes: tuple[str, ...]
    """What to tell the user, every run."""


def local_dir() -> Path:
    home = os.environ.get("HOME")
    if not home:
        fail(f"HOME is not set: the local Pulumi backend lives in ~/{LOCAL_DIR_NAME}/")
    return Path(home) / LOCAL_DIR_NAME


def whoami() -> tuple[str, str] | None:
    """(user, backend URL) when logged in to a Pulumi backend."""
    result = _runs("pulumi", "whoami", "--json", "--non-interactive")
    if result is None or result.returncode != 0:
        return None
    try:
        who: Any = json.loads(result.stdout)
    except ValueError:
        return ("?", "the backend you are logged in to (pulumi whoami)")
    return str(who.get("user", "?")), str(who.get("url", "?"))


def select_backend() -> Backend:
    env: dict[str, str] = {}
    notes: list[str] = []
    url = os.environ.get("PULUMI_BACKEND_URL", "")
    local = False
    if url:
        notes.append(f"backend {url} (from PULUMI_BACKEND_URL)")
    elif (who := whoami()) is not None:
        url = who[1]
        notes.append(f"backend {url} (logged in as {who[0]}; `pulumi logout` to use the local one)")
    elif os.environ.get("PULUMI_ACCESS_TOKEN"):
        fail("PULUMI_ACCESS_TOKEN is set but `pulumi whoami` fails: check the token and network")
    else:
        local = True
        directory = local_dir()
        old = ROOT / OLD_LOCAL_STATE
        if old.exists() and not directory.exists():
            fail(
                f"the local state of this clone is in {old}, inside the clone, where "
                f"`git clean -fdx` would delete it. It now lives in {directory}; move it there:\n"
                f"    mv {shlex.quote(str(old))} {shlex.quote(str(directory))}"
            )
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        url = f"file://{directory}"
        env["PULUMI_BACKEND_URL"] = url
        notes.append(
            f"backend {url} (local, outside the clone: for your personal sandbox stacks; the "
            "team's stacks live in the backend CI uses, see docs/delivery.md)"
        )
    if os.environ.get("PULUMI_CONFIG_PASSPHRASE"):
        notes.append("secrets passphrase: from PULUMI_CONFIG_PASSPHRASE")
    elif passfile := os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE", ""):
        if not Path(passfile).is_file():
            fail(f"PULUMI_CONFIG_PASSPHRASE_FILE={passfile}: no such file")
        notes.append(f"secrets passphrase file {passfile} (from PULUMI_CONFIG_PASSPHRASE_FILE)")
    elif local:
        path = local_dir() / "passphrase"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
            notes.append(
                f"generated a secrets passphrase in {path} (mode 600). Back it up: without it "
                "the stacks' secrets cannot be decrypted."
            )
        env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(path)
        notes.append(f"secrets passphrase file {path}")
    else:
        notes.append(
            "secrets: the stack's own secrets provider (PULUMI_CONFIG_PASSPHRASE(_FILE) unset)"
        )
    return Backend(url, local, env, tuple(notes))


class Pulumi:
    """The pulumi CLI on the selected backend, announced once."""

    def __init__(self, command: str) -> None:
        self.backend = select_backend()
        self.env = {**os.environ, **self.backend.env}
        self.exe = shutil.which("pulumi") or "pulumi"
        for note in self.backend.notes:
            say(command, note)

    def run(self, *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
        # The pulumi CLI with arguments built here, no shell.
        return subprocess.run(  # noqa: S603
            [self.exe, *args], env=self.env, text=True, capture_output=capture, check=False
        )

    def must(self, *args: str) -> str:
        result = self.run(*args, capture=True)
        if result.returncode != 0:
            sys.stderr.write(result.stderr)
            fail(f"`pulumi {' '.join(args)}` failed (backend {self.backend.url})")
        return result.stdout

    def exec(self, *args: str) -> NoReturn:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(self.exe, [self.exe, *args], self.env)  # noqa: S606

    def select_or_create(self, stack: str) -> None:
        args = ["stack", "select", "--create", stack, "--non-interactive"]
        if self.backend.local:
            args[3:3] = ["--secrets-provider", "passphrase"]
        result = self.run(*args, capture=True)
        if result.returncode != 0:
            sys.stderr.write(result.stderr)
            fail(f"could not create or select stack {stack} in {self.backend.url} (above)")


def say(command: str, message: str) -> None:
    print(f"{command}: {message}", file=sys.stderr, flush=True)


# -- commands ------------------------------------------------------------------------------------


def cmd_up(stack: str, preview: bool, api_cidrs: list[str], extra: list[str]) -> NoReturn:
    action = "preview" if preview else "up"
    region, identity = require(action, stack, api_cidrs)
    pulumi = Pulumi(action)
    say(action, f"{'previewing' if preview else 'deploying'} as {identity} in {region}")
    pulumi.select_or_create(stack)
    if api_cidrs:
        # A list replaces the old one: no stale address stays behind at a higher index.
        pulumi.run("config", "rm", CIDRS_KEY, "--stack", stack, capture=True)
        for i, cidr in enumerate(api_cidrs):
            pulumi.must("config", "set", "--path", f"{CIDRS_KEY}[{i}]", cidr, "--stack", stack)
        say(action, f"{CIDRS_KEY} = {json.dumps(api_cidrs)} (who may reach the Kubernetes API)")
    if pulumi.run("config", "get", CIDRS_KEY, "--stack", stack, capture=True).returncode != 0:
        fail(
            f"stack {stack} must say who may reach the Kubernetes API, for example your own "
            f'address:\n    make up STACK={stack} API_CIDR="$(curl -fsS {CHECKIP})/32"\n'
            f"  (several: API_CIDR=198.51.100.0/24,203.0.113.7/32), or, for a private endpoint "
            f"only, add 'ecr-eks-lambda:{CIDRS_KEY}: []' to Pulumi.{stack}.yaml"
        )
    if not preview:
        say(
            action,
            f"when it is done: `make outputs STACK={stack}` shows how to reach the app; "
            f"`make destroy STACK={stack}` deletes it all",
        )
    pulumi.exec(action, "--stack", stack, *extra)


def cmd_config(stack: str, args: list[str]) -> NoReturn:
    require("config", stack)
    pulumi = Pulumi("config")
    # The stack may not exist yet: the first `config set` comes before the first `up`.
    pulumi.select_or_create(stack)
    pulumi.exec("config", *args, "--stack", stack)


def kubeconfig_path(stack: str) -> Path:
    return Path.home() / ".kube" / f"ecr-eks-lambda-{stack}.yaml"


def cmd_outputs(stack: str) -> int:
    require("outputs", stack)
    pulumi = Pulumi("outputs")
    outputs: dict[str, Any] = json.loads(pulumi.must("stack", "output", "--json", "--stack", stack))
    width = max((len(k) for k in outputs), default=0)
    for key, value in outputs.items():
        shown = value if isinstance(value, str) else json.dumps(value)
        print(f"{key:<{width}}  {shown}")
    print(reach_the_app(stack, outputs))
    return 0


EVENT_JSON = '{"type": "demo.hello", "data": {"n": 1}}'


def reach_the_app(stack: str, outputs: dict[str, Any]) -> str:
    kubeconfig = kubeconfig_path(stack)
    env = f"KUBECONFIG={shlex.quote(str(kubeconfig))}"
    endpoint = str(outputs.get("appEndpoint", ""))
    # A ClusterIP app: "kubectl ... port-forward ..., then http://127.0.0.1:8080".
    command, _, url = endpoint.partition(", then ")
    lines = [
        "",
        "Use the cluster (kubectl; the kubeconfig gets its token from `aws eks get-token`):",
        f"  make kubeconfig STACK={stack}     # writes {kubeconfig} (mode 600)",
        f"  export {env}",
    ]
    if command.startswith("kubectl "):
        lines += ["Reach the app (a ClusterIP Service):", f"  {command}      # leave it running"]
    else:
        url = endpoint
    lines += [
        "Post an event:",
        f"  curl -sS -X POST {url}/events -H 'Content-Type: application/json' -d '{EVENT_JSON}'",
    ]
    return "\n".join(lines)


def cmd_kubeconfig(stack: str, file: str | None) -> int:
    require("kubeconfig", stack)
    pulumi = Pulumi("kubeconfig")
    raw = pulumi.must("stack", "output", "kubeconfig", "--json", "--show-secrets", "--stack", stack)
    # A string or an object, depending on the provider: kubectl reads either (JSON is YAML).
    value = json.loads(raw)
    text = value if isinstance(value, str) else json.dumps(value, indent=2) + "\n"
    path = Path(file) if file else kubeconfig_path(stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_TRUNC
    say("kubeconfig", f"wrote {path} (mode 600): export KUBECONFIG={shlex.quote(str(path))}")
    return 0


def protected_resources(export: dict[str, Any]) -> list[str]:
    """The resources of a `pulumi stack export` that keep `pulumi destroy` from finishing:
    Pulumi's `protect`, and deletion protection on the AWS side."""
    found = []
    for resource in export.get("deployment", {}).get("resources", []):
        why = ["Pulumi protect"] if resource.get("protect") else []
        outputs = resource.get("outputs") or {}
        why += [f"AWS {k}" for k in DELETION_PROTECTION_OUTPUTS if outputs.get(k) is True]
        if why:
            name = str(resource.get("urn", "")).rpartition("::")[2]
            found.append(f"{resource.get('type')} {name}: {', '.join(why)}")
    return found


def cmd_destroy(stack: str, extra: list[str]) -> NoReturn:
    _, identity = require("destroy", stack)
    pulumi = Pulumi("destroy")
    say("destroy", f"deleting as {identity}")
    export: dict[str, Any] = json.loads(pulumi.must("stack", "export", "--stack", stack))
    protected = protected_resources(export)
    if protected:
        lines = "\n".join(f"  - {p}" for p in protected)
        fail(
            f"stack {stack} has protected resources, at which `pulumi destroy` would stop "
            f"(after deleting the rest); nothing was deleted:\n{lines}\n"
            f"To make them deletable (their data goes with them), turn {PROTECT_KEY} off and "
            "apply that, then destroy:\n"
            f"    make config STACK={stack} ARGS='set {PROTECT_KEY} false'\n"
            f"    make up STACK={stack}\n"
            f"    make destroy STACK={stack}"
        )
    pulumi.exec("destroy", "--stack", stack, *extra)


def cmd_env() -> int:
    require("env")
    pulumi = Pulumi("env")
    for key, value in pulumi.backend.env.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def split_cidrs(value: str) -> list[str]:
    return [c for c in re.split(r"[,\s]+", value) if c]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="scripts/stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="deploy (or --preview) a stack; after --: pulumi arguments")
    up.add_argument("stack")
    up.add_argument("--preview", action="store_true")
    up.add_argument("--api-cidr", default="", help=f"set {CIDRS_KEY} first (comma-separated)")
    config = sub.add_parser("config", help="`pulumi config ARGS` on the stack")
    config.add_argument("stack")
    config.add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("outputs", help="the stack's outputs and how to reach the app").add_argument(
        "stack"
    )
    kubeconfig = sub.add_parser("kubeconfig", help="write the stack's kubeconfig (mode 600)")
    kubeconfig.add_argument("stack")
    kubeconfig.add_argument("file", nargs="?")
    destroy = sub.add_parser("destroy", help="delete the stack's resources; after --: pulumi args")
    destroy.add_argument("stack")
    sub.add_parser("env", help="`export` lines for the same backend in your own shell")
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # `config` hands everything to pulumi; the others pass what follows `--`.
    extra: list[str] = []
    if argv[:1] != ["config"] and "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    args = parser().parse_args(argv)
    command: str = "preview" if args.command == "up" and args.preview else args.command
    try:
        if args.command == "env":
            return cmd_env()
        stack = check_stack(args.stack)
        if args.command == "up":
            cmd_up(stack, args.preview, split_cidrs(args.api_cidr), extra)
        elif args.command == "config":
            cmd_config(stack, args.args)
        elif args.command == "outputs":
            return cmd_outputs(stack)
        elif args.command == "kubeconfig":
            return cmd_kubeconfig(stack, args.file)
        cmd_destroy(stack, extra)
    except Stop as stop:
        say(command, str(stop))
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
