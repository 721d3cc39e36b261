"""Prometheus alerting end to end on the real stack: a window of bad live accuracy on
closeloop.metrics becomes a gauge on the metrics exporter, Prometheus' rule fires,
Alertmanager posts it to the gateway's webhook, and an AlertEvent lands on
closeloop.alerts, where the retrain DAGs listen."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from confluent_kafka import Producer

from closeloop.config import Settings
from closeloop.events import AlertEvent, DeadLetterEvent, LatencyQuantiles, MetricsEvent, Window
from closeloop.kafka.publish import publish_events
from closeloop.stack.manager import LocalStack
from tests.integration.kafka_reading import end_offsets, read_to_end
from tests.waiting import NotYet, eventually


def bad_window(model_name: str) -> MetricsEvent:
    end = datetime.now(UTC)
    return MetricsEvent(
        model_name=model_name,
        model_version="7",
        task="classification",
        window=Window(start=end - timedelta(seconds=60), end=end),
        predictions=300,
        feedback=120,
        labeled=120,
        errors=0,
        label_coverage=0.4,
        error_rate=0.0,
        quality={"accuracy": 0.55, "macro_f1": 0.5},
        latency_ms=LatencyQuantiles(p50=2.0, p95=5.0, p99=9.0),
    )


def test_a_prometheus_rule_reaches_kafka_as_an_alert_event(stack: LocalStack, settings: Settings) -> None:
    model_name = f"alerting-{uuid.uuid4().hex[:8]}"
    exporter = stack.services["metrics-exporter"]
    prometheus = stack.services["prometheus"]
    alertmanager = stack.services["alertmanager"]
    since = end_offsets(settings.kafka_bootstrap, settings.topics.alerts)
    publish_events(settings.kafka_bootstrap, settings.topics.metrics, [bad_window(model_name)])

    @eventually(timeout=30, interval=1)
    def exported() -> None:
        text = httpx.get(f"{exporter.url}/metrics", timeout=5).text
        if f'model_name="{model_name}"' not in text:
            raise NotYet("the exporter has not shown the window yet")
        assert 'metric="accuracy"' in text

    exported()

    # A 10 s scrape, then the rule's `for: 1m`, then Alertmanager's 10 s group wait.
    @eventually(timeout=150, interval=3)
    def firing() -> dict:
        query = f'ALERTS{{alertname="CloseloopAccuracyLow", model_name="{model_name}", alertstate="firing"}}'
        result = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": query}, timeout=5).json()
        if not result["data"]["result"]:
            raise NotYet("the rule has not fired yet")
        return result["data"]["result"][0]["metric"]

    labels = firing()
    assert (labels["model_version"], labels["kind"]) == ("7", "quality")

    @eventually(timeout=60, interval=2)
    def on_kafka() -> AlertEvent:
        ours = [
            e
            for e in read_to_end(settings.kafka_bootstrap, settings.topics.alerts, since)
            if isinstance(e, AlertEvent) and e.model_name == model_name
        ]
        if not ours:
            raise NotYet("no AlertEvent for the model on Kafka yet")
        return ours[0]

    event = on_kafka()
    assert event.source == "prometheus"
    assert (event.rule, event.kind, event.metric) == ("CloseloopAccuracyLow", "quality", "quality.accuracy")
    assert (event.model_version, event.value, event.threshold) == ("7", 0.55, 0.85)
    assert event.alert_id.startswith("prom-")

    # Alertmanager holds it too, as routed to the gateway.
    alerts = httpx.get(
        f"{alertmanager.url}/api/v2/alerts", params={"filter": f'model_name="{model_name}"'}, timeout=5
    ).json()
    assert [a["receivers"][0]["name"] for a in alerts] == ["closeloop-gateway"]


def test_the_exporter_sends_what_is_not_a_metrics_event_to_the_dead_letter_topic(
    stack: LocalStack, settings: Settings
) -> None:
    marker = f"not-metrics-{uuid.uuid4().hex[:8]}"
    since = end_offsets(settings.kafka_bootstrap, settings.topics.dlq)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(settings.topics.metrics, key=marker, value=f'{{"schema": "{marker}"}}'.encode())
    assert producer.flush(10) == 0

    @eventually(timeout=30, interval=1)
    def dead_letter() -> DeadLetterEvent:
        for event in read_to_end(settings.kafka_bootstrap, settings.topics.dlq, since):
            if isinstance(event, DeadLetterEvent) and event.message_key == marker:
                return event
        raise NotYet("no dead letter from the exporter yet")

    letter = dead_letter()
    assert (letter.rejected_by, letter.field, letter.source_topic) == (
        "metrics-exporter",
        "schema",
        settings.topics.metrics,
    )
    assert marker in (letter.original or "")
    # ...and the exporter still runs.
    assert httpx.get(f"{stack.services['metrics-exporter'].url}/metrics", timeout=5).status_code == 200
