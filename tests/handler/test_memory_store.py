"""The in-memory store the throughput benchmark uses keeps the consumer's semantics."""

from __future__ import annotations

from handlers import consumer
from local.lambda_context import LocalLambdaContext
from local.memory_store import InMemoryPersistenceLayer
from tests.handler import sqs_events as sqs
from tests.handler.helpers import Applied


def test_consumer_on_the_memory_store_applies_each_event_once(
    aws_env, applied: Applied, monkeypatch
):
    monkeypatch.setattr(consumer, "_idempotency", None)
    store = InMemoryPersistenceLayer()
    consumer.use_persistence_store(store)
    applied.fail_ids = {"bad"}
    bad = sqs.good("bad")

    first = consumer.handler(
        sqs.event(sqs.good("a"), sqs.good("a"), bad, sqs.good("b")), LocalLambdaContext()
    )
    applied.fail_ids = set()
    second = consumer.handler(sqs.event(sqs.good("b"), sqs.good("bad")), LocalLambdaContext())

    assert first == {"batchItemFailures": [{"itemIdentifier": bad["messageId"]}]}
    assert second == {"batchItemFailures": []}
    assert applied.ids == ["a", "b", "bad"]
    assert sorted(r.status for r in store.records.values()) == ["COMPLETED"] * 3
