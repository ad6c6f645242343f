"""Each rule of the policy pack against a compliant and a violating resource, through the
pulumi-policy SDK's analyzer (see policy_sdk.py), plus the rules' edge cases called directly."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from policy import guardrails as g
from tests.delivery.policy_sdk import Res, analyze, analyze_stack, by_policy

UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
QUEUE_ARN = "arn:aws:sqs:eu-west-1:111122223333:events"
DLQ_ARN = "arn:aws:sqs:eu-west-1:111122223333:events-dlq"


def only(violations: list[Any], policy: str) -> list[str]:
    """The messages of `policy`, asserting no other policy fired."""
    assert {v.policy for v in violations} <= {policy}, violations
    assert all(v.mandatory for v in violations)
    return [v.message for v in violations]


# ------------------------------------------------------------------------------------------
# ECR
# ------------------------------------------------------------------------------------------

ECR_OK = {
    "imageTagMutability": "IMMUTABLE",
    "imageScanningConfiguration": {"scanOnPush": True},
    "encryptionConfigurations": [{"encryptionType": "KMS"}],
}


def test_ecr_compliant_repository_passes():
    assert analyze(g.ECR_REPOSITORY, ECR_OK) == []


@pytest.mark.parametrize("scan", [{"scanOnPush": False}, {}, None])
def test_ecr_without_scan_on_push_is_refused(scan):
    props = {**ECR_OK, "imageScanningConfiguration": scan}
    (message,) = only(analyze(g.ECR_REPOSITORY, props), "ecr-scan-on-push")
    assert "scan_on_push=True" in message


@pytest.mark.parametrize("mutability", ["MUTABLE", "IMMUTABLE_WITH_EXCLUSION", None])
def test_ecr_with_mutable_tags_is_refused(mutability):
    props = {**ECR_OK, "imageTagMutability": mutability}
    (message,) = only(analyze(g.ECR_REPOSITORY, props), "ecr-immutable-tags")
    assert f"got {mutability!r}" in message
    assert "IMMUTABLE" in message


# ------------------------------------------------------------------------------------------
# SQS encryption
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "props",
    [
        {"sqsManagedSseEnabled": True},
        {"kmsMasterKeyId": "alias/aws/sqs"},
        {"kmsMasterKeyId": UNKNOWN_STRING},
    ],
)
def test_sqs_encrypted_queue_passes(props):
    assert g.check_sqs_encryption(g.SQS_QUEUE, props) == []
    assert by_policy(analyze(g.SQS_QUEUE, props), "sqs-encryption-at-rest") == []


@pytest.mark.parametrize("props", [{}, {"sqsManagedSseEnabled": False}, {"kmsMasterKeyId": ""}])
def test_sqs_unencrypted_queue_is_refused(props):
    (v,) = by_policy(analyze(g.SQS_QUEUE, props), "sqs-encryption-at-rest")
    assert "sqs_managed_sse_enabled=True or kms_master_key_id" in v.message


# ------------------------------------------------------------------------------------------
# Event source mapping: ReportBatchItemFailures
# ------------------------------------------------------------------------------------------

MAPPING_OK = {
    "eventSourceArn": QUEUE_ARN,
    "functionName": "arn:aws:lambda:eu-west-1:111122223333:function:consumer",
    "functionResponseTypes": ["ReportBatchItemFailures"],
    "batchSize": 10,
}


def test_sqs_mapping_with_report_batch_item_failures_passes():
    assert analyze(g.LAMBDA_EVENT_SOURCE_MAPPING, MAPPING_OK) == []


@pytest.mark.parametrize("types", [None, []])
def test_sqs_mapping_without_report_batch_item_failures_is_refused(types):
    props = {**MAPPING_OK, "functionResponseTypes": types}
    (message,) = only(
        analyze(g.LAMBDA_EVENT_SOURCE_MAPPING, props), "lambda-sqs-report-batch-item-failures"
    )
    assert "ReportBatchItemFailures" in message


def test_mapping_whose_queue_is_not_created_yet_still_counts_as_sqs():
    # During the first preview the queue ARN is unknown; the rule must still apply.
    props = {**MAPPING_OK, "eventSourceArn": UNKNOWN_STRING, "functionResponseTypes": []}
    assert by_policy(
        analyze(g.LAMBDA_EVENT_SOURCE_MAPPING, props), "lambda-sqs-report-batch-item-failures"
    )


def test_stream_mappings_are_not_sqs():
    kinesis = {
        "eventSourceArn": "arn:aws:kinesis:eu-west-1:111122223333:stream/s",
        "startingPosition": "LATEST",
    }
    assert (
        g.check_sqs_mapping_reports_batch_item_failures(g.LAMBDA_EVENT_SOURCE_MAPPING, kinesis)
        == []
    )
    unknown_stream = {"eventSourceArn": UNKNOWN_STRING, "startingPosition": "LATEST"}
    assert not g.is_sqs_mapping(unknown_stream)


# ------------------------------------------------------------------------------------------
# IAM
# ------------------------------------------------------------------------------------------


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


SCOPED = doc(
    {
        "Effect": "Allow",
        "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
        "Resource": QUEUE_ARN,
    },
    {
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/consumer:*",
    },
    # X-Ray has no resource-level permissions: "*" is the only form, and it is not data plane.
    {"Effect": "Allow", "Action": ["xray:PutTraceSegments"], "Resource": "*"},
)
DENY_INSECURE = doc(
    {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": QUEUE_ARN,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
)
TRUST = doc(
    {
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
)


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        ("aws:iam/policy:Policy", {"policy": SCOPED}),
        ("aws:iam/rolePolicy:RolePolicy", {"role": "r", "policy": SCOPED}),
        ("aws:iam/role:Role", {"assumeRolePolicy": TRUST, "inlinePolicies": [{"policy": SCOPED}]}),
        ("aws:sqs/queuePolicy:QueuePolicy", {"queueUrl": "u", "policy": DENY_INSECURE}),
        ("aws:iam/policy:Policy", {"policy": json.loads(SCOPED)}),
    ],
)
def test_scoped_policies_pass(resource_type, props):
    assert analyze(resource_type, props) == []


@pytest.mark.parametrize(
    ("action", "where"),
    [("sqs:*", "policy"), ("*", "policy"), ("sqs:Send*", "policy"), ("s3:Get?bject", "policy")],
)
def test_wildcard_actions_are_refused(action, where):
    props = {"policy": doc({"Effect": "Allow", "Action": [action], "Resource": QUEUE_ARN})}
    violations = by_policy(analyze("aws:iam/policy:Policy", props), "iam-no-wildcard-actions")
    (v,) = violations
    assert where in v.message
    assert action in v.message


def test_wildcard_in_trust_policy_and_inline_policy_are_named():
    props = {
        "assumeRolePolicy": doc(
            {"Effect": "Allow", "Principal": {"Service": "x"}, "Action": "sts:*"}
        ),
        "inlinePolicies": [
            {"name": "a", "policy": SCOPED},
            {
                "name": "b",
                "policy": doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": QUEUE_ARN}),
            },
        ],
    }
    messages = [
        v.message for v in by_policy(analyze("aws:iam/role:Role", props), "iam-no-wildcard-actions")
    ]
    assert len(messages) == 2
    assert any("assumeRolePolicy" in m and "sts:*" in m for m in messages)
    assert any("inlinePolicies[1].policy" in m and "NotAction" in m for m in messages)


@pytest.mark.parametrize(
    "resource",
    ["*", "arn:aws:sqs:eu-west-1:111122223333:*", ["arn:aws:sqs:eu-west-1:1:q", "*"]],
)
def test_data_plane_actions_on_unscoped_resources_are_refused(resource):
    props = {
        "policy": doc(
            {"Sid": "Send", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": resource}
        )
    }
    (message,) = only(analyze("aws:iam/policy:Policy", props), "iam-data-plane-actions-scoped")
    assert "'Send'" in message
    assert "sqs:sendmessage" in message


def test_data_plane_rule_sees_through_wildcards_and_not_resource():
    props = {
        "policy": doc(
            {"Effect": "Allow", "Action": "dynamodb:*Item", "Resource": "*"},
            {"Effect": "Allow", "Action": "kms:Decrypt", "NotResource": QUEUE_ARN},
        )
    }
    messages = g.check_iam_data_plane_resources_scoped("aws:iam/policy:Policy", props)
    assert len(messages) == 2
    assert "dynamodb:getitem" in messages[0]
    assert "NotResource" in messages[1]


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        ),
        (
            "aws:iam/role:Role",
            {
                "assumeRolePolicy": TRUST,
                "managedPolicyArns": [
                    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                    "arn:aws:iam::aws:policy/AmazonSQSFullAccess",
                ],
            },
        ),
        (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"role": "r", "policyArn": "arn:aws:iam::aws:policy/PowerUserAccess"},
        ),
    ],
)
def test_wildcard_aws_managed_policies_are_refused(resource_type, props):
    (message,) = only(analyze(resource_type, props), "iam-no-wildcard-actions")
    assert "AWS managed policy arn:aws:iam::aws:policy/" in message


@pytest.mark.parametrize(
    "arn",
    [
        # What pulumi-eks attaches to its cluster and node roles: explicit action lists.
        "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        # A customer policy that happens to be called ...FullAccess is judged by its document.
        "arn:aws:iam::111122223333:policy/TeamFullAccess",
    ],
)
def test_scoped_managed_policies_pass(arn):
    props = {"role": "r", "policyArn": arn}
    assert analyze("aws:iam/rolePolicyAttachment:RolePolicyAttachment", props) == []


def test_kms_key_policies_are_out_of_scope():
    # AWS's default key policy: kms:* for the account on "*" (meaning this key).
    key_policy = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    assert analyze("aws:kms/key:Key", {"policy": key_policy}) == []


# ------------------------------------------------------------------------------------------
# EKS
# ------------------------------------------------------------------------------------------

EKS_OK = {
    "enabledClusterLogTypes": ["api", "audit", "authenticator"],
    "encryptionConfigKeyArn": "arn:aws:kms:eu-west-1:111122223333:key/abc",
    "authenticationMode": "API",
}


def test_eks_component_cluster_compliant_passes():
    assert analyze(g.EKS_COMPONENT_CLUSTER, EKS_OK) == []
    # The KMS key is usually created in the same update: unknown during preview.
    assert (
        analyze(g.EKS_COMPONENT_CLUSTER, {**EKS_OK, "encryptionConfigKeyArn": UNKNOWN_STRING}) == []
    )


@pytest.mark.parametrize("log_types", [None, [], ["api", "audit"]])
def test_eks_without_control_plane_logging_is_refused(log_types):
    props = {**EKS_OK, "enabledClusterLogTypes": log_types}
    (message,) = only(analyze(g.EKS_COMPONENT_CLUSTER, props), "eks-control-plane-logging")
    assert "authenticator" in message


def test_eks_without_secrets_encryption_is_refused():
    props = {k: v for k, v in EKS_OK.items() if k != "encryptionConfigKeyArn"}
    (message,) = only(analyze(g.EKS_COMPONENT_CLUSTER, props), "eks-secrets-encryption")
    assert "encryption_config_key_arn" in message


def test_raw_aws_eks_cluster_is_checked_too():
    ok = {
        "enabledClusterLogTypes": ["api", "audit", "authenticator", "scheduler"],
        "encryptionConfig": {"provider": {"keyArn": "arn:k"}, "resources": ["secrets"]},
    }
    assert analyze(g.EKS_CLUSTER, ok) == []
    bad = {**ok, "encryptionConfig": {"provider": {"keyArn": "arn:k"}, "resources": []}}
    assert [v.policy for v in analyze(g.EKS_CLUSTER, bad)] == ["eks-secrets-encryption"]


# ------------------------------------------------------------------------------------------
# Pod Security Standard "restricted"
# ------------------------------------------------------------------------------------------

RESTRICTED_CONTAINER = {
    "name": "app",
    "image": "111122223333.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:" + "a" * 64,
    "ports": [{"containerPort": 8080}],
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    },
}
DEPLOYMENT_OK = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "app", "namespace": "app"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "app"}},
        "template": {
            "metadata": {"labels": {"app": "app"}},
            "spec": {
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "runAsGroup": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [RESTRICTED_CONTAINER],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
            },
        },
    },
}


def deployment_with(mutate) -> dict[str, Any]:
    d = copy.deepcopy(DEPLOYMENT_OK)
    mutate(d["spec"]["template"]["spec"], d["spec"]["template"])
    return d


def test_restricted_deployment_passes():
    assert analyze("kubernetes:apps/v1:Deployment", DEPLOYMENT_OK) == []


def test_container_level_settings_satisfy_the_profile_too():
    def move_to_container(spec, _template):
        spec["securityContext"] = {}
        spec["containers"][0]["securityContext"].update(
            runAsNonRoot=True, seccompProfile={"type": "Localhost", "localhostProfile": "p.json"}
        )

    assert analyze("kubernetes:apps/v1:Deployment", deployment_with(move_to_container)) == []


def _set(path: str, value: Any):
    def mutate(spec, template):
        target: Any = {"spec": spec, "template": template}
        *parents, last = path.split(".")
        for p in parents:
            target = target[int(p)] if p.isdigit() else target.setdefault(p, {})
        target[last] = value

    return mutate


VIOLATIONS = [
    ("spec.hostNetwork", True, "hostNetwork"),
    ("spec.hostPID", True, "hostPID"),
    ("spec.hostIPC", True, "hostIPC"),
    ("spec.securityContext.runAsNonRoot", False, "runAsNonRoot"),
    ("spec.securityContext.runAsUser", 0, "runAsUser must not be 0"),
    ("spec.securityContext.seccompProfile", {"type": "Unconfined"}, "seccompProfile.type"),
    ("spec.securityContext.seLinuxOptions", {"type": "spc_t"}, "seLinuxOptions.type"),
    ("spec.securityContext.seLinuxOptions", {"user": "root"}, "seLinuxOptions.user"),
    ("spec.securityContext.sysctls", [{"name": "kernel.msgmax", "value": "1"}], "safe sysctl"),
    ("spec.securityContext.windowsOptions", {"hostProcess": True}, "hostProcess"),
    ("spec.securityContext.appArmorProfile", {"type": "Unconfined"}, "appArmorProfile"),
    ("spec.volumes", [{"name": "h", "hostPath": {"path": "/"}}], "hostPath"),
    ("spec.containers.0.securityContext.privileged", True, "privileged"),
    (
        "spec.containers.0.securityContext.allowPrivilegeEscalation",
        True,
        "allowPrivilegeEscalation",
    ),
    (
        "spec.containers.0.securityContext.capabilities",
        {"drop": ["NET_RAW"]},
        "drop must include 'ALL'",
    ),
    (
        "spec.containers.0.securityContext.capabilities",
        {"drop": ["ALL"], "add": ["SYS_ADMIN"]},
        "SYS_ADMIN",
    ),
    ("spec.containers.0.securityContext.procMount", "Unmasked", "procMount"),
    ("spec.containers.0.ports", [{"containerPort": 80, "hostPort": 80}], "hostPort"),
    (
        "template.metadata.annotations",
        {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"},
        "apparmor",
    ),
]


@pytest.mark.parametrize(
    ("path", "value", "expected"), VIOLATIONS, ids=[v[0] + "=" + repr(v[1]) for v in VIOLATIONS]
)
def test_each_restricted_control_is_enforced(path, value, expected):
    violations = analyze("kubernetes:apps/v1:Deployment", deployment_with(_set(path, value)))
    messages = only(violations, "pods-restricted-pod-security-standard")
    assert messages, "no violation reported"
    assert any(expected in m for m in messages), messages
    assert all("restricted Pod Security Standard" in m for m in messages)


def test_unset_allow_privilege_escalation_fails_the_profile():
    # The restricted profile needs an explicit false: unset means allowed.
    def unset(spec, _template):
        del spec["containers"][0]["securityContext"]["allowPrivilegeEscalation"]

    violations = analyze("kubernetes:apps/v1:Deployment", deployment_with(unset))
    (message,) = only(violations, "pods-restricted-pod-security-standard")
    assert "allowPrivilegeEscalation must be false" in message


def test_missing_pod_level_settings_fail_every_container_without_its_own():
    def strip(spec, _template):
        spec["securityContext"] = {}
        spec["initContainers"] = [copy.deepcopy(RESTRICTED_CONTAINER) | {"name": "init"}]

    messages = g.check_pods_restricted("kubernetes:apps/v1:Deployment", deployment_with(strip))
    assert sum("runAsNonRoot must be true" in m for m in messages) == 2
    assert sum("seccompProfile.type must be RuntimeDefault" in m for m in messages) == 2


def test_other_workload_kinds_are_checked():
    template = DEPLOYMENT_OK["spec"]["template"]
    bad_template = copy.deepcopy(template)
    bad_template["spec"]["hostPID"] = True
    cron = {"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": bad_template}}}}
    assert by_policy(
        analyze("kubernetes:batch/v1:CronJob", cron), "pods-restricted-pod-security-standard"
    )
    assert analyze("kubernetes:core/v1:Pod", {"spec": template["spec"]}) == []
    assert by_policy(
        analyze("kubernetes:core/v1:Pod", {"spec": bad_template["spec"]}),
        "pods-restricted-pod-security-standard",
    )


# ------------------------------------------------------------------------------------------
# Stack rules: dead-letter queues and visibility timeout vs. function timeout
# ------------------------------------------------------------------------------------------


def stack(
    visibility: float | None = 210,
    timeout: float | None = 30,
    window: float | None = 5,
    redrive: bool = True,
    deps: bool = True,
) -> list[Res]:
    queue_props: dict[str, Any] = {"sqsManagedSseEnabled": True}
    if visibility is not None:
        queue_props["visibilityTimeoutSeconds"] = visibility
    if redrive:
        queue_props["redrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": 5}
        )
    fn_props: dict[str, Any] = {"runtime": "python3.13", "handler": "handlers.consumer.handler"}
    if timeout is not None:
        fn_props["timeout"] = timeout
    mapping: dict[str, Any] = {
        "eventSourceArn": QUEUE_ARN,
        "functionName": "arn:aws:lambda:eu-west-1:111122223333:function:consumer",
        "functionResponseTypes": ["ReportBatchItemFailures"],
    }
    if window is not None:
        mapping["maximumBatchingWindowInSeconds"] = window
    return [
        Res(
            g.SQS_QUEUE,
            "events-dlq",
            {"sqsManagedSseEnabled": True, "messageRetentionSeconds": 1209600},
        ),
        Res(g.SQS_QUEUE, "events", queue_props, {"redrivePolicy": ["events-dlq"]} if deps else {}),
        Res(g.LAMBDA_FUNCTION, "consumer", fn_props),
        Res(
            g.LAMBDA_EVENT_SOURCE_MAPPING,
            "consumer-events",
            mapping,
            {"eventSourceArn": ["events"], "functionName": ["consumer"]} if deps else {},
        ),
    ]


def test_compliant_stack_passes():
    assert analyze_stack(stack()) == []


def test_stack_rules_link_by_arn_and_name_without_dependencies():
    # What a mock run records: no property dependencies, ARNs made from the names.
    assert analyze_stack(stack(deps=False)) == []


@pytest.mark.parametrize(
    ("visibility", "timeout", "window", "needed"),
    [(209, 30, 5, "185"), (30, 30, 0, "180"), (None, 10, None, "60"), (17, None, None, "18")],
)
def test_visibility_timeout_below_six_times_function_timeout_is_refused(
    visibility, timeout, window, needed
):
    resources = stack(visibility=visibility, timeout=timeout, window=window)
    violations = by_policy(analyze_stack(resources), "sqs-visibility-timeout-covers-function")
    if visibility == 209:
        # 209 >= 6 x 30 + 5: the boundary passes.
        assert violations == []
        return
    (v,) = violations
    assert v.urn == resources[1].urn
    assert f"= {needed} s" in v.message


def test_visibility_boundary_is_inclusive():
    def plain(visibility: float) -> list[g.StackResource]:
        return [
            g.StackResource(r.type, r.urn, r.name, r.props) for r in stack(visibility, deps=False)
        ]

    assert g.check_sqs_visibility_covers_function(plain(185)) == []
    assert len(g.check_sqs_visibility_covers_function(plain(184))) == 1


def test_mapping_that_cannot_be_linked_is_refused():
    resources = stack()
    mapping = resources[3]
    resources[3] = Res(
        mapping.type,
        mapping.name,
        {**mapping.props, "eventSourceArn": "arn:aws:sqs:eu-west-1:1:other"},
    )
    (v,) = by_policy(analyze_stack(resources), "sqs-visibility-timeout-covers-function")
    assert "cannot find its queue" in v.message


def test_queue_without_dead_letter_queue_is_refused():
    resources = stack(redrive=False)
    violations = by_policy(analyze_stack(resources), "sqs-dead-letter-queue")
    assert sorted(v.urn for v in violations) == sorted([resources[0].urn, resources[1].urn])
    assert all("dead-letter" in v.message for v in violations)


def test_dead_letter_queue_wired_by_separate_redrive_resources_passes():
    resources = stack(redrive=False)
    resources += [
        Res(
            g.SQS_REDRIVE_POLICY,
            "events-redrive",
            {"queueUrl": UNKNOWN_STRING, "redrivePolicy": UNKNOWN_STRING},
            {"queueUrl": ["events"], "redrivePolicy": ["events-dlq"]},
        )
    ]
    assert by_policy(analyze_stack(resources), "sqs-dead-letter-queue") == []


def test_dead_letter_queue_declared_by_redrive_allow_policy_passes():
    resources = stack(deps=False)
    resources[0] = Res(
        g.SQS_QUEUE,
        "events-dlq",
        {
            "sqsManagedSseEnabled": True,
            "redriveAllowPolicy": json.dumps(
                {"redrivePermission": "byQueue", "sourceQueueArns": [QUEUE_ARN]}
            ),
        },
    )
    resources[1] = Res(
        g.SQS_QUEUE,
        "events",
        {
            **resources[1].props,
            "redrivePolicy": json.dumps(
                {"deadLetterTargetArn": "arn:aws:sqs:eu-west-1:1:elsewhere", "maxReceiveCount": 5}
            ),
        },
    )
    assert by_policy(analyze_stack(resources), "sqs-dead-letter-queue") == []


# ------------------------------------------------------------------------------------------
# Stack rule: VPC flow logs
# ------------------------------------------------------------------------------------------


def network(traffic: str = "ALL", deps: bool = True, attached_to: str = "vpcId") -> list[Res]:
    """A VPC and a flow log; during a preview the flow log's `vpcId` is not known yet, and the
    engine's property dependency is what names the VPC."""
    flow_log = {
        attached_to: UNKNOWN_STRING,
        "trafficType": traffic,
        "logDestinationType": "cloud-watch-logs",
        "logDestination": UNKNOWN_STRING,
    }
    return [
        Res(g.EC2_VPC, "net", {"cidrBlock": "10.0.0.0/16"}),
        Res(g.EC2_FLOW_LOG, "net-flow-log", flow_log, {attached_to: ["net"]} if deps else {}),
    ]


