"""The rules of the ecr-eks-lambda policy pack.

Each rule's core is a plain function over a resource type and its properties (the camelCase
property bag Pulumi hands to analyzers), so tests can call it directly. The pulumi-policy
wrappers at the bottom (`RESOURCE_POLICIES`, `STACK_POLICIES`, `POLICIES`) adapt these
functions to `ResourceValidationPolicy` / `StackValidationPolicy`.

Unknown values (outputs of resources that do not exist yet, during `pulumi preview`) are read
through `_get`, which returns `UNKNOWN` instead of raising. A rule that needs the value itself
treats `UNKNOWN` as "cannot judge yet" and stays silent; `pulumi up` runs the pack again with
the real values before each resource is created or updated. A rule that only needs to know
that a value is *set* (a KMS key ARN, a dead-letter target) treats `UNKNOWN` as set, because
an unknown value is an output wired in by the program.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()
"""A property value that is not known yet (computed from another resource's output)."""

# The sentinels Pulumi puts in place of unknown values (pulumi_policy/proxy.py).
_UNKNOWN_SENTINELS: Final = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
        "030794c1-ac77-496b-92df-f27374a8bd58",
        "e48ece36-62e2-4504-bad9-02848725956a",
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    }
)


def _get(props: Any, *path: str | int) -> Any:
    """The value at `path` in `props`, `None` when absent, `UNKNOWN` when not known yet."""
    value = props
    for key in path:
        if value is UNKNOWN:
            # Every part of a value that is not known yet is not known either.
            return UNKNOWN
        try:
            if isinstance(key, int):
                if not isinstance(value, Sequence) or isinstance(value, str) or key >= len(value):
                    return None
                value = value[key]
            else:
                if not isinstance(value, Mapping) or key not in value:
                    return None
                value = value[key]
        except UnknownValueError:
            return UNKNOWN
        if isinstance(value, str) and value in _UNKNOWN_SENTINELS:
            return UNKNOWN
    return value


def _items(props: Any, *path: str | int) -> list[Any]:
    """The list at `path` (each element through `_get`), `[]` when absent or unknown."""
    value = _get(props, *path)
    if value is None or value is UNKNOWN or isinstance(value, str):
        return []
    if isinstance(value, Sequence):
        return [_get(value, i) for i in range(len(value))]
    return []


def _is_set(value: Any) -> bool:
    return value is UNKNOWN or (value is not None and value != "" and value != [] and value != {})


# --------------------------------------------------------------------------------------------
# ECR
# --------------------------------------------------------------------------------------------

ECR_REPOSITORY: Final = "aws:ecr/repository:Repository"


