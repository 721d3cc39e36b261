"""What the loop says on Kafka about one model: its metrics windows, alerts and model updates, as they come.

An :class:`~closeloop.kafka.consume.EventFollower` from the demo's start time
(no consumer group: it commits nothing and leaves no trace). Each event goes
to ``on_event`` with the time Kafka stamped it; events of other models, and
messages that are not events, are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from confluent_kafka import Message

from closeloop.events import AlertEvent, Event, InvalidEventError, MetricsEvent, ModelUpdateEvent
from closeloop.kafka.consume import EventFollower, kafka_time

__all__ = ["LoopWatcher"]

EventHandler = Callable[[Event, datetime], None]


class LoopWatcher:
    def __init__(
        self,
        bootstrap: str,
        topics: list[str],
        model_name: str,
        *,
        since: datetime,
        on_event: EventHandler,
    ) -> None:
        self._model = model_name
        self._on_event = on_event
        self._follower = EventFollower(
            bootstrap, topics, name="demo-watcher", since=since, on_invalid=_ignore
        )

    def start(self) -> LoopWatcher:
        self._follower.start(self._handle)
        return self

    def stop(self) -> None:
        self._follower.stop()

    def _handle(self, event: Event, message: Message) -> None:
        if (
            isinstance(event, MetricsEvent | AlertEvent | ModelUpdateEvent)
            and event.model_name == self._model
        ):
            self._on_event(event, kafka_time(message))


def _ignore(_message: Message, _error: InvalidEventError) -> None:
    """Not an event: the Flink job and the stack's own consumers dead-letter it; the demo's view skips it."""
