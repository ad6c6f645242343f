"""Kubernetes workloads: every pod template passes the "restricted" Pod Security Standard."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .rules import ResourceRule
from .values import UNKNOWN, get, items

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
    if get(sc, "windowsOptions", "hostProcess") is True:
        messages.append(f"{where}.windowsOptions.hostProcess must be unset or false.")
    selinux_type = get(sc, "seLinuxOptions", "type")
    if isinstance(selinux_type, str) and selinux_type not in _SELINUX_TYPES:
        messages.append(
            f"{where}.seLinuxOptions.type {selinux_type!r} is not allowed "
            f"(allowed: {sorted(_SELINUX_TYPES)})."
        )
    for key in ("user", "role"):
        if get(sc, "seLinuxOptions", key) not in (None, "", UNKNOWN):
            messages.append(f"{where}.seLinuxOptions.{key} must be unset.")
    seccomp = get(sc, "seccompProfile", "type")
    if seccomp is not None and seccomp is not UNKNOWN and seccomp not in _SECCOMP_OK:
        messages.append(
            f"{where}.seccompProfile.type {seccomp!r} is not allowed "
            f"(allowed: {sorted(_SECCOMP_OK)})."
        )
    apparmor = get(sc, "appArmorProfile", "type")
    if apparmor is not None and apparmor is not UNKNOWN and apparmor not in _APPARMOR_OK:
        messages.append(
            f"{where}.appArmorProfile.type {apparmor!r} is not allowed "
            f"(allowed: {sorted(_APPARMOR_OK)})."
        )
    if get(sc, "runAsNonRoot") is False:
        messages.append(f"{where}.runAsNonRoot must not be false.")
    if get(sc, "runAsUser") == 0:
        messages.append(f"{where}.runAsUser must not be 0 (root).")


def check_pod_spec_restricted(
    spec: Mapping[str, Any], annotations: Mapping[str, Any] | None = None
) -> list[str]:
    """Every control of the "restricted" Pod Security Standard for one pod spec."""
    messages: list[str] = []
    for host_ns in ("hostNetwork", "hostPID", "hostIPC"):
        if get(spec, host_ns) is True:
            messages.append(f"spec.{host_ns} must be unset or false.")
    pod_sc = get(spec, "securityContext") or {}
    _check_security_options("spec.securityContext", pod_sc, messages)
    for sysctl in items(spec, "securityContext", "sysctls"):
        name = get(sysctl, "name")
        if isinstance(name, str) and name not in _SAFE_SYSCTLS:
            messages.append(f"spec.securityContext.sysctls {name!r} is not a safe sysctl.")
    for i, volume in enumerate(items(spec, "volumes")):
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

    pod_non_root = get(pod_sc, "runAsNonRoot") in (True, UNKNOWN)
    pod_seccomp = get(pod_sc, "seccompProfile", "type")
    for list_name in _CONTAINER_LISTS:
        for i, container in enumerate(items(spec, list_name)):
            name = get(container, "name")
            where = f"spec.{list_name}[{i}] ({name})"
            sc = get(container, "securityContext") or {}
            _check_security_options(f"{where}.securityContext", sc, messages)
            if get(sc, "privileged") is True:
                messages.append(f"{where}.securityContext.privileged must be unset or false.")
            if get(sc, "allowPrivilegeEscalation") not in (False, UNKNOWN):
                messages.append(f"{where}.securityContext.allowPrivilegeEscalation must be false.")
            proc_mount = get(sc, "procMount")
            if proc_mount not in (None, "Default", UNKNOWN):
                messages.append(f"{where}.securityContext.procMount must be unset or Default.")
            if not pod_non_root and get(sc, "runAsNonRoot") not in (True, UNKNOWN):
                messages.append(
                    f"{where}: runAsNonRoot must be true in the container's or the pod's "
                    "securityContext."
                )
            if pod_seccomp not in (*_SECCOMP_OK, UNKNOWN) and get(
                sc, "seccompProfile", "type"
            ) not in (
                *_SECCOMP_OK,
                UNKNOWN,
            ):
                messages.append(
                    f"{where}: seccompProfile.type must be RuntimeDefault or Localhost in the "
                    "container's or the pod's securityContext."
                )
            drop = items(sc, "capabilities", "drop")
            drop_known = get(sc, "capabilities", "drop") is not UNKNOWN and UNKNOWN not in drop
            if drop_known and "ALL" not in drop:
                messages.append(f"{where}.securityContext.capabilities.drop must include 'ALL'.")
            added = [
                c
                for c in items(sc, "capabilities", "add")
                if c not in ("NET_BIND_SERVICE", UNKNOWN)
            ]
            if added:
                messages.append(
                    f"{where}.securityContext.capabilities.add {added} is not allowed "
                    "(only NET_BIND_SERVICE)."
                )
            for j, port in enumerate(items(container, "ports")):
                host_port = get(port, "hostPort")
                if host_port not in (None, 0, UNKNOWN):
                    messages.append(f"{where}.ports[{j}].hostPort must be unset or 0.")
    return messages


def check_pods_restricted(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    path = POD_TEMPLATE_PATHS.get(resource_type)
    if path is None:
        return []
    template = get(props, *path) if path else props
    if template is UNKNOWN:
        return []
    spec = get(template, "spec")
    if spec is UNKNOWN:
        return []
    if not isinstance(spec, Mapping):
        return [f"{resource_type} has no pod spec to check."]
    annotations = get(template, "metadata", "annotations")
    messages = check_pod_spec_restricted(
        spec, annotations if isinstance(annotations, Mapping) else None
    )
    return [f"Pod template fails the restricted Pod Security Standard: {m}" for m in messages]


RULES: Final = (
    ResourceRule(
        "pods-restricted-pod-security-standard",
        "Pod templates pass the Kubernetes 'restricted' Pod Security Standard.",
        check_pods_restricted,
    ),
)
