"""What the workflows need to know about the stacks, from the repository alone.

    python3 .github/scripts/ci_stacks.py list
        the stacks, one per Pulumi.<stack>.yaml, as `stacks=<JSON list>` for a job's matrix,
        and the order merges deploy them in (.github/promotion.txt) as `promotion=<JSON list>`
    python3 .github/scripts/ci_stacks.py resolve <stack> <preview|up|drift>
        (repository variables as JSON in $VARS) the runner, AWS role and Pulumi backend of
        one stack's job, as `name=value` lines for $GITHUB_OUTPUT

Each stack's account has its own roles and runner (bootstrap/), so they come from per-stack
repository variables: <NAME>_<STACK>, the stack upper-cased with anything but letters and
digits as `_` (dev -> AWS_PREVIEW_ROLE_ARN_DEV). Every missing or malformed variable is
reported at once, as a GitHub error annotation naming it, before any job waits for a runner.
Standard library only: it runs on a bare GitHub-hosted runner.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

PROMOTION_FILE = Path(".github") / "promotion.txt"
POLICY_CONFIGS = Path("policy") / "config"
# What a stack without its own policy/config/<stack>.json gets: every rule mandatory.
DEFAULT_POLICY_CONFIG = Path("policy") / "default-config.json"
STACK_FILE = re.compile(r"^Pulumi\.([A-Za-z0-9_.-]+)\.yaml$")
COMMANDS = ("preview", "up", "drift")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,254}$")
ORGANIZATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
BACKEND_URL = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\?\S*)?$")
AWSKMS_PROVIDER = re.compile(r"^secretsprovider:\s*awskms://", re.MULTILINE)
TOKEN_TYPES = {
    "": "urn:pulumi:token-type:access_token:organization",
    "team": "urn:pulumi:token-type:access_token:team",
    "user": "urn:pulumi:token-type:access_token:personal",
}
SCOPE = re.compile(r"^(team|user):[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def stacks(root: Path) -> list[str]:
    """The stacks that have a stack file in `root`."""
    return sorted(m.group(1) for p in root.iterdir() if (m := STACK_FILE.match(p.name)))


def promotion(root: Path) -> list[str]:
    """The stacks in the order merges deploy them (each after the one before succeeded), from
    .github/promotion.txt: one stack per line, `#` starts a comment. It names every stack file
    exactly once, or Problems says what to add or remove."""
    path = root / PROMOTION_FILE
    text = path.read_text() if path.is_file() else ""
    order = [s for line in text.splitlines() if (s := line.partition("#")[0].strip())]
    known = stacks(root)
    problems = [
        f"{PROMOTION_FILE} names {name!r} {order.count(name)} times: name each stack once"
        for name in sorted(set(order))
        if order.count(name) > 1
    ]
    problems += [
        f"{PROMOTION_FILE} names {name!r}, which has no Pulumi.{name}.yaml: remove it"
        for name in sorted(set(order) - set(known))
    ]
    problems += [
        f"Pulumi.{name}.yaml is not in {PROMOTION_FILE}: add {name!r} on its own line where "
        "merges should deploy it (before the stacks it must precede)"
        for name in known
        if name not in order
    ]
    if problems:
        raise Problems(problems)
    return order


def policy_config(stack: str, root: Path) -> str:
    """The policy-pack configuration of a stack: its own file, where an exception to a rule
    is reviewed, or the default one."""
    own = POLICY_CONFIGS / f"{stack}.json"
    return str(own if (root / own).is_file() else DEFAULT_POLICY_CONFIG)


def variable_suffix(stack: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", stack.upper())


class Problems(Exception):
    """Everything wrong with a stack's variables, one message each."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


