"""fauxqs (npm), a fast SQS-compatible server, on 127.0.0.1; `scripts/need-e2e` installs it.

Used where moto's O(queue depth) calls would make a run too slow: the end-to-end load test
and bench/e2e_throughput.py. Its CLI binds 0.0.0.0, so it is started through
local/fauxqs_loopback.mjs, which forces 127.0.0.1. State is in memory: a restart loses the
queues (the SQS-restart scenario uses moto, whose stop()/start() keeps them).
"""

from __future__ import annotations

from local.node_server import NPM_DIR, REPO_ROOT, NodeServer

FAUXQS_APP = NPM_DIR / "node_modules" / "fauxqs" / "dist" / "app.js"
LOOPBACK = REPO_ROOT / "local" / "fauxqs_loopback.mjs"


class FauxqsServer(NodeServer):
    name = "fauxqs"
    entry_point = FAUXQS_APP
    loopback = LOOPBACK
