"""Settings validation: every bad value is named with what is allowed, all at once."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.settings import Settings, SettingsError
from tests.app.helpers import ROOT

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/events"


def test_defaults():
    s = Settings.from_env({"QUEUE_URL": QUEUE, "AWS_REGION": "us-east-1"})
    assert (s.host, s.port) == ("0.0.0.0", 8080)
    assert s.queue_url == QUEUE
    assert s.sqs_endpoint_url is None
    assert s.shutdown_delay_seconds + s.body_timeout_seconds + s.request_timeout_seconds <= 19
    # Idle connections end before an NLB's: its TCP idle timeout is at least 60 s (AWS docs,
    # "Update the TCP idle timeout for your Network Load Balancer listener").
    assert s.keepalive_timeout_seconds < 60
    assert (s.header_timeout_seconds, s.body_timeout_seconds) == (5, 4)
    assert s.max_connections == 4000
    # Clients' sampling decisions are not used unless asked for; the app samples 5 %.
    assert (s.trace_trust_client_sampling, s.trace_sample_percent) == (False, 5)


def test_overrides_and_endpoint():
    s = Settings.from_env(
        {
            "QUEUE_URL": "http://127.0.0.1:4566/000000000000/q.fifo",
            "AWS_DEFAULT_REGION": "eu-west-2",
            "PORT": "9000",
            "HOST": "127.0.0.1",
            "BATCH_MAX_WAIT_MS": "0",
            "MAX_CONCURRENT_SENDS": "8",
            "LOG_LEVEL": "debug",
            "HEADER_TIMEOUT_SECONDS": "2.5",
            "BODY_TIMEOUT_SECONDS": "3",
            "KEEPALIVE_TIMEOUT_SECONDS": "59",
            "MAX_CONNECTIONS": "64",
            "TRACE_SAMPLE_PERCENT": "100",
            "TRACE_TRUST_CLIENT_SAMPLING": "True",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
            "AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:4567",
        }
    )
    assert (s.region, s.port, s.host, s.batch_max_wait_ms) == ("eu-west-2", 9000, "127.0.0.1", 0)
    assert (s.max_concurrent_sends, s.log_level) == (8, "DEBUG")
    assert (s.header_timeout_seconds, s.body_timeout_seconds) == (2.5, 3)
    assert (s.keepalive_timeout_seconds, s.max_connections) == (59, 64)
    assert (s.trace_sample_percent, s.trace_trust_client_sampling) == (100, True)
    assert s.sqs_endpoint_url == "http://127.0.0.1:4567"  # the service-specific one wins


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ["QUEUE_URL is required", "AWS_REGION is required"]),
        ({"QUEUE_URL": "events"}, ["QUEUE_URL='events' is invalid: allowed an http(s)"]),
        ({"QUEUE_URL": "https://sqs.x/123/bad name"}, ["QUEUE_URL="]),
        ({"AWS_REGION": "US_EAST"}, ["AWS_REGION='US_EAST' is invalid"]),
        ({"PORT": "http"}, ["PORT='http' is invalid: allowed an integer 1-65535"]),
        ({"PORT": "70000"}, ["PORT='70000' is invalid"]),
        ({"BATCH_MAX_WAIT_MS": "-1"}, ["BATCH_MAX_WAIT_MS='-1' is invalid: allowed"]),
        (
            {"MAX_CONCURRENT_SENDS": "0"},
            ["MAX_CONCURRENT_SENDS='0' is invalid: allowed an integer 1-64"],
        ),
        ({"SEND_MAX_ATTEMPTS": "11"}, ["SEND_MAX_ATTEMPTS='11' is invalid"]),
        ({"REQUEST_TIMEOUT_SECONDS": "0.5"}, ["REQUEST_TIMEOUT_SECONDS='0.5' is invalid"]),
        ({"MAX_PENDING_EVENTS": "5"}, ["MAX_PENDING_EVENTS='5' is invalid"]),
        (
            {"MAX_INFLIGHT_BYTES": "65536"},
            ["MAX_INFLIGHT_BYTES='65536' is invalid: allowed an integer number of bytes 1048576-"],
        ),
        ({"SHUTDOWN_DELAY_SECONDS": "16"}, ["SHUTDOWN_DELAY_SECONDS='16' is invalid"]),
        ({"LOG_LEVEL": "loud"}, ["LOG_LEVEL='loud' is invalid: allowed one of DEBUG, INFO"]),
        ({"AWS_ENDPOINT_URL_SQS": "127.0.0.1:4566"}, ["AWS_ENDPOINT_URL_SQS/AWS_ENDPOINT_URL="]),
        ({"HEADER_TIMEOUT_SECONDS": "0"}, ["HEADER_TIMEOUT_SECONDS='0' is invalid: allowed"]),
        ({"HEADER_TIMEOUT_SECONDS": "61"}, ["HEADER_TIMEOUT_SECONDS='61' is invalid"]),
        ({"BODY_TIMEOUT_SECONDS": "0.5"}, ["BODY_TIMEOUT_SECONDS='0.5' is invalid: allowed"]),
        (
            {"KEEPALIVE_TIMEOUT_SECONDS": "60"},
            ["KEEPALIVE_TIMEOUT_SECONDS='60' is invalid: allowed a number of seconds 1-59"],
        ),
        ({"MAX_CONNECTIONS": "8"}, ["MAX_CONNECTIONS='8' is invalid: allowed an integer 16-"]),
        ({"TRACE_SAMPLE_PERCENT": "101"}, ["TRACE_SAMPLE_PERCENT='101' is invalid: allowed"]),
        ({"TRACE_SAMPLE_PERCENT": "-1"}, ["TRACE_SAMPLE_PERCENT='-1' is invalid"]),
        (
            {"TRACE_TRUST_CLIENT_SAMPLING": "yes"},
            ["TRACE_TRUST_CLIENT_SAMPLING='yes' is invalid: allowed true or false"],
        ),
        (
            # A public app (AUTH_ISSUER set) must not let clients force sampling.
            {
                "TRACE_TRUST_CLIENT_SAMPLING": "true",
                "AUTH_ISSUER": "https://issuer.example",
                "AUTH_AUDIENCE": "events",
            },
            ["TRACE_TRUST_CLIENT_SAMPLING=true is not allowed on a public app"],
        ),
        (
            {"SHUTDOWN_DELAY_SECONDS": "10", "REQUEST_TIMEOUT_SECONDS": "10"},
            [
                "SHUTDOWN_DELAY_SECONDS + BODY_TIMEOUT_SECONDS + REQUEST_TIMEOUT_SECONDS = 24 "
                "is too long: allowed at most 19"
            ],
        ),
        (
            {"BODY_TIMEOUT_SECONDS": "5"},
            ["SHUTDOWN_DELAY_SECONDS + BODY_TIMEOUT_SECONDS + REQUEST_TIMEOUT_SECONDS = 20"],
        ),
        (
            {"AUTH_ISSUER": "https://login.example.com"},
            ["AUTH_ISSUER is set but AUTH_AUDIENCE is not: allowed both"],
        ),
        (
            {"AUTH_AUDIENCE": "api://events"},
            ["AUTH_AUDIENCE is set but AUTH_ISSUER is not: allowed both"],
        ),
        (
            {"AUTH_ISSUER": "http://login.example.com", "AUTH_AUDIENCE": "a"},
            ["AUTH_ISSUER='http://login.example.com' is invalid: allowed an https URL"],
        ),
        # A hostname that merely starts like a loopback address is not one.
        ({"AUTH_ISSUER": "http://127.evil.example", "AUTH_AUDIENCE": "a"}, ["AUTH_ISSUER="]),
        ({"AUTH_ISSUER": "https://login.example.com?x=1", "AUTH_AUDIENCE": "a"}, ["AUTH_ISSUER="]),
        ({"AUTH_ISSUER": "https://login.example.com#x", "AUTH_AUDIENCE": "a"}, ["AUTH_ISSUER="]),
        ({"AUTH_ISSUER": "login.example.com", "AUTH_AUDIENCE": "a"}, ["AUTH_ISSUER="]),
        (
            {"AUTH_REQUIRED_SCOPE": "events:write"},
            ["AUTH_REQUIRED_SCOPE is set but AUTH_ISSUER is not"],
        ),
        (
            {
                "AUTH_ISSUER": "https://login.example.com",
                "AUTH_AUDIENCE": "a",
                "AUTH_REQUIRED_SCOPE": 'events "write"',
            },
            ["AUTH_REQUIRED_SCOPE='events \"write\"' is invalid: allowed one scope token"],
        ),
        (
            {"AUTH_JWKS_REFRESH_SECONDS": "0.5"},
            ["AUTH_JWKS_REFRESH_SECONDS='0.5' is invalid: allowed a number of seconds 1-3600"],
        ),
        ({"METRICS_PORT": "0"}, ["METRICS_PORT='0' is invalid: allowed an integer 1-65535"]),
        ({"METRICS_PORT": "x"}, ["METRICS_PORT='x' is invalid"]),
        (
            {"METRICS_PORT": "8080"},
            ["METRICS_PORT=8080 is invalid: allowed a port other than PORT (8080)"],
        ),
        (
            {"LOG_GROUP": "app logs"},
            ["LOG_GROUP='app logs' is invalid: allowed a CloudWatch Logs group name: 1-512 of"],
        ),
        ({"LOG_GROUP": "/a" * 257}, ["LOG_GROUP="]),  # 514 characters
        (
            {"LOG_STREAM": "pod:1"},
            ["LOG_STREAM='pod:1' is invalid: allowed a CloudWatch Logs stream name: 1-512"],
        ),
        ({"LOG_STREAM": "pod*"}, ["LOG_STREAM="]),
        ({"HOSTNAME": "x" * 513}, ["LOG_STREAM="]),  # LOG_STREAM defaults to HOSTNAME
    ],
)
def test_invalid_values_are_named_with_what_is_allowed(env, expected):
    base = {"QUEUE_URL": QUEUE, "AWS_REGION": "us-east-1"} if env else {}
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**base, **env})
    for fragment in expected:
        assert any(fragment in p for p in info.value.problems), info.value.problems
    assert len(info.value.problems) == len(expected)


def refused_start(env: dict[str, str]) -> str:
    """The app process's stderr, once it has refused to start (exit 2, no traceback)."""
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    return result.stderr


