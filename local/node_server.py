"""A server from npm (`local/npm`, installed by `scripts/need-e2e`) in its own process group,
started through a small loopback wrapper that binds it to 127.0.0.1 on a port the OS picks and
prints `{"address": ..., "port": ...}` once it listens."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Self

from local.servers import local_client, stop_process_group

REPO_ROOT = Path(__file__).resolve().parent.parent
NPM_DIR = REPO_ROOT / "local" / "npm"
NODE = NPM_DIR / "node_modules" / ".bin" / "node"


class NodeServer:
    """Subclasses name the server, its entry point and its loopback wrapper."""

    name = ""
    entry_point: Path = NODE
    loopback: Path = NODE

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.endpoint = ""

    def start(self, timeout: float = 20.0) -> Self:
        if not (NODE.exists() and self.entry_point.exists()):
            raise RuntimeError(f"{self.name} is not installed: run scripts/need-e2e")
        # A fixed argv, no shell; port 0: the OS picks a free one, printed on stdout.
        self.proc = subprocess.Popen(  # noqa: S603
            [str(NODE), str(self.loopback), str(self.entry_point), "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait(timeout)
            self.stop()
            raise RuntimeError(f"{self.name} exited with {code} before listening")
        info = json.loads(line)
        if not str(info.get("address", "")).startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"{self.name} listens on {info.get('address')}, not 127.0.0.1")
        self.endpoint = f"http://127.0.0.1:{int(info['port'])}"
        return self

    def client(self, service: str) -> Any:
        return local_client(service, self.endpoint)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None
