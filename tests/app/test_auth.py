"""Bearer tokens on POST /events, against the real app process and a local OIDC issuer
(tests/app/issuer.py) on 127.0.0.1: every refusal is a 401/403 with RFC 6750's challenge and
nothing enqueued; the keys are fetched without blocking the loop, refreshed on an unknown kid
at a bounded rate; /metrics moves to METRICS_PORT."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from app.auth import Authenticator, AuthError
from local.oidc_issuer import AUDIENCE, SCOPE, Issuer, new_rsa_key
from local.servers import MotoServer, create_queues, free_port
from tests.app.helpers import AppProcess, app_env, drain, run, start_app

REFRESH_SECONDS = 1.0
EVENT = {"type": "order.created", "data": {"n": 1}}


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    server = Issuer().start()
    try:
        yield server
    finally:
        server.stop()


class AuthApp:
    def __init__(self, app: AppProcess, sqs: Any, queue_url: str, metrics_port: int) -> None:
        self.app = app
        self.sqs = sqs
        self.queue_url = queue_url
        self.metrics_url = f"http://127.0.0.1:{metrics_port}"

    def post(self, token: str | None = None, body: Any = None, **headers: str) -> requests.Response:
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.app.post(EVENT if body is None else body, headers=headers)


def start_auth_app(
    moto: MotoServer, issuer_url: str, log_path: Path, **settings: str
) -> tuple[AppProcess, Any, str, int]:
    sqs = moto.client("sqs")
    url = create_queues(sqs, f"auth-{free_port()}").url
    metrics_port = free_port()
    env = app_env(
        url,
        moto.endpoint,
        AUTH_ISSUER=issuer_url,
        AUTH_AUDIENCE=AUDIENCE,
        AUTH_REQUIRED_SCOPE=SCOPE,
        AUTH_JWKS_REFRESH_SECONDS=str(REFRESH_SECONDS),
        METRICS_PORT=str(metrics_port),
        **settings,
    )
    return start_app(env, log_path), sqs, url, metrics_port


@pytest.fixture(scope="module")
def service(
    moto: MotoServer, issuer: Issuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthApp]:
    app, sqs, url, metrics_port = start_auth_app(
        moto, issuer.url, tmp_path_factory.mktemp("auth") / "app.log"
    )
    try:
        yield AuthApp(app, sqs, url, metrics_port)
    finally:
        app.kill()


def wait_until_refresh_allowed(issuer: Issuer) -> None:
    """Past the app's rate limit since the issuer's last JWKS fetch."""
    if issuer.jwks_fetches:
        time.sleep(max(0.0, issuer.jwks_fetches[-1] + REFRESH_SECONDS + 0.1 - time.monotonic()))


def test_a_valid_token_is_accepted_and_its_sub_travels_with_the_event(service, issuer):
    response = service.post(issuer.mint(sub="billing-service"), body={**EVENT, "id": "auth-ok-1"})
    assert response.status_code == 202, response.text
    # An EC key verifies too, and a reused token goes through the verified-token cache.
    ec_token = issuer.mint("ec-1", sub="ec-producer")
    for _ in range(3):
        assert service.post(ec_token).status_code == 202
    messages = drain(service.sqs, service.queue_url)
    by_id = {m["MessageAttributes"]["event_id"]["StringValue"]: m for m in messages}
    assert by_id["auth-ok-1"]["MessageAttributes"]["producer"] == {
        "DataType": "String",
        "StringValue": "billing-service",
    }
    producers = sorted(m["MessageAttributes"]["producer"]["StringValue"] for m in messages)
    assert producers == ["billing-service", "ec-producer", "ec-producer", "ec-producer"]
    line = service.app.log_line(event_id="auth-ok-1")
    assert line["producer"] == "billing-service"


def test_health_and_readiness_need_no_token(service):
    assert service.app.get("/healthz").status_code == 200
    ready = service.app.get("/readyz")
    assert ready.status_code == 200, ready.text


@pytest.mark.parametrize(
    ("make", "headers", "status", "challenge"),
    [
        (lambda i: None, {}, 401, 'Bearer realm="events"'),
        (lambda i: None, {"Authorization": "Basic dXNlcjpwYXNz"}, 401, 'error="invalid_request"'),
        (lambda i: None, {"Authorization": "Bearer"}, 401, 'error="invalid_request"'),
        (lambda i: None, {"Authorization": "Bearer a b"}, 401, 'error="invalid_request"'),
        (lambda i: "not-a-jwt", {}, 401, 'error="invalid_token"'),
        (lambda i: i.mint(exp=int(time.time()) - 120), {}, 401, "the token has expired"),
        (lambda i: i.mint(nbf=int(time.time()) + 120), {}, 401, "not valid yet"),
        (lambda i: i.mint(aud="api://other"), {}, 401, "not for this audience"),
        (lambda i: i.mint(iss="https://evil.example"), {}, 401, "from another issuer"),
        (lambda i: i.unsigned(), {}, 401, "alg is not allowed"),
        (lambda i: i.tampered(), {}, 401, "signature does not verify"),
        (lambda i: i.hs256_with_public_key(), {}, 401, "alg is not allowed"),
        (lambda i: i.mint("rsa-1", signed_by="ec-1"), {}, 401, "alg does not fit its key"),
        (lambda i: i.mint(sub=None), {}, 401, "no sub claim"),
        (lambda i: i.mint(exp=None), {}, 401, "no exp claim"),
        (lambda i: i.mint(sub="x" * 256), {}, 401, "sub is not 1-255"),
        (lambda i: i.mint(scope="openid"), {}, 403, 'error="insufficient_scope"'),
    ],
    ids=[
        "missing",
        "basic",
        "bearer-without-token",
        "bearer-two-words",
        "not-a-jwt",
        "expired",
        "not-yet-valid",
        "wrong-audience",
        "wrong-issuer",
        "alg-none",
        "tampered",
        "hs256-with-public-key",
        "alg-not-the-keys",
        "no-sub",
        "no-exp",
        "sub-too-long",
        "missing-scope",
    ],
)
def test_refused_tokens_enqueue_nothing(service, issuer, make, headers, status, challenge):
    token = make(issuer)
    response = service.post(token, **headers)
    assert response.status_code == status, response.text
    assert challenge in response.headers["WWW-Authenticate"]
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="events"')
    body = response.json()
    assert body["field"] == ("Authorization" if status == 401 else "scope")
    if status == 403:
        assert f'scope="{SCOPE}"' in response.headers["WWW-Authenticate"]
    assert drain(service.sqs, service.queue_url) == []


def test_missing_header_carries_no_error_code(service):
    # RFC 6750 section 3.1: a request without credentials gets no error code.
    response = service.post()
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="events"'


def test_the_scope_may_come_as_scp(service, issuer):
    token = issuer.mint(scope=None, scp=["openid", SCOPE])
    assert service.post(token).status_code == 202
    assert len(drain(service.sqs, service.queue_url)) == 1


def test_an_unknown_key_is_fetched_once_then_refused(service, issuer):
    issuer.add_key("stranger", new_rsa_key(), publish=False)
    wait_until_refresh_allowed(issuer)
    before = len(issuer.jwks_fetches)
    response = service.post(issuer.mint("stranger"))
    assert response.status_code == 401
    assert "kid is not one of the issuer's keys" in response.headers["WWW-Authenticate"]
    assert len(issuer.jwks_fetches) == before + 1  # it looked, then refused
    assert drain(service.sqs, service.queue_url) == []


def test_a_rotated_key_is_fetched_and_accepted(service, issuer):
    issuer.add_key("rsa-2", new_rsa_key(), publish=True)
    wait_until_refresh_allowed(issuer)
    before = len(issuer.jwks_fetches)
    response = service.post(issuer.mint("rsa-2", sub="rotated"))
    assert response.status_code == 202, response.text
    assert len(issuer.jwks_fetches) == before + 1
    [message] = drain(service.sqs, service.queue_url)
    assert message["MessageAttributes"]["producer"]["StringValue"] == "rotated"


def test_unknown_kids_cannot_make_the_app_hammer_the_issuer(service, issuer):
    wait_until_refresh_allowed(issuer)
    before = len(issuer.jwks_fetches)
    started = time.monotonic()
    tokens = []
    for n in range(40):
        issuer.add_key(f"made-up-{n}", issuer.keys["rsa-1"], publish=False)
        tokens.append(issuer.mint(f"made-up-{n}"))
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda t: service.post(t).status_code, tokens))
    elapsed = time.monotonic() - started
    assert statuses == [401] * 40
    fetches = len(issuer.jwks_fetches) - before
    assert 1 <= fetches <= 1 + math.ceil(elapsed / REFRESH_SECONDS), (fetches, elapsed)
    assert drain(service.sqs, service.queue_url) == []


def test_a_slow_issuer_does_not_block_the_event_loop(service, issuer):
    # The app's fetch timeout is 3 s: the issuer takes 5, so the fetch fails after 3 s.
    issuer.add_key("slow", new_rsa_key(), publish=False)
    wait_until_refresh_allowed(issuer)
    issuer.delay = 5.0
    result: dict[str, Any] = {}

    def post() -> None:
        started = time.monotonic()
        result["response"] = service.post(issuer.mint("slow"))
        result["seconds"] = time.monotonic() - started

    poster = threading.Thread(target=post)
    try:
        poster.start()
        assert issuer.in_progress.wait(5), "the app did not fetch the keys"
        latencies = []
        for _ in range(5):
            started = time.monotonic()
            assert service.app.get("/healthz").status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.1)
        assert issuer.in_progress.is_set()  # all of them while the fetch was under way
        assert max(latencies) < 0.5, latencies
        # A valid token with a known key is verified meanwhile too.
        assert service.post(issuer.mint()).status_code == 202
        poster.join(10)
    finally:
        issuer.delay = 0.0
    assert result["response"].status_code == 401
    assert 2.5 <= result["seconds"] < 4.5, result["seconds"]
    assert len(drain(service.sqs, service.queue_url)) == 1


def test_the_openapi_document_says_what_this_process_serves(service):
    doc = service.app.get("/openapi.json").json()
    post = doc["paths"]["/events"]["post"]
    assert post["security"] == [{"bearerAuth": []}]
    assert {"401", "403"} <= set(post["responses"])
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "/metrics" not in doc["paths"]


def test_metrics_are_served_on_their_own_port_only(service):
    assert service.app.get("/metrics").status_code == 404
    response = requests.get(f"{service.metrics_url}/metrics", timeout=10)
    assert response.status_code == 200
    assert 'app_http_requests_total{method="POST",route="/events",status="401"}' in response.text
    assert requests.get(f"{service.metrics_url}/events", timeout=10).status_code == 404


def test_not_ready_until_the_keys_are_fetched(moto, tmp_path):
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app, sqs, url, _ = start_auth_app(moto, down, tmp_path / "app.log")
    try:
        ready = app.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": f"signing keys not fetched yet from {down}"}
        assert app.get("/healthz").status_code == 200
        issuer = Issuer()  # any key: there are none to check it against
        response = app.post(EVENT, headers={"Authorization": f"Bearer {issuer.mint()}"})
        assert response.status_code == 401
        assert "could not be fetched" in response.headers["WWW-Authenticate"]
        issuer.server.server_close()
        assert drain(sqs, url) == []
    finally:
        app.kill()


def test_an_event_at_the_size_limit_with_its_producer(service, issuer):
    sub = "p" * 255
    token = issuer.mint(sub=sub)
    event_id = "edge-1"

    def body(pad: int) -> dict[str, Any]:
        return {"id": event_id, "type": "t", "data": {"p": "x" * pad}}

    # SQS counts the body and each attribute's name, data type and value: 256 KiB in all.
    attributes = len("event_id") + len("String") + len(event_id)
    attributes += len("producer") + len("String") + len(sub)
    # The app starts a trace for every event: its traceparent attribute (name, type, the
    # 55-character W3C header) counts as well.
    attributes += len("traceparent") + len("String") + 55
    empty = len(json.dumps(body(0), separators=(",", ":")))
    pad = 262_144 - attributes - empty
    assert service.post(token, body=body(pad)).status_code == 202
    response = service.post(token, body=body(pad + 1))
    assert response.status_code == 413, response.text
    assert "262145 bytes" in response.json()["error"]
    [message] = drain(service.sqs, service.queue_url)
    assert len(message["Body"]) == 262_144 - attributes


def verifier(issuer: Issuer, **options: float) -> Authenticator:
    return Authenticator(
        issuer.url, AUDIENCE, None, refresh_seconds=options.get("refresh_seconds", 60), **options
    )


def test_a_reused_token_is_still_refused_once_expired(issuer):
    # Just inside the 30 s leeway now, outside it a second later: the cached verification
    # must not outlive the token.
    token = issuer.mint(exp=int(time.time()) - 29)

    async def scenario() -> None:
        auth = verifier(issuer)
        await auth.start()
        try:
            assert (await auth.authenticate([f"Bearer {token}"])).sub == "producer-1"
            await asyncio.sleep(1.1)
            with pytest.raises(AuthError, match="the token has expired"):
                await auth.authenticate([f"Bearer {token}"])
        finally:
            await auth.close()

    run(scenario())


def test_a_withdrawn_key_stops_verifying_at_the_periodic_refresh(issuer):
    token = issuer.mint("ec-1")
    published = list(issuer.published)

    async def scenario() -> None:
        auth = verifier(issuer, max_age_seconds=0.3)
        await auth.start()
        try:
            assert (await auth.authenticate([f"Bearer {token}"])).sub == "producer-1"
            before = len(issuer.jwks_fetches)
            issuer.published = [k for k in published if k != "ec-1"]
            await asyncio.sleep(0.8)
            assert len(issuer.jwks_fetches) > before  # refreshed without any request
            # The cached verification goes with the key; no refresh is allowed for a minute.
            with pytest.raises(AuthError, match="kid is not one of the issuer's keys"):
                await auth.authenticate([f"Bearer {token}"])
        finally:
            await auth.close()
            issuer.published = published

    run(scenario())


@pytest.mark.parametrize(
    ("discovery", "why"),
    [
        # OIDC Discovery 4.3: a document naming another issuer is not this issuer's.
        ({"issuer": "https://other.example"}, "its issuer is not"),
        # Keys over plain http from a host that is not loopback could be swapped in transit.
        ({"jwks_uri": "http://keys.example/jwks"}, "jwks_uri 'http://keys.example/jwks' is not"),
        ({"jwks_uri": None}, "jwks_uri None is not an https URL"),
    ],
)
def test_a_discovery_document_that_does_not_hold_is_not_used(issuer, discovery, why, caplog):
    token = issuer.mint()

    async def scenario() -> None:
        issuer.discovery = discovery
        auth = verifier(issuer)
        await auth.start()
        try:
            with pytest.raises(AuthError, match="signing keys could not be fetched"):
                await auth.authenticate([f"Bearer {token}"])
            assert auth.not_ready() == f"signing keys not fetched yet from {issuer.url}"
        finally:
            await auth.close()
            issuer.discovery = {}

    with caplog.at_level("WARNING", logger="app.auth"):
        run(scenario())
    errors = [getattr(r, "error", "") for r in caplog.records if r.name == "app.auth"]
    assert any(why in e for e in errors), errors
