"""What the loop says on Kafka about one model: its metrics windows, alerts and model updates, as they come.

A consumer in a thread of its own, assigned to every partition of the three
topics from a start time (no consumer group: it commits nothing and leaves no
trace). Each event goes to ``on_event`` with the time Kafka stamped it; events
of other models, and messages that are not events, are skipped.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from confluent_kafka import Consumer, TopicPartition

from closeloop.events import AlertEvent, Event, MetricsEvent, ModelUpdateEvent, decode
from closeloop.events.serde import InvalidEventError

__all__ = ["LoopWatcher"]

_log = logging.getLogger(__name__)

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
        self._bootstrap = bootstrap
        self._topics = topics
        self._model = model_name
        self._since_ms = int(since.timestamp() * 1000)
        self._on_event = on_event
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loop-watcher", daemon=True)
        self.skipped = 0

    def start(self) -> LoopWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _assignment(self, consumer: Consumer) -> list[TopicPartition]:
        wanted = []
        for topic in self._topics:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            wanted += [TopicPartition(topic, p, self._since_ms) for p in partitions]
        # Offsets of the first message at or after the start time (the end where there is none).
        return consumer.offsets_for_times(wanted, timeout=10)

    def _run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self._bootstrap,
                "group.id": f"closeloop-demo-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "latest",
            }
        )
        try:
            consumer.assign(self._assignment(consumer))
            while not self._stop.is_set():
                message = consumer.poll(0.2)
                if message is None or message.error() is not None:
                    continue
                try:
                    event = decode(message.value() or b"")
                except InvalidEventError:
                    self.skipped += 1
                    continue
                if not isinstance(event, MetricsEvent | AlertEvent | ModelUpdateEvent):
                    continue
                if event.model_name != self._model:
                    continue
                _, stamp_ms = message.timestamp()
                self._on_event(event, datetime.fromtimestamp(stamp_ms / 1000, UTC))
        except Exception:  # the demo reports the silence; the traceback goes to the log
            _log.exception("the loop watcher stopped reading Kafka")
        finally:
            consumer.close()
