"""Settings from the environment, validated once at start-up.

Every problem is reported at once, each naming the variable, the value received and what is
allowed, so a misconfigured Deployment fails its first start with one readable message
instead of a stack trace on the first request.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

# The cluster gives the pod terminationGracePeriodSeconds: 30; the app must be gone by then,
# with a margin for the kubelet and the interpreter's own exit.
SHUTDOWN_BUDGET_SECONDS = 27
# The last wait after SIGTERM: lines still queued for CloudWatch Logs (LOG_GROUP) are sent
# within this, or dropped (app/logship.py).
LOG_FLUSH_SECONDS = 2.0
# A SendMessageBatch call can outlive its events' deadline by at most these.
SQS_CONNECT_TIMEOUT_SECONDS = 1.0
SQS_READ_TIMEOUT_SECONDS = 5.0
# An NLB's TCP idle timeout: 350 s by default, settable from 60 s up. The app ends idle
# connections before any NLB would, with a FIN the client sees, rather than the NLB dropping
# the flow silently and resetting the client's next request on it.
# https://docs.aws.amazon.com/elasticloadbalancing/latest/network/update-idle-timeout.html
NLB_MIN_IDLE_TIMEOUT_SECONDS = 60

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}(\.fifo)?$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# CreateLogGroup's logGroupName and CreateLogStream's logStreamName (CloudWatch Logs API
# reference): 1-512 characters; a stream name has no ':' or '*'.
_LOG_GROUP = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")
_LOG_STREAM = re.compile(r"^[^:*]{1,512}$")
# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")

T = TypeVar("T")


class SettingsError(ValueError):
    """One or more environment variables are invalid; `problems` lists each of them."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))
        self.problems = problems


