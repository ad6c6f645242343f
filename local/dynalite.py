"""dynalite (npm), a DynamoDB-compatible server on LevelDB, in memory on 127.0.0.1;
`scripts/need-e2e` installs it.

The idempotency table of the end-to-end scenarios lives here: the handler makes two writes per
record, and moto's DynamoDB (pure Python, ~6 ms a call over HTTP here) bounded the load
scenario. What Powertools' idempotency uses works the same (tests/e2e/test_dynalite.py runs
the handler's idempotency tests against it), with two documented differences:
- no UpdateTimeToLive: the table gets no TTL setting (moto's does; neither server expires
  items, so no scenario depends on it);
- ReturnValuesOnConditionCheckFailure is ignored: a duplicate's failed conditional put comes
  back without the old item, and Powertools then reads it with a consistent GetItem (its own
  fallback) instead of taking it from the error. Same outcome, one more call per duplicate.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from local.fauxqs import NODE, NPM_DIR
from local.servers import local_client, stop_process_group

REPO_ROOT = Path(__file__).resolve().parent.parent
DYNALITE = NPM_DIR / "node_modules" / "dynalite" / "index.js"
LOOPBACK = REPO_ROOT / "local" / "dynalite_loopback.cjs"


class DynaliteServer:
    """dynalite in its own process (and session); the same surface as `local.stack.MotoProcess`."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.endpoint = ""

    def start(self) -> DynaliteServer:
        if not (NODE.exists() and DYNALITE.exists()):
            raise RuntimeError("dynalite is not installed: run scripts/need-e2e")
        # A fixed argv, no shell; port 0: the OS picks a free one, printed on stdout.
        self.proc = subprocess.Popen(  # noqa: S603
            [str(NODE), str(LOOPBACK), str(DYNALITE), "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self.stop()
            raise RuntimeError(f"dynalite exited with {code} before listening")
        info = json.loads(line)
        if not str(info.get("address", "")).startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"dynalite listens on {info.get('address')}, not 127.0.0.1")
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