def check_ecr_scan_on_push(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type != ECR_REPOSITORY:
        return []
    scan = _get(props, "imageScanningConfiguration", "scanOnPush")
    if scan is UNKNOWN or scan is True:
        return []
    return [
        "ECR repository must scan images on push: set "
        "image_scanning_configuration.scan_on_push=True "
        f"(imageScanningConfiguration.scanOnPush is {scan!r})."
    ]


def check_ecr_immutable_tags(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type != ECR_REPOSITORY:
        return []
    mutability = _get(props, "imageTagMutability")
    if mutability is UNKNOWN or mutability == "IMMUTABLE":
        return []
    # Unset means MUTABLE (the provider's default); the *_WITH_EXCLUSION modes let some tags move.
    return [
        "ECR repository tags must be immutable so a tag always names one image: set "
        f"image_tag_mutability='IMMUTABLE' (got {mutability!r}; allowed: 'IMMUTABLE')."
    ]


# --------------------------------------------------------------------------------------------
# SQS
# --------------------------------------------------------------------------------------------

SQS_QUEUE: Final = "aws:sqs/queue:Queue"
SQS_REDRIVE_POLICY: Final = "aws:sqs/redrivePolicy:RedrivePolicy"
SQS_REDRIVE_ALLOW_POLICY: Final = "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"


def check_sqs_encryption(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type != SQS_QUEUE:
        return []
    kms_key = _get(props, "kmsMasterKeyId")
    sse = _get(props, "sqsManagedSseEnabled")
    if _is_set(kms_key) or sse is True or sse is UNKNOWN:
        return []
    # AWS turns SSE-SQS on for new queues by default, but a guard rail must not rest on a
    # service default that an explicit `sqs_managed_sse_enabled=False` silently overrides.
    return [
        "SQS queue must be encrypted at rest: set sqs_managed_sse_enabled=True or "
        f"kms_master_key_id (got sqsManagedSseEnabled={sse!r}, kmsMasterKeyId={kms_key!r})."
    ]


def _json_value(value: Any) -> Any:
    """A JSON document given either as a string or as an object; `UNKNOWN` stays `UNKNOWN`."""
    if value is UNKNOWN or value is None:
        return value
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            # A string that embeds an unknown output is not valid JSON during preview.
            return UNKNOWN if any(s in value for s in _UNKNOWN_SENTINELS) else value
    return value


# --------------------------------------------------------------------------------------------
# Lambda event source mappings
# --------------------------------------------------------------------------------------------

LAMBDA_EVENT_SOURCE_MAPPING: Final = "aws:lambda/eventSourceMapping:EventSourceMapping"
LAMBDA_FUNCTION: Final = "aws:lambda/function:Function"

# Properties that only event sources other than SQS have (streams, Kafka, MQ, DocumentDB).
_NON_SQS_SOURCE_KEYS: Final = (
    "startingPosition",
    "selfManagedEventSource",
    "selfManagedKafkaEventSourceConfig",
    "amazonManagedKafkaEventSourceConfig",
    "documentDbEventSourceConfig",
    "queues",
    "topics",
)


def is_sqs_mapping(props: Mapping[str, Any]) -> bool:
    """Whether an event source mapping reads from SQS.

    The source ARN says so when known; during preview it usually is not (the queue is created in
    the same update), so a mapping without any stream/Kafka/MQ-only property counts as SQS.
    """
    arn = _get(props, "eventSourceArn")
    if isinstance(arn, str):
        return arn.startswith("arn:") and arn.split(":")[2:3] == ["sqs"]
    return not any(_get(props, key) is not None for key in _NON_SQS_SOURCE_KEYS)


def check_sqs_mapping_reports_batch_item_failures(
    resource_type: str, props: Mapping[str, Any]
) -> list[str]:
    if resource_type != LAMBDA_EVENT_SOURCE_MAPPING or not is_sqs_mapping(props):
        return []
    types = _get(props, "functionResponseTypes")
    items = _items(props, "functionResponseTypes")
    if types is UNKNOWN or UNKNOWN in items or "ReportBatchItemFailures" in items:
        return []
    # Without it one failed message makes Lambda retry (and finally dead-letter) the whole batch.
    return [
        "Lambda event source mapping on SQS must report partial batch failures: set "
        f"function_response_types=['ReportBatchItemFailures'] (got {types!r})."
    ]


# --------------------------------------------------------------------------------------------
# IAM policy documents
# --------------------------------------------------------------------------------------------

# Where each resource type carries policy documents, and whether they are trust policies
# (which have no Resource element). KMS key policies are left out on purpose: in a key policy
# "Resource": "*" means "this key", and AWS's own default key policy grants kms:* to the
# account, so both checks would flag the documented, correct form.
_POLICY_DOCUMENT_PROPS: Final[dict[str, tuple[str, ...]]] = {
    "aws:iam/policy:Policy": ("policy",),
    "aws:iam/rolePolicy:RolePolicy": ("policy",),
    "aws:iam/userPolicy:UserPolicy": ("policy",),
    "aws:iam/groupPolicy:GroupPolicy": ("policy",),
    "aws:sqs/queuePolicy:QueuePolicy": ("policy",),
    SQS_QUEUE: ("policy",),
    "aws:sns/topicPolicy:TopicPolicy": ("policy",),
    "aws:sns/topic:Topic": ("policy",),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ("policy",),
    "aws:s3/bucketPolicy:BucketPolicy": ("policy",),
}
IAM_ROLE: Final = "aws:iam/role:Role"

# Actions that read or write the data inside one resource. Granting them on "*" gives the
# principal every queue, table, key, ... in the account; each supports resource-level ARNs.
DATA_PLANE_ACTIONS: Final = frozenset(
    a.lower()
    for a in (
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "sqs:PurgeQueue",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:PartiQLSelect",
        "dynamodb:PartiQLInsert",
        "dynamodb:PartiQLUpdate",
        "dynamodb:PartiQLDelete",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:GenerateDataKeyPair",
        "kms:GenerateDataKeyPairWithoutPlaintext",
        "sns:Publish",
        "lambda:InvokeFunction",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "secretsmanager:GetSecretValue",
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssm:GetParametersByPath",
        "kinesis:PutRecord",
        "kinesis:PutRecords",
        "kinesis:GetRecords",
        "kinesis:GetShardIterator",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability",
        "ecr:PutImage",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "events:PutEvents",
        "states:StartExecution",
    )
)


@dataclass(frozen=True)
class PolicyDocument:
    where: str
    """Which property holds it, e.g. "policy" or "inlinePolicies[0].policy"."""
    document: Any
    trust: bool = False


def policy_documents(resource_type: str, props: Mapping[str, Any]) -> list[PolicyDocument]:
    docs: list[PolicyDocument] = []
    for prop in _POLICY_DOCUMENT_PROPS.get(resource_type, ()):
        docs.append(PolicyDocument(prop, _json_value(_get(props, prop))))
    if resource_type == IAM_ROLE:
        docs.append(
            PolicyDocument("assumeRolePolicy", _json_value(_get(props, "assumeRolePolicy")), True)
        )
        for i, inline in enumerate(_items(props, "inlinePolicies")):
            docs.append(
                PolicyDocument(f"inlinePolicies[{i}].policy", _json_value(_get(inline, "policy")))
            )
    return [d for d in docs if d.document is not None and d.document is not UNKNOWN]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def _statements(document: Any) -> list[tuple[str, Mapping[str, Any]]]:
    """(label, statement) pairs of a policy document; a label names the statement by Sid/index."""
    if not isinstance(document, Mapping):
        return []
    out: list[tuple[str, Mapping[str, Any]]] = []
    for i, statement in enumerate(_as_list(document.get("Statement"))):
        if isinstance(statement, Mapping):
            sid = statement.get("Sid")
            out.append((f"statement {sid!r}" if sid else f"statement #{i}", statement))
    return out


def _is_wildcard_action(action: Any) -> bool:
    return isinstance(action, str) and ("*" in action or "?" in action)


# AWS managed policies whose statements are wildcard actions by design (`*`, `NotAction`, or
# `<service>:*` for the ...FullAccess family). Only their ARNs reach the pack, so they are
# recognised by name.
_WILDCARD_MANAGED_POLICY_RE: Final = re.compile(
    r"^arn:aws[a-z-]*:iam::aws:policy/(?:.*/)?(AdministratorAccess|PowerUserAccess|[A-Za-z0-9_-]*FullAccess)$"
)
_POLICY_ATTACHMENT_TYPES: Final = frozenset(
    {
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
        "aws:iam/policyAttachment:PolicyAttachment",
    }
)


def _attached_policy_arns(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type in _POLICY_ATTACHMENT_TYPES:
        arns = [_get(props, "policyArn")]
    elif resource_type == IAM_ROLE:
        arns = _items(props, "managedPolicyArns")
    else:
        return []
    return [a for a in arns if isinstance(a, str)]


def check_iam_no_wildcard_actions(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    messages: list[str] = [
        f"attaches the AWS managed policy {arn}, which allows wildcard actions: attach a "
        "policy that lists the exact actions instead."
        for arn in _attached_policy_arns(resource_type, props)
        if _WILDCARD_MANAGED_POLICY_RE.match(arn)
    ]
    for doc in policy_documents(resource_type, props):
        for label, statement in _statements(doc.document):
            if statement.get("Effect") != "Allow":
                # Deny statements with wildcards (e.g. deny sqs:* without TLS) narrow access.
                continue
            if "NotAction" in statement:
                messages.append(
                    f"{doc.where} {label} allows NotAction, i.e. every action but a few: "
                    "list the exact actions under Action instead."
                )
            wild = [a for a in _as_list(statement.get("Action")) if _is_wildcard_action(a)]
            if wild:
                messages.append(
                    f"{doc.where} {label} allows wildcard actions {sorted(wild)}: "
                    "list each action the principal needs (no '*' or '?')."
                )
    return messages


def _is_unscoped_resource(resource: Any) -> bool:
    if resource is UNKNOWN or not isinstance(resource, str):
        return False
    if resource == "*":
        return True
    parts = resource.split(":", 5)
    # arn:partition:service:region:account:resource - a bare "*" resource part is every
    # resource of the service; "log-group:/x:*" or "bucket/*" stay scoped to one parent.
    return len(parts) == 6 and parts[5] == "*"


def _data_plane_actions(actions: Iterable[Any]) -> list[str]:
    hits: set[str] = set()
    for action in actions:
        if not isinstance(action, str):
            continue
        pattern = action.lower()
        hits.update(a for a in DATA_PLANE_ACTIONS if fnmatch.fnmatchcase(a, pattern))
    return sorted(hits)


def check_iam_data_plane_resources_scoped(
    resource_type: str, props: Mapping[str, Any]
) -> list[str]:
    messages: list[str] = []
    for doc in policy_documents(resource_type, props):
        if doc.trust:
            continue
        for label, statement in _statements(doc.document):
            if statement.get("Effect") != "Allow":
                continue
            data_plane = _data_plane_actions(_as_list(statement.get("Action")))
            if not data_plane:
                continue
            resources = _as_list(statement.get("Resource"))
            unscoped = [r for r in resources if _is_unscoped_resource(r)]
            if "NotResource" in statement or unscoped or not resources:
                messages.append(
                    f"{doc.where} {label} grants data-plane actions {data_plane} on "
                    f"{unscoped or 'NotResource/no Resource'}: name the exact resource ARNs."
                )
    return messages


# --------------------------------------------------------------------------------------------
# EKS
# --------------------------------------------------------------------------------------------

EKS_COMPONENT_CLUSTER: Final = "eks:index:Cluster"
EKS_CLUSTER: Final = "aws:eks/cluster:Cluster"
REQUIRED_CLUSTER_LOG_TYPES: Final = ("api", "audit", "authenticator")


def check_eks_control_plane_logging(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type not in (EKS_COMPONENT_CLUSTER, EKS_CLUSTER):
        return []
    items = _items(props, "enabledClusterLogTypes")
    if _get(props, "enabledClusterLogTypes") is UNKNOWN or UNKNOWN in items:
        return []
    enabled = {t for t in items if isinstance(t, str)}
    missing = [t for t in REQUIRED_CLUSTER_LOG_TYPES if t not in enabled]
    if not missing:
        return []
    return [
        "EKS control-plane logging must include "
        f"{list(REQUIRED_CLUSTER_LOG_TYPES)}: enabled_cluster_log_types is missing {missing} "
        f"(got {sorted(enabled)})."
    ]


def check_eks_secrets_encryption(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type == EKS_COMPONENT_CLUSTER:
        if _is_set(_get(props, "encryptionConfigKeyArn")):
            return []
        return [
            "EKS cluster must encrypt Kubernetes secrets with a KMS key: set "
            "encryption_config_key_arn to a customer-managed key's ARN."
        ]
    if resource_type == EKS_CLUSTER:
        key = _get(props, "encryptionConfig", "provider", "keyArn")
        resources = _get(props, "encryptionConfig", "resources")
        covers_secrets = resources is UNKNOWN or "secrets" in _items(
            props, "encryptionConfig", "resources"
        )
        if _is_set(key) and covers_secrets:
            return []
        return [
            "EKS cluster must encrypt Kubernetes secrets with a KMS key: set "
            "encryption_config.provider.key_arn and encryption_config.resources=['secrets'] "
            f"(got keyArn={key!r}, resources={resources!r})."
        ]
    return []


# --------------------------------------------------------------------------------------------
# Pod Security Standard "restricted"
# --------------------------------------------------------------------------------------------

# Where each workload kind keeps its pod template (metadata + spec).
POD_TEMPLATE_PATHS: Final[dict[str, tuple[str, ...]]] = {
    "kubernetes:core/v1:Pod": (),
    "kubernetes:apps/v1:Deployment": ("spec", "template"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template"),
    "kubernetes:batch/v1:Job": ("spec", "template"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template"),
}

# https://kubernetes.io/docs/concepts/security/pod-security-standards/ (restricted includes
# every baseline control).
_ALLOWED_VOLUME_TYPES: Final = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
_SAFE_SYSCTLS: Final = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
_SELINUX_TYPES: Final = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
_SECCOMP_OK: Final = frozenset({"RuntimeDefault", "Localhost"})
_APPARMOR_OK: Final = frozenset({"RuntimeDefault", "Localhost"})
_CONTAINER_LISTS: Final = ("initContainers", "containers", "ephemeralContainers")


def _check_security_options(where: str, sc: Any, messages: list[str]) -> None:
    """Controls shared by the pod-level and container-level securityContext."""
    if _get(sc, "windowsOptions", "hostProcess") is True:
        messages.append(f"{where}.windowsOptions.hostProcess must be unset or false.")
    selinux_type = _get(sc, "seLinuxOptions", "type")
    if isinstance(selinux_type, str) and selinux_type not in _SELINUX_TYPES:
        messages.append(
            f"{where}.seLinuxOptions.type {selinux_type!r} is not allowed "
            f"(allowed: {sorted(_SELINUX_TYPES)})."
        )
    for key in ("user", "role"):
        if _get(sc, "seLinuxOptions", key) not in (None, "", UNKNOWN):
            messages.append(f"{where}.seLinuxOptions.{key} must be unset.")
    seccomp = _get(sc, "seccompProfile", "type")
    if seccomp is not None and seccomp is not UNKNOWN and seccomp not in _SECCOMP_OK:
        messages.append(
            f"{where}.seccompProfile.type {seccomp!r} is not allowed "
            f"(allowed: {sorted(_SECCOMP_OK)})."
        )
    apparmor = _get(sc, "appArmorProfile", "type")
    if apparmor is not None and apparmor is not UNKNOWN and apparmor not in _APPARMOR_OK:
        messages.append(
            f"{where}.appArmorProfile.type {apparmor!r} is not allowed "
            f"(allowed: {sorted(_APPARMOR_OK)})."
        )
    if _get(sc, "runAsNonRoot") is False:
        messages.append(f"{where}.runAsNonRoot must not be false.")
    if _get(sc, "runAsUser") == 0:
        messages.append(f"{where}.runAsUser must not be 0 (root).")


def check_pod_spec_restricted(
    spec: Mapping[str, Any], annotations: Mapping[str, Any] | None = None
) -> list[str]:
    """Every control of the "restricted" Pod Security Standard for one pod spec."""
    messages: list[str] = []
    for host_ns in ("hostNetwork", "hostPID", "hostIPC"):
        if _get(spec, host_ns) is True:
            messages.append(f"spec.{host_ns} must be unset or false.")
    pod_sc = _get(spec, "securityContext") or {}
    _check_security_options("spec.securityContext", pod_sc, messages)
    for sysctl in _items(spec, "securityContext", "sysctls"):
        name = _get(sysctl, "name")
        if isinstance(name, str) and name not in _SAFE_SYSCTLS:
            messages.append(f"spec.securityContext.sysctls {name!r} is not a safe sysctl.")
    for i, volume in enumerate(_items(spec, "volumes")):
        kinds = [k for k in (volume if isinstance(volume, Mapping) else {}) if k != "name"]
        bad = [k for k in kinds if k not in _ALLOWED_VOLUME_TYPES]
        if bad:
            messages.append(
                f"spec.volumes[{i}] uses {bad}; allowed volume types: "
                f"{sorted(_ALLOWED_VOLUME_TYPES)}."
            )
    for key, value in (annotations or {}).items():
        if str(key).startswith("container.apparmor.security.beta.kubernetes.io/") and not (
            value == "runtime/default" or str(value).startswith("localhost/")
        ):
            messages.append(f"annotation {key}={value!r} must be runtime/default or localhost/*.")

    pod_non_root = _get(pod_sc, "runAsNonRoot") in (True, UNKNOWN)
    pod_seccomp = _get(pod_sc, "seccompProfile", "type")
    for list_name in _CONTAINER_LISTS:
        for i, container in enumerate(_items(spec, list_name)):
            name = _get(container, "name")
            where = f"spec.{list_name}[{i}] ({name})"
            sc = _get(container, "securityContext") or {}
            _check_security_options(f"{where}.securityContext", sc, messages)
            if _get(sc, "privileged") is True:
                messages.append(f"{where}.securityContext.privileged must be unset or false.")
            if _get(sc, "allowPrivilegeEscalation") not in (False, UNKNOWN):
                messages.append(f"{where}.securityContext.allowPrivilegeEscalation must be false.")
            proc_mount = _get(sc, "procMount")
            if proc_mount not in (None, "Default", UNKNOWN):
                messages.append(f"{where}.securityContext.procMount must be unset or Default.")
            if not pod_non_root and _get(sc, "runAsNonRoot") not in (True, UNKNOWN):
                messages.append(
                    f"{where}: runAsNonRoot must be true in the container's or the pod's "
                    "securityContext."
                )
            if pod_seccomp not in (*_SECCOMP_OK, UNKNOWN) and _get(
                sc, "seccompProfile", "type"
            ) not in (
                *_SECCOMP_OK,
                UNKNOWN,
            ):
                messages.append(
                    f"{where}: seccompProfile.type must be RuntimeDefault or Localhost in the "
                    "container's or the pod's securityContext."
                )
            drop = _items(sc, "capabilities", "drop")
            drop_known = _get(sc, "capabilities", "drop") is not UNKNOWN and UNKNOWN not in drop
            if drop_known and "ALL" not in drop:
                messages.append(f"{where}.securityContext.capabilities.drop must include 'ALL'.")
            added = [
                c
                for c in _items(sc, "capabilities", "add")
                if c not in ("NET_BIND_SERVICE", UNKNOWN)
            ]
            if added:
                messages.append(
                    f"{where}.securityContext.capabilities.add {added} is not allowed "
                    "(only NET_BIND_SERVICE)."
                )
            for j, port in enumerate(_items(container, "ports")):
                host_port = _get(port, "hostPort")
                if host_port not in (None, 0, UNKNOWN):
                    messages.append(f"{where}.ports[{j}].hostPort must be unset or 0.")
    return messages


def check_pods_restricted(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    path = POD_TEMPLATE_PATHS.get(resource_type)
    if path is None:
        return []
    template = _get(props, *path) if path else props
    if template is UNKNOWN:
        return []
    spec = _get(template, "spec")
    if spec is UNKNOWN:
        return []
    if not isinstance(spec, Mapping):
        return [f"{resource_type} has no pod spec to check."]
    annotations = _get(template, "metadata", "annotations")
    messages = check_pod_spec_restricted(
        spec, annotations if isinstance(annotations, Mapping) else None
    )
    return [f"Pod template fails the restricted Pod Security Standard: {m}" for m in messages]


# --------------------------------------------------------------------------------------------
# Stack rules: relations between resources
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackResource:
    """One resource as a stack rule sees it."""

    type: str
    urn: str
    name: str
    props: Mapping[str, Any]
    property_dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """For each property, the URNs of the resources its value came from."""


def _arn_name(arn: Any, service: str) -> str | None:
    """The resource name at the end of an ARN of `service`, e.g. the queue name of an SQS ARN."""
    if not isinstance(arn, str):
        return None
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != service:
        return None
    return parts[-1]


def _names(resource: StackResource) -> set[str]:
    """Names a resource may be referred to by: its physical name when known, else its logical
    name (the name mocks and explicitly named resources use)."""
    names = {resource.name}
    physical = _get(resource.props, "name")
    if isinstance(physical, str):
        names.add(physical)
    return names


def _referenced(
    source: StackResource,
    prop: str,
    value: Any,
    candidates: Sequence[StackResource],
    service: str,
) -> StackResource | None:
    """The candidate that `source.prop` (whose value is `value`) refers to: by the engine's
    recorded property dependency, else by ARN, URL or name."""
    deps = set(source.property_dependencies.get(prop, ()))
    for c in candidates:
        if c.urn in deps:
            return c
    if not isinstance(value, str):
        return None
    for c in candidates:
        if value in (_get(c.props, "arn"), _get(c.props, "url")):
            return c
    arn_name = _arn_name(value, service)
    for c in candidates:
        names = _names(c)
        if arn_name in names or value in names:
            return c
        # An SQS queue URL ends with "/<account>/<queue name>".
        if value.startswith("https://") and value.rsplit("/", 1)[-1] in names:
            return c
    return None


def _single(candidates: Sequence[StackResource]) -> StackResource | None:
    return candidates[0] if len(candidates) == 1 else None


def check_sqs_dead_letter_queues(
    resources: Sequence[StackResource], *, link_unique: bool = False
) -> list[tuple[str, str]]:
    """Every queue has a dead-letter queue, or is one.

    `link_unique`: for resources recorded without dependencies (mock runs), a redrive target
    that names no queue of the stack is taken to be the stack's only queue without a
    redrive policy. The Pulumi CLI always sends dependencies, so the pack never guesses.
    """
    queues = [r for r in resources if r.type == SQS_QUEUE]
    without_redrive = [q for q in queues if _get(q.props, "redrivePolicy") is None]
    covered: set[str] = set()
    for q in queues:
        redrive = _json_value(_get(q.props, "redrivePolicy"))
        if redrive is UNKNOWN or (
            isinstance(redrive, Mapping) and redrive.get("deadLetterTargetArn")
        ):
            covered.add(q.urn)
            # During a first preview the whole redrive policy is unknown (it embeds the
            # dead-letter queue's ARN); the engine's dependency still names that queue.
            target = redrive.get("deadLetterTargetArn") if isinstance(redrive, Mapping) else None
            dlq = _referenced(q, "redrivePolicy", target, queues, "sqs")
            if dlq is None and link_unique:
                dlq = _single(without_redrive)
            if dlq is not None:
                covered.add(dlq.urn)
        if _is_set(_get(q.props, "redriveAllowPolicy")):
            covered.add(q.urn)
    for r in resources:
        if r.type not in (SQS_REDRIVE_POLICY, SQS_REDRIVE_ALLOW_POLICY):
            continue
        source = _referenced(r, "queueUrl", _get(r.props, "queueUrl"), queues, "sqs")
        if source is not None:
            covered.add(source.urn)
        if r.type == SQS_REDRIVE_POLICY:
            redrive = _json_value(_get(r.props, "redrivePolicy"))
            target = redrive.get("deadLetterTargetArn") if isinstance(redrive, Mapping) else None
            dlq = _referenced(r, "redrivePolicy", target, queues, "sqs")
            if dlq is not None:
                covered.add(dlq.urn)
    return [
        (
            q.urn,
            f"SQS queue {q.name!r} has no dead-letter queue: set redrive_policy with a "
            "deadLetterTargetArn and maxReceiveCount (or, for a dead-letter queue itself, a "
            "redrive_allow_policy naming its source queues).",
        )
        for q in queues
        if q.urn not in covered
    ]


# AWS defaults when the property is unset.
_DEFAULT_FUNCTION_TIMEOUT: Final = 3
_DEFAULT_VISIBILITY_TIMEOUT: Final = 30


def _number(value: Any, default: float) -> float | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def check_sqs_visibility_covers_function(
    resources: Sequence[StackResource], *, link_unique: bool = False
) -> list[tuple[str, str]]:
    """A queue feeding a function hides a message for at least 6 x the function timeout plus the
    batching window, as AWS documents for Lambda's SQS poller; otherwise a message still being
    processed becomes visible again and is delivered twice.

    `link_unique`: for resources recorded without dependencies (mock runs), a mapping whose
    source or function names nothing in the stack is linked to the stack's only queue with a
    redrive policy / only function. The Pulumi CLI always sends dependencies.
    """
    queues = [r for r in resources if r.type == SQS_QUEUE]
    functions = [r for r in resources if r.type == LAMBDA_FUNCTION]
    source_queues = [q for q in queues if _get(q.props, "redrivePolicy") is not None]
    out: list[tuple[str, str]] = []
    for m in resources:
        if m.type != LAMBDA_EVENT_SOURCE_MAPPING or not is_sqs_mapping(m.props):
            continue
        queue = _referenced(m, "eventSourceArn", _get(m.props, "eventSourceArn"), queues, "sqs")
        function = _referenced(
            m, "functionName", _get(m.props, "functionName"), functions, "lambda"
        )
        if link_unique:
            queue = queue or _single(source_queues)
            function = function or _single(functions)
        if queue is None or function is None:
            out.append(
                (
                    m.urn,
                    f"Event source mapping {m.name!r}: cannot find its "
                    f"{'queue' if queue is None else 'function'} in this stack, so its visibility "
                    "timeout cannot be checked against the function timeout; wire "
                    "event_source_arn=queue.arn and function_name=function.arn.",
                )
            )
            continue
        timeout = _number(_get(function.props, "timeout"), _DEFAULT_FUNCTION_TIMEOUT)
        visibility = _number(
            _get(queue.props, "visibilityTimeoutSeconds"), _DEFAULT_VISIBILITY_TIMEOUT
        )
        window = _number(_get(m.props, "maximumBatchingWindowInSeconds"), 0)
        if timeout is None or visibility is None or window is None:
            continue
        needed = 6 * timeout + window
        if visibility < needed:
            out.append(
                (
                    queue.urn,
                    f"SQS queue {queue.name!r} has visibility_timeout_seconds={visibility:g}, "
                    f"below 6 x the timeout of function {function.name!r} ({timeout:g} s) + the "
                    f"batching window of {m.name!r} ({window:g} s) = {needed:g} s.",
                )
            )
    return out


EC2_VPC: Final = "aws:ec2/vpc:Vpc"
EC2_FLOW_LOG: Final = "aws:ec2/flowLog:FlowLog"
# Traffic types that record rejected connections, which Security Hub EC2.6 (and the CIS AWS
# Foundations Benchmark) ask for; an ACCEPT-only flow log does not.
_FLOW_LOG_TRAFFIC_WITH_REJECTS: Final = ("ALL", "REJECT")


def check_vpc_flow_logs(
    resources: Sequence[StackResource], *, link_unique: bool = False
) -> list[tuple[str, str]]:
    """Every VPC has a flow log of its own (`vpcId`, not a subnet's or an interface's) that
    records rejected traffic.

    A flow log is linked to its VPC through the engine's property dependency on `vpcId`, else
    by the VPC's `id`. `link_unique`: for resources recorded without dependencies or ids (mock
    runs), a flow log whose VPC is not found is linked to the stack's only VPC.
    """
    vpcs = [r for r in resources if r.type == EC2_VPC]
    covered: set[str] = set()
    for flow_log in resources:
        if flow_log.type != EC2_FLOW_LOG:
            continue
        vpc_id = _get(flow_log.props, "vpcId")
        if vpc_id is None or vpc_id == "":
            continue
        traffic = _get(flow_log.props, "trafficType")
        if traffic is not UNKNOWN and traffic not in _FLOW_LOG_TRAFFIC_WITH_REJECTS:
            continue
        deps = set(flow_log.property_dependencies.get("vpcId", ()))
        vpc = next((v for v in vpcs if v.urn in deps), None)
        if vpc is None and isinstance(vpc_id, str):
            vpc = next((v for v in vpcs if _get(v.props, "id") == vpc_id), None)
        if vpc is None and link_unique:
            vpc = _single(vpcs)
        if vpc is not None:
            covered.add(vpc.urn)
    return [
        (
            vpc.urn,
            f"VPC {vpc.name!r} has no flow log recording rejected traffic (AWS Security Hub "
            "EC2.6): add an aws.ec2.FlowLog with vpc_id=vpc.id and traffic_type 'ALL' or "
            "'REJECT', publishing to CloudWatch Logs or S3.",
        )
        for vpc in vpcs
        if vpc.urn not in covered
    ]


# --------------------------------------------------------------------------------------------
# pulumi-policy wrappers
# --------------------------------------------------------------------------------------------

ResourceCheck = Callable[[str, Mapping[str, Any]], list[str]]


class StackCheck(Protocol):
    def __call__(
        self, resources: Sequence[StackResource], *, link_unique: bool = False
    ) -> list[tuple[str, str]]: ...


@dataclass(frozen=True)
class ResourceRule:
    name: str
    description: str
    check: ResourceCheck


@dataclass(frozen=True)
class StackRule:
    name: str
    description: str
    check: StackCheck


RESOURCE_RULES: Final = (
    ResourceRule(
        "ecr-scan-on-push",
        "ECR repositories scan every pushed image for vulnerabilities.",
        check_ecr_scan_on_push,
    ),
    ResourceRule(
        "ecr-immutable-tags",
        "ECR repositories use immutable tags.",
        check_ecr_immutable_tags,
    ),
    ResourceRule(
        "sqs-encryption-at-rest",
        "SQS queues are encrypted at rest (SSE-SQS or a KMS key).",
        check_sqs_encryption,
    ),
    ResourceRule(
        "lambda-sqs-report-batch-item-failures",
        "Lambda event source mappings on SQS report partial batch failures.",
        check_sqs_mapping_reports_batch_item_failures,
    ),
    ResourceRule(
        "iam-no-wildcard-actions",
        "IAM policy statements that allow access list exact actions, never wildcards.",
        check_iam_no_wildcard_actions,
    ),
    ResourceRule(
        "iam-data-plane-actions-scoped",
        "IAM policy statements grant data-plane actions only on named resources.",
        check_iam_data_plane_resources_scoped,
    ),
    ResourceRule(
        "eks-control-plane-logging",
        "EKS clusters send api, audit and authenticator control-plane logs to CloudWatch.",
        check_eks_control_plane_logging,
    ),
    ResourceRule(
        "eks-secrets-encryption",
        "EKS clusters encrypt Kubernetes secrets with a KMS key.",
        check_eks_secrets_encryption,
    ),
    ResourceRule(
        "pods-restricted-pod-security-standard",
        "Pod templates pass the Kubernetes 'restricted' Pod Security Standard.",
        check_pods_restricted,
    ),
)

STACK_RULES: Final = (
    StackRule(
        "sqs-dead-letter-queue",
        "Every SQS queue has a dead-letter queue, or is one.",
        check_sqs_dead_letter_queues,
    ),
    StackRule(
        "sqs-visibility-timeout-covers-function",
        "An SQS queue feeding a Lambda hides messages for at least 6 x the function timeout "
        "plus the batching window.",
        check_sqs_visibility_covers_function,
    ),
    StackRule(
        "vpc-flow-logs",
        "Every VPC has a flow log that records rejected traffic (ALL or REJECT).",
        check_vpc_flow_logs,
    ),
)


def _resource_validator(
    check: ResourceCheck,
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args.resource_type, args.props):
            report_violation(message, None)

    return validate


def _stack_validator(
    check: StackCheck,
) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [
            StackResource(
                type=r.resource_type,
                urn=r.urn,
                name=r.name,
                props=r.props,
                property_dependencies={
                    prop: [d.urn for d in deps] for prop, deps in r.property_dependencies.items()
                },
            )
            for r in args.resources
        ]
        for urn, message in check(resources):
            report_violation(message, urn)

    return validate


RESOURCE_POLICIES: Final = [
    ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=_resource_validator(rule.check),
        enforcement_level=EnforcementLevel.MANDATORY,
    )
    for rule in RESOURCE_RULES
]
STACK_POLICIES: Final = [
    StackValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=_stack_validator(rule.check),
        enforcement_level=EnforcementLevel.MANDATORY,
    )
    for rule in STACK_RULES
]
POLICIES: Final = [*RESOURCE_POLICIES, *STACK_POLICIES]
