"""HTTP routes: POST /events, probes, the OpenAPI document and metrics.

The business logic a fork replaces lives in `post_event`: validate, then `await
publisher.send(...)` (the batcher), then answer. The rest is plumbing to keep as it is.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from app import logs, openapi, tracing
from app.auth import Authenticator, AuthError
from app.batcher import Publisher, SendError
from app.connections import connection_of
from app.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from app.metrics import Metrics
from app.settings import Settings
from contract import (
    MAX_MESSAGE_BYTES,
    PRODUCER,
    EventError,
    NotJsonError,
    parse_event,
    strict_json,
)

log = logging.getLogger("app.http")

RETRY_AFTER_SECONDS: Final = 1
READINESS_CACHE_SECONDS: Final = 1.0
READINESS_TIMEOUT_SECONDS: Final = 3.0
# aiohttp refuses bodies above this before reading them; a compact re-serialisation can be
# smaller than what was posted, so allow some whitespace before the exact size check.
MAX_REQUEST_BYTES: Final = 2 * MAX_MESSAGE_BYTES
# Not an HTTP answer: what the metrics and the log record for a request whose client closed
# the connection before it could be answered (nginx's convention), so it is no 5xx.
CLIENT_CLOSED: Final = 499

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Characters SQS accepts in a message; anything else is refused with InvalidMessageContents.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
_NOT_SQS_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# One encoder for every response: json.dumps() with arguments builds a new one per call.
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False)
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
# Request ids: unique per process start plus a counter, so no random bytes per request.
_PROCESS_ID = uuid.uuid4().hex[:12]
_request_counter = itertools.count(1)


def _next_request_id() -> str:
    return f"{_PROCESS_ID}-{next(_request_counter)}"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Readiness:
    """Answers /readyz: not while draining, else whether the queue answered recently.

    It also counts the HTTP requests in progress, so shutdown can wait for exactly those.
    """

    def __init__(
        self, probe: Callable[[], None], not_ready: Callable[[], str | None] | None = None
    ) -> None:
        self._probe = probe
        # A condition besides the queue (the bearer-token keys): why not ready, or None.
        self._not_ready = not_ready
        self.draining = False
        self.in_progress = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._checked_at = -1e9
        self._ok = False
        self._error = ""
        self._lock = asyncio.Lock()

    def request_started(self) -> None:
        self.in_progress += 1
        self._idle.clear()

    def request_finished(self) -> None:
        self.in_progress -= 1
        if self.in_progress == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in progress; False if `timeout` passed first."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def check(self) -> tuple[bool, str]:
        if self.draining:
            return False, "draining: the service is shutting down"
        why = self._not_ready() if self._not_ready is not None else None
        if why is not None:
            return False, why
        async with self._lock:  # one probe at a time; concurrent callers share its answer
            loop = asyncio.get_running_loop()
            if loop.time() - self._checked_at >= READINESS_CACHE_SECONDS:
                try:
                    async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
                        await loop.run_in_executor(None, self._probe)
                    self._ok, self._error = True, ""
                except Exception as exc:  # any failure means "not ready"
                    self._ok, self._error = False, f"queue unreachable: {type(exc).__name__}"
                self._checked_at = loop.time()
        return self._ok, self._error


class BodyBudget:
    """Bytes of request bodies in progress, bounded: the memory concurrent events take.

    A request reserves its Content-Length (the largest body allowed when it has none) before
    its body is read, and gives it back once answered, so a flood of large events gets 503 +
    Retry-After instead of growing the process until the pod's memory limit kills it. A
    request alone is always admitted, so any body the API allows can get through.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    def reserve(self, size: int) -> bool:
        if self.in_use and self.in_use + size > self.limit:
            return False
        self.in_use += size
        return True

    def release(self, size: int) -> None:
        self.in_use -= size


PUBLISHER: Final = web.AppKey("publisher", Publisher)
BODY_BUDGET: Final = web.AppKey("body_budget", BodyBudget)
BODY_TIMEOUT: Final = web.AppKey("body_timeout", float)
METRICS: Final = web.AppKey("metrics", Metrics)
READINESS: Final = web.AppKey("readiness", Readiness)
TRACE_POLICY: Final = web.AppKey("trace_policy", tracing.TracePolicy)
AUTHENTICATOR: Final = web.AppKey("authenticator", Authenticator)
OPENAPI: Final = web.AppKey("openapi", dict[str, Any])