@pytest.mark.parametrize("traffic", ["ALL", "REJECT", UNKNOWN_STRING])
def test_vpc_with_a_flow_log_recording_rejects_passes(traffic):
    assert analyze_stack(network(traffic)) == []


def test_vpc_without_a_flow_log_is_refused():
    vpc = network()[0]
    (v,) = only(analyze_stack([vpc]), "vpc-flow-logs")
    assert v.endswith(
        "VPC 'net' has no flow log recording rejected traffic (AWS Security Hub EC2.6): add an "
        "aws.ec2.FlowLog with vpc_id=vpc.id and traffic_type 'ALL' or 'REJECT', publishing to "
        "CloudWatch Logs or S3."
    )
    (violation,) = analyze_stack([vpc])
    assert violation.urn == vpc.urn


def test_accept_only_flow_log_does_not_cover_the_vpc():
    assert only(analyze_stack(network("ACCEPT")), "vpc-flow-logs")


def test_subnet_flow_log_does_not_cover_the_vpc():
    vpc, flow_log = network(attached_to="subnetId")
    subnet = Res("aws:ec2/subnet:Subnet", "net-a", {"vpcId": UNKNOWN_STRING}, {"vpcId": [vpc.name]})
    flow_log = Res(flow_log.type, flow_log.name, flow_log.props, {"subnetId": [subnet.name]})
    assert only(analyze_stack([vpc, subnet, flow_log]), "vpc-flow-logs")
    # Not even as the only candidate of a mock run.
    assert g.check_vpc_flow_logs(plain([vpc, subnet, flow_log]), link_unique=True)


