"""Each resource rule of the policy pack against a compliant and a violating resource, through
the pulumi-policy SDK's analyzer (see policy_sdk.py), plus the rules' edge cases called directly;
and the pack as a whole."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from policy.guardrails import cloudwatch, ecr, eks, iam, pod_security, sqs, values
from policy.guardrails.pack import POLICIES, RESOURCE_RULES, STACK_RULES
from tests.delivery.bootstrap_program import iam_policies
from tests.delivery.policy_sdk import UNKNOWN_STRING, analyze, by_policy, only

QUEUE_ARN = "arn:aws:sqs:eu-west-1:111122223333:events"


# ------------------------------------------------------------------------------------------
# ECR
# ------------------------------------------------------------------------------------------

ECR_OK = {
    "imageTagMutability": "IMMUTABLE",
    "imageScanningConfiguration": {"scanOnPush": True},
    "encryptionConfigurations": [{"encryptionType": "KMS"}],
}


def test_ecr_compliant_repository_passes():
    assert analyze(ecr.ECR_REPOSITORY, ECR_OK) == []


@pytest.mark.parametrize("scan", [{"scanOnPush": False}, {}, None])
def test_ecr_without_scan_on_push_is_refused(scan):
    props = {**ECR_OK, "imageScanningConfiguration": scan}
    (message,) = only(analyze(ecr.ECR_REPOSITORY, props), "ecr-scan-on-push")
    assert "scan_on_push=True" in message


@pytest.mark.parametrize("mutability", ["MUTABLE", "IMMUTABLE_WITH_EXCLUSION", None])
def test_ecr_with_mutable_tags_is_refused(mutability):
    props = {**ECR_OK, "imageTagMutability": mutability}
    (message,) = only(analyze(ecr.ECR_REPOSITORY, props), "ecr-immutable-tags")
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
    assert sqs.check_sqs_encryption(sqs.SQS_QUEUE, props) == []
    assert by_policy(analyze(sqs.SQS_QUEUE, props), "sqs-encryption-at-rest") == []


@pytest.mark.parametrize("props", [{}, {"sqsManagedSseEnabled": False}, {"kmsMasterKeyId": ""}])
def test_sqs_unencrypted_queue_is_refused(props):
    (v,) = by_policy(analyze(sqs.SQS_QUEUE, props), "sqs-encryption-at-rest")
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
    assert analyze(sqs.LAMBDA_EVENT_SOURCE_MAPPING, MAPPING_OK) == []


@pytest.mark.parametrize("types", [None, []])
def test_sqs_mapping_without_report_batch_item_failures_is_refused(types):
    props = {**MAPPING_OK, "functionResponseTypes": types}
    (message,) = only(
        analyze(sqs.LAMBDA_EVENT_SOURCE_MAPPING, props), "lambda-sqs-report-batch-item-failures"
    )
    assert "ReportBatchItemFailures" in message


def test_mapping_whose_queue_is_not_created_yet_still_counts_as_sqs():
    # During the first preview the queue ARN is unknown; the rule must still apply.
    props = {**MAPPING_OK, "eventSourceArn": UNKNOWN_STRING, "functionResponseTypes": []}
    assert by_policy(
        analyze(sqs.LAMBDA_EVENT_SOURCE_MAPPING, props), "lambda-sqs-report-batch-item-failures"
    )


def test_stream_mappings_are_not_sqs():
    kinesis = {
        "eventSourceArn": "arn:aws:kinesis:eu-west-1:111122223333:stream/s",
        "startingPosition": "LATEST",
    }
    assert (
        sqs.check_sqs_mapping_reports_batch_item_failures(sqs.LAMBDA_EVENT_SOURCE_MAPPING, kinesis)
        == []
    )
    unknown_stream = {"eventSourceArn": UNKNOWN_STRING, "startingPosition": "LATEST"}
    assert not sqs.is_sqs_mapping(unknown_stream)


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
    messages = iam.check_iam_data_plane_resources_scoped("aws:iam/policy:Policy", props)
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
    assert analyze(eks.EKS_COMPONENT_CLUSTER, EKS_OK) == []
    # The KMS key is usually created in the same update: unknown during preview.
    assert (
        analyze(eks.EKS_COMPONENT_CLUSTER, {**EKS_OK, "encryptionConfigKeyArn": UNKNOWN_STRING})
        == []
    )


@pytest.mark.parametrize("log_types", [None, [], ["api", "audit"]])
def test_eks_without_control_plane_logging_is_refused(log_types):
    props = {**EKS_OK, "enabledClusterLogTypes": log_types}
    (message,) = only(analyze(eks.EKS_COMPONENT_CLUSTER, props), "eks-control-plane-logging")
    assert "authenticator" in message


def test_eks_without_secrets_encryption_is_refused():
    props = {k: v for k, v in EKS_OK.items() if k != "encryptionConfigKeyArn"}
    (message,) = only(analyze(eks.EKS_COMPONENT_CLUSTER, props), "eks-secrets-encryption")
    assert "encryption_config_key_arn" in message


def test_raw_aws_eks_cluster_is_checked_too():
    ok = {
        "enabledClusterLogTypes": ["api", "audit", "authenticator", "scheduler"],
        "encryptionConfig": {"provider": {"keyArn": "arn:k"}, "resources": ["secrets"]},
    }
    assert analyze(eks.EKS_CLUSTER, ok) == []
    bad = {**ok, "encryptionConfig": {"provider": {"keyArn": "arn:k"}, "resources": []}}
    assert [v.policy for v in analyze(eks.EKS_CLUSTER, bad)] == ["eks-secrets-encryption"]


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

    messages = pod_security.check_pods_restricted(
        "kubernetes:apps/v1:Deployment", deployment_with(strip)
    )
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
# CloudWatch dashboards
# ------------------------------------------------------------------------------------------


def test_a_dashboard_named_for_the_deploy_role_passes():
    assert analyze(cloudwatch.CLOUDWATCH_DASHBOARD, {"dashboardName": "ecr-eks-lambda-dev"}) == []
    longest = "ecr-eks-lambda-" + "x" * (255 - len("ecr-eks-lambda-"))
    assert analyze(cloudwatch.CLOUDWATCH_DASHBOARD, {"dashboardName": longest}) == []


@pytest.mark.parametrize(
    "name",
    [
        "ops",  # the deploy role could not manage it
        "ecr-eks-lambda",
        "ecr-eks-lambda-team.dev",  # not a character PutDashboard takes
        "ecr-eks-lambda-" + "x" * (256 - len("ecr-eks-lambda-")),  # over 255
        None,
    ],
)
def test_a_dashboard_the_deploy_role_cannot_manage_is_refused(name):
    (message,) = only(
        analyze(cloudwatch.CLOUDWATCH_DASHBOARD, {"dashboardName": name}),
        "cloudwatch-dashboard-name",
    )
    assert "'ecr-eks-lambda-'" in message
    assert f"got dashboardName={name!r}" in message


def test_the_pack_and_the_deploy_role_agree_on_the_dashboard_prefix():
    assert cloudwatch.DASHBOARD_NAME_PREFIX == iam_policies.DASHBOARD_NAME_PREFIX


# ------------------------------------------------------------------------------------------
# The pack as a whole
# ------------------------------------------------------------------------------------------


def test_pack_policies_are_mandatory_and_uniquely_named():
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names)) == len(RESOURCE_RULES) + len(STACK_RULES) == 13
    assert all(
        p.enforcement_level is not None and p.enforcement_level.value == "mandatory"
        for p in POLICIES
    )


def test_secret_properties_are_seen_through():
    secret = {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        "value": "MUTABLE",
    }
    props = {**ECR_OK, "imageTagMutability": secret}
    assert [v.policy for v in analyze(ecr.ECR_REPOSITORY, props)] == ["ecr-immutable-tags"]


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
        (ecr.ECR_REPOSITORY, ECR_OK),
        (sqs.SQS_QUEUE, {"sqsManagedSseEnabled": True, "redrivePolicy": "x", "policy": "y"}),
        (sqs.LAMBDA_EVENT_SOURCE_MAPPING, MAPPING_OK),
        ("aws:iam/role:Role", {"assumeRolePolicy": TRUST, "inlinePolicies": [{"policy": SCOPED}]}),
        (eks.EKS_COMPONENT_CLUSTER, EKS_OK),
        ("kubernetes:apps/v1:Deployment", DEPLOYMENT_OK),
        (cloudwatch.CLOUDWATCH_DASHBOARD, {"dashboardName": "ops"}),
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


# The engine's unknown sentinels, one per kind of value (boolean, number, string, array, asset,
# archive, object): pulumi/sdk/go/common/resource/plugin/rpc.go.
ENGINE_UNKNOWNS = [
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
    "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
    "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
    "030794c1-ac77-496b-92df-f27374a8bd58",
    "e48ece36-62e2-4504-bad9-02848725956a",
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
]


@pytest.mark.parametrize("sentinel", ENGINE_UNKNOWNS)
def test_rules_called_on_a_plain_property_bag_read_every_sentinel_as_unknown(sentinel):
    # The analyzer's proxied bags raise on unknowns; a plain bag holds the sentinel strings.
    assert values.get({"a": [{"b": sentinel}]}, "a", 0, "b") is values.UNKNOWN
    assert ecr.check_ecr_immutable_tags(ecr.ECR_REPOSITORY, {"imageTagMutability": sentinel}) == []
    # A document that embeds an unknown output is no valid JSON yet; it is unknown, not text.
    assert values.json_value('{"Resource": "' + sentinel) is values.UNKNOWN
    assert values.json_value('{"Resource": "arn') == '{"Resource": "arn'