# What a request's log line says beyond method, path, status and duration, set while it is
# handled; typed keys, as aiohttp advises for a request's own storage.
EVENT_ID_FIELD: Final = web.RequestKey("event_id", str)
TRACE_ID_FIELD: Final = web.RequestKey("trace_id", str)
PRODUCER_FIELD: Final = web.RequestKey("producer", str)
OUTCOME_FIELD: Final = web.RequestKey("outcome", str)
UNSENT_STATUS_FIELD: Final = web.RequestKey("unsent_status", int)
ERROR_FIELD: Final = web.RequestKey("error", str)
_LOGGED_FIELDS: Final = (
    ("event_id", EVENT_ID_FIELD),
    ("trace_id", TRACE_ID_FIELD),
    ("producer", PRODUCER_FIELD),
    ("outcome", OUTCOME_FIELD),
    ("unsent_status", UNSENT_STATUS_FIELD),
    ("error", ERROR_FIELD),
)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=_ENCODER.encode(body).encode(),
        content_type="application/json",
        headers=headers,
    )


def _error(
    status: int, message: str, field: str | None = None, event_id: str | None = None
) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    if event_id is not None:
        body["id"] = event_id
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    return _json(status, body, headers)


def _bad_text_field(value: Any) -> str | None:
    # Only called once the serialised body is known to hold such a character.
    """The dotted path of the first key or string SQS would refuse, or None."""
    return strict_json.find_path(
        value,
        lambda v: isinstance(v, str) and _NOT_SQS_TEXT.search(v) is not None,
        lambda key: _NOT_SQS_TEXT.search(key) is not None,
    )


async def post_event(request: web.Request) -> web.Response:
    producer: str | None = None
    authenticator = request.app.get(AUTHENTICATOR)
    if authenticator is not None:
        try:
            principal = await authenticator.authenticate(
                request.headers.getall("Authorization", [])
            )
        except AuthError as exc:
            return _refused(request, exc)
        producer = request[PRODUCER_FIELD] = principal.sub
    if request.content_type != "application/json":
        return _error(
            415,
            f"Content-Type must be application/json, got {request.content_type or 'none'!r}",
            field="Content-Type",
        )
    budget = request.app[BODY_BUDGET]
    reserved = min(request.content_length or MAX_REQUEST_BYTES, MAX_REQUEST_BYTES)
    if request.headers.get("Content-Encoding"):
        # aiohttp decompresses up to the read cap whatever the compressed length says.
        reserved = MAX_REQUEST_BYTES
    if not budget.reserve(reserved):
        request[ERROR_FIELD] = f"{budget.in_use} bytes of request bodies in progress"
        request.app[METRICS].failed.labels("busy").inc()
        response = _error(503, "the service is busy; nothing was enqueued. Retry later.")
        # The body was not read: closing the connection drops it, where keeping the
        # connection alive would make the server read it all to reach the next request.
        response.force_close()
        return response
    try:
        return await _accept_event(request, producer)
    finally:
        budget.release(reserved)


def _refused(request: web.Request, exc: AuthError) -> web.Response:
    """401/403 with RFC 6750's challenge, before the body is read: nothing is enqueued."""
    request[ERROR_FIELD] = exc.description
    field = "Authorization" if exc.status == 401 else "scope"
    return _json(
        exc.status,
        {"error": exc.description, "field": field},
        {"WWW-Authenticate": exc.challenge()},
    )


async def _accept_event(request: web.Request, producer: str | None) -> web.Response:
    trace = tracing.request_trace(request.headers, request.app[TRACE_POLICY])
    if trace is not None:
        request[TRACE_ID_FIELD] = trace.xray_trace_id
    try:
        raw = await _read_body(request)
    except web.HTTPRequestEntityTooLarge:
        return _error(413, f"body is over {MAX_REQUEST_BYTES} bytes", field="$")
    except TimeoutError:
        timeout = request.app[BODY_TIMEOUT]
        request[OUTCOME_FIELD] = "client_timeout"
        request[ERROR_FIELD] = f"body incomplete after {timeout:g} s"
        response = _error(408, f"the body did not arrive within {timeout:g} s", field="$")
        response.force_close()  # the rest of the body would be read as the next request
        return response
    except web.RequestPayloadError as exc:  # chunked framing or Content-Encoding broken
        response = _error(400, f"the body could not be read ({exc.__cause__ or exc})", field="$")
        response.force_close()
        return response
    try:
        event = parse_event(raw)
    except NotJsonError as exc:
        return _error(400, exc.message, field=exc.field)
    except EventError as exc:
        return _error(422, exc.message, field=exc.field)
    request[EVENT_ID_FIELD] = event.id
    message = event.to_message({PRODUCER: producer}, trace=trace)
    if _NOT_SQS_TEXT.search(message.body):
        return _error(
            422,
            "contains characters SQS does not accept (allowed: tab, CR, LF, U+0020-U+D7FF, "
            "U+E000-U+FFFD, U+10000-U+10FFFF; no unpaired surrogates)",
            field=_bad_text_field(json.loads(message.body)) or "$",
            event_id=event.id,
        )
    if message.size > MAX_MESSAGE_BYTES:
        return _error(
            413,
            f"the enqueued event would be {message.size} bytes; SQS allows at most "
            f"{MAX_MESSAGE_BYTES}",
            field="$",
            event_id=event.id,
        )
    try:
        await request.app[PUBLISHER].send(message)
    except SendError as exc:
        request[ERROR_FIELD] = exc.message  # the details go to the log, not to the client
        return _error(exc.status, exc.public, event_id=event.id)
    accepted = {"id": event.id}
    if trace is not None:
        accepted["trace_id"] = trace.xray_trace_id
    return _json(202, accepted)


