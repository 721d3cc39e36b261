"""Publish events to Kafka without losing one: acknowledged or on disk before the client hears 2xx.

``send`` returns once every event is durable: acknowledged by Kafka (an
idempotent producer, acks=all) or written to the disk spool and fsynced.
While Kafka takes events they go straight to it. When a delivery fails, or
the broker is unreachable, the event goes to the spool, and so does every
event after it until the spool is drained again, so that the spool replays
in the order events were published.

An event Kafka refuses for good (too large for the topic, an invalid record)
is never spooled, where it would block every event behind it: it goes to
the dead-letter topic with Kafka's reason. Events too large for Kafka are
refused before anything is sent (EventTooLargeError), so that the request
can be answered with 413.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from prometheus_client import CollectorRegistry, Counter, Gauge

from closeloop.errors import CloseloopError
from closeloop.events import DeadLetterEvent, Event, encode
from closeloop.gateway.spool import DiskSpool, SpooledRecord, SpoolFullError

__all__ = ["EventPublisher", "EventTooLargeError", "PublishTimeoutError", "SpoolFullError"]

_log = logging.getLogger(__name__)

#: Kafka errors that no retry can fix: the event must leave the queue, to the dead-letter topic.
_REFUSED_FOR_GOOD = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.INVALID_MSG,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.POLICY_VIOLATION,
        KafkaError._INVALID_ARG,
    }
)
#: The most of a refused event's bytes its dead letter keeps (base64 and text make it ~2.3 times that).
_LETTER_KEEPS_BYTES = 256 * 1024


class EventTooLargeError(CloseloopError):
    """One of the events is larger than Kafka takes; nothing was sent."""

    def __init__(self, index: int, size: int, limit: int) -> None:
        self.index, self.size, self.limit = index, size, limit
        super().__init__(f"event {index} is {size:,} bytes; one event holds at most {limit:,}")


class PublishTimeoutError(CloseloopError):
    """Neither Kafka nor the spool confirmed the events in time."""


@dataclass(eq=False)
class _Delivery:
    """The events of one ``send`` (or one replayed segment): done when each is durable.

    ``respool``: a failed delivery goes to the spool (a request's events); off
    for the spool's own replay, where a failure only counts in ``failed``.
    """

    count: int
    respool: bool = True
    future: concurrent.futures.Future[None] = field(default_factory=concurrent.futures.Future)
    failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def settle(self, n: int = 1) -> None:
        with self._lock:
            self.count -= n
            if self.count <= 0 and not self.future.done():
                self.future.set_result(None)

    def fail(self, error: Exception) -> None:
        with self._lock:
            if not self.future.done():
                self.future.set_exception(error)


class EventPublisher:
    """Starts its producer lazily on first use; call ``close`` to flush and stop."""

    def __init__(
        self,
        *,
        bootstrap: str,
        spool: DiskSpool,
        registry: CollectorRegistry,
        dead_letter_topic: str = "closeloop.dlq",
        max_event_bytes: int = 900_000,
        delivery_timeout_ms: int = 5000,
        replay_interval_s: float = 1.0,
        renew_after_s: float = 20.0,
    ) -> None:
        self._bootstrap = bootstrap
        self._spool = spool
        self._dlq = dead_letter_topic
        self.max_event_bytes = max_event_bytes
        self._delivery_timeout_ms = delivery_timeout_ms
        self._replay_interval_s = replay_interval_s
        self._producer: Producer | None = None
        self._lock = threading.Lock()
        self._degraded = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._reachable = False
        self._checked_at = -1e9
        #: Deliveries whose failed events were appended to the spool, waiting for its fsync.
        self._awaiting_sync: list[tuple[int, _Delivery]] = []
        # librdkafka can stay wedged after a broker restart (an idempotent
        # producer whose in-flight batches timed out, or a fatal error): past
        # this long unreachable while events wait, a new producer is built.
        self._renew_after_s = renew_after_s
        self._unreachable_since: float | None = None
        self._renew = threading.Event()
        self.renewals = 0
        self.events = Counter(
            "closeloop_gateway_events",
            "Events by topic and outcome: published (acknowledged by Kafka), spooled (written to "
            "disk to replay), failed (a delivery Kafka refused), dead_lettered (refused for good), "
            "refused (the spool was full: the request got 503).",
            ["topic", "outcome"],
            registry=registry,
        )
        self._counters: dict[tuple[str, str], Any] = {}
        self.spool_depth = Gauge(
            "closeloop_gateway_spool_events", "Events on disk waiting for Kafka.", registry=registry
        )
        self.spool_depth.set_function(lambda: self._spool.pending)
        self.spool_bytes = Gauge(
            "closeloop_gateway_spool_bytes", "Bytes the disk spool holds.", registry=registry
        )
        self.spool_bytes.set_function(lambda: self._spool.size_bytes)
        self.spool_full = Gauge(
            "closeloop_gateway_spool_full",
            "1 while the spool is at its size limit and requests are refused with 503.",
            registry=registry,
        )
        self.spool_full.set_function(lambda: float(self._spool.full))
        if self._spool.pending:
            self._degraded.set()  # a spool left by an earlier run replays first

    def _count(self, topic: str, outcome: str) -> None:
        # The labeled child, looked up once: delivery reports arrive once per event.
        child = self._counters.get((topic, outcome))
        if child is None:
            child = self._counters[topic, outcome] = self.events.labels(topic, outcome)
        child.inc()

    # State --------------------------------------------------------------------------
    @property
    def degraded(self) -> bool:
        """True while events go to the disk spool instead of Kafka."""
        return self._degraded.is_set() or self._spool.pending > 0

    @property
    def spooled(self) -> int:
        return self._spool.pending

    @property
    def spool_is_full(self) -> bool:
        return self._spool.full

    def _new_producer(self) -> Producer:
        return Producer(
            {
                "bootstrap.servers": self._bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                # A request waits for its acknowledgement: batch briefly, since
                # concurrent requests fill batches by themselves.
                "linger.ms": 1,
                "compression.type": "lz4",
                "message.timeout.ms": self._delivery_timeout_ms,
                "error_cb": self._on_error,
                "log_level": 3,
            }
        )

    def _ensure_started(self) -> Producer:
        with self._lock:
            if self._producer is None:
                self._producer = self._new_producer()
                for name, target in (("kafka-poll", self._poll_loop), ("spool-replay", self._replay_loop)):
                    thread = threading.Thread(target=target, name=name, daemon=True)
                    thread.start()
                    self._threads.append(thread)
            return self._producer

    def start(self) -> None:
        self._ensure_started()

    # Publishing -----------------------------------------------------------------------
    def records(self, topic: str, events: Iterable[Event]) -> list[SpooledRecord]:
        """The events as Kafka records; EventTooLargeError names the first one Kafka would refuse."""
        records = []
        for index, event in enumerate(events):
            record = SpooledRecord(topic, event.key(), encode(event))
            size = len(record.value) + len(record.key)
            if size > self.max_event_bytes:
                raise EventTooLargeError(index, size, self.max_event_bytes)
            records.append(record)
        return records

    async def send(self, topic: str, events: Iterable[Event]) -> None:
        """Return once every event is acknowledged by Kafka or fsynced in the spool.

        Raises EventTooLargeError (nothing sent), SpoolFullError (Kafka is away
        and the spool is full) or PublishTimeoutError.
        """
        records = self.records(topic, events)
        if not records:
            return
        delivery, rest = self._submit(records)
        if rest:
            # An fsync: off the event loop, which serves the other requests meanwhile.
            await asyncio.to_thread(self._spool_rest, rest, delivery)
        if delivery is None:
            return
        try:
            await asyncio.wait_for(asyncio.wrap_future(delivery.future), self._confirm_timeout_s)
        except TimeoutError as exc:
            raise PublishTimeoutError(f"{len(records)} event(s) for {topic} not confirmed in time") from exc

    def send_and_wait(self, topic: str, events: Iterable[Event]) -> None:
        """``send`` for a thread that is not the event loop's."""
        records = self.records(topic, events)
        if not records:
            return
        delivery, rest = self._submit(records)
        if rest:
            self._spool_rest(rest, delivery)
        if delivery is None:
            return
        try:
            delivery.future.result(self._confirm_timeout_s)
        except concurrent.futures.TimeoutError as exc:
            raise PublishTimeoutError(f"{len(records)} event(s) for {topic} not confirmed in time") from exc

    @property
    def _confirm_timeout_s(self) -> float:
        # librdkafka reports every message within message.timeout.ms; then the spool's fsync.
        return self._delivery_timeout_ms / 1000 + 30

    def _submit(self, records: Sequence[SpooledRecord]) -> tuple[_Delivery | None, Sequence[SpooledRecord]]:
        """Hand records to the producer: the delivery of those it took, and those for the spool.

        While degraded the producer takes none (no delivery). If it stops taking
        them part way (its queue is full, Kafka is away), the rest is for the
        spool and the delivery is done only once they are in it (``_spool_rest``).
        """
        if self.degraded:
            return None, records
        producer = self._ensure_started()
        delivery = _Delivery(len(records))
        for number, record in enumerate(records):
            try:
                self._produce(producer, record, delivery)
            except (BufferError, KafkaException) as exc:
                _log.warning("Kafka did not take an event for %s (%s); spooling", record.topic, exc)
                self._degraded.set()
                return delivery, records[number:]
        return delivery, ()

    def _spool_rest(self, records: Sequence[SpooledRecord], delivery: _Delivery | None) -> None:
        """Spool what the producer did not take, durably; then it counts as delivered."""
        if delivery is None:
            self._spool_durably(records)
            return
        try:
            self._spool_durably(records)
        except SpoolFullError as full:
            delivery.fail(full)
            return
        delivery.settle(len(records))

    def _produce(self, producer: Producer, record: SpooledRecord, delivery: _Delivery) -> None:
        try:
            producer.produce(
                record.topic,
                value=record.value,
                key=record.key,
                on_delivery=lambda error, message: self._on_delivery(error, message, record, delivery),
            )
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is None or error.code() not in _REFUSED_FOR_GOOD:
                raise
            self._dead_letter(record, error, delivery)

    def _spool_durably(self, records: Sequence[SpooledRecord]) -> None:
        try:
            ticket = self._spool.append(records)
        except SpoolFullError:
            for record in records:
                self._count(record.topic, "refused")
            raise
        self._spool.sync(ticket)
        for record in records:
            self._count(record.topic, "spooled")

    def _on_delivery(
        self, error: KafkaError | None, message: Message, record: SpooledRecord, delivery: _Delivery
    ) -> None:
        """Kafka's report on one event, on the poll thread (or the replayer's flush)."""
        if error is None:
            self._count(record.topic, "published")
            delivery.settle()
            return
        self._count(record.topic, "failed")
        if error.code() in _REFUSED_FOR_GOOD:
            self._dead_letter(record, error, delivery)
            return
        if not delivery.respool:
            delivery.failed += 1
            delivery.settle()
            return
        if not self._degraded.is_set():
            _log.warning("delivery to %s failed (%s); spooling until Kafka is back", record.topic, error)
        self._degraded.set()
        try:
            ticket = self._spool.append([record])
        except SpoolFullError as exc:
            self._count(record.topic, "refused")
            delivery.fail(exc)
            return
        self._count(record.topic, "spooled")
        with self._lock:
            self._awaiting_sync.append((ticket, delivery))

    def _dead_letter(self, record: SpooledRecord, error: KafkaError, delivery: _Delivery) -> None:
        """Send what Kafka refused for good to the dead-letter topic instead; it replaces the event."""
        if record.topic == self._dlq:
            _log.error("Kafka refused a dead letter for good (%s); dropping it", error)
            delivery.settle()
            return
        kept = record.value[:_LETTER_KEEPS_BYTES]
        cut = f"; its first {len(kept):,} bytes kept" if len(kept) < len(record.value) else ""
        letter = DeadLetterEvent.wrap(
            kept,
            reason=f"Kafka refused the event for good: {error.str()} ({len(record.value):,} bytes{cut})",
            source_topic=record.topic,
            key=record.key,
            rejected_by="gateway",
        )
        _log.warning("an event for %s went to %s: Kafka refused it (%s)", record.topic, self._dlq, error)
        self._count(record.topic, "dead_lettered")
        producer = self._producer
        assert producer is not None
        self._produce(producer, SpooledRecord(self._dlq, letter.key(), encode(letter)), delivery)

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            _log.error("the Kafka producer failed for good (%s); a new one takes over", error)
            self._degraded.set()
            self._renew.set()
            return
        if error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            if not self._degraded.is_set():
                _log.warning("Kafka unreachable (%s); spooling events to %s", error, self._spool.folder)
            self._degraded.set()

    # Background work ---------------------------------------------------------------------
    def _poll_loop(self) -> None:
        while not self._stopping.is_set():
            producer = self._producer
            if producer is not None:
                producer.poll(0.2)
            self._sync_spooled()

    def _sync_spooled(self) -> None:
        """One fsync for every delivery whose events the last polls spooled; then they are done."""
        with self._lock:
            waiting, self._awaiting_sync = self._awaiting_sync, []
        if not waiting:
            return
        self._spool.sync(max(ticket for ticket, _ in waiting))
        for _, delivery in waiting:
            delivery.settle()

    def kafka_reachable(self) -> bool:
        """Whether the cluster answers a metadata request now (cached for a second)."""
        now = time.monotonic()
        if now - self._checked_at < 1.0:
            return self._reachable
        producer = self._ensure_started()
        try:
            producer.list_topics(timeout=2.0)
            self._reachable = True
            self._unreachable_since = None
        except KafkaException:
            self._reachable = False
            if self._unreachable_since is None:
                self._unreachable_since = now
            elif now - self._unreachable_since > self._renew_after_s and self._spool.pending:
                self._renew.set()
        self._checked_at = time.monotonic()
        return self._reachable

    def _renew_producer(self) -> None:
        """Replace the producer; what the old one still holds is spooled (purged through _on_delivery)."""
        with self._lock:
            old, self._producer = self._producer, self._new_producer()
        self._renew.clear()
        self._unreachable_since = None
        self._checked_at = -1e9
        self.renewals += 1
        _log.warning("Kafka unreachable from the producer for %.0f s: started a new one", self._renew_after_s)
        if old is not None:
            old.purge(in_queue=True, in_flight=True, blocking=False)
            old.flush(5)  # serves the purged events' delivery reports
            self._sync_spooled()

    def _replay_loop(self) -> None:
        while not self._stopping.wait(self._replay_interval_s):
            if self._renew.is_set():
                self._renew_producer()
            if not self.degraded or not self.kafka_reachable():
                continue
            try:
                self._replay()
            except Exception:  # the thread must outlive any one bad replay
                _log.exception("replaying the spool failed; retrying")

    def _replay(self) -> None:
        """Send the spool to Kafka oldest segment first; stop at the first segment not fully sent."""
        producer = self._producer
        assert producer is not None
        while (segment := self._spool.oldest()) is not None:
            path, records = segment
            delivery = _Delivery(len(records), respool=False)
            for record in records:
                while True:
                    try:
                        self._produce(producer, record, delivery)
                        break
                    except BufferError:
                        producer.poll(0.1)  # the local queue is full: let it drain
            if records:
                producer.flush(self._delivery_timeout_ms / 1000 + 5)
            if not delivery.future.done() or delivery.failed:
                _log.warning("replay of %s incomplete (%d failed); will retry", path.name, delivery.failed)
                return
            self._spool.done(path, len(records))
            _log.info("replayed %d spooled events from %s", len(records), path.name)
        if self._spool.pending == 0:
            self._degraded.clear()
            _log.info("spool drained; publishing to Kafka directly again")

    def close(self, timeout: float = 10.0) -> None:
        """Flush; what Kafka has not acknowledged by then goes to the spool, for the next start."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._producer is None:
            self._spool.close()
            return
        remaining = self._producer.flush(timeout)
        if remaining:
            # Purging fails each queued event through _on_delivery, which spools it.
            self._producer.purge(in_queue=True, in_flight=True, blocking=False)
            self._producer.poll(0)
            _log.warning("%d events unacknowledged at shutdown were spooled", remaining)
        self._sync_spooled()
        self._spool.close()
        self._producer = None  # destroyed now, not whenever the collector gets to it
