"""Follow Kafka topics as closeloop events: the one consumer loop of closeloop's Python services.

A follower is assigned every partition of its topics, from a start time or
from their end, with a group id of its own and no commits: where it starts
is always given, so every replica sees every event and a restarted one reads
again what it needs (the metrics exporter's lookback, say). A broker that is
not up yet, or a topic not created yet, is waited for, not a crash. Each
message is decoded into its event; one that breaks its contract goes to
``on_invalid`` (usually :class:`~closeloop.kafka.dead_letters.DeadLetterProducer`)
and the loop goes on.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from closeloop.events import Event, InvalidEventError, decode

__all__ = ["EventFollower", "EventHandler", "InvalidHandler", "kafka_time", "read_since", "take_batch"]

_log = logging.getLogger(__name__)

EventHandler = Callable[[Event, Message], None]
InvalidHandler = Callable[[Message, InvalidEventError], None]


def take_batch(consumer: Consumer, max_messages: int, timeout_s: float) -> list[Message]:
    """Up to ``max_messages`` of what has arrived, waiting at most ``timeout_s`` for the first one.

    ``Consumer.consume(n, timeout)`` waits for all ``n`` until the timeout: a
    quiet topic's one message would wait the whole timeout. Here a batch is
    what is there once something is: large under load, one message at once
    when quiet. End-of-partition notices are left out.
    """
    messages = consumer.consume(max_messages, 0)
    if not messages:
        first = consumer.poll(timeout_s)
        if first is None:
            return []
        messages = [first, *consumer.consume(max_messages - 1, 0)] if max_messages > 1 else [first]
    return [m for m in messages if m.error() is None or m.error().code() != KafkaError._PARTITION_EOF]


def kafka_time(message: Message) -> datetime:
    """When Kafka stamped ``message`` (its create or log-append time)."""
    _, stamp_ms = message.timestamp()
    return datetime.fromtimestamp(stamp_ms / 1000, UTC)


def read_since(
    bootstrap: str,
    topic: str,
    since: datetime,
    *,
    expected: type[Event] | None = None,
    limit: int = 10_000,
    timeout_s: float = 10.0,
) -> list[Event]:
    """The valid events of ``topic`` from ``since`` to its end as of the call, oldest first; at most
    the newest ``limit``. Invalid ones are skipped: whoever publishes them dead-letters them.

    For a page or a report that shows what happened lately, not a service that follows a topic.
    Raises KafkaException if the broker or the topic does not answer within ``timeout_s``.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"closeloop-read-since-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "log_level": 3,
            "socket.timeout.ms": int(timeout_s * 1000),
        }
    )
    try:
        start, ends = _start_offsets(consumer, [topic], since, timeout_s)
        todo = {tp.partition for tp in start if tp.offset < ends[topic, tp.partition]}
        if not todo:
            return []
        consumer.assign([tp for tp in start if tp.partition in todo])
        found: list[tuple[datetime, Event]] = []
        deadline = time.monotonic() + timeout_s
        while todo and time.monotonic() < deadline:
            for message in take_batch(consumer, 500, 0.5):
                if message.error() is not None or message.offset() >= ends[topic, message.partition()]:
                    continue
                try:
                    found.append((kafka_time(message), decode(message.value() or b"", expected)))
                except InvalidEventError:
                    continue
            # Positions, not the last message's offset: a transactional topic ends in commit markers.
            for tp in consumer.position([TopicPartition(topic, p) for p in todo]):
                if tp.offset >= ends[topic, tp.partition]:
                    todo.discard(tp.partition)
        if todo:
            raise KafkaException(f"{topic}: not read to its end within {timeout_s:g} s")
        found.sort(key=lambda pair: pair[0])
        return [event for _, event in found[-limit:]]
    finally:
        consumer.close()