def resolve(stack: str, command: str, variables: Mapping[str, str], root: Path) -> dict[str, str]:
    """The outputs of one stack's job, or Problems naming each variable to set or fix."""
    problems: list[str] = []
    known = stacks(root)
    if stack not in known:
        problems.append(f"stack {stack!r} has no Pulumi.{stack}.yaml (stacks: {', '.join(known)})")
    if command not in COMMANDS:
        problems.append(f"command {command!r} is not one of {', '.join(COMMANDS)}")
    suffix = variable_suffix(stack)

    def need(name: str, pattern: re.Pattern[str], what: str) -> str:
        value = variables.get(name, "")
        if not pattern.match(value):
            got = f"is {value!r}" if value else "is not set"
            problems.append(f"repository variable {name} {got}: it must be {what}")
        return value

    role_kind = "DEPLOY" if command == "up" else "PREVIEW"
    outputs = {
        "region": need("AWS_REGION", REGION, "the stacks' AWS region, e.g. eu-west-1"),
        "role-arn": need(
            f"AWS_{role_kind}_ROLE_ARN_{suffix}",
            ROLE_ARN,
            f"the {role_kind.lower()}RoleArn output of bootstrap/ in {stack}'s account",
        ),
        "runner": need(
            f"CODEBUILD_RUNNER_{suffix}",
            PROJECT_NAME,
            f"the runnerProjectName output of bootstrap/ in {stack}'s account",
        ),
    }
    backend = variables.get("PULUMI_BACKEND", "") or "cloud"
    if backend == "s3":
        outputs["backend-url"] = need(
            f"PULUMI_BACKEND_URL_{suffix}",
            BACKEND_URL,
            f"the stateBackendUrl output of bootstrap/ in {stack}'s account (s3://...)",
        )
        outputs["stack-name"] = stack
        stack_file = root / f"Pulumi.{stack}.yaml"
        if stack_file.is_file() and not AWSKMS_PROVIDER.search(stack_file.read_text()):
            problems.append(
                f"Pulumi.{stack}.yaml has no `secretsprovider: awskms://...`: a stack in the S3 "
                "backend needs the awskms provider (the secretsProvider output of bootstrap/; "
                f"`pulumi stack change-secrets-provider --stack {stack} <it>`), or Pulumi "
                "would ask for a passphrase"
            )
    elif backend == "cloud":
        organization = need(
            "PULUMI_ORGANIZATION", ORGANIZATION, "the Pulumi Cloud organization of the stacks"
        )
        scope_name = f"PULUMI_{role_kind}_TOKEN_SCOPE"
        scope = variables.get(scope_name, "")
        if scope and not SCOPE.match(scope):
            problems.append(
                f"repository variable {scope_name} is {scope!r}: it must be unset (an "
                "organization token), team:<team> or user:<login>"
            )
        outputs |= {
            "backend-url": "",
            "stack-name": f"{organization}/{stack}",
            "token-type": TOKEN_TYPES.get(scope.partition(":")[0], ""),
            "token-scope": scope,
            "organization": organization,
        }
    else:
        problems.append(
            f"repository variable PULUMI_BACKEND is {backend!r}: it must be cloud or s3"
        )
    outputs["backend"] = backend
    outputs["policy-config"] = policy_config(stack, root)
    if problems:
        raise Problems(problems)
    return outputs


def main(argv: list[str]) -> int:
    root = Path.cwd()
    output = Path(os.environ["GITHUB_OUTPUT"]) if "GITHUB_OUTPUT" in os.environ else None
    if argv[:1] == ["list"] and len(argv) == 1:
        try:
            order = promotion(root)
        except Problems as problems:
            for message in problems.messages:
                print(f"::error title=Stacks::{message}")
            return 1
        lines = [f"stacks={json.dumps(stacks(root))}", f"promotion={json.dumps(order)}"]
    elif argv[:1] == ["resolve"] and len(argv) == 3:
        try:
            resolved = resolve(argv[1], argv[2], json.loads(os.environ.get("VARS") or "{}"), root)
        except Problems as problems:
            for message in problems.messages:
                print(f"::error title=Stack {argv[1]}::{message}")
            return 1
        lines = [f"{name}={value}" for name, value in resolved.items()]
    else:
        print(__doc__, file=sys.stderr)
        return 2
    text = "\n".join(lines) + "\n"
    if output:
        with output.open("a") as file:
            file.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