def test_the_process_refuses_to_start_with_a_clear_message():
    stderr = refused_start({"PORT": "x"})
    assert "QUEUE_URL is required" in stderr
    assert "PORT='x' is invalid" in stderr


EDGE = {"QUEUE_URL": QUEUE, "AWS_REGION": "us-east-1"}


def test_logs_are_shipped_only_with_a_log_group_into_the_pods_stream():
    base = {"QUEUE_URL": QUEUE, "AWS_REGION": "us-east-1"}
    assert Settings.from_env(base).log_group is None
    assert Settings.from_env(base).log_stream == "app"
    shipped = Settings.from_env(
        base | {"LOG_GROUP": "/ecr-eks-lambda/dev/app", "HOSTNAME": "app-7d9f-abcde"}
    )
    assert (shipped.log_group, shipped.log_stream) == ("/ecr-eks-lambda/dev/app", "app-7d9f-abcde")
    named = Settings.from_env(base | {"LOG_STREAM": "app-1", "HOSTNAME": "node"})
    assert named.log_stream == "app-1"
    # The longest names CloudWatch Logs takes: 512 characters.
    longest = Settings.from_env(base | {"LOG_GROUP": "a" * 512, "LOG_STREAM": "b" * 512})
    assert (len(longest.log_group or ""), len(longest.log_stream)) == (512, 512)


