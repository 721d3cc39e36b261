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
from datetime import UTC, datetime, timedelta

from confluent_kafka import Message
from prometheus_client import CollectorRegistry, Counter, start_http_server
from pydantic import Field

from closeloop.config import Settings
from closeloop.events import Event, InvalidEventError, MetricsEvent
from closeloop.kafka.consume import EventFollower
from closeloop.kafka.dead_letters import DeadLetterProducer
from closeloop.monitoring.gauges import LiveMetricsCollector
from closeloop.process_metrics import register_process_metrics

__all__ = ["ExporterSettings", "MetricsFollower", "main"]

_log = logging.getLogger("closeloop.metrics_exporter")


class ExporterSettings(Settings):
    """The shared settings plus where /metrics is served, how far back to read and when a version's
    gauges go."""

    host: str = Field(default="127.0.0.1", description="Address /metrics is served on.")
    metrics_exporter_port: int = Field(default=9105, description="Port /metrics is served on.")

    metrics_exporter_lookback_s: float = Field(
        default=900.0, ge=0, description="At start, metrics events this recent are read again."
    )
    metrics_exporter_stale_s: float = Field(
        default=900.0,
        gt=0,
        description="A model version whose newest window ended this long ago is no longer shown.",
    )


class MetricsFollower:
    """Reads closeloop.metrics from ``lookback_s`` before its creation on, into a LiveMetricsCollector."""

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
        self.lookback_s = lookback_s
        self._dead_letters = DeadLetterProducer(
            bootstrap, dlq_topic=dlq_topic, source_topic=topic, rejected_by="metrics-exporter"
        )
        # Lazy: it connects in run(); a stop() before that ends run() at once.
        self._follower = EventFollower(
            bootstrap,
            [topic],
            name="metrics-exporter",
            since=datetime.now(UTC) - timedelta(seconds=lookback_s),
            expected=MetricsEvent,
            on_invalid=self._invalid,
            poll_s=1.0,
        )
        self.events = Counter(
            "closeloop_metrics_exporter_events",
            "Metrics events read: kept (the newest window of its series), superseded or invalid.",
            ["outcome"],
            registry=registry,
        )

    def stop(self) -> None:
        self._follower.stop()

    def run(self) -> None:
        """Follow from ``lookback_s`` before creation until :meth:`stop`: what a restart shows again."""
        try:
            self._follower.run(self.handle)
        finally:
            self._dead_letters.close()

    def handle(self, event: Event, _message: Message | None = None) -> None:
        assert isinstance(event, MetricsEvent)  # the follower expects nothing else
        self.events.labels("kept" if self.collector.observe(event) else "superseded").inc()

    def _invalid(self, message: Message, error: InvalidEventError) -> None:
        self.events.labels("invalid").inc()
        self._dead_letters(message, error)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = ExporterSettings.load()
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
