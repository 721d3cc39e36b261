"""The labeled-data trigger counts the real lake in MinIO."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from closeloop_airflow.triggers.labeled_data import LabeledDataTrigger

from closeloop.config import Settings
from closeloop.stack.manager import LocalStack
from closeloop.stack.services.airflow import AirflowService
from tests.integration.training.lake_rows import write_labeled
from training.usecases import get_use_case


async def _first_event(trigger: LabeledDataTrigger, timeout: float) -> dict | None:
    async def first() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    try:
        return await asyncio.wait_for(first(), timeout)
    except TimeoutError:
        return None


def test_fires_once_the_lake_holds_enough_new_examples(
    stack: LocalStack, settings: Settings, lake_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The trigger reaches the lake through the connection the stack gives its triggerer.
    airflow = stack.services[AirflowService.name]
    assert isinstance(airflow, AirflowService)
    lake = "AIRFLOW_CONN_CLOSELOOP_LAKE"
    monkeypatch.setenv(lake, airflow.connections()[lake])
    digits = get_use_case("digits")
    rows = digits.base_data().test.head(40)
    end = datetime.now(UTC)
    write_labeled(settings, digits, rows, [0] * 40, prefix=lake_prefix, end=end, spacing=timedelta(seconds=1))
    since = (end - timedelta(seconds=19.5)).isoformat()  # the newest 20

    def trigger(min_examples: int, since: str | None = since) -> LabeledDataTrigger:
        return LabeledDataTrigger(
            model_name=digits.model_name,
            min_examples=min_examples,
            since=since,
            poll_interval=0.5,
            lake_prefix=lake_prefix,
        )

    assert asyncio.run(_first_event(trigger(20), 30)) == {"status": "ready", "count": 20, "since": since}
    assert asyncio.run(_first_event(trigger(21), 3)) is None
    assert asyncio.run(_first_event(trigger(40, since=None), 30))["count"] == 40
