"""bootstrap/ under recording Pulumi mocks.

The Pulumi CLI runs bootstrap/ as a directory, so its modules import their siblings by name
(`from github_oidc import ...`). This module imports each once, as `bootstrap.<name>`, and
registers it under its bare name too, so the program, its components and the tests share one
module object each (one `BootstrapConfigError` class, one set of constants).
"""

from __future__ import annotations

import runpy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime

from bootstrap import github_oidc

sys.modules["github_oidc"] = github_oidc
from bootstrap import iam_policies  # noqa: E402  (needs github_oidc by name)

sys.modules["iam_policies"] = iam_policies
from bootstrap import runner, state_backend  # noqa: E402  (need both by name)

sys.modules["runner"] = runner
sys.modules["state_backend"] = state_backend

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "bootstrap" / "__main__.py"
PROJECT = "ecr-eks-lambda-bootstrap"
STACK = "dev-account"
ACCOUNT = "111122223333"
REGION = "eu-west-1"
HOST = "token.actions.githubusercontent.com"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
CONNECTION_ARN = (
    f"arn:aws:codeconnections:{REGION}:{ACCOUNT}:connection/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"
)
EGRESS_IP = "203.0.113.10"
ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
BASE_CONFIG = {
    "aws:region": REGION,
    f"{PROJECT}:githubOwner": "acme",
    f"{PROJECT}:githubRepo": "ecr-eks-lambda",
    f"{PROJECT}:githubConnectionArn": CONNECTION_ARN,
}


@dataclass(frozen=True)
class Recorded:
    type: str
    name: str
    inputs: dict[str, Any]
    provider: str


def _suffixed(name: str) -> str:
    return f"{name}-1a2b3c4"  # Pulumi's auto-name: logical name, dash, 7 random characters


class RecordingMocks(pulumi.runtime.Mocks):
    """Records every registration and answers with the outputs AWS would give."""

    def __init__(self) -> None:
        self.resources: list[Recorded] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(Recorded(args.typ, args.name, dict(args.inputs), args.provider or ""))
        inputs = args.inputs
        outputs = dict(inputs)
        resource_id = f"{args.name}-id"
        match args.typ:
            case "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
                outputs["arn"] = PROVIDER_ARN
            case "aws:iam/role:Role":
                name = inputs.get("name") or _suffixed(args.name)
                path = inputs.get("path", "/")
                outputs |= {"name": name, "arn": f"arn:aws:iam::{ACCOUNT}:role{path}{name}"}
                resource_id = name
            case "aws:iam/policy:Policy":
                name = inputs.get("name") or _suffixed(args.name)
                path = inputs.get("path", "/")
                outputs |= {"name": name, "arn": f"arn:aws:iam::{ACCOUNT}:policy{path}{name}"}
            case "aws:kms/key:Key":
                resource_id = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
                outputs |= {
                    "keyId": resource_id,
                    "arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{resource_id}",
                }
            case "aws:s3/bucket:Bucket":
                resource_id = inputs["bucket"]
                outputs |= {"arn": f"arn:aws:s3:::{resource_id}", "bucket": resource_id}
            case "aws:ec2/subnet:Subnet" | "aws:ec2/securityGroup:SecurityGroup":
                kind = "subnet" if args.typ.endswith("Subnet") else "security-group"
                outputs["arn"] = f"arn:aws:ec2:{REGION}:{ACCOUNT}:{kind}/{resource_id}"
            case "aws:ec2/eip:Eip":
                outputs["publicIp"] = EGRESS_IP
            case "aws:cloudwatch/logGroup:LogGroup":
                name = inputs.get("name") or _suffixed(args.name)
                outputs |= {
                    "name": name,
                    "arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}",
                }
            case "aws:codebuild/project:Project":
                outputs["arn"] = f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{inputs['name']}"
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        match args.token:
            case "aws:index/getCallerIdentity:getCallerIdentity":
                return (
                    {
                        "accountId": ACCOUNT,
                        "arn": f"arn:aws:iam::{ACCOUNT}:user/admin",
                        "userId": "AIDA",
                        "id": ACCOUNT,
                    },
                    [],
                )
            case "aws:index/getPartition:getPartition":
                return ({"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, [])
            case "aws:index/getAvailabilityZones:getAvailabilityZones":
                return ({"names": ZONES, "zoneIds": ["euw1-az1", "euw1-az2", "euw1-az3"]}, [])
        raise AssertionError(f"unexpected invoke {args.token}")


@dataclass(frozen=True)
class Run:
    resources: list[Recorded]
    outputs: dict[str, Any]


def run_bootstrap(config: dict[str, str]) -> Run:
    """Runs bootstrap/__main__.py once under mocks: every registration and the exports."""
    mocks = RecordingMocks()
    pulumi.runtime.settings.ROOT.set(None)  # the root stack survives between runs otherwise
    pulumi.runtime.set_all_config(config)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=STACK, preview=False)
    outputs: dict[str, Any] = {}

    def program() -> pulumi.Output[Any]:
        runpy.run_path(str(PROGRAM), run_name="__main__")
        stack = pulumi.runtime.settings.ROOT.get()
        assert isinstance(stack, pulumi.runtime.stack.Stack)
        # The test runner waits for the returned Output, so every export is resolved.
        return pulumi.Output.all(**stack.outputs).apply(outputs.update)

    pulumi.runtime.test(program)()
    return Run(mocks.resources, outputs)


def one(resources: list[Recorded], type_: str, name: str | None = None) -> Recorded:
    matches = [r for r in resources if r.type == type_ and (name is None or r.name == name)]
    assert len(matches) == 1, [(r.type, r.name) for r in resources]
    return matches[0]
