"""Run a handler as Lambda runs it: in its own process, under the real runtime interface
client (`python -m awslambdaric module.function`), behind a small local Lambda Runtime API.

`RuntimeApiInvoker` is an `Invoker` for `local.poller.SqsPoller`. Each execution environment
is one function process plus its own Runtime API server on 127.0.0.1:
- the process is started on the first invocation (a cold start) and reused while it lives;
- a timeout kills the process (as Lambda does), a crash or an init error ends it; either
  way the invocation fails and the next one is a cold start in a new environment.

The Runtime API endpoints implemented are the ones a runtime needs (API version 2018-06-01):
GET /runtime/invocation/next, POST /runtime/invocation/{id}/response,
POST /runtime/invocation/{id}/error, POST /runtime/init/error.
https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, cast

from local.poller import Invocation

PREFIX = "/2018-06-01/runtime"
# Lambda's limit on the init phase of an on-demand function.
INIT_TIMEOUT_SECONDS = 10.0
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class _Pending:
    request_id: str
    event: bytes
    timeout_seconds: float
    function_arn: str
    fetched: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    deadline: float = 0.0  # monotonic, set when the runtime fetches the invocation
    ok: bool = False
    body: bytes = b""


class _Api(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.invocations: queue.Queue[_Pending | None] = queue.Queue()
        self.in_flight: dict[str, _Pending] = {}
        self.init_error: bytes | None = None
        self.closed = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A killed function process resets its connections: expected, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the runtime client expects
    # Nagle's algorithm with delayed ACKs adds ~40 ms per exchange on loopback.
    disable_nagle_algorithm = True

    @property
    def api(self) -> _Api:
        return cast(_Api, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: HTTPStatus, body: bytes = b"", headers: dict[str, str] | None = None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        if self.path != f"{PREFIX}/invocation/next":
            self._reply(HTTPStatus.NOT_FOUND)
            return
        pending = self.api.invocations.get()
        if pending is None:  # environment shutting down
            self.close_connection = True
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR)
            return
        self.api.in_flight[pending.request_id] = pending
        deadline_epoch_ms = int((time.time() + pending.timeout_seconds) * 1000)
        pending.deadline = time.monotonic() + pending.timeout_seconds
        pending.fetched.set()
        self._reply(
            HTTPStatus.OK,
            pending.event,
            {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": pending.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline_epoch_ms),
                "Lambda-Runtime-Invoked-Function-Arn": pending.function_arn,
                "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}",
            },
        )

    def do_POST(self) -> None:
        body = self._body()
        if self.path == f"{PREFIX}/init/error":
            self.api.init_error = body
            self._reply(HTTPStatus.ACCEPTED, b'{"status":"OK"}')
            return
        parts = self.path.removeprefix(f"{PREFIX}/invocation/").split("/")
        pending = self.api.in_flight.pop(parts[0], None) if len(parts) == 2 else None
        if pending is None or parts[1] not in ("response", "error"):
            self._reply(HTTPStatus.BAD_REQUEST, b'{"errorMessage":"unknown request id"}')
            return
        pending.ok = parts[1] == "response"
        pending.body = body
        pending.done.set()
        self._reply(HTTPStatus.ACCEPTED, b'{"status":"OK"}')


class _Environment:
    """One execution environment: a Runtime API server and the function process using it."""

    def __init__(self, handler: str, env: dict[str, str], stdout: IO[Any] | int | None) -> None:
        self.api = _Api()
        self._server_thread = threading.Thread(
            target=self.api.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._server_thread.start()
        child_env = {
            **os.environ,
            **env,
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": str(REPO_ROOT),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        # A fixed argv (no shell); `handler` is a module path chosen by the caller.
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "awslambdaric", handler],
            cwd=REPO_ROOT,
            env=child_env,
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout is not None else None,
            # Its own session: a terminal's Ctrl-C reaches the runner, which closes the
            # environment in order, not the function in the middle of a batch.
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()
        self.api.invocations.put(None)
        self.api.shutdown()
        self.api.server_close()


class RuntimeApiInvoker:
    """Invoke `handler` (e.g. "handlers.consumer.handler") in its own awslambdaric process.

    `env` is the function's environment (added to this process's). `stdout` receives the
    function's stdout and stderr (its logs and EMF metrics); None inherits ours.
    """

    def __init__(
        self,
        handler: str,
        *,
        env: dict[str, str] | None = None,
        function_name: str = "local-consumer",
        memory_mb: int = 256,
        region: str = "us-east-1",
        stdout: IO[Any] | int | None = None,
    ) -> None:
        self.handler = handler
        self.function_name = function_name
        self.function_arn = f"arn:aws:lambda:{region}:123456789012:function:{function_name}"
        self.env = {
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "local",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            **(env or {}),
        }
        self.stdout = stdout
        self.cold_starts = 0
        self._environment: _Environment | None = None
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], timeout_seconds: float) -> Invocation:
        with self._lock:  # one invocation at a time per execution environment
            return self._invoke(event, timeout_seconds)

    def _invoke(self, event: dict[str, Any], timeout_seconds: float) -> Invocation:
        environment = self._environment
        if environment is None or not environment.alive():
            if environment is not None:
                environment.close()
            environment = self._environment = _Environment(self.handler, self.env, self.stdout)
            self.cold_starts += 1
        pending = _Pending(
            request_id=str(uuid.uuid4()),
            event=json.dumps(event).encode(),
            timeout_seconds=timeout_seconds,
            function_arn=self.function_arn,
        )
        environment.api.invocations.put(pending)

        init_deadline = time.monotonic() + INIT_TIMEOUT_SECONDS
        while not pending.fetched.wait(0.01):
            if environment.api.init_error is not None or not environment.alive():
                return self._fail(_init_error_message(environment))
            if time.monotonic() > init_deadline:
                return self._fail(f"init did not finish within {INIT_TIMEOUT_SECONDS:.0f} s")
        while not pending.done.wait(0.005):
            if not environment.alive():
                code = environment.process.returncode
                return self._fail(f"Runtime exited with error: exit status {code}")
            if time.monotonic() > pending.deadline:
                return self._fail(f"Task timed out after {timeout_seconds:.2f} seconds")
        if not pending.ok:
            return Invocation(ok=False, error=pending.body.decode(errors="replace"))
        try:
            return Invocation(ok=True, response=json.loads(pending.body) if pending.body else None)
        except ValueError:
            return Invocation(ok=False, error="Runtime.InvalidResponse: response is not JSON")

    def _fail(self, error: str) -> Invocation:
        # Lambda discards the environment after a timeout or crash: the next call is cold.
        if self._environment is not None:
            self._environment.close()
            self._environment = None
        return Invocation(ok=False, error=error)

    def close(self) -> None:
        with self._lock:
            if self._environment is not None:
                self._environment.close()
                self._environment = None


def _init_error_message(environment: _Environment) -> str:
    if environment.api.init_error:
        return "Runtime.InitError: " + environment.api.init_error.decode(errors="replace")
    return f"Runtime exited during init: exit status {environment.process.poll()}"
