"""Every IAM role the program creates: under the program's IAM path, with the stack's
permissions boundary when one is configured.

The CI deploy role (bootstrap/) may create and change roles only under this path and only
with the boundary attached (docs/delivery.md, "What the program must do"), so every role goes
through `role()`; none is created with `aws.iam.Role` directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from components.policies import document, service_trust

ROLE_PATH: Final = "/ecr-eks-lambda/"
"""bootstrap's PROGRAM_PATH: the only path the deploy role may create roles under."""


@dataclass(frozen=True, kw_only=True)
class RoleSettings:
    """How every role of the stack is created."""

    permissions_boundary_arn: str | None
    """The managed policy set as every role's permissions boundary (iamPermissionsBoundaryArn);
    None: no boundary (a stack deployed by an identity that needs none)."""


def role(
    name: str,
    assume_role_policy: pulumi.Input[str],
    settings: RoleSettings,
    opts: pulumi.ResourceOptions,
    *,
    description: str | None = None,
) -> aws.iam.Role:
    """An IAM role trusted by `assume_role_policy`, under ROLE_PATH, with the stack's boundary."""
    return aws.iam.Role(
        name,
        aws.iam.RoleArgs(
            assume_role_policy=assume_role_policy,
            path=ROLE_PATH,
            permissions_boundary=settings.permissions_boundary_arn,
            description=description,
        ),
        opts,
    )


def trust_for_own(
    service: str, source_service: str, source_resource: pulumi.Input[str], parent: pulumi.Resource
) -> pulumi.Output[str]:
    """A trust policy letting `service` assume the role only when acting for
    `source_resource` (an ARN's resource part, `*` allowed) of `source_service` in the
    stack's own account and region: AWS's guard against the cross-service confused deputy
    (`aws:SourceAccount`, `aws:SourceArn`)."""
    invoke = pulumi.InvokeOutputOptions(parent=parent)
    account = aws.get_caller_identity_output(opts=invoke).account_id
    partition = aws.get_partition_output(opts=invoke).partition
    region = aws.get_region_output(opts=invoke).region
    source_arn = pulumi.Output.concat(
        "arn:", partition, ":", source_service, ":", region, ":", account, ":", source_resource
    )
    return document(service_trust(service, source_account=account, source_arn=source_arn))


def pod_identity(
    name: str,
    role: aws.iam.Role,
    policy: pulumi.Input[str],
    *,
    cluster_name: pulumi.Input[str],
    namespace: str,
    service_account: str,
    agent: pulumi.Resource,
    parent: pulumi.Resource,
) -> list[pulumi.Resource]:
    """Grant `policy` to `role` (`{name}-policy`) and hand the role to the pods of one service
    account through EKS Pod Identity (`{name}-identity`, once the agent runs): what those pods
    need before they start."""
    grant = aws.iam.RolePolicy(
        f"{name}-policy",
        aws.iam.RolePolicyArgs(role=role.id, policy=policy),
        pulumi.ResourceOptions(parent=parent),
    )
    association = aws.eks.PodIdentityAssociation(
        f"{name}-identity",
        aws.eks.PodIdentityAssociationArgs(
            cluster_name=cluster_name,
            namespace=namespace,
            service_account=service_account,
            role_arn=role.arn,
        ),
        pulumi.ResourceOptions(parent=parent, depends_on=[agent]),
    )
    return [association, grant]
