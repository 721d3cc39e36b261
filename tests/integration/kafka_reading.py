"""Reading what a test produced: remember where a topic ended, read everything after it."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, TopicPartition

from closeloop.events import Event, decode


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The current end (high watermark) of every partition of ``topic``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4().hex}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
        }
    finally:
        consumer.close()


def read_events(
    bootstrap: str, topic: str, since: dict[int, int], *, expected: int, timeout: float = 30.0
) -> list[tuple[str, Event]]:
    """(key, event) for every message after ``since``, until ``expected`` distinct keys arrived or time is up.

    Counting keys, not messages: at-least-once producers may deliver one twice.
    """
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, p, offset) for p, offset in since.items()])
    found: list[tuple[str, Event]] = []
    keys: set[str] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(keys) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            key = (message.key() or b"").decode()
            keys.add(key)
            found.append((key, decode(message.value() or b"")))
    finally:
        consumer.close()
    return found


def read_to_end(bootstrap: str, topic: str, since: dict[int, int], *, timeout: float = 30.0) -> list[Event]:
    """Every event after ``since`` up to where the topic ends now."""
    until = end_offsets(bootstrap, topic)
    remaining = {p: end for p, end in until.items() if end > since.get(p, 0)}
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, p, since.get(p, 0)) for p in remaining])
    found: list[Event] = []
    deadline = time.monotonic() + timeout
    try:
        while remaining and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            found.append(decode(message.value() or b""))
            if message.offset() + 1 >= remaining.get(message.partition(), 0):
                remaining.pop(message.partition(), None)
    finally:
        consumer.close()
    return found
