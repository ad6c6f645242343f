"""The Network component: VPC, subnets per zone, NAT and the default security group (its flow
logs: test_flow_logs.py)."""

from __future__ import annotations

from typing import Any

from components.config import ConfigError, NetworkConfig
from components.network import Network, NetworkArgs
from tests.infra.harness import ALONE_ROLES, Run, run, run_component
from tests.infra.lookup import SUBNET, ids, of_type, one, subnets

NAT = "aws:ec2/natGateway:NatGateway"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"


# --- in the whole program -----------------------------------------------------------------


def test_subnets_span_the_configured_zones(dev: Run, prod: Run) -> None:
    for run_, zones in ((dev, 2), (prod, 3)):
        for tier in ("public", "private"):
            found = subnets(run_, tier)
            assert len(found) == zones
            assert len({s.inputs["availabilityZone"] for s in found}) == zones
            assert all(s.inputs["vpcId"] == "network-vpc-id" for s in found)
            assert all(s.inputs.get("mapPublicIpOnLaunch") is not True for s in found)
    cidrs = [s.inputs["cidrBlock"] for s in of_type(prod, SUBNET)]
    assert len(set(cidrs)) == len(cidrs)


def test_subnets_are_tagged_for_load_balancers(stack: Run) -> None:
    assert all(
        s.inputs["tags"] == {"kubernetes.io/role/elb": "1"} for s in subnets(stack, "public")
    )
    assert all(
        s.inputs["tags"] == {"kubernetes.io/role/internal-elb": "1"}
        for s in subnets(stack, "private")
    )


def test_nat_single_in_dev_one_per_zone_in_prod(dev: Run, prod: Run) -> None:
    for run_, count in ((dev, 1), (prod, 3)):
        nats = of_type(run_, NAT)
        assert len(nats) == count
        assert {n.inputs["subnetId"] for n in nats} <= set(ids(subnets(run_, "public")))
        private_routes = [
            rt.inputs["routes"][0]["natGatewayId"]
            for rt in of_type(run_, "aws:ec2/routeTable:RouteTable")
            if rt.name.startswith("network-private-")
        ]
        assert len(private_routes) == len(subnets(run_, "private"))
        assert set(private_routes) == set(ids(nats))


def test_prod_private_subnets_route_through_their_own_zone_nat(prod: Run) -> None:
    for rt in of_type(prod, "aws:ec2/routeTable:RouteTable"):
        if rt.name.startswith("network-private-"):
            zone = rt.name.removeprefix("network-private-").removesuffix("-rt")
            assert rt.inputs["routes"][0]["natGatewayId"] == f"network-nat-{zone}-id"


def test_default_security_group_has_no_rules(stack: Run) -> None:
    sg = one(stack, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs
    assert sg["vpcId"] == "network-vpc-id"
    assert not sg.get("ingress")
    assert not sg.get("egress")


def test_more_zones_than_the_region_has_is_refused() -> None:
    result = run("dev", {"availabilityZoneCount": "4"})
    assert isinstance(result.error, ConfigError)
    assert result.error.problems == (
        "ecr-eks-lambda:availabilityZoneCount = 4: the region offers only 3 zones "
        "(eu-west-1a, eu-west-1b, eu-west-1c)",
    )


# --- alone ----------------------------------------------------------------------------------


def network_alone(config: NetworkConfig) -> Run:
    def build() -> dict[str, Any]:
        net = Network(
            "net",
            NetworkArgs(config=config, flow_log_retention_days=14, roles=ALONE_ROLES),
        )
        return {
            "vpc_id": net.vpc_id,
            "public": net.public_subnet_ids,
            "private": net.private_subnet_ids,
        }

    return run_component(build)


def test_alone_it_splits_the_range_into_sixteenths_two_per_zone() -> None:
    result = network_alone(NetworkConfig(availability_zone_count=3, vpc_cidr="10.8.0.0/20"))
    assert one(result, "aws:ec2/vpc:Vpc").inputs["cidrBlock"] == "10.8.0.0/20"
    public = {
        s.inputs["availabilityZone"]: s.inputs["cidrBlock"]
        for s in subnets(result, "public", "net")
    }
    private = {
        s.inputs["availabilityZone"]: s.inputs["cidrBlock"]
        for s in subnets(result, "private", "net")
    }
    assert public == {
        "eu-west-1a": "10.8.0.0/24",
        "eu-west-1b": "10.8.1.0/24",
        "eu-west-1c": "10.8.2.0/24",
    }
    assert private == {
        "eu-west-1a": "10.8.3.0/24",
        "eu-west-1b": "10.8.4.0/24",
        "eu-west-1c": "10.8.5.0/24",
    }
    # Its outputs are what the cluster takes.
    assert result.outputs["vpc_id"] == "net-vpc-id"
    assert sorted(result.outputs["public"]) == sorted(ids(subnets(result, "public", "net")))
    assert sorted(result.outputs["private"]) == sorted(ids(subnets(result, "private", "net")))


def test_alone_a_single_nat_gateway_serves_every_zone() -> None:
    result = network_alone(NetworkConfig(nat_gateways="single", flow_logs=False))
    [nat] = of_type(result, NAT)
    routes = [rt.inputs["routes"] for rt in of_type(result, ROUTE_TABLE) if "private" in rt.name]
    assert routes == [[{"cidrBlock": "0.0.0.0/0", "natGatewayId": f"{nat.name}-id"}]] * 2
    assert of_type(result, "aws:ec2/flowLog:FlowLog") == []
