"""The network's config section (components/network.py)."""

from __future__ import annotations

from typing import Literal

from components import limits
from components.config.base import Section, setting
from components.config.kinds import Boolean, Choice, Integer, PrivateCidr

NatGateways = Literal["perAz", "single"]
FlowLogTrafficType = Literal["ALL", "REJECT"]


class NetworkConfig(Section):
    """The VPC (components/network.py)."""

    availability_zone_count: int = setting(
        "availabilityZoneCount",
        Integer(2, limits.MAX_AZS),
        "Availability zones the VPC spans; the region must have that many.",
        default=2,
    )
    vpc_cidr: str = setting(
        "vpcCidr",
        PrivateCidr(16, 22),
        "The VPC's IPv4 range; each subnet gets 1/16 of it.",
        default="10.0.0.0/16",
    )
    nat_gateways: NatGateways = setting(
        "natGateways",
        Choice(limits.NAT_GATEWAYS),
        "NAT gateways for the private subnets: `perAz` (one per zone; survives a zone outage) "
        "or `single` (one for all zones; cheaper, a zone outage cuts egress).",
        default="perAz",
    )
    flow_logs: bool = setting(
        "vpcFlowLogs",
        Boolean(),
        "VPC flow logs for the cluster's VPC, published to a CloudWatch log group kept "
        "logRetentionDays (AWS Security Hub control EC2.6). Turn off only where another flow "
        "log already covers the VPC.",
        default=True,
    )
    flow_log_traffic_type: FlowLogTrafficType = setting(
        "vpcFlowLogTrafficType",
        Choice(limits.FLOW_LOG_TRAFFIC_TYPES),
        "Traffic the flow log records: `ALL`, or `REJECT` (rejected connections only: far "
        "fewer records, still enough for EC2.6, but an investigation also needs the accepted "
        "ones).",
        default="ALL",
    )
