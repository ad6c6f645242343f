"""The policy pack started the way the Pulumi CLI starts a Python pack, and spoken to over gRPC.

The CLI reads policy/PulumiPolicy.yaml, runs `<virtualenv>/bin/python -u -m pulumi.policy
<engine address> .` in the pack's directory, reads the port the pack prints on its first line,
and calls the Analyzer service on 127.0.0.1:<port>. This test does exactly that, without the
CLI, so a broken import, a bad PulumiPolicy.yaml or a missing dependency fails here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc

from policy.guardrails import ecr
from policy.guardrails.pack import POLICIES

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "policy"


def pack_python() -> Path:
    options = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())["runtime"]["options"]
    return (PACK / options["virtualenv"]).resolve() / "bin" / "python"


def test_pulumi_policy_yaml_names_the_repository_venv():
    spec = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert spec["runtime"]["name"] == "python"
    assert spec["version"] == "0.1.0"
    venv = pack_python().parent.parent
    assert venv == (ROOT / ".venv").resolve()
    # The environment these tests run in is the one the CLI will start the pack from.
    assert Path(sys.prefix).resolve() == venv


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen(
        [str(pack_python()), "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=PACK,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline().strip()
        if not first_line.isdigit():
            process.kill()
            _, err = process.communicate(timeout=10)
            pytest.fail(f"policy pack did not start: {first_line!r} {err}")
        channel = grpc.insecure_channel(f"127.0.0.1:{first_line}")
        grpc.channel_ready_future(channel).result(timeout=20)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_pack_serves_every_policy_as_mandatory(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=20)
    assert info.name == "ecr-eks-lambda-guardrails"
    assert sorted(p.name for p in info.policies) == sorted(p.name for p in POLICIES)
    assert {p.enforcementLevel for p in info.policies} == {proto.MANDATORY}


def test_pack_reports_a_violation_over_grpc(analyzer):
    props = struct_pb2.Struct()
    props.update(
        {"imageTagMutability": "MUTABLE", "imageScanningConfiguration": {"scanOnPush": True}}
    )
    response = analyzer.Analyze(
        proto.AnalyzeRequest(
            type=ecr.ECR_REPOSITORY,
            properties=props,
            urn="urn:pulumi:dev::ecr-eks-lambda::aws:ecr/repository:Repository::app",
            name="app",
        ),
        timeout=20,
    )
    assert [(d.policyName, d.enforcementLevel) for d in response.diagnostics] == [
        ("ecr-immutable-tags", proto.MANDATORY)
    ]
    assert "IMMUTABLE" in response.diagnostics[0].message
