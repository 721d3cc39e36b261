"""closeloop's triggers: serialize() round-trips, and the alert filter keeps its model's alerts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from closeloop_airflow.triggers.await_alert import AwaitAlertTrigger, matching_alert
from closeloop_airflow.triggers.labeled_data import LabeledDataTrigger

from closeloop.events import AlertEvent, InvalidEventError, Window, encode

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _alert(model_name: str, kind: str = "quality", alert_id: str = "a1") -> bytes:
    return encode(
        AlertEvent(
            alert_id=alert_id,
            model_name=model_name,
            model_version="1",
            kind=kind,
            rule="r",
            metric="accuracy",
            value=0.5,
            threshold=0.8,
            window=Window(start=T0, end=T0 + timedelta(minutes=1)),
        )
    )


@pytest.mark.parametrize(
    "trigger",
    [
        AwaitAlertTrigger(
            model_name="m", topics=["b", "a"], kinds=["drift"], kafka_config_id="k", poll_timeout=2.0
        ),
        LabeledDataTrigger(
            model_name="m",
            min_examples=5,
            since="2026-01-01T00:00:00+00:00",
            poll_interval=1.0,
            lake_prefix="feedback",
            wait_first=True,
            lake_conn_id="lake_under_test",
        ),
    ],
)
def test_serialize_gives_back_the_constructor_kwargs(trigger) -> None:
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    cls = getattr(__import__(module, fromlist=[name]), name)
    assert cls is type(trigger)
    assert cls(**kwargs).serialize() == (path, kwargs)


def test_labeled_data_trigger_carries_a_connection_id_not_credentials() -> None:
    _, kwargs = LabeledDataTrigger(model_name="m", min_examples=1).serialize()
    assert kwargs["lake_conn_id"] == "closeloop_lake"
    assert not {"s3_endpoint", "s3_access_key", "s3_secret_key", "password"} & set(kwargs)


def test_alert_triggers_of_every_model_share_one_consumer() -> None:
    one = AwaitAlertTrigger(model_name="a", topics=["closeloop.alerts"])
    two = AwaitAlertTrigger(model_name="b", topics=["closeloop.alerts"])
    assert one.shared_stream_key() == two.shared_stream_key()


def test_matching_alert_keeps_the_model_and_kinds() -> None:
    assert matching_alert(_alert("m"), "m", []).model_name == "m"
    assert matching_alert(_alert("other"), "m", []) is None
    assert matching_alert(_alert("m", "latency"), "m", ["drift"]) is None
    assert matching_alert(_alert("m", "drift"), "m", ["drift"]).kind == "drift"
    with pytest.raises(InvalidEventError):
        matching_alert(b"{not json", "m", [])


def test_filter_yields_one_event_per_matching_alert() -> None:
    trigger = AwaitAlertTrigger(model_name="m", topics=["closeloop.alerts"])

    async def stream() -> AsyncIterator[bytes]:
        for value in (_alert("m", alert_id="x1"), _alert("n", alert_id="x2"), _alert("m", alert_id="x3")):
            yield value

    async def collect() -> list:
        return [event async for event in trigger.filter_shared_stream(stream())]

    events = asyncio.run(collect())
    assert [e.payload["alert_id"] for e in events] == ["x1", "x3"]
    assert AlertEvent.model_validate(events[0].payload).model_name == "m"
