"""LoadBalancerController: the AWS Load Balancer Controller, which makes the app's public
Network Load Balancer from its Service, with its own AWS identity through Pod Identity."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import iam
from components.policies import document, pod_identity_trust

CHART_REPOSITORY: Final = "https://aws.github.io/eks-charts"
CHART: Final = "aws-load-balancer-controller"
CHART_VERSION: Final = "3.5.0"
IMAGE_REPOSITORY: Final = "public.ecr.aws/eks/aws-load-balancer-controller"
IMAGE_TAG: Final = "v3.5.0"
"""The controller the chart runs, pinned rather than left to the chart's default."""
NAMESPACE: Final = "kube-system"
SERVICE_ACCOUNT: Final = "aws-load-balancer-controller"
LOAD_BALANCER_CLASS: Final = "service.k8s.aws/nlb"
"""The class a Service names to be made into an NLB by this controller."""
POLICY_FILE: Final = Path(__file__).with_name("load_balancer_controller_policy.json")
"""The IAM policy AWS publishes for the controller, transcribed unchanged from
kubernetes-sigs/aws-load-balancer-controller, tag v3.5.0, docs/install/iam_policy.json (the
commercial partition's; aws-cn and aws-us-gov have their own files there)."""


@dataclass(frozen=True, kw_only=True)
class LoadBalancerControllerArgs:
    """Inputs of the LoadBalancerController component."""

    cluster_name: pulumi.Input[str]
    """The EKS cluster it runs in (its --cluster-name, and the Pod Identity association's)."""
    cluster_arn: pulumi.Input[str]
    """Its ARN: only the controller's pods of this cluster may assume its role."""
    region: str
    """The cluster's AWS region."""
    vpc_id: pulumi.Input[str]
    """The cluster's VPC."""
    roles: iam.RoleSettings
    """How the stack's roles are created (path, permissions boundary)."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster (`Cluster.provider`)."""
    nodes: pulumi.Resource
    """What must exist before pods can be scheduled (`Cluster.node_group`)."""
    pod_identity_agent: pulumi.Resource
    """The agent that hands pods their credentials (`Cluster.pod_identity_agent`)."""


class LoadBalancerController(pulumi.ComponentResource):
    """The AWS Load Balancer Controller from AWS's Helm chart, pinned, reconciling only
    Services that name its class, allowed what AWS's published policy allows."""

    role: aws.iam.Role
    """The controller's Pod Identity role."""
    release: k8s.helm.v3.Release
    """The chart's release: a load balancer the controller makes must be deleted before it."""

    def __init__(
        self,
        name: str,
        args: LoadBalancerControllerArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ecr-eks-lambda:components:LoadBalancerController", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = iam.role(
            f"{name}-role",
            document(pod_identity_trust(args.cluster_arn, NAMESPACE, SERVICE_ACCOUNT)),
            args.roles,
            child,
            description="AWS Load Balancer Controller (Pod Identity)",
        )
        credentials = iam.pod_identity(
            name,
            self.role,
            published_policy(),
            cluster_name=args.cluster_name,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            agent=args.pod_identity_agent,
            parent=self,
        )
        # A Release, not helm.v4.Chart: v4 renders the chart at preview against the cluster and
        # fails while the kubeconfig is still unknown, i.e. on a new stack's first preview
        # (pulumi/pulumi-kubernetes#3027). A Release is one resource, so whatever depends on it
        # (the app's Service) is deleted before `helm uninstall` removes the controller.
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            k8s.helm.v3.ReleaseArgs(
                name=CHART,
                chart=CHART,
                version=CHART_VERSION,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
                namespace=NAMESPACE,
                values={
                    "clusterName": args.cluster_name,
                    # The nodes' IMDS hop limit of 1 keeps pods from the instance metadata the
                    # controller would otherwise discover its region and VPC from.
                    "region": args.region,
                    "vpcId": args.vpc_id,
                    "image": {"repository": IMAGE_REPOSITORY, "tag": IMAGE_TAG},
                    "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
                    # Only Services that name its class become load balancers: the webhook
                    # would otherwise take over every Service of type LoadBalancer.
                    "enableServiceMutatorWebhook": False,
                },
            ),
            pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                # Its pods need nodes, and their AWS credentials before they first reconcile.
                depends_on=[args.nodes, *credentials],
            ),
        )
        self.register_outputs({"role_arn": self.role.arn})


def published_policy() -> str:
    """AWS's policy for the controller (POLICY_FILE) as compact JSON, so what is registered
    does not depend on the file's layout."""
    return json.dumps(json.loads(POLICY_FILE.read_text()), separators=(",", ":"))