def test_flow_log_is_linked_by_the_vpc_id_without_dependencies():
    vpc = Res(g.EC2_VPC, "net", {"cidrBlock": "10.0.0.0/16", "id": "vpc-0a1b"})

    def flow_log(vpc_id: str) -> Res:
        return Res(g.EC2_FLOW_LOG, "fl", {"vpcId": vpc_id, "trafficType": "REJECT"})

    assert analyze_stack([vpc, flow_log("vpc-0a1b")]) == []
    assert only(analyze_stack([vpc, flow_log("vpc-other")]), "vpc-flow-logs")


def test_a_flow_log_covers_only_its_own_vpc():
    resources = [*network(), Res(g.EC2_VPC, "other", {"cidrBlock": "10.1.0.0/16"})]
    (v,) = by_policy(analyze_stack(resources), "vpc-flow-logs")
    assert v.urn == resources[2].urn


def test_vpc_flow_log_link_unique_links_mock_runs_and_never_guesses():
    recorded = plain(network(deps=False))
    assert [u for u, _ in g.check_vpc_flow_logs(recorded)] == [recorded[0].urn]
    assert g.check_vpc_flow_logs(recorded, link_unique=True) == []
    two_vpcs = [*recorded, *plain([Res(g.EC2_VPC, "other", {})])]
    assert len(g.check_vpc_flow_logs(two_vpcs, link_unique=True)) == 2


