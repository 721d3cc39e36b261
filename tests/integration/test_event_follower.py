"""closeloop.kafka.consume on the real broker: where a follower starts, what it hands on and dead-letters."""

from __future__ import annotations

import json
import queue
import time
from datetime import UTC, datetime, timedelta

from confluent_kafka import Message, Producer

from closeloop.config import Settings
from closeloop.events import DeadLetterEvent, Event, InvalidEventError, ModelUpdateEvent, encode
from closeloop.kafka.admin import ensure_topics
from closeloop.kafka.consume import EventFollower, kafka_time
from closeloop.kafka.dead_letters import DeadLetterProducer
from closeloop.stack.manager import LocalStack
from tests.integration.kafka_reading import end_offsets, read_events
from tests.waiting import NotYet, eventually


def _update(version: str) -> ModelUpdateEvent:
    return ModelUpdateEvent(model_name="follower-model", version=version, alias="champion")


def _produce(bootstrap: str, topic: str, messages: list[tuple[bytes, datetime]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for value, at in messages:
        producer.produce(topic, value=value, timestamp=int(at.timestamp() * 1000))
    assert producer.flush(30) == 0


class Collected:
    def __init__(self) -> None:
        self.events: queue.Queue[tuple[Event, datetime]] = queue.Queue()
        self.invalid: queue.Queue[tuple[Message, InvalidEventError]] = queue.Queue()

    def on_event(self, event: Event, message: Message) -> None:
        self.events.put((event, kafka_time(message)))

    def on_invalid(self, message: Message, error: InvalidEventError) -> None:
        self.invalid.put((message, error))

    def versions(self, count: int, timeout: float = 30.0) -> list[str]:
        found = []
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            try:
                event, _ = self.events.get(timeout=0.5)
            except queue.Empty:
                continue
            assert isinstance(event, ModelUpdateEvent)
            found.append(event.version)
        return found


def test_a_follower_from_a_time_hands_on_what_is_newer_and_what_comes(
    stack: LocalStack, settings: Settings, unique_name: str
) -> None:
    ensure_topics(settings.kafka_bootstrap, [unique_name], partitions=3)
    now = datetime.now(UTC)
    _produce(
        settings.kafka_bootstrap,
        unique_name,
        [
            (encode(_update("old")), now - timedelta(minutes=10)),
            (encode(_update("recent")), now - timedelta(minutes=1)),
            (b'{"schema": "closeloop.model-update.v1", "model_name": 7}', now - timedelta(minutes=1)),
        ],
    )
    collected = Collected()
    follower = EventFollower(
        settings.kafka_bootstrap,
        [unique_name],
        name="test-follower",
        since=now - timedelta(minutes=5),
        expected=ModelUpdateEvent,
        on_invalid=collected.on_invalid,
    ).start(collected.on_event)
    try:
        assert follower.ready.wait(30), "the follower never got its assignment"
        _produce(settings.kafka_bootstrap, unique_name, [(encode(_update("later")), datetime.now(UTC))])
        assert sorted(collected.versions(2)) == ["later", "recent"]
        message, error = collected.invalid.get(timeout=30)
        assert error.field == "model_name" and message.topic() == unique_name
        assert collected.versions(1, timeout=2) == [], "the event older than the start time was handed on"
    finally:
        follower.stop()
    assert not follower.running, "stop() returned with the follower still reading"


def test_a_follower_from_now_skips_what_was_there(
    stack: LocalStack, settings: Settings, unique_name: str
) -> None:
    ensure_topics(settings.kafka_bootstrap, [unique_name], partitions=2)
    now = datetime.now(UTC)
    _produce(settings.kafka_bootstrap, unique_name, [(encode(_update("before")), now)])
    collected = Collected()
    follower = EventFollower(
        settings.kafka_bootstrap, [unique_name], name="test-follower", expected=ModelUpdateEvent
    ).start(collected.on_event)
    try:
        assert follower.ready.wait(30)
        _produce(settings.kafka_bootstrap, unique_name, [(encode(_update("after")), datetime.now(UTC))])
        assert collected.versions(1) == ["after"]
        assert collected.versions(1, timeout=2) == []
    finally:
        follower.stop()


def test_bad_messages_become_dead_letters_and_the_follower_goes_on(
    stack: LocalStack, settings: Settings, unique_name: str
) -> None:
    dlq = f"{unique_name}-dlq"
    ensure_topics(settings.kafka_bootstrap, [unique_name, dlq], partitions=1)
    since = end_offsets(settings.kafka_bootstrap, dlq)
    dead_letters = DeadLetterProducer(
        settings.kafka_bootstrap, dlq_topic=dlq, source_topic=unique_name, rejected_by="test"
    )
    collected = Collected()
    follower = EventFollower(
        settings.kafka_bootstrap,
        [unique_name],
        name="test-follower",
        expected=ModelUpdateEvent,
        on_invalid=dead_letters,
    ).start(collected.on_event)
    try:
        assert follower.ready.wait(30)
        at = datetime.now(UTC)
        _produce(
            settings.kafka_bootstrap,
            unique_name,
            [(b"not json", at), (json.dumps({"schema": "nope"}).encode(), at), (encode(_update("ok")), at)],
        )
        assert collected.versions(1) == ["ok"]
    finally:
        follower.stop()
        dead_letters.close()
    letters = [event for _, event in read_events(settings.kafka_bootstrap, dlq, since, expected=2)]
    assert all(isinstance(letter, DeadLetterEvent) for letter in letters)
    reasons = sorted((letter.field, letter.source_topic, letter.rejected_by) for letter in letters)  # type: ignore[union-attr]
    assert reasons == [("(event)", unique_name, "test"), ("schema", unique_name, "test")]


def test_a_follower_waits_for_a_topic_that_is_not_there_yet(
    stack: LocalStack, settings: Settings, unique_name: str
) -> None:
    collected = Collected()
    follower = EventFollower(
        settings.kafka_bootstrap, [unique_name], name="test-follower", expected=ModelUpdateEvent, retry_s=0.5
    ).start(collected.on_event)
    try:
        ensure_topics(settings.kafka_bootstrap, [unique_name], partitions=1)

        @eventually(timeout=60, interval=0.5)
        def ready() -> None:
            if not follower.ready.is_set():
                raise NotYet("no assignment yet")

        ready()
        _produce(settings.kafka_bootstrap, unique_name, [(encode(_update("first")), datetime.now(UTC))])
        assert collected.versions(1) == ["first"]
    finally:
        follower.stop()
