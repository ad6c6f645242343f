"""bench/cost.py: prices what the program registers, follows the config, refuses what its table
cannot price, and the README's cost section is its output."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.infra.harness import ROOT, Recorded, run_program


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_cost", ROOT / "bench" / "cost.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_cost"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


cost = _load()

# Round prices, so each figure below is checked against arithmetic done by hand.
PRICES: dict[str, Any] = {
    "date": "2026-12-01",
    "regions": {
        "eu-west-1": {
            "eks_cluster_hour": {
                "standard": 0.1,
                "extended": 0.6,
                "confirmed": True,
                "source": "a",
            },
            "eks_versions": {
                "standard": ["1.35"],
                "extended": ["1.33"],
                "confirmed": True,
                "source": "b",
            },
            "nat_gateway": {"hour": 1.0, "gb_processed": 0.5, "confirmed": True, "source": "c"},
            "public_ipv4_hour": {"price": 0.01, "confirmed": True, "source": "d"},
            "ec2_hour": {"t4g.medium": 2.0, "m7g.large": 3.0, "confirmed": False, "source": "e"},
            "ebs_gp3_gb_month": {"price": 0.1, "confirmed": True, "source": "f"},
            "kms_key_month": {"price": 1.0, "confirmed": True, "source": "g"},
            "cloudwatch": {
                "logs_ingested_gb": 1.0,
                "logs_stored_gb_month": 0.0,
                "alarm_month": 0.25,
                "dashboard_month": 2.0,
                "confirmed": True,
                "source": "h",
            },
            "sqs": {"million_requests": 1.0, "confirmed": True, "source": "i"},
            "lambda_arm64": {
                "gb_second": 0.001,
                "million_requests": 1.0,
                "confirmed": True,
                "source": "j",
            },
            "dynamodb_on_demand": {
                "million_write_units": 1.0,
                "million_read_units": 1.0,
                "confirmed": True,
                "source": "k",
            },
            "xray": {"million_traces": 10.0, "confirmed": True, "source": "l"},
            "ecr_gb_month": {"price": 1.0, "confirmed": True, "source": "m"},
        }
    },
    "assumptions": {
        "hours_per_month": 100,
        "control_plane_logs_gb_month": 0.0,
        "flow_logs_gb_month": 0.0,
        "nat_idle_gb_month": 2.0,
        "ecr_stored_gb": 0.0,
        "sqs_idle_pollers": 0,
        "nat_bytes_per_event": 1000,
        "log_bytes_per_event": 0,
        "app_log_bytes_per_event": 0,
        "dynamodb_writes_per_event": 2,
        "lambda_ms_per_event": 10,
    },
}


@pytest.fixture(scope="module")
def records() -> dict[str, list[Recorded]]:
    return {stack: run_program(stack) for stack in ("dev", "prod")}


def line(lines: Sequence[Any], prefix: str) -> Any:
    (found,) = [x for x in lines if x.item.startswith(prefix)]
    return found


def with_inputs(records: list[Recorded], token: str, **inputs: Any) -> list[Recorded]:
    return [
        dataclasses.replace(r, inputs={**r.inputs, **inputs}) if r.type == token else r
        for r in records
    ]


def test_the_monthly_figures_come_from_the_registered_resources(records):
    dev = cost.price_stack("dev", records["dev"], "eu-west-1", PRICES)
    prod = cost.price_stack("prod", records["prod"], "eu-west-1", PRICES)
    # 100 hours at $0.10 (standard support, 1.35).
    assert line(dev.monthly, "EKS control plane").usd == pytest.approx(10.0)
    assert "standard support, 1.35" in line(dev.monthly, "EKS control plane").item
    # dev: 1 t4g.medium at $2/h; prod: 3 m7g.large at $3/h (nodeDesiredSize, nodeInstanceType).
    assert line(dev.monthly, "nodes").usd == pytest.approx(200.0)
    assert line(prod.monthly, "nodes").usd == pytest.approx(900.0)
    assert line(prod.monthly, "nodes").item == "nodes: 3 x m7g.large"
    # 20 GB gp3 per node at $0.10.
    assert line(prod.monthly, "node volumes").usd == pytest.approx(6.0)
    # dev one NAT gateway, prod one per zone (3): 100 h at $1, plus 2 GB idle at $0.50.
    assert line(dev.monthly, "NAT gateways").usd == pytest.approx(101.0)
    assert line(prod.monthly, "NAT gateways").usd == pytest.approx(301.0)
    # One Elastic IP per NAT gateway, 100 h at $0.01.
    assert line(prod.monthly, "public IPv4").usd == pytest.approx(3.0)
    assert line(dev.monthly, "KMS keys").usd == pytest.approx(2.0)
    assert line(dev.monthly, "alarms").usd == pytest.approx(1.0)
    # One dashboard at $2.
    assert line(prod.monthly, "dashboards").item == "dashboards: 1"
    assert line(prod.monthly, "dashboards").usd == pytest.approx(2.0)


def test_the_per_event_figures_follow_the_function_and_mapping(records):
    dev = cost.price_stack("dev", records["dev"], "eu-west-1", PRICES)
    prod = cost.price_stack("prod", records["prod"], "eu-west-1", PRICES)
    # Batches of 10: 100,000 sends, receives and deletes at $1 per million.
    assert line(dev.per_million, "SQS").usd == pytest.approx(0.3)
    # 100,000 invocations at $1/M, plus 1e6 x 10 ms x memory (dev 256 MB, prod 512 MB).
    assert line(dev.per_million, "Lambda").usd == pytest.approx(0.1 + 10_000 * 0.25 * 0.001)
    assert line(prod.per_million, "Lambda").usd == pytest.approx(0.1 + 10_000 * 0.5 * 0.001)
    assert line(dev.per_million, "DynamoDB").usd == pytest.approx(2.0)
    assert line(dev.per_million, "X-Ray").usd == pytest.approx(1.0)
    assert line(dev.per_million, "NAT").usd == pytest.approx(0.5)  # 1 GB at $0.50


def with_named(records: list[Recorded], name: str, **inputs: Any) -> list[Recorded]:
    (named,) = [r for r in records if r.name == name]
    return [
        dataclasses.replace(r, inputs={**r.inputs, **inputs}) if r is named else r for r in records
    ]


def logs_priced(ingest: float, stored: float, gb_month: float) -> dict[str, Any]:
    region = PRICES["regions"]["eu-west-1"]
    return {
        **PRICES,
        "regions": {
            "eu-west-1": {
                **region,
                "cloudwatch": {
                    **region["cloudwatch"],
                    "logs_ingested_gb": ingest,
                    "logs_stored_gb_month": stored,
                },
            }
        },
        "assumptions": {
            **PRICES["assumptions"],
            "control_plane_logs_gb_month": gb_month,
            "log_bytes_per_event": 1000,
            "app_log_bytes_per_event": 500,
        },
    }


def test_each_log_group_is_priced_at_its_own_retention(records):
    # The program creates EKS's log group with the stack's retention: a year of retention keeps
    # twelve months of a steady volume, whatever the other groups keep.
    dev = with_named(records["dev"], "cluster-control-plane-logs", retentionInDays=365.0)
    dev = with_named(dev, "consumer-logs", retentionInDays=3650.0 / 10)
    dev = with_named(dev, "network-flow-logs", retentionInDays=30.0)
    dev = with_named(dev, "app-logs", retentionInDays=365.0 / 6)
    result = cost.price_stack("dev", dev, "eu-west-1", logs_priced(1.0, 1.0, 2.0))
    # 1e6 events x 500 bytes = 0.5 GB through the app's group, kept two months.
    assert line(result.per_million, "app logs").usd == pytest.approx(0.5 * (1 + 2))
    # 2 GB a month: $1 ingested + $1 x 12 months stored, per GB.
    assert line(result.monthly, "logs").usd == pytest.approx(2 * (1 + 12))
    # 1e6 events x 1000 bytes = 1 GB through the function's group, kept 365 days.
    assert line(result.per_million, "function logs").usd == pytest.approx(1 + 12)
    shorter = with_named(dev, "consumer-logs", retentionInDays=365.0 / 12)
    result = cost.price_stack("dev", shorter, "eu-west-1", logs_priced(1.0, 1.0, 2.0))
    assert line(result.per_million, "function logs").usd == pytest.approx(1 + 1)
    assert line(result.monthly, "logs").usd == pytest.approx(2 * (1 + 12))


def test_a_log_group_the_table_does_not_know_is_an_error_naming_it(records):
    (group,) = [r for r in records["dev"] if r.name == "consumer-logs"]
    extra = [*records["dev"], dataclasses.replace(group, name="sidecar-logs")]
    with pytest.raises(cost.PriceError, match=r"registered: .*sidecar-logs"):
        cost.price_stack("dev", extra, "eu-west-1", PRICES)


def test_a_larger_batch_means_fewer_invocations(records):
    batched = with_inputs(
        records["dev"], "aws:lambda/eventSourceMapping:EventSourceMapping", batchSize=100.0
    )
    result = cost.price_stack("dev", batched, "eu-west-1", PRICES)
    assert line(result.per_million, "X-Ray").usd == pytest.approx(0.1)
    assert line(result.per_million, "SQS").usd == pytest.approx(0.12)


def test_a_version_in_extended_support_costs_the_extended_price(records):
    old = with_inputs(records["dev"], "eks:index:Cluster", version="1.33")
    result = cost.price_stack("dev", old, "eu-west-1", PRICES)
    assert line(result.monthly, "EKS control plane").usd == pytest.approx(60.0)
    assert "extended support, 1.33" in line(result.monthly, "EKS control plane").item


@pytest.mark.parametrize(
    ("token", "inputs", "message"),
    [
        ("eks:index:Cluster", {"version": "1.99"}, r"clusterVersion '1\.99' is in neither"),
        (
            "aws:eks/nodeGroup:NodeGroup",
            {"instanceTypes": ["c8g.large"]},
            r"nodeInstanceType 'c8g\.large' has no price .* \(priced: m7g\.large, t4g\.medium\)",
        ),
        ("aws:lambda/function:Function", {"architectures": ["x86_64"]}, "only arm64"),
    ],
)
def test_what_the_table_cannot_price_is_an_error_naming_it(records, token, inputs, message):
    changed = with_inputs(records["dev"], token, **inputs)
    with pytest.raises(cost.PriceError, match=message):
        cost.price_stack("dev", changed, "eu-west-1", PRICES)


def test_a_region_without_prices_is_an_error_naming_the_ones_there(records):
    with pytest.raises(cost.PriceError, match=r"no prices for region 'us-east-1'.*eu-west-1"):
        cost.price_stack("dev", records["dev"], "us-east-1", PRICES)


def test_the_committed_table_is_dated_sourced_and_has_the_prices_aws_publishes():
    prices = cost.load_prices()
    assert date.fromisoformat(prices["date"])
    for region, entries in prices["regions"].items():
        for name, entry in entries.items():
            assert isinstance(entry["confirmed"], bool), (region, name)
            assert re.match(r"https://(aws\.amazon\.com|docs\.aws\.amazon\.com)/", entry["source"])
    ireland = prices["regions"]["eu-west-1"]
    # AWS: $0.10 per cluster-hour in standard support, $0.60 in extended support; $0.005 per
    # public IPv4 address-hour.
    assert ireland["eks_cluster_hour"]["standard"] == 0.10
    assert ireland["eks_cluster_hour"]["extended"] == 0.60
    assert ireland["public_ipv4_hour"]["price"] == 0.005
    # Every stack's node type and cluster version has a price.
    for stack in ("dev", "prod"):
        cost.price_stack(stack, run_program(stack), cost.stack_region(stack), prices)


def test_the_readme_section_is_the_scripts_output():
    prices = cost.load_prices()
    expected = cost.render(cost.costs(prices=prices), prices)
    assert cost.readme_section() == expected, "stale: run `make cost ARGS=--readme`"


def test_the_readme_rewrite_replaces_only_the_section(tmp_path: Path):
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{cost.BEGIN}\nold\n{cost.END}\nafter\n")
    cost.write_readme(f"{cost.BEGIN}\nnew\n{cost.END}", readme)
    assert readme.read_text() == f"before\n{cost.BEGIN}\nnew\n{cost.END}\nafter\n"
