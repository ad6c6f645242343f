"""The handler's idempotency table on a local DynamoDB-compatible server (moto or dynalite)."""

from __future__ import annotations

from typing import Any

from components.function import IDEMPOTENCY_KEY_ATTRIBUTE, IDEMPOTENCY_TTL_ATTRIBUTE


def create_idempotency_table(dynamodb: Any, name: str, *, time_to_live: bool = True) -> str:
    """Create the table as the function component does: its partition key (S), on-demand,
    encrypted, TTL on its expiry attribute. Returns the table name. `time_to_live=False` for a
    server without UpdateTimeToLive (dynalite); no local server expires items either way."""
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": IDEMPOTENCY_KEY_ATTRIBUTE, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": IDEMPOTENCY_KEY_ATTRIBUTE, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True},
    )
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    if time_to_live:
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": IDEMPOTENCY_TTL_ATTRIBUTE},
        )
    return name
