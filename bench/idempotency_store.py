"""The two local DynamoDB stand-ins side by side, in one run: records/s of the handler's
idempotency writes (Powertools' conditional PutItem, then UpdateItem to COMPLETED, per record)
against moto's server and dynalite, each in its own process on 127.0.0.1, from 1 and 2 client
threads (the dev stack's pollers are 2), and the ratio.

    .venv/bin/python bench/idempotency_store.py [--records 600]

Needs `scripts/need-e2e` (dynalite). Why it matters: docs/e2e.md (the load scenario was
bounded by the idempotency table's server).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local.dynalite import DynaliteServer  # noqa: E402
from local.idempotency import create_idempotency_table  # noqa: E402
from local.stack import MotoProcess  # noqa: E402

# Powertools' DynamoDBPersistenceLayer._put_record condition (aws-lambda-powertools 3.x).
CONDITION = (
    "attribute_not_exists(#id) OR #expiry < :now OR "
    "(#status = :inprogress AND attribute_exists(#in_progress_expiry) "
    "AND #in_progress_expiry < :now_in_millis)"
)


def records_per_second(server: Any, records: int, threads: int) -> float:
    client = server.client("dynamodb")
    table = f"bench-{uuid.uuid4().hex[:8]}"
    create_idempotency_table(client, table, time_to_live=isinstance(server, MotoProcess))

    def write(worker: int, count: int = records // threads) -> None:
        dynamodb = server.client("dynamodb")
        for n in range(count):
            now = int(time.time())
            key = {"id": {"S": f"bench-{worker}-{n}"}}
            dynamodb.put_item(
                TableName=table,
                Item={
                    **key,
                    "status": {"S": "INPROGRESS"},
                    "expiration": {"N": str(now + 3600)},
                    "in_progress_expiration": {"N": str(now * 1000 + 30_000)},
                },
                ConditionExpression=CONDITION,
                ExpressionAttributeNames={
                    "#id": "id",
                    "#expiry": "expiration",
                    "#in_progress_expiry": "in_progress_expiration",
                    "#status": "status",
                },
                ExpressionAttributeValues={
                    ":now": {"N": str(now)},
                    ":now_in_millis": {"N": str(now * 1000)},
                    ":inprogress": {"S": "INPROGRESS"},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            dynamodb.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET #data = :data, #expiry = :expiry, #status = :status",
                ExpressionAttributeNames={
                    "#data": "data",
                    "#expiry": "expiration",
                    "#status": "status",
                },
                ExpressionAttributeValues={
                    ":data": {"S": "{}"},
                    ":expiry": {"N": str(now + 3600)},
                    ":status": {"S": "COMPLETED"},
                },
            )

    write(-1, 20)  # warm-up: connections, the server's first-request imports
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, range(threads)))
    return records // threads * threads / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--records", type=int, default=600)
    args = parser.parse_args()
    print(
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs;"
        f" {args.records} records per row"
    )
    with tempfile.TemporaryDirectory() as tmp:
        moto = MotoProcess(Path(tmp) / "moto.log").start()
        dynalite = DynaliteServer().start()
        try:
            print(f"\n{'threads':>7}{'moto rec/s':>12}{'dynalite rec/s':>16}{'ratio':>8}")
            for threads in (1, 2):
                on_moto = records_per_second(moto, args.records, threads)
                on_dynalite = records_per_second(dynalite, args.records, threads)
                print(
                    f"{threads:>7}{on_moto:>12.0f}{on_dynalite:>16.0f}"
                    f"{on_dynalite / on_moto:>7.1f}x"
                )
        finally:
            dynalite.stop()
            moto.stop()


if __name__ == "__main__":
    main()
