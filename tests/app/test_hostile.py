"""Hostile and broken clients against the real app process, over raw sockets.

Every body gets a 4xx naming the field, every broken framing a 4xx or a close, slow clients are
cut off at their deadlines, nothing of theirs is enqueued, no other client's event fails, and
the app keeps serving; none of it is logged or counted as a server error.
"""

from __future__ import annotations

import gzip
import json
import re
import resource
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from contract import MAX_MESSAGE_BYTES
from local.servers import MotoServer
from tests.app.helpers import AppProcess, app_env, drain, serve_app, start_app
from tests.app.rawhttp import Reply, connect, exchange, post, read_reply
from tests.json_corpus import CORPUS, event

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
KEEPALIVE_TIMEOUT = 2.0
# The guard checks its deadlines four times a second, and this machine is shared.
SLACK = 2.0

GOOD = event('{"n":1}')


@pytest.fixture(scope="module")
def service(moto: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    yield from serve_app(
        moto,
        tmp_path_factory,
        "hostile",
        HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT),
        BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
        KEEPALIVE_TIMEOUT_SECONDS=str(KEEPALIVE_TIMEOUT),
    )


@pytest.fixture
def svc(service: tuple) -> tuple[AppProcess, Any, str]:
    app, sqs, url = service
    drain(sqs, url)
    return app, sqs, url


def chunked(body: bytes, size: int = 65536, *, end: bool = True) -> bytes:
    head = b"POST /events HTTP/1.1\r\nHost: app\r\nContent-Type: application/json\r\n"
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    )
    return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + (b"0\r\n\r\n" if end else b"")


def gzipped(body: bytes) -> bytes:
    return post("/events", body, "Content-Encoding: gzip")


# Bodies the contract accepts as JSON but the app refuses, and bodies over the size limits.
APP_BODIES: list[tuple[str, bytes, int, str]] = [
    ("escaped lone high surrogate", post("/events", event('{"k":"\\ud800"}')), 422, "data.k"),
    ("escaped lone low surrogate", post("/events", event('{"k":["\\udc00"]}')), 422, "data.k[0]"),
    ("raw U+FFFE", post("/events", event('{"k":"\ufffe"}')), 422, "data.k"),
    ("escaped U+FFFF in a key", post("/events", event('{"\\uffff":1}')), 422, "data.\uffff"),
    ("over the size limit", post("/events", event('{"k":"' + "x" * 600_000 + '"}')), 413, "$"),
    (
        "chunked, over the size limit",
        chunked(event('{"k":"' + "x" * 600_000 + '"}')),
        413,
        "$",
    ),
    ("gzip bomb", gzipped(gzip.compress(b" " * 20_000_000)), 413, "$"),
    ("gzip that is not gzip", gzipped(b"not gzip at all"), 400, "$"),
]


@pytest.mark.parametrize(("name", "body", "not_json", "field"), CORPUS, ids=[c[0] for c in CORPUS])
def test_each_hostile_body_is_refused_naming_the_field_and_nothing_is_enqueued(
    svc, name, body, not_json, field
):
    app, sqs, url = svc
    reply = exchange(app.port, post("/events", body))
    assert reply.status == (400 if not_json else 422), reply
    error = json.loads(reply.body)
    assert error["field"] == field
    assert error["error"]
    assert drain(sqs, url) == []


@pytest.mark.parametrize(
    ("name", "request_bytes", "status", "field"), APP_BODIES, ids=[c[0] for c in APP_BODIES]
)
def test_bodies_sqs_would_refuse_or_over_the_limits_get_a_4xx(
    svc, name, request_bytes, status, field
):
    app, sqs, url = svc
    reply = exchange(app.port, request_bytes)
    assert reply.status == status, reply
    assert json.loads(reply.body)["field"] == field
    assert drain(sqs, url) == []


def _headers(*lines: str) -> bytes:
    return ("\r\n".join(["POST /events HTTP/1.1", "Host: app", *lines]) + "\r\n\r\n").encode()