class EventFollower:
    """Reads ``topics`` from ``since`` (or their end) until stopped, handing each event on.

    :param name: says whose consumer it is, in its group id and its logs.
    :param expected: the one event type the topics carry; any other is invalid.
    :param on_invalid: what to do with a message that is not a valid event (default: log it).
    """

    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[str],
        *,
        name: str,
        since: datetime | None = None,
        expected: type[Event] | None = None,
        on_invalid: InvalidHandler | None = None,
        poll_s: float = 0.5,
        retry_s: float = 2.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.name = name
        self.since = since
        self.expected = expected
        self._on_invalid = on_invalid
        self._poll_s = poll_s
        self._retry_s = retry_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        #: Set once the start offsets are fixed: what is published after this is followed.
        self.ready = threading.Event()

    # Lifecycle ------------------------------------------------------------------------
    def start(self, on_event: EventHandler) -> EventFollower:
        """Follow in a daemon thread of its own."""
        self._thread = threading.Thread(target=self.run, args=(on_event,), name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    @property
    def running(self) -> bool:
        """Whether its thread (see :meth:`start`) is still reading."""
        return self._thread is not None and self._thread.is_alive()

    def run(self, on_event: EventHandler) -> None:
        """Follow until :meth:`stop`; an exception ``on_event`` raises ends it, logged."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"closeloop-{self.name}-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "latest",
                "log_level": 3,
            }
        )
        try:
            assignment = self._wait_for_assignment(consumer)
            if assignment is None:
                return
            consumer.assign(assignment)
            self.ready.set()
            since = "their end" if self.since is None else self.since.isoformat()
            _log.info("%s: following %s from %s", self.name, ", ".join(self.topics), since)
            while not self._stopping.is_set():
                try:
                    message = consumer.poll(self._poll_s)
                except KafkaException as exc:
                    _log.warning("%s: %s", self.name, exc)
                    continue
                if message is None:
                    continue
                if (error := message.error()) is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        _log.warning("%s: %s", self.name, error)
                    continue
                self._handle(message, on_event)
        except Exception:  # a follower's silence is reported by its owner; the cause goes to the log
            _log.exception("%s stopped reading Kafka", self.name)
        finally:
            consumer.close()

    # Steps ----------------------------------------------------------------------------
    def _handle(self, message: Message, on_event: EventHandler) -> None:
        try:
            event = decode(message.value() or b"", self.expected)
        except InvalidEventError as exc:
            if self._on_invalid is not None:
                self._on_invalid(message, exc)
            else:
                _log.warning(
                    "%s: not a valid event at %s[%d]@%d: %s",
                    self.name,
                    message.topic(),
                    message.partition(),
                    message.offset(),
                    exc,
                )
            return
        on_event(event, message)

    def _wait_for_assignment(self, consumer: Consumer) -> list[TopicPartition] | None:
        """Every partition at its start offset, once the broker answers; None if stopped first."""
        while not self._stopping.is_set():
            try:
                return self._assignment(consumer)
            except KafkaException as exc:
                # A broker that has just started, or a topic just created, answers
                # "leader not available" for a moment: that is a wait, not a crash.
                _log.warning("%s: waiting for Kafka at %s: %s", self.name, self.bootstrap, exc)
            self._stopping.wait(self._retry_s)
        return None

    def _assignment(self, consumer: Consumer) -> list[TopicPartition]:
        return _start_offsets(consumer, self.topics, self.since)[0]


def _start_offsets(
    consumer: Consumer, topics: Sequence[str], since: datetime | None, timeout_s: float = 10.0
) -> tuple[list[TopicPartition], dict[tuple[str, int], int]]:
    """Each partition of ``topics`` at its first offset from ``since`` (None: at its end), and each
    one's end as of now. Raises KafkaException while a topic has no partitions yet."""
    ends: dict[tuple[str, int], int] = {}
    for topic in topics:
        partitions = consumer.list_topics(topic, timeout=timeout_s).topics[topic].partitions
        if not partitions:
            raise KafkaException(f"{topic} has no partitions yet")
        for p in sorted(partitions):
            # The end as of now, not as of the first fetch: what is published from here on is seen.
            _, ends[topic, p] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
    if since is None:
        return [TopicPartition(t, p, end) for (t, p), end in ends.items()], ends
    since_ms = int(since.timestamp() * 1000)
    found = consumer.offsets_for_times([TopicPartition(t, p, since_ms) for t, p in ends], timeout=timeout_s)
    # -1: nothing that recent in the partition, so start at its end.
    start = [
        TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else ends[tp.topic, tp.partition])
        for tp in found
    ]
    return start, ends
