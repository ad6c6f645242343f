"""Client connections, bounded: how many one process holds, and how long each may stall.

aiohttp bounds header sizes (8190-byte lines and fields, 128 headers: 400 beyond) and idle
kept-alive connections (`keepalive_timeout`), but not the time a client takes to send its
headers, nor how many connections it may hold open: a client that sends half a request and
stalls (slowloris) keeps its connection, and its memory, forever. Behind an NLB nothing in
front of the pod does either (an NLB passes TCP through; it buffers no requests).

`ConnectionGuard` wraps aiohttp's protocol factory (its low-level `Server`) and adds:
- a header deadline: a new connection must complete its request headers within
  `header_timeout`, and a kept-alive one within `header_timeout` of its next request's first
  byte (its idle time before that is aiohttp's `keepalive_timeout`); past it, the connection
  is closed and logged at INFO as a client timeout;
- a connection limit: at `limit` open connections, a new one takes the place of the
  connection that has waited longest without a request in progress (stalled on its headers,
  or idle), so stalled clients cannot starve new ones, kubelet's probes among them; only when
  every connection has a request in progress is the new one refused at once with 503.
The request phase is the app's middleware's to report (`request_started`/`_finished`); the
body deadline is the handler's (app/web.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final, cast

from aiohttp import web
from aiohttp.http import HttpProcessingError

from app import logs
from app.metrics import Metrics

log = logging.getLogger("app.http")

SWEEP_SECONDS: Final = 0.25
# Connections closed per turn of the event loop: clients whose deadlines fall together (they
# connected together) are closed in slices, so requests in progress are not held up.
SWEEP_BATCH: Final = 32
# How long a refused connection may take to read its 503 and close before it is reset.
REFUSED_LINGER_SECONDS: Final = 1.0
_REFUSED_BODY: Final = b'{"error":"too many connections; nothing was read. Retry later."}'
REFUSED_RESPONSE: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_REFUSED_BODY), _REFUSED_BODY)
)

# Connection states; a connection in HEADERS or IDLE may be closed to admit a new one.
HEADERS: Final = "headers"  # from accept, or from the first byte of the next request
REQUEST: Final = "request"  # headers complete: the handler (and its body deadline) has it
IDLE: Final = "idle"  # answered, kept alive, nothing received since


class ConnectionGuard:
    """The protocol factory for `loop.create_server`: aiohttp's, within the bounds above."""

    def __init__(
        self,
        server: Callable[[], asyncio.Protocol],
        *,
        limit: int,
        header_timeout: float,
        metrics: Metrics,
    ) -> None:
        self.factory = server
        self.limit = limit
        self.header_timeout = header_timeout
        self._metrics = metrics
        self.open = 0
        # Insertion-ordered, so the first entry is the one that has waited longest.
        self._headers: dict[GuardedConnection, float] = {}
        self._idle: dict[GuardedConnection, float] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    def protocol(self) -> GuardedConnection:
        return GuardedConnection(self)

    def start(self) -> None:
        self._sweep()

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        cutoff = loop.time() - self.header_timeout
        delay = SWEEP_SECONDS
        for _ in range(SWEEP_BATCH):
            first = next(iter(self._headers.items()), None)
            if first is None or first[1] > cutoff:
                break
            conn = first[0]
            self._drop(conn, "header_timeout")
            conn.close()
            logs.log_fields(
                log,
                logging.INFO,
                "client timeout: request headers incomplete",
                {
                    "outcome": "client_timeout",
                    "phase": "headers",
                    "timeout_seconds": self.header_timeout,
                    "bytes_received": conn.received,
                    "peer": conn.peer(),
                },
            )
        else:
            delay = 0  # more may be due: the next slice after whatever else is ready
        self._sweeper = loop.call_later(delay, self._sweep)

    def admit(self, conn: GuardedConnection, now: float) -> bool:
        if self.open >= self.limit:
            victim = self._longest_waiting()
            if victim is None:
                self._metrics.connections_closed.labels("refused").inc()
                return False
            self._drop(victim, "evicted")
            victim.close()
        self.open += 1
        self._metrics.connections_open.inc()
        self._headers[conn] = now
        return True

    def _longest_waiting(self) -> GuardedConnection | None:
        first_headers = next(iter(self._headers.items()), None)
        first_idle = next(iter(self._idle.items()), None)
        if first_headers is None or (first_idle is not None and first_idle[1] < first_headers[1]):
            return first_idle[0] if first_idle else None
        return first_headers[0]

    def moved(self, conn: GuardedConnection, state: str, now: float) -> None:
        self._headers.pop(conn, None)
        self._idle.pop(conn, None)
        if not conn.counted:  # already closed by the guard; connection_lost is on its way
            return
        if state == HEADERS:
            self._headers[conn] = now
        elif state == IDLE:
            self._idle[conn] = now

    def _drop(self, conn: GuardedConnection, reason: str) -> None:
        self._metrics.connections_closed.labels(reason).inc()
        self.forget(conn)

    def forget(self, conn: GuardedConnection) -> None:
        if conn.counted:
            conn.counted = False
            self.open -= 1
            self._metrics.connections_open.dec()
            self._headers.pop(conn, None)
            self._idle.pop(conn, None)


