"""Process entry point: settings, the server, and the SIGTERM sequence.

SIGTERM (Kubernetes deleting the pod):
1. /readyz fails at once, so the endpoint controller stops routing new traffic here.
2. For SHUTDOWN_DELAY_SECONDS the app still serves: endpoint removal reaches every node's
   proxy a little after SIGTERM, and requests routed meanwhile must not be refused.
3. It stops listening and waits for every request in progress; each ends with 202 or an error
   by its own deadline (REQUEST_TIMEOUT_SECONDS), never cut off unanswered. Responses sent
   while draining carry `Connection: close`, so clients do not reuse those connections.
4. The batcher flushes (every accepted event is sent or failed).
5. Log lines still queued for CloudWatch Logs (LOG_GROUP) are sent, for at most
   LOG_FLUSH_SECONDS, and the process exits 0.
Settings validation keeps 1-5 within 27 s, inside the pod's 30 s grace period.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import uvloop
from aiohttp import web

from app import logs, logship, sqs
from app.auth import Authenticator
from app.batcher import Batcher
from app.connections import ConnectionGuard, ServerLog
from app.metrics import Metrics
from app.settings import (
    SQS_CONNECT_TIMEOUT_SECONDS,
    SQS_READ_TIMEOUT_SECONDS,
    Settings,
    SettingsError,
)
from app.tracing import TracePolicy
from app.web import Readiness, create_app, create_metrics_app
from contract import MAX_MESSAGE_BYTES

log = logging.getLogger("app")

IDLE_CONNECTIONS_GRACE_SECONDS = 1.0
# Open files besides client connections: SQS connections, the listener, logs, modules.
SPARE_FILES = 256


async def flush_logs_periodically(handler: logs.BufferedHandler) -> None:
    while True:
        await asyncio.sleep(logs.FLUSH_SECONDS)
        handler.flush_now()


class Sender(Protocol):
    """What sends the batches: app.sqs.BatchSender, or a fork's own (bench/boto3_app.py)."""

    async def send(self, entries: list[dict[str, Any]]) -> dict[str, Any]: ...

    async def close(self) -> None: ...


async def serve(
    settings: Settings,
    log_handler: logs.BufferedHandler,
    sender: Sender | None = None,
    metrics: Metrics | None = None,
    trace_policy: TracePolicy | None = None,
) -> None:
    """Serve until SIGTERM. A fork may pass its own sender (bench/boto3_app.py), its own
    Metrics (a subclass with metrics of its own) and its own TracePolicy (else the settings')."""
    loop = asyncio.get_running_loop()
    flusher = loop.create_task(flush_logs_periodically(log_handler))
    session = sqs.make_session(settings)
    client = sqs.make_client(settings, session)
    metrics = Metrics() if metrics is None else metrics
    sink = log_handler.sink
    metrics.registry.register(
        logship.DropCollector(sink if isinstance(sink, logship.CloudWatchShipper) else None)
    )
    if sender is None:
        sender = sqs.BatchSender(
            session, client, settings.queue_url, max_connections=settings.max_concurrent_sends
        )
    batcher = Batcher(
        sender.send,
        metrics,
        max_batch_bytes=MAX_MESSAGE_BYTES,
        max_in_flight=settings.max_concurrent_sends,
        max_wait=settings.batch_max_wait_ms / 1000,
        max_attempts=settings.send_max_attempts,
        timeout=settings.request_timeout_seconds,
        max_pending=settings.max_pending_events,
    )
    batcher.start()
    authenticator = await start_authenticator(settings)
    readiness = Readiness(
        lambda: sqs.probe(client, settings.queue_url),
        authenticator.not_ready if authenticator is not None else None,
    )
    app = create_app(
        batcher,
        metrics,
        readiness,
        settings.max_inflight_bytes,
        settings.body_timeout_seconds,
        trace_policy or TracePolicy.of(settings),
        authenticator,
        serve_metrics=settings.metrics_port is None,
    )
    runner = web.AppRunner(
        app,
        access_log=None,  # the middleware writes the one JSON line per request
        handle_signals=False,
        # By the time aiohttp's own shutdown runs, serve() has already waited for every
        # request in progress; this only bounds closing what is left (idle connections).
        shutdown_timeout=IDLE_CONNECTIONS_GRACE_SECONDS,
        keepalive_timeout=settings.keepalive_timeout_seconds,
        # After an answer sent before the body was read (401, 403, 408, 413, 415, 503), aiohttp
        # reads and drops the rest so the client sees the answer, not a reset: this long.
        lingering_time=settings.body_timeout_seconds,
        logger=ServerLog(metrics),  # a client's malformed request is INFO, not an ERROR
    )
    await runner.setup()
    assert runner.server is not None
    allow_open_files(settings.max_connections + SPARE_FILES)
    guard = ConnectionGuard(
        runner.server,
        limit=settings.max_connections,
        header_timeout=settings.header_timeout_seconds,
        metrics=metrics,
    )
    guard.start()
    # aiohttp's low-level server is the protocol factory (as its TCPSite uses it), inside the
    # guard; the listener is ours to close.
    listener = await loop.create_server(guard.protocol, settings.host, settings.port, backlog=1024)
    metrics_runner = await serve_metrics(settings, metrics)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("listening", extra={"host": settings.host, "port": settings.port})
    await stop.wait()

    readiness.draining = True
    log.info("draining", extra={"delay_seconds": settings.shutdown_delay_seconds})
    await asyncio.sleep(settings.shutdown_delay_seconds)
    listener.close()  # stop listening; the connections stay until runner.cleanup()
    # Every request in progress ends by its own deadlines (202 or an error), so this wait is
    # bounded; the timeout is a backstop only.
    in_flight_budget = (
        settings.body_timeout_seconds
        + settings.request_timeout_seconds
        + SQS_CONNECT_TIMEOUT_SECONDS
        + SQS_READ_TIMEOUT_SECONDS
    )
    if not await readiness.wait_idle(in_flight_budget):
        log.warning("requests still in progress", extra={"count": readiness.in_progress})
    guard.stop()
    await runner.cleanup()  # close the remaining, idle, connections
    if metrics_runner is not None:
        await metrics_runner.cleanup()
    if authenticator is not None:
        await authenticator.close()
    await batcher.close()
    await sender.close()
    log.info(
        "stopped",
        extra={
            "events_enqueued": int(metrics.value("app_events_enqueued_total")),
            "unsettled": batcher.unsettled,
        },
    )
    flusher.cancel()


