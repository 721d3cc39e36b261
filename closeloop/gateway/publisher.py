"""Publish events to Kafka without losing one: idempotent producer, disk spool, ordered replay.

While Kafka takes events, they go straight to it (idempotent, acks=all). When
a delivery fails, or the broker is unreachable, the event goes to the disk
spool, and so does every event after it until the spool is drained again, so
that the spool replays in the order events were published.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from prometheus_client import CollectorRegistry, Counter, Gauge

from closeloop.events import Event, encode
from closeloop.gateway.spool import DiskSpool, SpooledRecord

__all__ = ["EventPublisher"]

_log = logging.getLogger(__name__)


class EventPublisher:
    """Starts its producer lazily on first use; call ``close`` to flush and stop."""

    def __init__(
        self,
        *,
        bootstrap: str,
        spool: DiskSpool,
        registry: CollectorRegistry,
        delivery_timeout_ms: int = 5000,
        replay_interval_s: float = 1.0,
        renew_after_s: float = 20.0,
    ) -> None:
        self._bootstrap = bootstrap
        self._spool = spool
        self._delivery_timeout_ms = delivery_timeout_ms
        self._replay_interval_s = replay_interval_s
        self._producer: Producer | None = None
        self._lock = threading.Lock()
        self._degraded = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._reachable = False
        self._checked_at = -1e9
        # librdkafka can stay wedged after a broker restart (an idempotent
        # producer whose in-flight batches timed out, or a fatal error): past
        # this long unreachable while events wait, a new producer is built.
        self._renew_after_s = renew_after_s
        self._unreachable_since: float | None = None
        self._renew = threading.Event()
        self.renewals = 0
        self.events = Counter(
            "closeloop_gateway_events",
            "Events by topic and outcome: published (acknowledged by Kafka), "
            "spooled (written to disk to replay), failed (a delivery Kafka refused).",
            ["topic", "outcome"],
            registry=registry,
        )
        self.spool_depth = Gauge(
            "closeloop_gateway_spool_events", "Events on disk waiting for Kafka.", registry=registry
        )
        self.spool_depth.set_function(lambda: self._spool.pending)
        if self._spool.pending:
            self._degraded.set()  # a spool left by an earlier run replays first

    # State --------------------------------------------------------------------------
    @property
    def degraded(self) -> bool:
        """True while events go to the disk spool instead of Kafka."""
        return self._degraded.is_set() or self._spool.pending > 0

    @property
    def spooled(self) -> int:
        return self._spool.pending

    def _new_producer(self) -> Producer:
        return Producer(
            {
                "bootstrap.servers": self._bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
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
    def publish(self, topic: str, events: Iterable[Event]) -> None:
        """Hand events to Kafka, or to the spool while Kafka is away. Never raises for Kafka."""
        producer = self._ensure_started()
        for event in events:
            key, value = event.key(), encode(event)
            if self.degraded:
                self._to_spool(topic, key, value)
                continue
            try:
                producer.produce(topic, value=value, key=key, on_delivery=self._on_delivery)
            except (BufferError, KafkaException) as exc:
                _log.warning("Kafka did not take an event for %s (%s); spooling", topic, exc)
                self._degraded.set()
                self._to_spool(topic, key, value)

    def _to_spool(self, topic: str, key: str, value: bytes) -> None:
        self._spool.append(SpooledRecord(topic, key, value))
        self.events.labels(topic, "spooled").inc()

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        topic = message.topic() or "?"
        if error is None:
            self.events.labels(topic, "published").inc()
            return
        self.events.labels(topic, "failed").inc()
        if not self._degraded.is_set():
            _log.warning("delivery to %s failed (%s); spooling until Kafka is back", topic, error)
        self._degraded.set()
        key = message.key()
        self._to_spool(topic, key.decode() if key else "", message.value() or b"")

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
            assert self._producer is not None
            self._producer.poll(0.2)

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
        """Send the spool to Kafka oldest segment first; stop at the first failure."""
        assert self._producer is not None
        while (segment := self._spool.oldest()) is not None:
            path, records = segment
            failures: list[KafkaError] = []

            def delivered(error: KafkaError | None, message: Message, failures: list = failures) -> None:
                if error is not None:
                    failures.append(error)
                else:
                    self.events.labels(message.topic() or "?", "published").inc()

            for record in records:
                while True:
                    try:
                        self._producer.produce(
                            record.topic, value=record.value, key=record.key, on_delivery=delivered
                        )
                        break
                    except BufferError:
                        self._producer.poll(0.1)  # the local queue is full: let it drain
            remaining = self._producer.flush(self._delivery_timeout_ms / 1000 + 5)
            if failures or remaining:
                _log.warning("replay of %s incomplete (%d failed); will retry", path.name, len(failures))
                return
            self._spool.done(path, len(records))
            _log.info("replayed %d spooled events from %s", len(records), path.name)
        if self._spool.pending == 0:
            self._degraded.clear()
            _log.info("spool drained; publishing to Kafka directly again")

    def flush(self, timeout: float = 10.0) -> int:
        """Wait for in-flight events; returns how many are still unacknowledged."""
        return self._producer.flush(timeout) if self._producer is not None else 0

    def close(self, timeout: float = 10.0) -> None:
        """Flush; what Kafka has not acknowledged by then goes to the spool, for the next start."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._producer is None:
            return
        remaining = self._producer.flush(timeout)
        if remaining:
            # Purging fails each queued event through _on_delivery, which spools it.
            self._producer.purge(in_queue=True, in_flight=True, blocking=False)
            self._producer.poll(0)
            _log.warning("%d events unacknowledged at shutdown were spooled", remaining)
        self._producer = None  # destroyed now, not whenever the collector gets to it