async def _read_body(request: web.Request) -> bytes:
    """The whole body, within the body deadline (a body that came with its headers, the
    usual case, needs no timer)."""
    if request.content.is_eof():
        return await request.read()
    async with asyncio.timeout(request.app[BODY_TIMEOUT]):
        return await request.read()


async def healthz(_: web.Request) -> web.Response:
    return _json(200, {"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ok, why = await request.app[READINESS].check()
    return _json(200, {"status": "ready"}) if ok else _json(503, {"status": why})


async def openapi_json(request: web.Request) -> web.Response:
    return _json(200, request.app[OPENAPI])


async def metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[METRICS].render(),
        headers={"Content-Type": METRICS_CONTENT_TYPE},
    )


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, one JSON log line, the request counter; JSON for every error."""
    started = time.perf_counter()
    given = request.headers.get("X-Request-Id", "")
    request_id = given if _REQUEST_ID.match(given) else _next_request_id()
    readiness = request.app[READINESS]
    readiness.request_started()
    connection = connection_of(request)
    if connection is not None:
        connection.request_started()  # headers complete: off the header deadline
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = _error(exc.status, exc.reason)
    except ConnectionError:
        if not _client_gone(request):
            log.exception("unhandled error", extra={"request_id": request_id})
        response = _error(500, "internal error")
    except Exception:
        log.exception("unhandled error", extra={"request_id": request_id})
        response = _error(500, "internal error")
    finally:
        readiness.request_finished()
        if connection is not None:
            connection.request_finished()
    response.headers["X-Request-Id"] = request_id
    if readiness.draining:
        # Clients must not reuse this connection: the listener closes after the drain delay,
        # and a request sent on a kept-alive connection at that moment would go unanswered.
        response.force_close()
    status = response.status
    if _client_gone(request):
        # A client's network trouble or impatience, not the app's failure: no 5xx anywhere.
        request[OUTCOME_FIELD] = "client_closed"
        request[UNSENT_STATUS_FIELD] = status
        status = CLIENT_CLOSED
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "other"
    app_metrics = request.app[METRICS]
    app_metrics.requests.labels(request.method, route, str(status)).inc()
    if route in _QUIET_ROUTES and status < 400:
        return response  # kubelet probes and scrapes would drown the log
    fields: dict[str, Any] = {
        "request_id": request_id,
        "method": request.method,
        "path": request.path,
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    for name, key in _LOGGED_FIELDS:
        if key in request:
            fields[name] = request[key]
    logs.log_fields(log, logging.WARNING if status >= 500 else logging.INFO, "request", fields)
    return response


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def create_app(
    publisher: Publisher,
    metrics_: Metrics,
    readiness: Readiness,
    max_inflight_bytes: int = Settings.max_inflight_bytes,
    body_timeout: float = Settings.body_timeout_seconds,
    trace_policy: tracing.TracePolicy | None = None,
    authenticator: Authenticator | None = None,
    *,
    serve_metrics: bool = True,
) -> web.Application:
    """The app's routes; with an authenticator POST /events needs a bearer token, and without
    `serve_metrics` /metrics is left to create_metrics_app's listener."""
    app = web.Application(middlewares=[observe], client_max_size=MAX_REQUEST_BYTES)
    if authenticator is not None:
        app[AUTHENTICATOR] = authenticator
    app[PUBLISHER] = publisher
    app[BODY_BUDGET] = BodyBudget(max_inflight_bytes)
    app[BODY_TIMEOUT] = body_timeout
    app[METRICS] = metrics_
    app[READINESS] = readiness
    app[TRACE_POLICY] = trace_policy or tracing.DEFAULT_POLICY
    app[OPENAPI] = openapi.document(bearer=authenticator is not None, metrics=serve_metrics)
    app.router.add_post("/events", post_event)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi_json)
    if serve_metrics:
        app.router.add_get("/metrics", metrics)
    return app


def create_metrics_app(metrics_: Metrics) -> web.Application:
    """/metrics alone, for its own listener (METRICS_PORT)."""
    app = web.Application()
    app[METRICS] = metrics_
    app.router.add_get("/metrics", metrics)
    return app
