"""dynalite (npm), a DynamoDB-compatible server on LevelDB, in memory on 127.0.0.1;
`scripts/need-e2e` installs it.

The idempotency table of the end-to-end scenarios lives here: the handler makes two writes per
record, and moto's DynamoDB (pure Python, ~6 ms a call over HTTP here) bounded the load
scenario. What Powertools' idempotency uses works the same (the handler's idempotency tests
run on moto and on dynalite; tests/handler/test_dynalite.py pins what differs), with two
documented differences:
- no UpdateTimeToLive: the table gets no TTL setting (moto's does; neither server expires
  items, so no scenario depends on it);
- ReturnValuesOnConditionCheckFailure is ignored: a duplicate's failed conditional put comes
  back without the old item, and Powertools then reads it with a consistent GetItem (its own
  fallback) instead of taking it from the error. Same outcome, one more call per duplicate.
"""

from __future__ import annotations

from local.node_server import NPM_DIR, REPO_ROOT, NodeServer

DYNALITE = NPM_DIR / "node_modules" / "dynalite" / "index.js"
LOOPBACK = REPO_ROOT / "local" / "dynalite_loopback.cjs"


class DynaliteServer(NodeServer):
    """dynalite in its own process (and session); the same surface as `local.stack.MotoProcess`."""

    name = "dynalite"
    entry_point = DYNALITE
    loopback = LOOPBACK
