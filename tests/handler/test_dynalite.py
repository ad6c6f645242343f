"""What differs between the two DynamoDB stand-ins the idempotency table may live on (moto,
and dynalite, the end-to-end scenarios' choice), pinned down so that an upgrade that changes it
shows up here. The handler's own idempotency tests (tests/handler/test_consumer.py: first run,
duplicates in and across batches, the COMPLETED record and its expiry, a failure deleting the
record so the retry runs, an IN_PROGRESS lock reported and taken over after its deadline) run
on both through the `table` fixture."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.dynalite import DynaliteServer
from local.idempotency import create_idempotency_table
from local.servers import MotoServer


def _failed_put(client: Any) -> dict[str, Any]:
    """Powertools' conditional put of an idempotency record, on a key that already exists."""
    name = f"idem-{uuid.uuid4().hex[:12]}"
    create_idempotency_table(client, name, time_to_live=False)
    now = int(time.time())
    item = {"id": {"S": "k"}, "status": {"S": "COMPLETED"}, "expiration": {"N": str(now + 60)}}
    client.put_item(TableName=name, Item=item)
    with pytest.raises(ClientError) as failed:
        client.put_item(
            TableName=name,
            Item={**item, "status": {"S": "INPROGRESS"}},
            ConditionExpression="attribute_not_exists(#id) OR #expiry < :now",
            ExpressionAttributeNames={"#id": "id", "#expiry": "expiration"},
            ExpressionAttributeValues={":now": {"N": str(now)}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    stored = client.get_item(TableName=name, Key={"id": {"S": "k"}}, ConsistentRead=True)
    assert stored["Item"] == item  # the failed put changed nothing
    return dict(failed.value.response)


def test_a_failed_conditional_put_returns_the_old_item_on_moto_not_on_dynalite(
    moto: MotoServer, dynalite: DynaliteServer
) -> None:
    # Both refuse the put with the code Powertools looks for. Only moto (like DynamoDB)
    # returns the old item; on dynalite Powertools reads it back with a consistent GetItem.
    on_moto = _failed_put(moto.client("dynamodb"))
    on_dynalite = _failed_put(dynalite.client("dynamodb"))
    for response in (on_moto, on_dynalite):
        assert response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert on_moto["Item"]["status"] == {"S": "COMPLETED"}
    assert "Item" not in on_dynalite


def test_dynalite_has_no_time_to_live_api(dynalite: DynaliteServer) -> None:
    # Why the local stack creates dynalite's table without its TTL setting.
    client = dynalite.client("dynamodb")
    name = create_idempotency_table(client, f"idem-{uuid.uuid4().hex[:12]}", time_to_live=False)
    with pytest.raises(ClientError, match="UnknownOperationException"):
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"},
        )


def test_dynalite_listens_on_loopback_only(dynalite: DynaliteServer) -> None:
    assert dynalite.proc is not None
    inode_ports = _listening_sockets(dynalite.proc.pid)
    assert inode_ports, "dynalite listens on no TCP socket"
    assert {address for address, _ in inode_ports} == {"0100007F"}  # 127.0.0.1
    assert int(dynalite.endpoint.rsplit(":", 1)[1]) in {port for _, port in inode_ports}


def _listening_sockets(pid: int) -> set[tuple[str, int]]:
    """(hex IPv4 address, port) of the TCP sockets `pid` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = str(fd.readlink()) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found: set[tuple[str, int]] = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.rsplit(":", 1)
                found.add((address, int(port, 16)))
    return found
