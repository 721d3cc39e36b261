"""The labeled-data sensor defers only when labels are missing; its trigger then counts an interval later."""

from __future__ import annotations

import asyncio
import time

import pytest
from airflow.sdk.exceptions import TaskDeferred
from closeloop_airflow.sensors.labeled_data import WaitForLabeledDataSensor
from closeloop_airflow.triggers.labeled_data import LabeledDataTrigger

SINCE = "2026-01-01T00:00:00+00:00"


def _sensor(min_examples: int) -> WaitForLabeledDataSensor:
    return WaitForLabeledDataSensor(
        task_id="wait_for_labels", model_name="m", min_examples=min_examples, since=SINCE, poll_interval=0.2
    )


def _lake_holds(monkeypatch: pytest.MonkeyPatch, counts: list[int]) -> list[float]:
    """The lake answers ``counts``, one per count; returns when each count was taken."""
    taken: list[float] = []

    def count(self: LabeledDataTrigger) -> int:
        taken.append(time.monotonic())
        return counts[min(len(taken), len(counts)) - 1]

    monkeypatch.setattr(LabeledDataTrigger, "count", count)
    return taken


def test_enough_labels_already_there_succeeds_without_deferring(monkeypatch: pytest.MonkeyPatch) -> None:
    _lake_holds(monkeypatch, [12])
    assert _sensor(10).execute({}) == {"status": "ready", "count": 12, "since": SINCE}


def test_too_few_labels_defer_to_a_trigger_that_counts_an_interval_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    taken = _lake_holds(monkeypatch, [3, 4, 11])
    with pytest.raises(TaskDeferred) as deferred:
        _sensor(10).execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, LabeledDataTrigger)
    assert (trigger.min_examples, trigger.since, trigger.wait_first) == (10, SINCE, True)
    assert (trigger.lake_conn_id, trigger.lake_prefix) == ("closeloop_lake", None)

    async def first_event() -> tuple[dict, float]:
        started = time.monotonic()
        async for event in trigger.run():
            return event.payload, started
        raise AssertionError("the trigger ended without an event")

    payload, started = asyncio.run(first_event())
    assert payload == {"status": "ready", "count": 11, "since": SINCE}
    # The sensor counted once; the trigger's first count waited one interval.
    assert len(taken) == 3 and taken[1] - started >= 0.2


def test_no_minimum_does_not_count_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = _lake_holds(monkeypatch, [0])
    assert _sensor(0).execute({})["status"] == "skipped"
    assert taken == []
