"""Prometheus scrapes every service of the stack."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from closeloop.events import ModelUpdateEvent
from closeloop.kafka.admin import ensure_topics
from closeloop.kafka.publish import publish_events
from closeloop.stack.manager import LocalStack
from closeloop.stack.settings import StackSettings
from tests.waiting import NotYet, eventually

#: The broker's request metrics' families (kafka.network RequestMetrics beans).
REQUESTS = "kafka_network_requestmetrics"


def test_every_service_is_a_healthy_target(stack: LocalStack) -> None:
    prometheus = stack.services["prometheus"]
    expected: dict[str, set[str]] = {}
    for service in stack.services.values():
        for job, addresses in service.scrape_targets().items():
            expected.setdefault(job, set()).update(addresses)
    assert {"prometheus", "kafka", "minio", "mlflow", "airflow", "flink"} <= expected.keys()

    # A fresh Prometheus scrapes every 10 s; give each target a few rounds.
    @eventually(timeout=90, interval=3)
    def all_up() -> dict[str, dict[str, str]]:
        response = httpx.get(f"{prometheus.url}/api/v1/targets", params={"state": "active"}, timeout=5)
        response.raise_for_status()
        seen: dict[str, dict[str, str]] = {}
        for target in response.json()["data"]["activeTargets"]:
            seen.setdefault(target["labels"]["job"], {})[target["labels"]["instance"]] = target["health"]
        for job, addresses in expected.items():
            health = seen.get(job, {})
            if set(health) != addresses or any(h != "up" for h in health.values()):
                raise NotYet(f"{job}: {health}")
        return seen

    seen = all_up()
    assert set(seen["flink"]) == expected["flink"]  # JobManager and TaskManager reporters


def test_service_metrics_are_queryable(stack: LocalStack) -> None:
    """Each job's own metrics reach the TSDB, not just the `up` series."""
    prometheus = stack.services["prometheus"]
    queries = {
        "kafka": 'count({job="kafka", __name__=~"kafka_server_.*"})',
        "minio": 'count({job="minio", __name__=~"minio_.*"})',
        "flink": 'count({job="flink", __name__=~"flink_taskmanager_.*"})',
    }

    @eventually(timeout=60, interval=3)
    def present(query: str) -> float:
        response = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": query}, timeout=5)
        result = response.json()["data"]["result"]
        if not result:
            raise NotYet(query)
        return float(result[0]["value"][1])

    for job, query in queries.items():
        assert present(query) > 0, job


def test_kafka_exports_its_request_rates_and_times_not_every_histogram(
    stack: LocalStack, settings: StackSettings, unique_name: str
) -> None:
    """The broker's exporter keeps what an operator reads, and no more than a scrape can afford.

    Every request type's dozen histograms were 8,400 samples, and their percentiles 0.8 s of a
    core per scrape (docker/kafka/jmx-exporter.yaml).
    """
    # The broker counts a request type (and version) from its first request on.
    ensure_topics(settings.kafka_bootstrap, [unique_name], partitions=1)
    event = ModelUpdateEvent(model_name="exporter-model", version="1", alias="champion")
    publish_events(settings.kafka_bootstrap, unique_name, [event])
    [address] = stack.services["kafka"].scrape_targets()["kafka"]

    @eventually(timeout=60, interval=2)
    def scraped() -> tuple[set[str], list[dict[str, str]]]:
        """The metric families, and the labels of each request metric, once Produce is counted."""
        text = httpx.get(f"http://{address}/metrics", timeout=30).text
        families = list(text_string_to_metric_families(text))
        requests = [s.labels for f in families if f.name.startswith(REQUESTS) for s in f.samples]
        if not any(_is(labels, "RequestsPerSec", "Produce") for labels in requests):
            raise NotYet("no Produce request rate yet")
        return {f.name for f in families}, requests

    names, requests = scraped()
    assert any(_is(labels, "TotalTimeMs", "Produce") for labels in requests)
    assert not any(labels.get("name") == "LocalTimeMs" for labels in requests)
    assert len(requests) < 1_000, len(requests)
    assert any(name.startswith("kafka_server_brokertopicmetrics") for name in names)


def _is(labels: dict[str, str], name: str, request: str) -> bool:
    return labels.get("name") == name and labels.get("request") == request