async def start_authenticator(settings: Settings) -> Authenticator | None:
    """The bearer-token verifier when AUTH_ISSUER and AUTH_AUDIENCE are set, its first key
    fetch started; None without authentication."""
    if settings.auth_issuer is None or settings.auth_audience is None:
        return None
    authenticator = Authenticator(
        settings.auth_issuer,
        settings.auth_audience,
        settings.auth_required_scope,
        refresh_seconds=settings.auth_jwks_refresh_seconds,
    )
    await authenticator.start()
    return authenticator


async def serve_metrics(settings: Settings, metrics: Metrics) -> web.AppRunner | None:
    """/metrics on METRICS_PORT, its own listener, when set (else PORT serves it)."""
    if settings.metrics_port is None:
        return None
    runner = web.AppRunner(create_metrics_app(metrics), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.metrics_port).start()
    log.info("metrics listening", extra={"host": settings.host, "port": settings.metrics_port})
    return runner


def allow_open_files(needed: int) -> None:
    """Raise the soft open-file limit to `needed` where the hard limit allows: containers may
    start with a soft limit of 1024 (containerd 2's unit no longer sets LimitNOFILE, so the
    systemd default 1024:524288 applies), too few for MAX_CONNECTIONS."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        log.info("open-file limit raised", extra={"from": soft, "to": target})
        if target < needed:
            log.warning(
                "open-file limit below MAX_CONNECTIONS: accept() may fail before the limit",
                extra={"limit": target, "needed": needed},
            )


def main(
    run: Callable[[Settings, logs.BufferedHandler], Coroutine[Any, Any, None]] = serve,
) -> None:
    """Settings, logging and the event loop around `run` (`serve`, or a fork's function that
    calls `serve` with its own sender or metrics, as bench/*_app.py do)."""
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"app: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    shipper = (
        logship.CloudWatchShipper(
            settings.log_group, settings.log_stream, logship.make_client(settings.region)
        )
        if settings.log_group is not None
        else None
    )
    log_handler = logs.configure(settings.log_level, shipper)
    try:
        # uvloop's event loop costs less CPU per request than asyncio's; the app is CPU-bound.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run(settings, log_handler))
    finally:
        log_handler.flush_now()
        if shipper is not None:
            shipper.close()  # at most LOG_FLUSH_SECONDS
