"""The app's size and scaling: container resources, the HorizontalPodAutoscaler, metrics-server."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from components import quantity
from components.config import ConfigError
from tests.infra.harness import Run, run
from tests.infra.lookup import (
    DEPLOYMENT,
    HPA,
    NODES,
    PDB,
    as_manifest,
    committed_addon_versions,
    of_type,
    one,
    unwrap,
)

ADDON = "aws:eks/addon:Addon"


def container(run_: Run) -> dict[str, Any]:
    [c] = one(run_, DEPLOYMENT).inputs["spec"]["template"]["spec"]["containers"]
    return c


def metrics_server(run_: Run) -> Any:
    return one(run_, ADDON, "cluster-metrics-server")


def validate_every_manifest(run_: Run) -> int:
    manifests = [r for r in run_.records if r.type.startswith("kubernetes:") and r.custom]
    for record in manifests:
        kubernetes_validate.validate(as_manifest(unwrap(record.inputs)), "1.35", strict=True)
    return len(manifests)


# --- resources -------------------------------------------------------------------------


def test_container_resources_per_stack(dev: Run, prod: Run) -> None:
    # No CPU limit by default (a CFS limit throttles the process below what its node has idle);
    # memory request = limit.
    assert container(dev)["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"memory": "256Mi"},
    }
    assert container(prod)["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"memory": "512Mi"},
    }


def test_a_configured_cpu_limit_is_set() -> None:
    result = run("prod", {"appCpuLimit": "1500m"})
    assert result.error is None, result.error
    assert container(result)["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "1500m", "memory": "512Mi"},
    }
    kubernetes_validate.validate(as_manifest(one(result, DEPLOYMENT).inputs), "1.35", strict=True)


# --- the autoscaler ----------------------------------------------------------------------


def test_autoscaler_scales_the_deployment_on_cpu(dev: Run, prod: Run) -> None:
    for run_, (lo, hi) in ((dev, (1, 2)), (prod, (3, 6))):
        deployment = one(run_, DEPLOYMENT).inputs
        hpa = one(run_, HPA).inputs
        assert hpa["metadata"]["namespace"] == deployment["metadata"]["namespace"]
        assert hpa["spec"] == {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": deployment["metadata"]["name"],
            },
            "minReplicas": lo,
            "maxReplicas": hi,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        }


def test_autoscaler_settings_come_from_config() -> None:
    result = run("prod", {"appMaxReplicas": "12", "appTargetCpuUtilization": "55"})
    assert result.error is None, result.error
    spec = one(result, HPA).inputs["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 12)
    assert spec["metrics"][0]["resource"]["target"]["averageUtilization"] == 55


def test_deployment_starts_at_the_minimum_and_leaves_the_count_to_the_autoscaler(
    dev: Run, prod: Run
) -> None:
    for run_, start in ((dev, 1), (prod, 3)):
        deployment = one(run_, DEPLOYMENT)
        assert deployment.inputs["spec"]["replicas"] == start
        assert deployment.ignore_changes == ("spec.replicas",)


def test_metrics_server_addon_is_installed_once_nodes_exist(stack: Run) -> None:
    addon = metrics_server(stack)
    assert addon.inputs == {
        "clusterName": f"ecr-eks-lambda-{stack.stack}",
        "addonName": "metrics-server",
        "addonVersion": committed_addon_versions("1.35")["metrics-server"],
        "resolveConflictsOnCreate": "OVERWRITE",
        "resolveConflictsOnUpdate": "OVERWRITE",
    }
    assert one(stack, NODES).urn in addon.dependencies
    # The autoscaler is created once the metrics it reads can be served.
    assert addon.urn in one(stack, HPA).dependencies


def test_every_manifest_validates_strictly(stack: Run) -> None:
    assert validate_every_manifest(stack) == 8


# --- autoscaling off ---------------------------------------------------------------------


def test_autoscaling_off_means_fixed_replicas_and_no_addon() -> None:
    result = run("prod", {"appAutoscaling": "false"})
    assert result.error is None, result.error
    assert of_type(result, HPA) == []
    assert [a.inputs["addonName"] for a in of_type(result, ADDON)] == [
        "coredns",
        "eks-pod-identity-agent",
    ]
    deployment = one(result, DEPLOYMENT)
    assert deployment.inputs["spec"]["replicas"] == 3
    assert deployment.ignore_changes == ()
    assert one(result, PDB).inputs["spec"]["maxUnavailable"] == 1
    assert validate_every_manifest(result) == 7


def test_disruption_budget_only_when_more_than_one_pod_is_possible() -> None:
    # dev autoscales 1-2: a budget (maxUnavailable 1 never blocks a drain at 1 pod).
    fixed_one = run("dev", {"appAutoscaling": "false"})
    capped_one = run("dev", {"appMaxReplicas": "1"})
    for result in (fixed_one, capped_one):
        assert result.error is None, result.error
        assert of_type(result, PDB) == []
    # appMaxReplicas does not count when nothing autoscales.
    fixed_three = run("prod", {"appAutoscaling": "false", "appMaxReplicas": "1"})
    assert fixed_three.error is None, fixed_three.error
    assert one(fixed_three, DEPLOYMENT).inputs["spec"]["replicas"] == 3
    assert len(of_type(fixed_three, PDB)) == 1


# --- configuration errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"appCpuRequest": "2 cores"}, "appCpuRequest = '2 cores': must be a CPU quantity"),
        ({"appCpuRequest": "1Gi"}, "appCpuRequest = '1Gi': must be a CPU quantity in cores"),
        ({"appCpuRequest": "0.0001"}, "appCpuRequest = '0.0001': must be a CPU quantity"),
        ({"appCpuRequest": "1.0005"}, "appCpuRequest = '1.0005': must be a CPU quantity"),
        ({"appCpuRequest": "-1"}, "appCpuRequest = '-1': must be a CPU quantity"),
        ({"appCpuRequest": "0"}, "appCpuRequest = '0': must be a CPU quantity"),
        (
            {"appCpuLimit": "unlimited"},
            "appCpuLimit = 'unlimited': must be none (no CPU limit) or a CPU quantity",
        ),
        (
            {"appCpuLimit": "100m"},
            "appCpuLimit = '100m': must be none or at least appCpuRequest ('250m')",
        ),
        ({"appMemory": "256MB"}, "appMemory = '256MB': must be a memory quantity"),
        ({"appMemory": "512m"}, "appMemory = '512m': must be a memory quantity"),
        ({"appMemory": "32Mi"}, "appMemory = '32Mi': must be a memory quantity"),
        (
            {"appMemory": "67108864.5"},
            "appMemory = '67108864.5': must be a memory quantity with a binary suffix such as "
            "256Mi or 1Gi (Ki, Mi, Gi, Ti; k, M, G, T and plain bytes also work); a whole number",
        ),
        ({"appAutoscaling": "yes"}, "appAutoscaling = 'yes': must be true or false"),
        ({"appMaxReplicas": "0"}, "appMaxReplicas = 0: must be an integer from 1 to 100"),
        ({"appMaxReplicas": "101"}, "appMaxReplicas = 101: must be an integer from 1 to 100"),
        ({"appCpuLimit": "1Ki"}, "appCpuLimit = '1Ki': must be none (no CPU limit) or a CPU"),
        (
            {"appReplicas": "3"},
            "appMaxReplicas = 2: must be at least appReplicas (3), the autoscaler's minimum",
        ),
        (
            {"appTargetCpuUtilization": "0"},
            "appTargetCpuUtilization = 0: must be an integer from 1 to 100",
        ),
        (
            {"appTargetCpuUtilization": "150"},
            "appTargetCpuUtilization = 150: must be an integer from 1 to 100",
        ),
    ],
)
def test_bad_scaling_config_names_the_key_and_registers_nothing(
    overrides: dict[str, str], message: str
) -> None:
    result = run("dev", overrides)
    assert isinstance(result.error, ConfigError)
    assert len(result.error.problems) == 1, result.error.problems
    assert f"ecr-eks-lambda:{message}" in result.error.problems[0]
    assert result.records == []


def test_memory_suffix_m_is_explained() -> None:
    result = run("dev", {"appMemory": "512m"})
    assert isinstance(result.error, ConfigError)
    assert "'m' means thousandths of a byte (write Mi)" in str(result.error)


def test_max_replicas_below_replicas_is_fine_without_autoscaling() -> None:
    result = run("dev", {"appAutoscaling": "false", "appReplicas": "3"})
    assert result.error is None, result.error
    assert one(result, DEPLOYMENT).inputs["spec"]["replicas"] == 3


# --- quantities ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "millicores"),
    [("1", 1000), ("0.5", 500), ("250m", 250), ("1.5", 1500), (".1", 100), ("2000m", 2000)],
)
def test_cpu_quantities(text: str, millicores: int) -> None:
    assert quantity.cpu_millicores(text) == millicores


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("256Mi", 256 * 2**20),
        ("1Gi", 2**30),
        ("1.5Gi", 3 * 2**29),
        ("100M", 100 * 10**6),
        ("1e9", 10**9),
        ("67108864", 64 * 2**20),
    ],
)
def test_memory_quantities(text: str, size: int) -> None:
    assert quantity.memory_bytes(text) == size
