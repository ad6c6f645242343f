"""The composed stack: providers and default tags, component tokens, child names, outputs."""

from __future__ import annotations

import json
import re

import pytest

from tests.infra.harness import ROOT, Run
from tests.infra.lookup import of_type, one

COMPONENTS = {
    "ecr-eks-lambda:components:Registry": "registry",
    "ecr-eks-lambda:components:Network": "network",
    "ecr-eks-lambda:components:Cluster": "cluster",
    "ecr-eks-lambda:components:App": "app",
    "ecr-eks-lambda:components:Function": "consumer",
    "ecr-eks-lambda:components:Alarms": "alarms",
    "ecr-eks-lambda:components:Dashboard": "dashboard",
}


def test_one_aws_provider_with_default_tags(stack: Run) -> None:
    provider = one(stack, "pulumi:providers:aws")
    assert provider.inputs["region"] == "eu-west-1"
    # Provider inputs reach the engine JSON-encoded.
    assert json.loads(provider.inputs["defaultTags"]) == {
        "tags": {
            "project": "ecr-eks-lambda",
            "stack": stack.records[0].urn.split("::")[0].removeprefix("urn:pulumi:"),
            "managed-by": "pulumi",
        }
    }


def test_every_aws_resource_uses_the_tagging_provider(stack: Run) -> None:
    provider = one(stack, "pulumi:providers:aws")
    ref = f"{provider.urn}::{provider.name}-id"
    aws_resources = [r for r in stack.records if r.custom and r.type.startswith("aws:")]
    assert len(aws_resources) > 40
    untagged = [r.name for r in aws_resources if r.provider != ref]
    assert untagged == []
    # The remote EKS component gets the same provider for the resources it creates.
    assert one(stack, "eks:index:Cluster").providers == {"aws": ref}


def test_every_invoke_goes_through_the_same_provider(stack: Run) -> None:
    provider = one(stack, "pulumi:providers:aws")
    ref = f"{provider.urn}::{provider.name}-id"
    assert {token for token, _ in stack.invokes} == {
        "aws:index/getAvailabilityZones:getAvailabilityZones",
        "aws:ecr/getAuthorizationToken:getAuthorizationToken",
        "aws:index/getCallerIdentity:getCallerIdentity",
        "aws:eks/getClusters:getClusters",
        "aws:iam/getSessionContext:getSessionContext",
        "aws:index/getPartition:getPartition",
        "aws:index/getRegion:getRegion",
    }
    assert {p for _, p in stack.invokes} == {ref}


def test_components_use_the_project_type_tokens(stack: Run) -> None:
    found = {r.type: r.name for r in stack.records if r.type.startswith("ecr-eks-lambda:")}
    assert found == COMPONENTS


def test_children_are_named_after_and_parented_to_their_component(stack: Run) -> None:
    for token, name in COMPONENTS.items():
        short = token.rsplit(":", 1)[1]
        children = [r for r in stack.records if f"ecr-eks-lambda:components:{short}$" in r.urn]
        assert children, token
        assert all(r.name.startswith(f"{name}-") for r in children), token


def test_exports(stack: Run) -> None:
    assert set(stack.outputs) == {
        "clusterName",
        "kubeconfig",
        "imageRef",
        "queueUrl",
        "deadLetterQueueUrl",
        "functionName",
        "appLogGroupName",
        "functionLogGroupName",
        "appEndpoint",
        "dashboardName",
        "dashboardUrl",
    }
    assert stack.outputs["clusterName"] == f"ecr-eks-lambda-{stack.stack}"
    assert (
        stack.outputs["queueUrl"]
        == one(stack, "aws:sqs/queue:Queue", "consumer-queue").outputs["url"]
    )
    assert (
        stack.outputs["deadLetterQueueUrl"]
        == one(stack, "aws:sqs/queue:Queue", "consumer-dlq").outputs["url"]
    )
    assert (
        stack.outputs["functionName"] == one(stack, "aws:lambda/function:Function").outputs["name"]
    )
    assert (
        stack.outputs["functionLogGroupName"]
        == one(stack, "aws:cloudwatch/logGroup:LogGroup", "consumer-logs").outputs["name"]
    )


@pytest.mark.parametrize("doc", ["README.md", "docs/infra.md"])
def test_the_docs_list_exactly_the_exports(dev: Run, doc: str) -> None:
    text = (ROOT / doc).read_text()
    (listed,) = re.findall(r"Stack outputs: (.*?)\.(?:\s|$)", text, re.DOTALL)
    # What the parentheses say about an output names no output.
    names = re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", listed))
    assert sorted(names) == sorted(dev.outputs)


def test_kubeconfig_is_exported_as_a_secret(stack: Run) -> None:
    assert stack.secret_outputs == {"kubeconfig"}


def test_dev_is_cheap_and_prod_is_highly_available(dev: Run, prod: Run) -> None:
    def shape(run_: Run) -> tuple[int, int, float, float]:
        nodes = one(run_, "aws:eks/nodeGroup:NodeGroup").inputs["scalingConfig"]
        replicas = one(run_, "kubernetes:apps/v1:Deployment").inputs["spec"]["replicas"]
        return (
            len(of_type(run_, "aws:ec2/natGateway:NatGateway")),
            len(of_type(run_, "aws:ec2/subnet:Subnet")) // 2,
            nodes["minSize"],
            replicas,
        )

    assert shape(dev) == (1, 2, 1, 1)
    nat, zones, min_nodes, replicas = shape(prod)
    assert nat == zones >= 2
    assert min_nodes >= 2
    assert replicas >= 2