def test_vpc_flow_logs_rule_can_be_disabled_for_a_stack_by_pack_config():
    # A stack with vpcFlowLogs=false needs this explicit exception, e.g.
    # `--policy-pack-config` with {"vpc-flow-logs": "disabled"}.
    vpc = network()[0]
    assert analyze_stack([vpc], disabled=["vpc-flow-logs"]) == []
    assert analyze_stack([vpc], disabled=["sqs-dead-letter-queue"]) != []


# ------------------------------------------------------------------------------------------
# The pack as a whole
# ------------------------------------------------------------------------------------------


def test_pack_policies_are_mandatory_and_uniquely_named():
    names = [p.name for p in g.POLICIES]
    assert len(names) == len(set(names)) == len(g.RESOURCE_RULES) + len(g.STACK_RULES) == 12
    assert all(
        p.enforcement_level is not None and p.enforcement_level.value == "mandatory"
        for p in g.POLICIES
    )


def test_secret_properties_are_seen_through():
    secret = {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        "value": "MUTABLE",
    }
    props = {**ECR_OK, "imageTagMutability": secret}
    assert [v.policy for v in analyze(g.ECR_REPOSITORY, props)] == ["ecr-immutable-tags"]


# ------------------------------------------------------------------------------------------
# Unknown values (a first preview, before the resources they come from exist)
# ------------------------------------------------------------------------------------------