def test_authentication_and_the_metrics_port_are_off_unless_set():
    s = Settings.from_env(EDGE)
    assert (s.auth_issuer, s.auth_audience, s.auth_required_scope) == (None, None, None)
    assert s.metrics_port is None
    assert s.auth_jwks_refresh_seconds == 30


@pytest.mark.parametrize(
    "issuer",
    [
        "https://login.example.com/tenant",
        "https://login.example.com/tenant/",
        "http://127.0.0.1:8443",
        "http://127.5.5.5/realm",
        "http://localhost:9000",
        "http://[::1]:9000",
    ],
)
def test_what_the_public_edge_sets_is_accepted(issuer: str) -> None:
    s = Settings.from_env(
        {
            **EDGE,
            "AUTH_ISSUER": issuer,
            "AUTH_AUDIENCE": "api://events",
            "AUTH_REQUIRED_SCOPE": "events:write",
            "AUTH_JWKS_REFRESH_SECONDS": "5",
            "METRICS_PORT": "9090",
        }
    )
    assert (s.auth_issuer, s.auth_audience) == (issuer, "api://events")
    assert (s.auth_required_scope, s.auth_jwks_refresh_seconds, s.metrics_port) == (
        "events:write",
        5,
        9090,
    )


def test_the_process_refuses_a_non_loopback_http_issuer_at_start_up():
    stderr = refused_start(
        {**EDGE, "AUTH_ISSUER": "http://login.example.com", "AUTH_AUDIENCE": "api://events"}
    )
    assert "AUTH_ISSUER='http://login.example.com' is invalid" in stderr
