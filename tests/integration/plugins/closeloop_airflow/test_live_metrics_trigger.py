"""The live-metrics trigger reads the windows a streaming job publishes on the real Kafka, through the
connection the stack gives its triggerer, and decides once both versions have enough labels."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from closeloop_airflow.triggers.live_metrics import LiveMetricsTrigger

from closeloop.config import Settings
from closeloop.events import MetricsEvent
from closeloop.kafka.admin import ensure_topics
from closeloop.kafka.publish import publish_events
from closeloop.stack.manager import LocalStack
from closeloop.stack.services.airflow import AirflowService
from tests.metrics_windows import metrics_window


def _window(version: str, start: datetime, accuracy: float) -> MetricsEvent:
    return metrics_window(
        "digits-canary-test", version, start, {"accuracy": accuracy}, labeled=100, predictions=200
    )


def test_the_trigger_decides_on_the_windows_kafka_holds(
    stack: LocalStack, settings: Settings, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    airflow = stack.services[AirflowService.name]
    assert isinstance(airflow, AirflowService)
    monkeypatch.setenv("AIRFLOW_CONN_KAFKA_DEFAULT", airflow.connections()["AIRFLOW_CONN_KAFKA_DEFAULT"])
    ensure_topics(settings.kafka_bootstrap, [unique_name], partitions=2)
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    trigger = LiveMetricsTrigger(
        model_name="digits-canary-test",
        canary="2",
        champion="1",
        since=since.isoformat(),
        deadline=(datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
        rule={"metric": "accuracy", "higher_is_better": True, "margin": 0.02, "min_labeled": 300},
        topic=unique_name,
        poll_interval=0.5,
    )
    starts = [since + timedelta(minutes=i) for i in range(4)]
    publish_events(settings.kafka_bootstrap, unique_name, [_window("1", s, 0.9) for s in starts])
    publish_events(settings.kafka_bootstrap, unique_name, [_window("2", s, 0.6) for s in starts[:2]])
    assert trigger.check()["status"] == "waiting"

    async def first() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    async def decide_once_the_rest_arrives() -> dict:
        waiting = asyncio.ensure_future(first())
        await asyncio.sleep(1.5)
        assert not waiting.done()
        await asyncio.to_thread(
            publish_events, settings.kafka_bootstrap, unique_name, [_window("2", s, 0.62) for s in starts[2:]]
        )
        return await asyncio.wait_for(waiting, 60)

    payload = asyncio.run(decide_once_the_rest_arrives())
    assert (payload["status"], payload["passed"]) == ("decided", False)
    assert payload["canary"]["labeled"] == payload["champion"]["labeled"] == 400
    assert "worse than champion 1 by more than 0.02" in payload["reason"]
