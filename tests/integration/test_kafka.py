"""Produce and consume through the real broker."""

from __future__ import annotations

import json

from confluent_kafka import Consumer, Producer

from closeloop.config import Settings
from closeloop.kafka.admin import ensure_topics, list_topics
from closeloop.stack.manager import LocalStack
from tests.integration.kafka_reading import end_offsets


def test_architecture_topics_exist(stack: LocalStack, settings: Settings) -> None:
    topics = list_topics(settings.kafka_bootstrap)
    assert set(settings.topics.all()) <= topics
    assert "closeloop.model-updates" in topics


def test_produce_and_consume_round_trip(stack: LocalStack, settings: Settings, unique_name: str) -> None:
    assert ensure_topics(settings.kafka_bootstrap, [unique_name], partitions=3) == [unique_name]
    # Created means served: every partition answers for its offsets at once.
    assert end_offsets(settings.kafka_bootstrap, unique_name) == {0: 0, 1: 0, 2: 0}
    # A second call is a no-op.
    assert ensure_topics(settings.kafka_bootstrap, [unique_name], partitions=3) == []

    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True})
    sent = [{"prediction_id": f"p{i}", "value": i} for i in range(50)]
    for event in sent:
        producer.produce(unique_name, key=event["prediction_id"], value=json.dumps(event))
    assert producer.flush(30) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": unique_name,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([unique_name])
    received: dict[str, dict] = {}
    try:
        for _ in range(200):
            if len(received) == len(sent):
                break
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            received[message.key().decode()] = json.loads(message.value())
    finally:
        consumer.close()
    assert received == {e["prediction_id"]: e for e in sent}