# Not slots=True: the class attributes double as the defaults that from_env() falls back to.
@dataclass(frozen=True)
class Settings:
    queue_url: str
    region: str
    host: str = "0.0.0.0"  # noqa: S104 - a container listens on all its interfaces
    port: int = 8080
    # Coalescing: a batch leaves when it has 10 entries, would exceed SQS's 256 KiB request
    # limit, or its first event has waited this long (only while other sends are in flight).
    batch_max_wait_ms: float = 2.0
    # Concurrent SendMessageBatch calls (coroutines on the event loop, so cheap): at ~15 ms a
    # call to SQS, 8 carry ~5,000 events/s in batches of 10, about what one process's CPU
    # allows (docs/app.md); against a sub-millisecond local server 2-16 measured the same.
    max_concurrent_sends: int = 8
    send_max_attempts: int = 4
    request_timeout_seconds: float = 10.0
    max_pending_events: int = 2000
    # Bytes of request bodies being handled at once. Each costs ~3x its size in memory while it
    # is parsed, re-encoded and waits for SQS (bench/app_memory.py), so 32 MiB keeps a flood of
    # large events within the default 256Mi pod memory limit: beyond it, 503 + Retry-After.
    max_inflight_bytes: int = 32 * 1024 * 1024
    shutdown_delay_seconds: float = 5.0
    # Client connections (app/connections.py). An NLB passes each client's TCP connection
    # through to the pod unbuffered, so these are what bounds a slow or hostile client.
    # A request's headers must be complete within this of its connection being accepted (or,
    # kept alive, of its first byte): slowloris clients are closed, any real client is done.
    header_timeout_seconds: float = 5.0
    # And its body within this of its headers: 256 KiB at 64 KB/s. It counts in the shutdown
    # budget (below), as a body still arriving at the end of the drain delay delays exit.
    body_timeout_seconds: float = 4.0
    # Idle kept-alive connections are closed after this: below NLB_MIN_IDLE_TIMEOUT_SECONDS.
    keepalive_timeout_seconds: float = 50.0
    # Open connections per process. A held connection costs the process 6-8 KiB
    # (bench/app_hostile.py), so 4000 take ~32 MiB, inside the pod's memory beside the body
    # budget; past it, the longest-waiting connection without a request in progress is closed
    # to admit the new one, or, when every one has a request in progress, the new one is
    # refused with 503.
    max_connections: int = 4000
    log_level: str = "INFO"
    # CloudWatch Logs (app/logship.py): the log group every line also goes to (None: stdout
    # only), and this process's stream in it, the pod's name so replicas never share one.
    log_group: str | None = None
    log_stream: str = "app"
    sqs_endpoint_url: str | None = None
    # Trace context (app/tracing.py): the share of events the app marks sampled when the
    # decision is its own, and whether a client's decision is used instead. Never on a
    # public app (AUTH_ISSUER set): anyone could make every event a sampled, billed trace.
    trace_sample_percent: float = 5.0
    trace_trust_client_sampling: bool = False
    # Bearer tokens (app/auth.py): all None = no authentication (the private ClusterIP mode).
    auth_issuer: str | None = None
    auth_audience: str | None = None
    auth_required_scope: str | None = None
    # Least time between two fetches of the issuer's keys prompted by a token whose `kid` is
    # unknown, so that tokens with made-up kids cannot make the app hammer the issuer.
    auth_jwks_refresh_seconds: float = 30.0
    # /metrics on its own listener (and no longer on PORT): the public edge cannot route by path.
    metrics_port: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        problems: list[str] = []

        def get(
            name: str, parse: Callable[[str], T], default: T, allowed: str, ok: Callable[[T], bool]
        ) -> T:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = parse(raw)
            except ValueError:
                value = None
            if value is None or not ok(value):
                problems.append(f"{name}={raw!r} is invalid: allowed {allowed}")
                return default
            return value

        queue_url = env.get("QUEUE_URL", "").strip()
        if not queue_url:
            problems.append(
                "QUEUE_URL is required: the SQS queue URL, "
                "e.g. https://sqs.us-east-1.amazonaws.com/123456789012/events"
            )
        elif not _valid_queue_url(queue_url):
            problems.append(
                f"QUEUE_URL={queue_url!r} is invalid: allowed an http(s) SQS queue URL "
                "https://<host>/<account-id>/<queue-name>"
            )

        region = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip()
        if not region:
            problems.append("AWS_REGION is required: the queue's region, e.g. us-east-1")
        elif not _REGION.match(region):
            problems.append(
                f"AWS_REGION={region!r} is invalid: allowed a region name, e.g. us-east-1"
            )

        endpoint = (env.get("AWS_ENDPOINT_URL_SQS") or env.get("AWS_ENDPOINT_URL") or "").strip()
        if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
            problems.append(
                f"AWS_ENDPOINT_URL_SQS/AWS_ENDPOINT_URL={endpoint!r} is invalid: "
                "allowed an http:// or https:// URL"
            )

        issuer, audience, scope = _auth_settings(env, problems)
        # Unset, the pod's name: Kubernetes sets HOSTNAME to it.
        log_stream = (env.get("LOG_STREAM") or env.get("HOSTNAME") or "").strip() or cls.log_stream
        if not _LOG_STREAM.match(log_stream):
            problems.append(
                f"LOG_STREAM={log_stream!r} is invalid: allowed a CloudWatch Logs stream name: "
                "1-512 characters, no ':' or '*' (unset: HOSTNAME)"
            )
        settings = cls(
            queue_url=queue_url,
            region=region,
            host=env.get("HOST", "").strip() or cls.host,
            port=get("PORT", int, cls.port, "an integer 1-65535", lambda v: 0 < v < 65536),
            batch_max_wait_ms=get(
                "BATCH_MAX_WAIT_MS",
                float,
                cls.batch_max_wait_ms,
                "a number of milliseconds 0-100",
                lambda v: 0 <= v <= 100,
            ),
            max_concurrent_sends=get(
                "MAX_CONCURRENT_SENDS",
                int,
                cls.max_concurrent_sends,
                "an integer 1-64",
                lambda v: 1 <= v <= 64,
            ),
            send_max_attempts=get(
                "SEND_MAX_ATTEMPTS",
                int,
                cls.send_max_attempts,
                "an integer 1-10",
                lambda v: 1 <= v <= 10,
            ),
            request_timeout_seconds=get(
                "REQUEST_TIMEOUT_SECONDS",
                float,
                cls.request_timeout_seconds,
                "a number of seconds 1-20",
                lambda v: 1 <= v <= 20,
            ),
            max_pending_events=get(
                "MAX_PENDING_EVENTS",
                int,
                cls.max_pending_events,
                "an integer 10-100000",
                lambda v: 10 <= v <= 100_000,
            ),
            max_inflight_bytes=get(
                "MAX_INFLIGHT_BYTES",
                int,
                cls.max_inflight_bytes,
                "an integer number of bytes 1048576-1073741824 (1 MiB-1 GiB)",
                lambda v: 1024 * 1024 <= v <= 1024**3,
            ),
            shutdown_delay_seconds=get(
                "SHUTDOWN_DELAY_SECONDS",
                float,
                cls.shutdown_delay_seconds,
                "a number of seconds 0-15",
                lambda v: 0 <= v <= 15,
            ),
            header_timeout_seconds=get(
                "HEADER_TIMEOUT_SECONDS",
                float,
                cls.header_timeout_seconds,
                "a number of seconds 1-60",
                lambda v: 1 <= v <= 60,
            ),
            body_timeout_seconds=get(
                "BODY_TIMEOUT_SECONDS",
                float,
                cls.body_timeout_seconds,
                "a number of seconds 1-15",
                lambda v: 1 <= v <= 15,
            ),
            keepalive_timeout_seconds=get(
                "KEEPALIVE_TIMEOUT_SECONDS",
                float,
                cls.keepalive_timeout_seconds,
                f"a number of seconds 1-{NLB_MIN_IDLE_TIMEOUT_SECONDS - 1} (below the lowest "
                f"TCP idle timeout an NLB can have, {NLB_MIN_IDLE_TIMEOUT_SECONDS} s)",
                lambda v: 1 <= v < NLB_MIN_IDLE_TIMEOUT_SECONDS,
            ),
            max_connections=get(
                "MAX_CONNECTIONS",
                int,
                cls.max_connections,
                "an integer 16-100000",
                lambda v: 16 <= v <= 100_000,
            ),
            log_level=get(
                "LOG_LEVEL",
                str.upper,
                cls.log_level,
                "one of " + ", ".join(_LOG_LEVELS),
                lambda v: v in _LOG_LEVELS,
            ),
            log_group=get(
                "LOG_GROUP",
                _optional_str,
                None,
                "a CloudWatch Logs group name: 1-512 of A-Z a-z 0-9 . - _ / #",
                lambda v: v is not None and bool(_LOG_GROUP.match(v)),
            ),
            log_stream=log_stream,
            sqs_endpoint_url=endpoint or None,
            trace_sample_percent=get(
                "TRACE_SAMPLE_PERCENT",
                float,
                cls.trace_sample_percent,
                "a number 0-100 (percent of events)",
                lambda v: 0 <= v <= 100,
            ),
            trace_trust_client_sampling=get(
                "TRACE_TRUST_CLIENT_SAMPLING",
                _boolean,
                cls.trace_trust_client_sampling,
                "true or false",
                lambda v: True,
            ),
            auth_jwks_refresh_seconds=get(
                "AUTH_JWKS_REFRESH_SECONDS",
                float,
                cls.auth_jwks_refresh_seconds,
                "a number of seconds 1-3600",
                lambda v: 1 <= v <= 3600,
            ),
            metrics_port=get(
                "METRICS_PORT", _optional_int, None, "an integer 1-65535", _optional_port
            ),
            auth_issuer=issuer,
            auth_audience=audience,
            auth_required_scope=scope,
        )
        if settings.metrics_port is not None and settings.metrics_port == settings.port:
            problems.append(
                f"METRICS_PORT={settings.metrics_port} is invalid: allowed a port other than "
                f"PORT ({settings.port}), since /metrics gets a listener of its own"
            )
        if settings.trace_trust_client_sampling and settings.auth_issuer is not None:
            problems.append(
                "TRACE_TRUST_CLIENT_SAMPLING=true is not allowed on a public app (AUTH_ISSUER "
                "is set): any client could force sampling; allowed false"
            )
        # Worst case after SIGTERM: the delay, then a request whose headers arrive at its very
        # end takes its whole body deadline, its event waits out its deadline, and the call it
        # is in runs to the SQS client's timeouts; then the log lines still queued are sent.
        call = SQS_CONNECT_TIMEOUT_SECONDS + SQS_READ_TIMEOUT_SECONDS
        allowed = SHUTDOWN_BUDGET_SECONDS - call - LOG_FLUSH_SECONDS
        worst_case = (
            settings.shutdown_delay_seconds
            + settings.body_timeout_seconds
            + settings.request_timeout_seconds
        )
        if worst_case > allowed:
            problems.append(
                "SHUTDOWN_DELAY_SECONDS + BODY_TIMEOUT_SECONDS + REQUEST_TIMEOUT_SECONDS = "
                f"{worst_case:g} is too long: allowed at most {allowed:g} so the pod exits "
                f"within {SHUTDOWN_BUDGET_SECONDS} s of SIGTERM"
            )
        if problems:
            raise SettingsError(problems)
        return settings