# Broken framing: (name, bytes, what the client gets). aiohttp's parser answers 400 and closes.
FRAMING: list[tuple[str, bytes, int | None]] = [
    ("header value over 8190 bytes", post("/events", GOOD, "X-Big: " + "a" * 9000), 400),
    ("200 headers", post("/events", GOOD, *[f"X-H{i}: a" for i in range(200)]), 400),
    ("request line over 8190 bytes", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (
        "Content-Length and Transfer-Encoding",
        _headers("Content-Length: 5", "Transfer-Encoding: chunked") + b"0\r\n\r\n",
        400,
    ),
    ("two Content-Lengths", _headers("Content-Length: 2", "Content-Length: 3") + b"{}x", 400),
    ("negative Content-Length", _headers("Content-Length: -1") + GOOD, 400),
    ("Content-Length not a number", _headers("Content-Length: 1e3") + GOOD, 400),
    (
        "Content-Length shorter than the body",
        _headers("Content-Type: application/json", "Content-Length: 10") + GOOD,
        400,
    ),
    ("no Content-Length", _headers("Content-Type: application/json") + GOOD, 400),
    ("NUL in a header", post("/events", GOOD, "X-Bad: a\x00b"), 400),
    ("header without a colon", post("/events", GOOD, "X-Bad"), 400),
    ("bad chunk size", chunked(b"").replace(b"0\r\n\r\n", b"zz\r\nabc\r\n0\r\n\r\n"), 400),
    ("chunk longer than declared", chunked(b"").replace(b"0\r\n", b"2\r\nabcd\r\n0\r\n"), 400),
    # RFC 9112 6.3: chunked not the final coding means the length is unknown: 400 and close.
    (
        "chunked not the last Transfer-Encoding",
        _headers("Content-Type: application/json", "Transfer-Encoding: chunked, gzip") + GOOD,
        400,
    ),
    ("TLS handshake", bytes.fromhex("160301020001" + "0001fc0303" + "00" * 60), None),
    ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", None),
]


@pytest.mark.parametrize(("name", "request_bytes", "status"), FRAMING, ids=[f[0] for f in FRAMING])
def test_broken_framing_gets_a_4xx_or_a_close(svc, name, request_bytes, status):
    app, sqs, url = svc
    reply = exchange(app.port, request_bytes, close_wait=1 if status is None else 0)
    if status is None:
        assert reply.status is None or 400 <= reply.status < 500, reply
        assert reply.closed
    else:
        assert reply.status == status, reply
    assert drain(sqs, url) == []
    assert requests.get(f"{app.url}/healthz", timeout=5).status_code == 200


def _trickle(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


HEADERS_ONLY = b"POST /events HTTP/1.1\r\nHost: app\r\nContent-Type: application/json\r\n"
# Slow clients: (name, parts, pause between parts, deadline, expected status: None = closed).
SLOW: list[tuple[str, list[bytes], float, float, int | None]] = [
    ("connected, nothing sent", [], 0.0, HEADER_TIMEOUT, None),
    ("headers never finished", [HEADERS_ONLY], 0.0, HEADER_TIMEOUT, None),
    ("headers trickled, a byte every 0.2 s", _trickle(HEADERS_ONLY), 0.2, HEADER_TIMEOUT, None),
    (
        "body shorter than its Content-Length",
        [post("/events", GOOD)[:-5]],
        0.0,
        BODY_TIMEOUT,
        408,
    ),
    (
        "body trickled, a byte every 0.2 s",
        [post("/events", GOOD)[: -len(GOOD)], *_trickle(GOOD)],
        0.2,
        BODY_TIMEOUT,
        408,
    ),
    ("chunked body never ended", [chunked(GOOD, end=False)], 0.0, BODY_TIMEOUT, 408),
]


@pytest.mark.parametrize(
    ("name", "parts", "pause", "deadline", "status"), SLOW, ids=[s[0] for s in SLOW]
)
def test_slow_clients_are_cut_off_at_their_deadline(svc, name, parts, pause, deadline, status):
    app, sqs, url = svc
    reply = exchange(app.port, parts or [b""], pause=pause, timeout=deadline + 10)
    assert deadline - 0.1 <= reply.seconds <= deadline + SLACK, reply
    assert reply.status == status, reply
    if status is not None:
        # Answered with Connection: close; aiohttp drains what is left of the body for at
        # most BODY_TIMEOUT (its lingering time), then closes.
        assert reply.headers["connection"] == "close"
        assert json.loads(reply.body)["field"] == "$"
        assert "did not arrive within 1 s" in json.loads(reply.body)["error"]
    assert drain(sqs, url) == []


def test_timeouts_are_logged_at_info_as_client_timeouts_and_counted(svc):
    app, _, _ = svc
    before = requests.get(f"{app.url}/metrics", timeout=5).text
    assert exchange(app.port, [HEADERS_ONLY], timeout=10).status is None
    timed_out = exchange(app.port, [post("/events", GOOD)[:-1]], close_wait=BODY_TIMEOUT + SLACK)
    assert (timed_out.status, timed_out.closed) == (408, True)
    after = requests.get(f"{app.url}/metrics", timeout=5).text
    headers = app.log_line(
        outcome="client_timeout", phase="headers", bytes_received=len(HEADERS_ONLY)
    )
    assert headers["level"] == "INFO"
    body = app.log_line(outcome="client_timeout", status=408)
    assert body["level"] == "INFO"
    assert body["path"] == "/events"
    closed = 'app_http_connections_closed_total{reason="header_timeout"}'
    assert _metric(after, closed) > _metric(before, closed)
    status_408 = 'app_http_requests_total{method="POST",route="/events",status="408"}'
    assert _metric(after, status_408) == _metric(before, status_408) + 1


def _metric(text: str, series: str) -> float:
    match = re.search("^" + re.escape(series) + r" (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_a_client_that_disconnects_mid_body_is_no_server_error(svc):
    app, sqs, url = svc
    before = requests.get(f"{app.url}/metrics", timeout=5).text
    with connect(app.port) as sock:
        sock.sendall(post("/events", GOOD, "X-Request-Id: abort-1")[:-10])
        time.sleep(0.2)
    line = app.log_line(request_id="abort-1")
    assert line["level"] == "INFO"
    assert (line["status"], line["outcome"]) == (499, "client_closed")
    assert "exception" not in line
    after = requests.get(f"{app.url}/metrics", timeout=5).text
    route = 'app_http_requests_total{method="POST",route="/events",status="%s"}'
    assert _metric(after, route % "499") == _metric(before, route % "499") + 1
    assert _metric(after, route % "500") == _metric(before, route % "500")
    assert not [x for x in app.logs() if x["level"] in ("ERROR", "CRITICAL")]
    assert drain(sqs, url) == []


def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout(svc):
    app, sqs, url = svc
    with connect(app.port) as sock:
        sock.sendall(post("/events", GOOD))
        assert read_reply(sock).status == 202
        started = time.monotonic()
        sock.settimeout(KEEPALIVE_TIMEOUT + 10)
        assert sock.recv(1) == b""  # the server closed it
        assert KEEPALIVE_TIMEOUT - 0.5 <= time.monotonic() - started <= KEEPALIVE_TIMEOUT + SLACK
    assert len(drain(sqs, url)) == 1


# Optional context: the app reads X-Request-Id only; the rest must pass through unread.
CONTEXT_HEADERS = [
    "X-Request-Id: has spaces and ; semicolons",
    "X-Request-Id: " + "r" * 5000,
    "X-Request-Id:",
    "X-Request-Id: \xe9\xff\x80",  # not ASCII (sent as raw bytes)
    "traceparent: 00-zz-not-a-trace-id-01",
    "traceparent: " + "0" * 3000,
    "tracestate: ===,,,",
    "X-Amzn-Trace-Id: Root=;Parent=;;;;Sampled=2",
    "X-Forwarded-For: not, an ; ip",
    "baggage: %%%",
]


def test_malformed_optional_context_headers_are_ignored_never_a_4xx(svc):
    app, sqs, url = svc
    for number, header in enumerate(CONTEXT_HEADERS):
        body = event(f'{{"n":{number}}}').replace(b"hostile-1", b"ctx-%d" % number)
        reply = exchange(app.port, post("/events", body, header))
        assert reply.status == 202, (header, reply)
        request_id = reply.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{12}-\d+", request_id), request_id  # a generated one
    assert sorted(json.loads(m["Body"])["id"] for m in drain(sqs, url)) == sorted(
        f"ctx-{n}" for n in range(len(CONTEXT_HEADERS))
    )


def test_the_whole_corpus_at_once_fails_no_other_clients_event(svc):
    """Hostile clients and a legitimate one at the same time: the legitimate client's events
    all get 202 and are in the queue exactly once; nothing else is; the app still serves and
    has logged nothing as an error."""
    app, sqs, url = svc
    hostile: list[tuple[bytes | list[bytes], float]] = [
        *((post("/events", body), 0.0) for _, body, _, _ in CORPUS),
        *((request_bytes, 0.0) for _, request_bytes, _, _ in APP_BODIES),
        *((request_bytes, 0.0) for _, request_bytes, _ in FRAMING),
        *((parts or [b""], pause) for _, parts, pause, _, _ in SLOW),
    ]
    legit_ids = [f"legit-{n}" for n in range(60)]
    stop = threading.Event()

    def legitimate() -> list[int]:
        session = requests.Session()
        statuses = []
        for event_id in legit_ids:
            body = {"id": event_id, "type": "a.b", "data": {"n": event_id}}
            statuses.append(session.post(f"{app.url}/events", json=body, timeout=30).status_code)
        stop.set()
        return statuses

    def attack(item: tuple[bytes | list[bytes], float]) -> Reply:
        return exchange(app.port, item[0], pause=item[1], timeout=15)

    with ThreadPoolExecutor(9) as pool:
        legit = pool.submit(legitimate)
        replies = list(pool.map(attack, hostile))
        assert legit.result() == [202] * len(legit_ids)
    assert all(r.status is None or 400 <= r.status < 500 for r in replies), replies
    assert sorted(json.loads(m["Body"])["id"] for m in drain(sqs, url)) == sorted(legit_ids)
    assert requests.get(f"{app.url}/healthz", timeout=5).status_code == 200
    lines = app.logs()
    assert [x for x in lines if x["level"] not in ("DEBUG", "INFO")] == []
    refused = [x for x in lines if x.get("outcome") == "bad_request"]
    assert refused
    assert all("exception" not in x for x in refused)


@pytest.fixture(scope="module")
def limited(moto: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    yield from serve_app(
        moto,
        tmp_path_factory,
        "limited",
        MAX_CONNECTIONS="16",
        HEADER_TIMEOUT_SECONDS="15",
        BODY_TIMEOUT_SECONDS="10",
        REQUEST_TIMEOUT_SECONDS="5",
        MAX_INFLIGHT_BYTES=str(1024 * 1024),
    )


def test_at_the_connection_limit_the_longest_stalled_connection_makes_way(limited):
    app, _, _ = limited
    stalled = [connect(app.port) for _ in range(16)]
    try:
        time.sleep(0.3)  # all accepted
        started = time.monotonic()
        # kubelet's probe, say: it gets in, in the place of the longest-stalled connection.
        reply = exchange(app.port, b"GET /healthz HTTP/1.1\r\nHost: app\r\n\r\n")
        assert reply.status == 200
        assert time.monotonic() - started < 1
        stalled[0].settimeout(5)
        assert stalled[0].recv(1) == b""
        metrics = requests.get(f"{app.url}/metrics", timeout=5).text
        assert _metric(metrics, 'app_http_connections_closed_total{reason="evicted"}') == 1
    finally:
        for sock in stalled:
            sock.close()


def test_when_every_connection_has_a_request_in_progress_the_next_is_refused_at_once(limited):
    app, sqs, url = limited
    busy = [connect(app.port) for _ in range(16)]
    try:
        for sock in busy:
            sock.sendall(post("/events", GOOD)[:-3])  # in the handler, waiting for its body
        time.sleep(0.5)
        started = time.monotonic()
        reply = exchange(app.port, post("/events", GOOD), close_wait=1)
        assert time.monotonic() - started < 2
        assert reply.status == 503, reply
        assert reply.headers["retry-after"] == "1"
        assert "too many connections" in json.loads(reply.body)["error"]
        assert reply.closed
    finally:
        for sock in busy:
            sock.close()
    time.sleep(0.3)
    assert exchange(app.port, post("/events", GOOD)).status == 202
    metrics = requests.get(f"{app.url}/metrics", timeout=5).text
    assert _metric(metrics, 'app_http_connections_closed_total{reason="refused"}') == 1
    assert len(drain(sqs, url)) == 1
    assert not [x for x in app.logs() if x["level"] in ("ERROR", "CRITICAL")]


def test_a_compressed_body_reserves_the_whole_read_cap_in_the_body_budget(limited):
    """aiohttp inflates a gzip body up to the read cap (2 x 256 KiB) whatever its compressed
    Content-Length, so the budget counts that: two such bodies in progress fill 1 MiB."""
    app, sqs, url = limited
    compressed = post("/events", gzip.compress(GOOD), "Content-Encoding: gzip")
    pending = [connect(app.port) for _ in range(2)]
    try:
        for sock in pending:
            sock.sendall(compressed[:-3])
        time.sleep(0.5)
        small = exchange(app.port, post("/events", GOOD))
        assert small.status == 503, small
        assert "busy" in json.loads(small.body)["error"]
    finally:
        for sock in pending:
            sock.close()
    time.sleep(0.3)
    assert exchange(app.port, compressed).status == 202
    assert exchange(app.port, post("/events", GOOD)).status == 202
    assert len(drain(sqs, url)) == 2


def test_the_open_file_limit_is_raised_to_fit_max_connections(moto, sqs, queue_url, tmp_path):
    # As a container may start it: a soft limit of 512 under a higher hard limit.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert hard >= 2000, "the test needs a hard limit above MAX_CONNECTIONS + 256"
    start = (
        "import resource, runpy; "
        f"resource.setrlimit(resource.RLIMIT_NOFILE, (512, {hard})); "
        "runpy.run_module('app', run_name='__main__')"
    )
    env = app_env(queue_url, moto.endpoint, MAX_CONNECTIONS="1500")
    app = start_app(env, tmp_path / "app.log", args=("-c", start))
    try:
        limits = Path(f"/proc/{app.proc.pid}/limits").read_text()
        [line] = [x for x in limits.splitlines() if x.startswith("Max open files")]
        assert line.split()[3:5] == ["1756", str(hard)]
        assert app.log_line(message="open-file limit raised")["to"] == 1756
    finally:
        app.kill()


def test_the_largest_body_still_fits_the_limits(svc):
    app, sqs, url = svc
    body = event('{"k":"' + "x" * (MAX_MESSAGE_BYTES - 200) + '"}')
    assert exchange(app.port, post("/events", body)).status == 202
    assert exchange(app.port, chunked(body, 1000)).status == 202
    assert len(drain(sqs, url)) == 2
