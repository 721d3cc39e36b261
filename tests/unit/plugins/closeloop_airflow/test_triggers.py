"""closeloop's triggers: serialize() round-trips, and the alert filter keeps its model's alerts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from closeloop_airflow.triggers.await_alert import AwaitAlertTrigger, matching_alert
from closeloop_airflow.triggers.labeled_data import LabeledDataTrigger
from closeloop_airflow.triggers.live_metrics import LiveMetricsTrigger, PromotionWatchTrigger

from closeloop.events import AlertEvent, InvalidEventError, MetricsEvent, Window, encode
from tests.metrics_windows import metrics_window

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
        LiveMetricsTrigger(
            model_name="m",
            canary="5",
            champion="4",
            since="2026-01-01T00:00:00+00:00",
            deadline="2026-01-01T02:00:00+00:00",
            rule={"metric": "accuracy", "higher_is_better": True, "margin": 0.01},
            topic="closeloop.metrics",
            poll_interval=5.0,
            kafka_config_id="kafka_under_test",
        ),
        PromotionWatchTrigger(
            model_name="m",
            champion="5",
            previous="4",
            promoted_at="2026-01-01T00:00:00+00:00",
            until="2026-01-01T00:30:00+00:00",
            rule={"metric": "accuracy", "higher_is_better": True, "margin": 0.01},
            topic="closeloop.metrics",
            poll_interval=5.0,
            kafka_config_id="kafka_under_test",
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


def _windows(version: str, accuracy: float, count: int = 3) -> list[MetricsEvent]:
    return [
        metrics_window("m", version, T0 + timedelta(minutes=i), {"accuracy": accuracy}) for i in range(count)
    ]


def _live_trigger(deadline: datetime) -> LiveMetricsTrigger:
    return LiveMetricsTrigger(
        model_name="m",
        canary="5",
        champion="4",
        since=T0.isoformat(),
        deadline=deadline.isoformat(),
        rule={"metric": "accuracy", "higher_is_better": True, "margin": 0.02, "min_labeled": 100},
        topic="closeloop.metrics",
        kafka_config_id="kafka_under_test",
    )


#: Where each read of the metrics topic started.
READS: list[datetime] = []


@pytest.fixture
def metrics_topic(monkeypatch: pytest.MonkeyPatch) -> list[MetricsEvent]:
    """What the trigger reads from Kafka: the list, as the test fills it; READS, where it read from."""
    import closeloop.kafka.consume

    held: list[MetricsEvent] = []
    READS.clear()
    monkeypatch.setenv(
        "AIRFLOW_CONN_KAFKA_UNDER_TEST", '{"conn_type": "kafka", "extra": {"bootstrap.servers": "k:9092"}}'
    )

    def read_since(bootstrap: str, topic: str, since: datetime, **_: object) -> list[MetricsEvent]:
        assert (bootstrap, topic) == ("k:9092", "closeloop.metrics")
        READS.append(since)
        return list(held)

    monkeypatch.setattr(closeloop.kafka.consume, "read_since", read_since)
    return held


def test_the_live_metrics_trigger_waits_decides_or_says_why_it_could_not(
    metrics_topic: list[MetricsEvent],
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    metrics_topic.extend(_windows("5", 0.95, count=1) + _windows("4", 0.9))
    assert _live_trigger(later).check()["status"] == "waiting"
    timeout = _live_trigger(datetime.now(UTC) - timedelta(seconds=1)).check()
    assert timeout["status"] == "timeout"
    assert timeout["reason"].startswith("no decision by ") and "1 shared windows (of 3)" in timeout["reason"]
    metrics_topic.extend(_windows("5", 0.95)[1:] + _windows("other", 0.1))
    decided = _live_trigger(later).check()
    assert (decided["status"], decided["passed"], decided["canary"]["labeled"]) == ("decided", True, 150)
    assert set(READS) == {T0}


def test_the_live_metrics_trigger_fires_once_decided(metrics_topic: list[MetricsEvent]) -> None:
    metrics_topic.extend(_windows("5", 0.5) + _windows("4", 0.9))

    async def first() -> dict:
        async for event in _live_trigger(datetime.now(UTC) + timedelta(hours=1)).run():
            return event.payload
        raise AssertionError("no event")

    payload = asyncio.run(first())
    assert payload["status"] == "decided" and payload["passed"] is False


def test_the_live_metrics_sensor_fails_on_a_timeout_with_the_reason() -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from closeloop_airflow.sensors.live_metrics import LiveMetricsSensor

    sensor = LiveMetricsSensor(
        task_id="live", model_name="m", canary="5", champion="4", since=T0.isoformat(), rule={}, topic="t"
    )
    with pytest.raises(AirflowFailException, match="m: no decision by x: too few labels"):
        sensor.execute_complete({}, {"status": "timeout", "reason": "no decision by x: too few labels"})  # type: ignore[arg-type]
    verdict = {"status": "decided", "passed": False, "reason": "worse"}
    assert sensor.execute_complete({}, verdict) == verdict  # type: ignore[arg-type]


def _watch_trigger(promoted_at: datetime, until: datetime) -> PromotionWatchTrigger:
    return PromotionWatchTrigger(
        model_name="m",
        champion="5",
        previous="4",
        promoted_at=promoted_at.isoformat(),
        until=until.isoformat(),
        rule={"metric": "accuracy", "higher_is_better": True, "margin": 0.02, "min_labeled": 100},
        topic="closeloop.metrics",
        kafka_config_id="kafka_under_test",
    )


def test_the_watch_reads_the_predecessor_back_as_far_as_it_watches(metrics_topic: list[MetricsEvent]) -> None:
    promoted = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    before = [
        metrics_window("m", "4", promoted - timedelta(minutes=3 - i), {"accuracy": 0.9}) for i in range(3)
    ]
    metrics_topic.extend(before)
    watching = _watch_trigger(promoted, promoted + timedelta(minutes=20)).check()
    assert watching["status"] == "waiting" and watching["reason"].startswith("watching: ")
    assert [promoted - timedelta(minutes=20)] == READS
    metrics_topic.extend(
        metrics_window("m", "5", promoted + timedelta(minutes=i), {"accuracy": a})
        for i, a in enumerate([0.5, 0.52, 0.49])
    )
    worse = _watch_trigger(promoted, promoted + timedelta(minutes=20)).check()
    assert (worse["status"], worse["passed"]) == ("decided", False)
    assert "champion 5 is worse than 4 was" in worse["reason"]


def test_the_watch_keeps_the_champion_at_its_end(metrics_topic: list[MetricsEvent]) -> None:
    metrics_topic.extend(_windows("5", 0.9))
    kept = _watch_trigger(T0, T0 + timedelta(minutes=30)).check()
    assert (kept["status"], kept["passed"]) == ("decided", True)
    assert kept["reason"].startswith("kept 5: too little live evidence")


def test_the_sensors_leave_out_rule_fields_a_param_left_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    import closeloop_airflow.triggers.live_metrics as live
    from closeloop_airflow.sensors.live_metrics import LiveMetricsSensor

    rules: list[dict] = []

    def check(trigger: LiveMetricsTrigger) -> dict:
        rules.append(trigger.rule)
        return {"status": "decided", "reason": "r"}

    monkeypatch.setattr(live.LiveMetricsTrigger, "check", check)
    sensor = LiveMetricsSensor(
        task_id="live",
        model_name="m",
        canary="5",
        champion="4",
        since=T0.isoformat(),
        rule={"metric": "accuracy", "higher_is_better": True, "margin": "0.02", "latency_ratio": "None"},
        topic="t",
        wait_minutes="2",
    )
    assert sensor.execute({}) == {"status": "decided", "reason": "r"}  # type: ignore[arg-type]
    assert rules == [{"metric": "accuracy", "higher_is_better": True, "margin": "0.02"}]
    assert sensor.timeout == 120.0
