"""HTTP/1.1 over a raw socket, for requests no HTTP client library would send."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Reply:
    """What came back: `status` None when the server closed without answering."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0
    closed: bool = False  # the server closed the connection after (or instead of) answering


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def post(path: str, body: bytes, *headers: str, content_type: str = "application/json") -> bytes:
    """A well-framed POST with Content-Length."""
    lines = [f"POST {path} HTTP/1.1", "Host: app", f"Content-Type: {content_type}", *headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(
    port: int,
    parts: bytes | Iterable[bytes],
    *,
    pause: float = 0.0,
    timeout: float = 10.0,
    close_wait: float = 0.0,
) -> Reply:
    """Send `parts` (with `pause` seconds between them) on a new connection and read one reply,
    then wait up to `close_wait` seconds for the server to close the connection.

    Raises AssertionError when there is neither an answer nor a close within `timeout`."""
    started = time.monotonic()
    with connect(port, timeout) as sock:
        for index, part in enumerate([parts] if isinstance(parts, bytes) else parts):
            if index and pause:
                time.sleep(pause)
            try:
                sock.sendall(part)
            except OSError:  # the server answered and closed before reading it all
                break
        reply = read_reply(sock, timeout, close_wait)
    reply.seconds = time.monotonic() - started
    return reply


def read_reply(sock: socket.socket, timeout: float = 10.0, close_wait: float = 0.0) -> Reply:
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return Reply(None, closed=True)
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        closed = close_wait > 0 and closed_soon(sock, close_wait)
        return Reply(int(status_line.split()[1]), headers, body, closed=closed)
    except (ConnectionResetError, BrokenPipeError):
        return Reply(None, closed=True)
    except TimeoutError:
        raise AssertionError(f"no answer and no close within {timeout} s; got {data!r}") from None


def closed_soon(sock: socket.socket, within: float) -> bool:
    """Whether the server closes the connection within `within` seconds (nothing more sent)."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
