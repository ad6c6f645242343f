"""The whole data path on 127.0.0.1: SQS + DynamoDB (moto), the app, the event source and
the handler under awslambdaric, configured from the stack's own config files.

    settings = LocalSettings.from_stack("dev")      # the model's defaults + Pulumi.dev.yaml
    with LoopbackStack(settings, workdir).start() as stack:
        requests.post(f"{stack.app_url}/events", json={...})

What runs, and who owns it:
- the SQS-compatible server: moto in this process by default (faithful, and `stop()`/
  `start()` keep its queues, so a test can take SQS away and bring it back), or fauxqs
  (`sqs_backend="fauxqs"`, a Node process ~60x faster: moto's calls are O(queue depth));
- DynamoDB for the idempotency table, in its own process (its own core; the handler makes two
  calls per record), on another port, so stopping SQS leaves it up: moto by default, or
  dynalite (`dynamodb_backend="dynalite"`, a Node process ~3x faster per call, see
  local/dynalite.py for what differs);
- the queue and its DLQ with the visibility timeout, redrive (maxReceiveCount), retention
  and long polling the Function component gives AWS; the idempotency table as it creates it;
- `python -m app` in its own session (a terminal's Ctrl-C reaches only the owner, which
  stops everything in order);
- `max_concurrency` event-source pollers, each with its own execution environment (a
  `RuntimeApiInvoker`: awslambdaric in its own process), as Lambda's SQS event source
  scales up to the mapping's maximum concurrency.
`close()` stops all of it and waits for every process it started.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import requests

from components import limits
from components.config import StackConfig, stack_config_from_files
from components.function import HANDLER, SERVICE_NAME, function_environment
from local.dynalite import DynaliteServer
from local.fauxqs import FauxqsServer
from local.idempotency import create_idempotency_table
from local.poller import SqsPoller
from local.runtime_api import RuntimeApiInvoker
from local.servers import (
    LOCAL_ENV,
    MotoServer,
    Queues,
    create_queues,
    free_port,
    local_client,
    stop_process_group,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
# The queue keeps the stack's long polling (ReceiveMessageWaitTimeSeconds = 20 s). Each local
# poller asks for at most this per receive so that stopping takes at most this long; an idle
# poller merely asks more often.
POLLER_MAX_WAIT_SECONDS = 1
APP_START_TIMEOUT_SECONDS = 20.0
# Keys the local stack does not use but the stack config requires (there is no cluster here).
LOCAL_ONLY_OVERRIDES = {"clusterPublicAccessCidrs": "[]"}


@dataclass(frozen=True, kw_only=True)
class LocalSettings:
    """The queue and event source settings of a stack, as the local stand-ins need them."""

    stack: str
    visibility_timeout_seconds: int
    max_receive_count: int
    receive_wait_time_seconds: int
    queue_retention_seconds: int
    batch_size: int
    batching_window_seconds: int
    function_timeout_seconds: int
    function_memory_mb: int
    max_concurrency: int

    @classmethod
    def from_stack_config(cls, config: StackConfig) -> LocalSettings:
        function = config.function
        return cls(
            stack=config.stack,
            visibility_timeout_seconds=function.visibility_timeout_seconds,
            max_receive_count=function.max_receive_count,
            receive_wait_time_seconds=limits.LONG_POLL_SECONDS,
            queue_retention_seconds=function.queue_retention_seconds,
            batch_size=function.batch_size,
            batching_window_seconds=function.batching_window_seconds,
            function_timeout_seconds=function.timeout_seconds,
            function_memory_mb=function.memory_mb,
            max_concurrency=function.max_concurrency,
        )

    @classmethod
    def from_stack(cls, stack: str = "dev", root: Path = REPO_ROOT) -> LocalSettings:
        """From the config model's defaults and Pulumi.<stack>.yaml, validated as `pulumi up`
        does."""
        return cls.from_stack_config(stack_config_from_files(stack, root, LOCAL_ONLY_OVERRIDES))

    def replace(self, **changes: Any) -> LocalSettings:
        return dataclasses.replace(self, **changes)


class JsonLog:
    """The JSON objects in a log that several processes append to, read incrementally (a
    test polls it while it grows to megabytes: each call parses only the new lines).

    Each logging call writes its line at once, but `print` (Powertools' EMF) writes the object
    and its newline separately, so another process's line can land between them: `{emf}{record}`
    on one line, then an empty one. Those are split apart here. Anything not JSON (a
    traceback, a line cut by a killed process) is skipped; a last line without its newline
    yet is left for the next call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._records: list[dict[str, Any]] = []
        self._decoder = json.JSONDecoder()

    def records(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return list(self._records)
        complete = chunk.rfind(b"\n") + 1
        self._offset += complete
        for line in chunk[:complete].decode(errors="replace").splitlines():
            self._records.extend(self._objects(line))
        return list(self._records)

    def _objects(self, line: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        position = 0
        while line.startswith("{", position):
            try:
                obj, position = self._decoder.raw_decode(line, position)
            except ValueError:
                break
            if isinstance(obj, dict):
                found.append(obj)
        return found


def _clean_env() -> dict[str, str]:
    # Nothing of the caller's AWS set-up (profiles, real endpoints) may leak into a local run.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(LOCAL_ENV)
    return env


class MotoProcess:
    """`python -m moto.server` on 127.0.0.1 in its own process (and session)."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> MotoProcess:
        return self.launch().wait_ready(timeout)

    def launch(self) -> MotoProcess:
        """Start the process without waiting for it (importing moto takes ~1 s: the caller
        can start other things meanwhile); `wait_ready()` then waits."""
        with self._log_path.open("ab") as log:
            # A fixed argv, no shell.
            self.proc = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                env=_clean_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = 20.0) -> MotoProcess:
        if self.proc is None:
            raise RuntimeError("moto is not launched")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto exited with {self.proc.returncode}: {self._log_path}")
            try:
                requests.get(f"{self.endpoint}/moto-api/", timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto did not answer within {timeout:.0f} s")

    def client(self, service: str) -> Any:
        return local_client(service, self.endpoint)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc)
            self.proc = None


class AppProcess:
    """`python -m app` on 127.0.0.1, its JSON logs appended to `log_path`.

    `args` runs another entry point the same way (the benchmark's variants of the app)."""

    def __init__(
        self, env: dict[str, str], log_path: Path, args: tuple[str, ...] = ("-m", "app")
    ) -> None:
        self.port = int(env["PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("ab")
        # This interpreter and the caller's argv (an entry point of this repository), no shell.
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_healthy(self, timeout: float = APP_START_TIMEOUT_SECONDS) -> AppProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the app exited with {self.proc.returncode}; its log: {self.log_path}"
                )
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the app did not answer /healthz within {timeout:.0f} s")

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, as Kubernetes stops a pod; SIGKILL after `timeout`. The exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.returncode
        finally:
            self._log.close()

    def wait(self, timeout: float = 30.0) -> int:
        """The exit code, once the process has exited by itself (or after a signal sent)."""
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._log.close()


class LoopbackStack:
    """Everything between an HTTP client and the handler's side effect, on 127.0.0.1."""

    def __init__(
        self,
        settings: LocalSettings,
        workdir: Path,
        *,
        handler: str = HANDLER,
        function_env: dict[str, str] | None = None,
        app_env: dict[str, str] | None = None,
        sqs_backend: Literal["moto", "fauxqs"] = "moto",
        dynamodb_backend: Literal["moto", "dynalite"] = "moto",
        name: str | None = None,
        app_port: int | None = None,
    ) -> None:
        self.settings = settings
        self.workdir = workdir
        self.handler = handler
        self.name = name or f"ecr-eks-lambda-{settings.stack}-{uuid.uuid4().hex[:8]}"
        self.handler_log_path = workdir / "handler.log"
        self._handler_records = JsonLog(self.handler_log_path)
        self.app_log_path = workdir / "app.log"
        self._function_env = function_env or {}
        self._app_env = app_env or {}
        self.sqs_backend = sqs_backend
        self.sqs_server: MotoServer | None = None
        self.fauxqs: FauxqsServer | None = None
        self.dynamodb_backend = dynamodb_backend
        self.dynamodb_server: MotoProcess | DynaliteServer = (
            DynaliteServer()
            if dynamodb_backend == "dynalite"
            else MotoProcess(workdir / "dynamodb.log")
        )
        self.sqs_endpoint = ""
        self._queues: Queues | None = None
        self.table_name = f"{self.name}-idempotency"
        self.app: AppProcess | None = None
        self.app_port = app_port or free_port()
        self.pollers: list[SqsPoller] = []
        self.invokers: list[RuntimeApiInvoker] = []
        self._handler_log: IO[bytes] | None = None

    # -- start / stop -------------------------------------------------------------------

    def start(self) -> LoopbackStack:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # The servers and the app each take up to a second to start (mostly imports): each
        # is launched as soon as what it needs exists, and waited for only when used.
        dynamodb = self.dynamodb_server
        if isinstance(dynamodb, MotoProcess):
            dynamodb.launch()
        else:
            dynamodb.start()
        if self.sqs_backend == "fauxqs":
            self.fauxqs = FauxqsServer().start()
            self.sqs_endpoint = self.fauxqs.endpoint
        else:
            # werkzeug logs every request of moto's in-process server at INFO.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            self.sqs_server = MotoServer().start()
            self.sqs_endpoint = self.sqs_server.endpoint
        s = self.settings
        self._queues = create_queues(
            self.sqs(),
            f"{self.name}-events",
            visibility_timeout_seconds=s.visibility_timeout_seconds,
            max_receive_count=s.max_receive_count,
            receive_wait_time_seconds=s.receive_wait_time_seconds,
            message_retention_seconds=s.queue_retention_seconds,
        )
        app = self._launch_app()
        if isinstance(dynamodb, MotoProcess):
            dynamodb.wait_ready()
        create_idempotency_table(
            self.dynamodb(), self.table_name, time_to_live=self.dynamodb_backend == "moto"
        )
        app.wait_healthy()
        self.start_event_source()

    def start_app(self) -> AppProcess:
        """Start (or restart, on the same port) `python -m app` and wait until it is healthy."""
        return self._launch_app().wait_healthy()

    def _launch_app(self) -> AppProcess:
        env = _clean_env()
        env.update(
            QUEUE_URL=self.queues.url,
            AWS_ENDPOINT_URL_SQS=self.sqs_endpoint,
            HOST="127.0.0.1",
            PORT=str(self.app_port),
            # No load balancer or kube-proxy to drain from locally: stop at once.
            SHUTDOWN_DELAY_SECONDS="0",
        )
        env.update(self._app_env)
        self.app = AppProcess(env, self.app_log_path)
        return self.app

    def function_env(self) -> dict[str, str]:
        env = {
            **LOCAL_ENV,
            **function_environment(self.table_name, SERVICE_NAME),
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_server.endpoint,
            # Lines reach the log as they are written, not when a buffer fills.
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self._function_env)
        return env

    def start_event_source(self) -> None:
        """`max_concurrency` pollers, each invoking its own execution environment."""
        s = self.settings
        self._handler_log = self.handler_log_path.open("ab", buffering=0)
        for _ in range(s.max_concurrency):
            invoker = RuntimeApiInvoker(
                self.handler,
                env=self.function_env(),
                function_name=f"{self.name}-consumer",
                memory_mb=s.function_memory_mb,
                region=LOCAL_ENV["AWS_REGION"],
                stdout=self._handler_log,
            )
            poller = SqsPoller(
                self.sqs(),
                self.queues.url,
                invoker,
                batch_size=s.batch_size,
                max_batching_window_seconds=s.batching_window_seconds,
                wait_time_seconds=min(s.receive_wait_time_seconds, POLLER_MAX_WAIT_SECONDS),
                function_timeout_seconds=s.function_timeout_seconds,
                report_batch_item_failures=True,
            )
            self.invokers.append(invoker)
            self.pollers.append(poller)
            poller.start()

    def stop_event_source(self) -> None:
        for poller in self.pollers:
            poller.request_stop()  # all at once: each then finishes its receive and batch
        for poller in self.pollers:
            poller.stop()
        # Only once no poller can invoke again: closing kills the function processes.
        for invoker in self.invokers:
            invoker.close()
        self.pollers.clear()
        self.invokers.clear()
        if self._handler_log is not None:
            self._handler_log.close()
            self._handler_log = None

    def close(self) -> None:
        """Stop everything started: the producer and the consumers together (the app drains
        its accepted events into the queue while the pollers finish their batch), then the
        servers. Safe to call twice; every process started is waited for."""
        app = self.app
        try:
            if app is not None and app.proc.poll() is None:
                app.proc.send_signal(signal.SIGTERM)
            for poller in self.pollers:
                poller.request_stop()
            if app is not None:
                app.terminate()
        finally:
            try:
                self.stop_event_source()
            finally:
                if self.sqs_server is not None:
                    self.sqs_server.stop()
                    self.sqs_server = None
                if self.fauxqs is not None:
                    self.fauxqs.stop()
                self.dynamodb_server.stop()

    def __enter__(self) -> LoopbackStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- clients and introspection ----------------------------------------------------------

    @property
    def queues(self) -> Queues:
        if self._queues is None:
            raise RuntimeError("the local stack is not started")
        return self._queues

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    def sqs(self) -> Any:
        from botocore.config import Config

        return local_client(
            "sqs",
            self.sqs_endpoint,
            Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=25),
        )

    def dynamodb(self) -> Any:
        return self.dynamodb_server.client("dynamodb")

    def handler_records(self) -> list[dict[str, Any]]:
        """The function processes' JSON log records and EMF blobs so far, in file order."""
        return self._handler_records.records()

    def child_pids(self) -> list[int]:
        """The processes this stack started that still run: the app, the DynamoDB server,
        fauxqs, the function processes."""
        procs: list[subprocess.Popen[Any] | None] = [
            self.app.proc if self.app is not None else None,
            self.dynamodb_server.proc,
            self.fauxqs.proc if self.fauxqs is not None else None,
        ]
        for invoker in self.invokers:
            environment = invoker._environment
            if environment is not None:
                procs.append(environment.process)
        return [p.pid for p in procs if p is not None and p.poll() is None]
