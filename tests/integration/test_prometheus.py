"""Prometheus scrapes every service of the stack."""

from __future__ import annotations

import httpx

from closeloop.stack.manager import LocalStack
from tests.waiting import NotYet, eventually


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
