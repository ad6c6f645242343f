"""VPC flow logs of the Network component: the flow log, its log group, role and grant."""

from __future__ import annotations

from tests.infra.harness import ACCOUNT, Run, run
from tests.infra.lookup import of_type, one, policy, statements
from tests.infra.parliament_lint import findings

FLOW_LOG = "aws:ec2/flowLog:FlowLog"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
FLOW_LOG_CHILDREN = {
    (LOG_GROUP, "network-flow-logs"),
    (ROLE, "network-flow-logs-role"),
    (ROLE_POLICY, "network-flow-logs-policy"),
    (FLOW_LOG, "network-flow-log"),
}


def flow_log_children(run_: Run) -> set[tuple[str, str]]:
    return {(r.type, r.name) for r in run_.records if "flow-log" in r.name}


def test_the_vpc_has_one_flow_log_publishing_to_its_own_log_group(stack: Run) -> None:
    vpc = one(stack, "aws:ec2/vpc:Vpc")
    group = one(stack, LOG_GROUP, "network-flow-logs")
    role = one(stack, ROLE, "network-flow-logs-role")
    assert one(stack, FLOW_LOG).inputs == {
        "vpcId": f"{vpc.name}-id",
        "trafficType": "ALL",
        "logDestinationType": "cloud-watch-logs",
        "logDestination": group.outputs["arn"],
        "iamRoleArn": role.outputs["arn"],
        "maxAggregationInterval": 600,
    }
    # Not the function's group: each has its own retention and its own readers.
    assert group.outputs["arn"] != one(stack, LOG_GROUP, "consumer-logs").outputs["arn"]
    assert flow_log_children(stack) == FLOW_LOG_CHILDREN


def test_flow_log_group_keeps_logs_for_log_retention_days(dev: Run, prod: Run) -> None:
    # Pulumi.dev.yaml and Pulumi.prod.yaml set logRetentionDays to 7 and 90.
    assert one(dev, LOG_GROUP, "network-flow-logs").inputs["retentionInDays"] == 7
    assert one(prod, LOG_GROUP, "network-flow-logs").inputs["retentionInDays"] == 90


def test_role_trusts_only_the_flow_logs_service_for_this_account_and_region(stack: Run) -> None:
    role = one(stack, ROLE, "network-flow-logs-role")
    assert statements(role, "assumeRolePolicy") == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:eu-west-1:{ACCOUNT}:vpc-flow-log/*"},
            },
        }
    ]


def test_role_may_only_publish_to_the_flow_log_group(stack: Run) -> None:
    role = one(stack, ROLE, "network-flow-logs-role")
    group = one(stack, LOG_GROUP, "network-flow-logs")
    grants = [g for g in of_type(stack, ROLE_POLICY) if g.inputs["role"] == f"{role.name}-id"]
    assert [g.name for g in grants] == ["network-flow-logs-policy"]
    assert policy(grants[0]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublishFlowLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": f"{group.outputs['arn']}:*",
            }
        ],
    }
    attached = of_type(stack, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert all(a.inputs["role"] != role.outputs["name"] for a in attached)


def test_flow_log_grants_pass_parliament_with_no_finding(prod: Run) -> None:
    # Unlike the other trust policies (see test_iam), none of parliament's findings is waived.
    assert findings(one(prod, ROLE_POLICY, "network-flow-logs-policy").inputs["policy"]) == []
    trust = one(prod, ROLE, "network-flow-logs-role").inputs["assumeRolePolicy"]
    assert [issue for issue, _ in findings(trust)] == ["MALFORMED"]


def test_flow_log_is_created_after_its_role_may_write(stack: Run) -> None:
    grant = one(stack, ROLE_POLICY, "network-flow-logs-policy")
    assert grant.urn in one(stack, FLOW_LOG).dependencies


def test_flow_logs_can_be_turned_off_per_stack() -> None:
    result = run("prod", {"vpcFlowLogs": "false"})
    assert result.error is None, result.error
    assert flow_log_children(result) == set()
    assert sorted(g.name for g in of_type(result, LOG_GROUP)) == [
        "app-logs",
        "cluster-control-plane-logs",
        "consumer-logs",
    ]


def test_traffic_type_comes_from_config() -> None:
    result = run("dev", {"vpcFlowLogTrafficType": "REJECT"})
    assert result.error is None, result.error
    assert one(result, FLOW_LOG).inputs["trafficType"] == "REJECT"


def test_turning_flow_logs_off_changes_nothing_else(dev: Run) -> None:
    off = run("dev", {"vpcFlowLogs": "false"})
    assert off.error is None, off.error

    def others(run_: Run) -> list[tuple[str, str]]:
        return sorted((r.type, r.name) for r in run_.records if "flow-log" not in r.name)

    assert others(dev) == others(off)