class GuardedConnection(asyncio.Protocol):
    """One client connection: aiohttp's protocol inside, its state tracked by the guard."""

    __slots__ = (
        "_guard",
        "_inner",
        "_loop",
        "_refused",
        "_transport",
        "counted",
        "received",
        "state",
    )

    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard = guard
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._refused: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self.counted = False
        self.state = HEADERS
        self.received = 0  # bytes, only counted while the headers are awaited

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        if not self._guard.admit(self, self._loop.time()):
            transport.write(REFUSED_RESPONSE)
            # FIN after the answer, so a client that already sent its request reads the 503
            # rather than a reset; what it sends meanwhile is dropped (data_received).
            transport.write_eof()
            self._refused = self._loop.call_later(REFUSED_LINGER_SECONDS, transport.abort)
            return
        self.counted = True
        self._inner = self._guard.factory()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        inner = self._inner
        if inner is None:
            return
        if self.state == IDLE:
            self.state = HEADERS
            self.received = 0
            self._guard.moved(self, HEADERS, self._loop.time())
        if self.state == HEADERS:
            self.received += len(data)
        inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused is not None:
            self._refused.cancel()
        self._guard.forget(self)
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def request_started(self) -> None:
        self.state = REQUEST
        self._guard.moved(self, REQUEST, 0.0)

    def request_finished(self) -> None:
        self.state = IDLE
        self._guard.moved(self, IDLE, self._loop.time())

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def peer(self) -> str:
        peer = self._transport.get_extra_info("peername") if self._transport else None
        return f"{peer[0]}:{peer[1]}" if peer else ""


def connection_of(request: web.BaseRequest) -> GuardedConnection | None:
    """The guarded connection a request arrived on (None when served without a guard)."""
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, GuardedConnection) else None


class ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger (`logger=` of its request handler), with a client's errors
    at INFO: a request its parser refused (framing, header sizes: answered 400 by aiohttp),
    or a body it could not decode. Anything else stays an ERROR with its traceback."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(logging.getLogger("aiohttp.server"), {})
        self._metrics = metrics

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError | web.RequestPayloadError):
            self._metrics.connections_closed.labels("bad_request").inc()
            logs.log_fields(
                log,
                logging.INFO,
                "bad request: the connection is closed",
                {
                    "outcome": "bad_request",
                    "error": " ".join(str(exc_info).split())[:300],
                    "aiohttp": str(msg) % args,
                },
            )
            return
        self.logger.exception(msg, *args, exc_info=exc_info, **kwargs)