def all_unknown(value: Any) -> Any:
    """Every leaf replaced by Pulumi's unknown sentinel, as in a preview."""
    if isinstance(value, dict):
        return {k: all_unknown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [all_unknown(v) for v in value]
    return UNKNOWN_STRING


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (g.ECR_REPOSITORY, ECR_OK),
        (g.SQS_QUEUE, {"sqsManagedSseEnabled": True, "redrivePolicy": "x", "policy": "y"}),
        (g.LAMBDA_EVENT_SOURCE_MAPPING, MAPPING_OK),
        ("aws:iam/role:Role", {"assumeRolePolicy": TRUST, "inlinePolicies": [{"policy": SCOPED}]}),
        (g.EKS_COMPONENT_CLUSTER, EKS_OK),
        ("kubernetes:apps/v1:Deployment", DEPLOYMENT_OK),
    ],
)
def test_unknown_values_are_never_judged(resource_type, props):
    # Not known yet means not judged yet: `pulumi up` runs the rules again with the values.
    assert analyze(resource_type, all_unknown(props)) == []
    whole_objects_unknown = {k: UNKNOWN_STRING for k in props}
    assert analyze(resource_type, whole_objects_unknown) == []


def test_unknown_pod_security_context_does_not_hide_known_violations():
    def unknown_pod_context_but_privileged(spec, _template):
        spec["securityContext"] = UNKNOWN_STRING
        spec["containers"][0]["securityContext"]["privileged"] = True

    violations = analyze(
        "kubernetes:apps/v1:Deployment", deployment_with(unknown_pod_context_but_privileged)
    )
    (message,) = only(violations, "pods-restricted-pod-security-standard")
    assert "privileged" in message


