"""Publish a few events and wait until Kafka has them: for the CLI and one-off jobs, not for hot paths."""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import Producer

from closeloop.errors import CloseloopError
from closeloop.events import Event, encode

__all__ = ["PublishError", "deliver", "publish_events"]


class PublishError(CloseloopError):
    """Kafka did not acknowledge an event in time."""


def publish_events(bootstrap: str, topic: str, events: Iterable[Event], *, timeout_s: float = 30.0) -> int:
    """Produce ``events`` to ``topic`` keyed as their contracts say; returns how many, once acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "log_level": 0})
    return deliver(producer, topic, events, timeout_s=timeout_s, where=bootstrap)


def deliver(
    producer: Producer, topic: str, events: Iterable[Event], *, timeout_s: float = 30.0, where: str = "Kafka"
) -> int:
    """``events`` through ``producer`` (one of a provider's hooks, say); returns how many, once
    acknowledged, or raises PublishError naming what went wrong."""
    errors: list[str] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            errors.append(str(error))

    count = 0
    for event in events:
        producer.produce(topic, key=event.key(), value=encode(event), on_delivery=delivered)
        count += 1
    if producer.flush(timeout_s) or errors:
        raise PublishError(
            f"{count} event(s) to {topic} at {where} not acknowledged: {errors or 'timed out'}"
        )
    return count
