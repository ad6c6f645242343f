"""The App component: namespace, identity, Deployment, Service, budget; manifests validated."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest

from components.app import App, AppArgs
from components.config import AppConfig
from tests.infra.harness import ALONE_ROLES, Run, run_component
from tests.infra.lookup import (
    DEPLOYMENT,
    HPA,
    PDB,
    SERVICE,
    as_manifest,
    of_type,
    one,
    policy,
    statements,
    unwrap,
)

MANIFEST_TYPES = (
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:ServiceAccount",
    DEPLOYMENT,
    SERVICE,
    PDB,
    HPA,
)


def test_namespace_enforces_restricted_pod_security(stack: Run) -> None:
    labels = one(stack, "kubernetes:core/v1:Namespace").inputs["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.35"


def test_app_identity_is_pod_identity_scoped_to_its_service_account(stack: Run) -> None:
    sa = one(stack, "kubernetes:core/v1:ServiceAccount").inputs["metadata"]
    role = one(stack, "aws:iam/role:Role", "app-role")
    assoc = one(stack, "aws:eks/podIdentityAssociation:PodIdentityAssociation").inputs
    assert assoc == {
        "clusterName": f"ecr-eks-lambda-{stack.stack}",
        "namespace": sa["namespace"],
        "serviceAccount": sa["name"],
        "roleArn": role.outputs["arn"],
    }
    [trust] = statements(role, "assumeRolePolicy")
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert trust["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert trust["Condition"]["StringEquals"] == {
        "aws:RequestTag/eks-cluster-arn": (
            f"arn:aws:eks:eu-west-1:123456789012:cluster/ecr-eks-lambda-{stack.stack}"
        ),
        "aws:RequestTag/kubernetes-namespace": sa["namespace"],
        "aws:RequestTag/kubernetes-service-account": sa["name"],
    }


def test_app_role_may_only_send_to_the_queue_and_write_its_log_streams(stack: Run) -> None:
    queue = one(stack, "aws:sqs/queue:Queue", "consumer-queue")
    role = one(stack, "aws:iam/role:Role", "app-role")
    grants = {
        p.name: policy(p)
        for p in of_type(stack, "aws:iam/rolePolicy:RolePolicy")
        if p.inputs["role"] == f"{role.name}-id"
    }
    assert grants == {
        "app-policy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "SendToQueue",
                    "Effect": "Allow",
                    "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"],
                    "Resource": queue.outputs["arn"],
                }
            ],
        },
        # No CreateLogGroup, no DescribeLogStreams, no other group: its own streams only.
        "app-logs-policy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "WriteOwnLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": (
                        "arn:aws:logs:eu-west-1:123456789012:log-group:"
                        f"/ecr-eks-lambda/{stack.stack}/app:*"
                    ),
                }
            ],
        },
    }
    attached = of_type(stack, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert all(a.inputs["role"] != role.outputs["name"] for a in attached)


def test_the_app_log_group_is_the_stacks_with_its_retention(stack: Run) -> None:
    group = one(stack, "aws:cloudwatch/logGroup:LogGroup", "app-logs")
    days = {"dev": 7, "prod": 90}[stack.stack]  # Pulumi.<stack>.yaml's logRetentionDays
    assert group.inputs == {"name": f"/ecr-eks-lambda/{stack.stack}/app", "retentionInDays": days}
    assert stack.outputs["appLogGroupName"] == f"/ecr-eks-lambda/{stack.stack}/app"


def test_pods_get_their_credentials_and_log_grant_before_they_start(stack: Run) -> None:
    grant = one(stack, "aws:iam/rolePolicy:RolePolicy", "app-logs-policy")
    assert grant.urn in one(stack, DEPLOYMENT).dependencies


def test_deployment_runs_the_pushed_digest_with_the_queue_url(stack: Run) -> None:
    repo = one(stack, "aws:ecr/repository:Repository")
    image = one(stack, "docker-build:index:Image")
    queue = one(stack, "aws:sqs/queue:Queue", "consumer-queue")
    [container] = one(stack, DEPLOYMENT).inputs["spec"]["template"]["spec"]["containers"]
    expected = f"{repo.outputs['repositoryUrl']}@{image.outputs['digest']}"
    assert container["image"] == expected == stack.outputs["imageRef"]
    assert "@sha256:" in container["image"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env == {
        "QUEUE_URL": queue.outputs["url"],
        "AWS_REGION": "eu-west-1",
        "PORT": "8080",
        "LOG_GROUP": f"/ecr-eks-lambda/{stack.stack}/app",
        # Each pod its own log stream: its name, through the Downward API.
        "LOG_STREAM": {"fieldRef": {"fieldPath": "metadata.name"}},
    }


def test_deployment_probes_resources_and_graceful_stop(stack: Run) -> None:
    pod = one(stack, DEPLOYMENT).inputs["spec"]["template"]["spec"]
    [c] = pod["containers"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["ports"] == [{"name": "http", "containerPort": 8080}]
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["serviceAccountName"] == "app"


def test_app_service_account_is_bound_to_no_kubernetes_role(stack: Run) -> None:
    rbac = [r for r in stack.records if r.type.startswith("kubernetes:rbac.authorization")]
    assert rbac == []


def test_pod_passes_the_restricted_pod_security_standard(stack: Run) -> None:
    pod = one(stack, DEPLOYMENT).inputs["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [c] = pod["containers"]
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["runAsNonRoot"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["runAsUser"] == 10001
    # restricted allows only these volume types
    assert all(
        set(v) - {"name"} <= {"emptyDir", "configMap", "secret", "projected"}
        for v in pod["volumes"]
    )


def test_pods_spread_across_zones(stack: Run) -> None:
    spec = one(stack, DEPLOYMENT).inputs["spec"]
    [spread] = spec["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    # Spread when possible, but never leave a replica Pending for want of a zone.
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
    assert spread["maxSkew"] == 1
    assert spread["labelSelector"] == spec["selector"]


def test_replicas_and_disruption_budget_per_stack(dev: Run, prod: Run) -> None:
    # Both stacks autoscale: dev from 1 to 2 pods, prod from 3 to 9 (tests/infra/test_scaling.py).
    assert one(dev, DEPLOYMENT).inputs["spec"]["replicas"] == 1
    assert one(prod, DEPLOYMENT).inputs["spec"]["replicas"] == 3
    for run_ in (dev, prod):
        pdb = one(run_, PDB).inputs["spec"]
        assert pdb["maxUnavailable"] == 1
        assert pdb["selector"] == one(run_, DEPLOYMENT).inputs["spec"]["selector"]


def test_service_is_cluster_ip_by_default(stack: Run) -> None:
    svc = one(stack, SERVICE).inputs
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    assert "loadBalancerSourceRanges" not in svc["spec"]
    assert "port-forward svc/app" in stack.outputs["appEndpoint"]


@pytest.mark.parametrize("kind", MANIFEST_TYPES)
def test_manifests_validate_strictly_for_the_cluster_version(prod: Run, kind: str) -> None:
    manifest = as_manifest(unwrap(one(prod, kind).inputs))
    kubernetes_validate.validate(manifest, "1.35", strict=True)


def test_strict_validation_catches_a_misspelt_field(prod: Run) -> None:
    manifest = as_manifest(one(prod, DEPLOYMENT).inputs)
    manifest["spec"]["replicass"] = manifest["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, "1.35", strict=True)


# --- alone ----------------------------------------------------------------------------------


def app_alone(config: AppConfig) -> Run:
    def build() -> dict[str, Any]:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        nodes = aws.sns.Topic("stand-in-for-nodes")
        agent = aws.sns.Topic("stand-in-for-agent")
        metrics = aws.sns.Topic("stand-in-for-metrics")
        app = App(
            "web",
            AppArgs(
                config=config,
                image="repo@sha256:abc",
                queue_url="https://sqs.example/q",
                send_policy='{"Version": "2012-10-17", "Statement": []}',
                roles=ALONE_ROLES,
                region="ap-south-2",
                log_group_name="/web/logs",
                log_retention_days=7,
                cluster_name="eks-1",
                cluster_arn="arn:aws:eks:ap-south-2:123456789012:cluster/eks-1",
                kubernetes_version="1.33",
                provider=provider,
                nodes=nodes,
                pod_identity_agent=agent,
                metrics_server=metrics,
                load_balancer_controller=None,
                load_balancer_cidrs=[],
            ),
        )
        return {"endpoint": app.app_endpoint}

    return run_component(build)


def test_alone_it_runs_the_given_image_on_the_given_cluster() -> None:
    result = app_alone(AppConfig(replicas=3, max_replicas=5, cpu_request="1", memory="1Gi"))
    deployment = one(result, DEPLOYMENT)
    [container] = deployment.inputs["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "repo@sha256:abc"
    assert {e["name"]: e.get("value") for e in container["env"]} == {
        "QUEUE_URL": "https://sqs.example/q",
        "AWS_REGION": "ap-south-2",
        "PORT": "8080",
        "LOG_GROUP": "/web/logs",
        "LOG_STREAM": None,  # from the pod's name
    }
    group = one(result, "aws:cloudwatch/logGroup:LogGroup", "web-logs").inputs
    assert (group["name"], group["retentionInDays"]) == ("/web/logs", 7)
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"memory": "1Gi"},
    }
    assert deployment.inputs["spec"]["replicas"] == 3
    assert one(result, HPA).inputs["spec"]["maxReplicas"] == 5
    labels = one(result, "kubernetes:core/v1:Namespace").inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.33"
    assert (
        one(result, "aws:eks/podIdentityAssociation:PodIdentityAssociation").inputs["clusterName"]
        == "eks-1"
    )
    [trust] = statements(one(result, "aws:iam/role:Role", "web-role"), "assumeRolePolicy")
    assert trust["Condition"]["StringEquals"]["aws:RequestTag/eks-cluster-arn"] == (
        "arn:aws:eks:ap-south-2:123456789012:cluster/eks-1"
    )
    assert result.outputs["endpoint"].startswith("kubectl -n app port-forward svc/app")


def test_alone_it_waits_for_what_the_cluster_hands_it() -> None:
    result = app_alone(AppConfig())
    urn = {r.name: r.urn for r in result.records}
    assert urn["stand-in-for-nodes"] in one(result, DEPLOYMENT).dependencies
    association = one(result, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert urn["stand-in-for-agent"] in association.dependencies
    assert urn["stand-in-for-metrics"] in one(result, HPA).dependencies
    provider = one(result, "pulumi:providers:kubernetes")
    k8s_objects = [r for r in result.records if r.type.startswith("kubernetes:")]
    assert {r.provider for r in k8s_objects} == {f"{provider.urn}::{provider.name}-id"}
