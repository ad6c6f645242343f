"""fauxqs (npm), a fast SQS-compatible server, on 127.0.0.1; `scripts/need-e2e` installs it.

Used where moto's O(queue depth) calls would make a run too slow: the end-to-end load test
and bench/e2e_throughput.py. Its CLI binds 0.0.0.0, so it is started through
bench/fauxqs_loopback.mjs, which forces 127.0.0.1. State is in memory: a restart loses the
queues (the SQS-restart scenario uses moto, whose stop()/start() keeps them).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from local.servers import stop_process_group

REPO_ROOT = Path(__file__).resolve().parent.parent
NPM_DIR = REPO_ROOT / "local" / "npm"
NODE = NPM_DIR / "node_modules" / ".bin" / "node"
FAUXQS_APP = NPM_DIR / "node_modules" / "fauxqs" / "dist" / "app.js"
LOOPBACK = REPO_ROOT / "bench" / "fauxqs_loopback.mjs"


class FauxqsServer:
    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.endpoint = ""

    def start(self, timeout: float = 20.0) -> FauxqsServer:
        if not (NODE.exists() and FAUXQS_APP.exists()):
            raise RuntimeError("fauxqs is not installed: run scripts/need-e2e")
        # A fixed argv, no shell; port 0: the OS picks a free one, printed on stdout.
        self.proc = subprocess.Popen(  # noqa: S603
            [str(NODE), str(LOOPBACK), str(FAUXQS_APP), "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"fauxqs exited with {self.proc.wait(timeout)} before listening")
        info = json.loads(line)
        if not str(info.get("address", "")).startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"fauxqs listens on {info.get('address')}, not 127.0.0.1")
        self.endpoint = f"http://127.0.0.1:{int(info['port'])}"
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None
