"""The metrics exporter: closeloop.metrics as Prometheus gauges, so Prometheus' rules can alert on them.

    python -m closeloop.monitoring.exporter      # serves /metrics on CLOSELOOP_METRICS_EXPORTER_PORT

The Flink job publishes each window's quality, latency and drift to Kafka;
this process follows that topic and shows the newest window of every model
version on /metrics (see gauges.py for the series). It keeps no state of its
own: at start it re-reads the last ``metrics_exporter_lookback_s`` of the
topic, so a restart shows the same gauges again. An event that is not a
metrics event goes to the dead-letter topic with the reason.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid

from confluent_kafka import OFFSET_END, Consumer, KafkaException, Message, Producer, TopicPartition
from prometheus_client import CollectorRegistry, Counter, start_http_server
from pydantic import Field

from closeloop.config import Settings, env_file
from closeloop.events import InvalidEventError, MetricsEvent, decode, encode
from closeloop.kafka.dead_letters import dead_letter
from closeloop.monitoring.gauges import LiveMetricsCollector
from closeloop.process_metrics import register_process_metrics

__all__ = ["ExporterSettings", "MetricsFollower", "main"]

_log = logging.getLogger("closeloop.metrics_exporter")


class ExporterSettings(Settings):
    """The shared settings plus how far back to read and when a version's gauges go."""

    metrics_exporter_lookback_s: float = Field(
        default=900.0, ge=0, description="At start, metrics events this recent are read again."
    )
    metrics_exporter_stale_s: float = Field(
        default=900.0,
        gt=0,
        description="A model version whose newest window ended this long ago is no longer shown.",
    )


class MetricsFollower:
    """Reads closeloop.metrics from ``lookback_s`` ago on, into a LiveMetricsCollector."""

    def __init__(
        self,
        collector: LiveMetricsCollector,
        *,
        bootstrap: str,
        topic: str,
        dlq_topic: str,
        lookback_s: float,
        registry: CollectorRegistry,
    ) -> None:
        self.collector = collector
        self.topic = topic
        self.dlq_topic = dlq_topic
        self.lookback_s = lookback_s
        self._bootstrap = bootstrap
        self._stop = threading.Event()
        self.events = Counter(
            "closeloop_metrics_exporter_events",
            "Metrics events read: kept (the newest window of its series), superseded or invalid.",
            ["outcome"],
            registry=registry,
        )

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        # No consumer group offsets: where to start is always "lookback ago", so
        # the group id only has to be unique.
        consumer = Consumer(
            {
                "bootstrap.servers": self._bootstrap,
                "group.id": f"closeloop-metrics-exporter-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "log_level": 3,
            }
        )
        producer = Producer(
            {"bootstrap.servers": self._bootstrap, "enable.idempotence": True, "log_level": 3}
        )
        try:
            consumer.assign(self._start_offsets(consumer))
            _log.info("following %s on %s from %.0f s ago", self.topic, self._bootstrap, self.lookback_s)
            while not self._stop.is_set():
                message = consumer.poll(1.0)
                if message is None:
                    continue
                if message.error() is not None:
                    _log.warning("Kafka: %s", message.error())
                    continue
                self.handle(message, producer)
        finally:
            consumer.close()
            producer.flush(10)

    def handle(self, message: Message, producer: Producer) -> None:
        try:
            event = decode(message.value() or b"", MetricsEvent)
        except InvalidEventError as exc:
            self.events.labels("invalid").inc()
            _log.warning(
                "not a metrics event at %s[%s]@%s: %s", self.topic, message.partition(), message.offset(), exc
            )
            letter = dead_letter(message, exc, topic=self.topic, rejected_by="metrics-exporter")
            producer.produce(self.dlq_topic, key=letter.key(), value=encode(letter))
            producer.poll(0)
            return
        self.events.labels("kept" if self.collector.observe(event) else "superseded").inc()

    def _start_offsets(self, consumer: Consumer) -> list[TopicPartition]:
        """Every partition of the topic at the first offset newer than the lookback."""
        while True:
            try:
                return self._offsets_since(consumer, time.time() - self.lookback_s)
            except KafkaException as exc:
                # A broker that has just started, or a topic just created, answers
                # "leader not available" for a moment: that is a wait, not a crash.
                _log.warning("waiting for Kafka at %s: %s", self._bootstrap, exc)
            if self._stop.wait(2.0):
                return []

    def _offsets_since(self, consumer: Consumer, since: float) -> list[TopicPartition]:
        partitions = consumer.list_topics(self.topic, timeout=10).topics[self.topic].partitions
        if not partitions:
            raise KafkaException(f"{self.topic} has no partitions yet")
        wanted = [TopicPartition(self.topic, p, int(since * 1000)) for p in sorted(partitions)]
        found = consumer.offsets_for_times(wanted, timeout=10)
        # -1: nothing that recent in the partition, so start at its end.
        return [
            TopicPartition(self.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END)
            for tp in found
        ]


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = ExporterSettings(_env_file=env_file())  # type: ignore[call-arg]
    registry = CollectorRegistry()
    register_process_metrics(registry)
    collector = LiveMetricsCollector(stale_after_s=settings.metrics_exporter_stale_s)
    registry.register(collector)
    follower = MetricsFollower(
        collector,
        bootstrap=settings.kafka_bootstrap,
        topic=settings.topics.metrics,
        dlq_topic=settings.topics.dlq,
        lookback_s=settings.metrics_exporter_lookback_s,
        registry=registry,
    )
    start_http_server(settings.metrics_exporter_port, addr=settings.host, registry=registry)
    _log.info("serving /metrics on %s:%s", settings.host, settings.metrics_exporter_port)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: follower.stop())
    follower.run()


if __name__ == "__main__":
    main()