def _boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise ValueError(raw)
    return lowered == "true"


def _optional_str(raw: str) -> str | None:
    return raw


def _optional_int(raw: str) -> int | None:
    return int(raw)


def _optional_port(value: int | None) -> bool:
    return value is not None and 0 < value < 65536


def _valid_queue_url(url: str) -> bool:
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and len(segments) == 2
        and bool(_QUEUE_NAME.match(segments[1]))
    )


def _auth_settings(
    env: Mapping[str, str], problems: list[str]
) -> tuple[str | None, str | None, str | None]:
    """AUTH_ISSUER, AUTH_AUDIENCE and AUTH_REQUIRED_SCOPE, each None when unset."""
    issuer = env.get("AUTH_ISSUER", "").strip() or None
    audience = env.get("AUTH_AUDIENCE", "").strip() or None
    scope = env.get("AUTH_REQUIRED_SCOPE", "").strip() or None
    if issuer is not None and not _valid_issuer(issuer):
        problems.append(
            f"AUTH_ISSUER={issuer!r} is invalid: allowed an https URL without query or fragment, "
            "e.g. https://login.example.com/tenant (http only for a loopback issuer: "
            "localhost, 127.0.0.0/8, ::1)"
        )
    if (issuer is None) != (audience is None):
        given, missing = (
            ("AUTH_ISSUER", "AUTH_AUDIENCE") if issuer else ("AUTH_AUDIENCE", "AUTH_ISSUER")
        )
        problems.append(
            f"{given} is set but {missing} is not: allowed both (tokens are verified) or neither "
            "(no authentication)"
        )
    if scope is not None:
        if issuer is None:
            problems.append(
                "AUTH_REQUIRED_SCOPE is set but AUTH_ISSUER is not: allowed only with "
                "AUTH_ISSUER and AUTH_AUDIENCE"
            )
        if not _SCOPE.match(scope):
            problems.append(
                f"AUTH_REQUIRED_SCOPE={scope!r} is invalid: allowed one scope token (printable "
                'ASCII without space, " or \\), e.g. events:write'
            )
    return issuer, audience, scope


def _valid_issuer(url: str) -> bool:
    # A loopback issuer (tests, a local identity provider) may be plain http: its traffic never
    # leaves the host. Anything else must be https, or its keys could be swapped in transit.
    parts = urlsplit(url)
    if parts.query or parts.fragment or not parts.hostname or "?" in url or "#" in url:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost (as a URL's hostname gives them: no brackets)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