def test_first_preview_links_the_dead_letter_queue_through_the_engines_dependency():
    resources = stack()
    source = resources[1]
    # The redrive policy embeds the DLQ's ARN, unknown before the DLQ exists.
    resources[1] = Res(
        source.type, source.name, {**source.props, "redrivePolicy": UNKNOWN_STRING}, source.deps
    )
    assert by_policy(analyze_stack(resources), "sqs-dead-letter-queue") == []
    resources[1] = Res(source.type, source.name, resources[1].props, {})
    (v,) = by_policy(analyze_stack(resources), "sqs-dead-letter-queue")
    assert v.urn == resources[0].urn


def plain(resources: list[Res]) -> list[g.StackResource]:
    return [g.StackResource(r.type, r.urn, r.name, r.props) for r in resources]


def mock_names(resources: list[Res]) -> list[Res]:
    """As a mock may record them: ARNs that match no name in the stack, no dependencies."""
    out = []
    for r in resources:
        props = dict(r.props)
        if r.type == g.LAMBDA_EVENT_SOURCE_MAPPING:
            props["eventSourceArn"] = "arn:aws:sqs:eu-west-1:111122223333:events-a1b2c3d"
            props["functionName"] = "consumer-9f8e7d6"
        if "redrivePolicy" in props:
            props["redrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": "arn:aws:sqs:eu-west-1:111122223333:dlq-0a1b2c3",
                    "maxReceiveCount": 5,
                }
            )
        out.append(Res(r.type, r.name, props))
    return out


def test_link_unique_links_mock_runs_and_still_finds_violations():
    ok = plain(mock_names(stack()))
    assert "cannot find its queue" in g.check_sqs_visibility_covers_function(ok)[0][1]
    assert g.check_sqs_visibility_covers_function(ok, link_unique=True) == []
    assert [u for u, _ in g.check_sqs_dead_letter_queues(ok)] == [ok[0].urn]
    assert g.check_sqs_dead_letter_queues(ok, link_unique=True) == []

    short = plain(mock_names(stack(visibility=60)))
    ((urn, message),) = g.check_sqs_visibility_covers_function(short, link_unique=True)
    assert urn == short[1].urn
    assert "= 185 s" in message


def test_link_unique_never_guesses_between_several_candidates():
    resources = mock_names(stack())
    resources.append(Res(g.LAMBDA_FUNCTION, "other", {"timeout": 900}))
    ((_, message),) = g.check_sqs_visibility_covers_function(plain(resources), link_unique=True)
    assert "cannot find its function" in message
