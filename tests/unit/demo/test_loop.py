"""The demo's loop as a state machine: a synthetic timeline of events, turn by turn, no services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from closeloop.demo.loop import LoopMachine
from closeloop.demo.options import DemoFailed, DemoOptions
from closeloop.demo.simulator import TrafficStats
from closeloop.demo.timeline import Timeline
from tests.unit.demo.synthetic import alert, loop_machine, metrics, update

OPTIONS = DemoOptions(drift_start_s=20, window_s=5, loop_timeout_s=300, rate_per_s=30)


class FakeRetrain:
    """The retrain run as Airflow would report it, once the alert has started it."""

    def __init__(
        self,
        timeline: Timeline,
        *,
        challenger: str = "2",
        error: Exception | None = None,
        canary: bool = False,
    ) -> None:
        self.timeline = timeline
        self.challenger: str | None = None
        self.canary = canary
        #: Given by a test, as end_canary's XCom would.
        self.verdict: dict | None = None
        self.followed: list[datetime] = []
        self._new = challenger
        self._error = error

    def follow(self, alert_at: datetime) -> None:
        self.followed.append(alert_at)
        if self._error is not None:
            raise self._error
        for seconds, step in enumerate(("dag_start", "dataset", "trained", "gated"), start=1):
            self.timeline.mark(step, alert_at + timedelta(seconds=seconds), step)
        self.challenger = self._new


def _machine(
    started: datetime, options: DemoOptions = OPTIONS, **retrain: object
) -> tuple[LoopMachine, FakeRetrain]:
    timeline = Timeline(started, "accuracy")
    fake = FakeRetrain(timeline, **retrain)  # type: ignore[arg-type]
    machine = loop_machine(timeline, options, fake)
    return machine, fake


def _steps(timeline: Timeline) -> list[str]:
    return [m.step for m in timeline.marks]


def test_the_loop_closes_through_every_milestone_in_order() -> None:
    # The gateway stamps the first answer of a version with the wall clock: the synthetic
    # timeline ends now.
    t0 = datetime.now(UTC) - timedelta(seconds=200)
    machine, retrain = _machine(t0)
    stats = TrafficStats(predictions=12, feedback=9)

    assert not machine.step(stats, now=t0 + timedelta(seconds=10))
    assert machine.view.phase == "clean traffic; drift at 20 s"
    assert machine.view.traffic == "12 predictions, 9 feedback, versions served {}"
    for start in (0, 5, 10):
        machine.put(metrics(t0 + timedelta(seconds=start)), t0 + timedelta(seconds=start + 6))
    machine.put(metrics(t0, seconds=60), t0 + timedelta(seconds=61))  # the stack job's: not the demo's
    assert not machine.step(stats, now=t0 + timedelta(seconds=21))
    assert machine.timeline.first("drift").at == t0 + timedelta(seconds=20)  # type: ignore[union-attr]
    assert machine.view.phase == "drift injected: waiting for the streaming job to alert"
    assert len(machine.timeline.windows) == 3

    machine.put(alert(t0 + timedelta(seconds=25)), t0 + timedelta(seconds=30))
    machine.put(update("1", previous="0"), t0 + timedelta(seconds=31))  # the first champion again
    assert not machine.step(stats, now=t0 + timedelta(seconds=32))
    assert retrain.followed == [t0 + timedelta(seconds=30)]
    assert machine.challenger == "2"
    assert machine.view.phase == "gate passed: promoting"

    machine.put(update("2"), t0 + timedelta(seconds=60))
    assert not machine.step(stats, now=t0 + timedelta(seconds=61))
    assert machine.view.phase == "promoted: waiting for the gateway to serve it"
    assert machine.timeline.first("promoted").detail == "version 2 is champion (was 1)"  # type: ignore[union-attr]

    machine.on_prediction(0.0, {"model_version": "2"})
    served_at = machine._first_served[("2", "champion")]
    assert not machine.step(stats, now=served_at)
    assert machine.view.phase == "the new champion serves: waiting for its live quality"
    assert len(retrain.followed) == 2  # followed until promoted, not after

    # Windows of the new champion: one with too few labels, then two good ones.
    start = served_at + timedelta(seconds=1)
    machine.put(metrics(start, version="2", accuracy=0.2, labeled=29), start)
    machine.put(metrics(start + timedelta(seconds=5), version="2", accuracy=0.9), start)
    assert not machine.step(stats, now=start + timedelta(seconds=11))
    machine.put(metrics(start + timedelta(seconds=10), version="2", accuracy=0.95), start)
    assert machine.step(stats, now=start + timedelta(seconds=16))
    assert _steps(machine.timeline) == [
        "drift",
        "alert",
        "dag_start",
        "dataset",
        "trained",
        "gated",
        "promoted",
        "served",
        "recovered",
    ]
    assert machine.timeline.first("recovered").detail == "live accuracy of version 2: 0.925 ≥ 0.85"  # type: ignore[union-attr]
    assert machine.timeline.breakdown().missing is None
    # Another turn (one more window, for the plot) still says closed and marks nothing new.
    assert machine.step(stats, now=start + timedelta(seconds=18))
    assert len(machine.timeline.marks) == 9


def test_promotion_is_when_the_gateway_first_served_it_if_that_came_before_the_event() -> None:
    t0 = datetime.now(UTC) - timedelta(seconds=100)
    machine, _ = _machine(t0)
    machine.put(alert(t0 + timedelta(seconds=25)), t0 + timedelta(seconds=30))
    machine.step(TrafficStats(), now=t0 + timedelta(seconds=31))
    machine.on_prediction(0.0, {"model_version": "2"})
    served_at = machine._first_served[("2", "champion")]
    machine.put(update("2"), served_at + timedelta(seconds=3))
    machine.step(TrafficStats(), now=served_at + timedelta(seconds=4))
    promoted = machine.timeline.first("promoted")
    assert promoted is not None and promoted.at == served_at
    assert promoted.detail.endswith("; the gateway's registry poll saw it before the event")
    assert machine.timeline.first("served").at == served_at  # type: ignore[union-attr]


def test_alerts_that_are_not_the_loops_own_are_notes() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    machine, retrain = _machine(t0)
    machine.put(alert(t0 + timedelta(seconds=5)), t0 + timedelta(seconds=11))
    machine.put(alert(t0, seconds=60, version="0"), t0 + timedelta(seconds=61))
    machine.put(alert(t0, seconds=60, source="prometheus", rule="p99"), t0 + timedelta(seconds=62))
    machine.step(TrafficStats(), now=t0 + timedelta(seconds=63))
    assert _steps(machine.timeline) == [
        "alert (before drift)",
        "drift",
        "alert (stack job)",
        "alert (Prometheus)",
    ]
    assert machine.timeline.first("alert") is None and retrain.followed == []
    # After the drift, the first of the demo job's alerts is the milestone, a second one a note.
    machine.put(alert(t0 + timedelta(seconds=60)), t0 + timedelta(seconds=66))
    machine.put(alert(t0 + timedelta(seconds=65), rule="drift"), t0 + timedelta(seconds=71))
    machine.step(TrafficStats(), now=t0 + timedelta(seconds=72))
    alerts = [m for m in machine.timeline.marks if m.step == "alert"]
    assert [m.at for m in alerts] == [t0 + timedelta(seconds=66), t0 + timedelta(seconds=71)]
    assert alerts[0].detail == "accuracy_low on version 1: accuracy=0.5 vs 0.8"


def test_a_busy_airflow_api_is_asked_again_next_turn() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    machine, retrain = _machine(t0, error=httpx.ConnectTimeout("busy"))
    machine.put(alert(t0 + timedelta(seconds=25)), t0 + timedelta(seconds=30))
    assert not machine.step(TrafficStats(), now=t0 + timedelta(seconds=31))
    assert not machine.step(TrafficStats(), now=t0 + timedelta(seconds=32))
    assert len(retrain.followed) == 2
    assert machine.view.phase == "alerted: waiting for Airflow to start the retrain"


def test_a_failure_of_the_retrain_run_ends_the_loop() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    machine, _ = _machine(t0, error=DemoFailed("gate", "the gate kept the champion"))
    machine.put(alert(t0 + timedelta(seconds=25)), t0 + timedelta(seconds=30))
    with pytest.raises(DemoFailed, match="gate: the gate kept the champion"):
        machine.step(TrafficStats(), now=t0 + timedelta(seconds=31))


def test_no_alert_before_the_timeout_names_the_missing_step() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    machine, _ = _machine(t0)
    machine.put(metrics(t0 + timedelta(seconds=20), accuracy=0.61), t0 + timedelta(seconds=26))
    assert not machine.step(TrafficStats(), now=t0 + timedelta(seconds=30))
    assert not machine.step(TrafficStats(), now=t0 + timedelta(seconds=320))  # exactly the timeout
    with pytest.raises(DemoFailed) as failed:
        machine.step(TrafficStats(), now=t0 + timedelta(seconds=321))
    assert failed.value.step == "alert"
    assert failed.value.why == (
        "no alert after the drift; the last windows' accuracy: 0.61 (gave up 300 s after the drift)"
    )


def test_a_new_champion_that_does_not_recover_fails_at_once() -> None:
    t0 = datetime.now(UTC) - timedelta(seconds=100)
    machine, _ = _machine(t0)
    machine.put(alert(t0 + timedelta(seconds=25)), t0 + timedelta(seconds=30))
    machine.put(update("2"), t0 + timedelta(seconds=40))
    machine.step(TrafficStats(), now=t0 + timedelta(seconds=41))
    machine.on_prediction(0.0, {"model_version": "2"})
    served_at = machine._first_served[("2", "champion")]
    for offset in (1, 6):
        start = served_at + timedelta(seconds=offset)
        machine.put(metrics(start, version="2", accuracy=0.7), start)
    with pytest.raises(DemoFailed) as failed:
        machine.step(TrafficStats(), now=served_at + timedelta(seconds=12))
    assert failed.value.step == "recovered"
    assert failed.value.why.startswith("version 2's live accuracy stayed below 0.85 (last windows: ")


@pytest.mark.parametrize(
    ("reached", "phase"),
    [
        ((), "clean traffic; drift at 20 s"),
        (("drift",), "drift injected: waiting for the streaming job to alert"),
        (("drift", "alert"), "alerted: waiting for Airflow to start the retrain"),
        (("drift", "alert", "dag_start"), "retraining: building the dataset"),
        (("drift", "alert", "dag_start", "dataset"), "retraining: training the challenger"),
        (("drift", "alert", "dag_start", "dataset", "trained"), "retraining: gate"),
    ],
)
def test_the_phase_says_what_the_loop_waits_for(reached: tuple[str, ...], phase: str) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    machine, _ = _machine(t0)
    for seconds, step in enumerate(reached):
        machine.timeline.mark(step, t0 + timedelta(seconds=seconds))
    assert machine.phase() == phase


def test_a_canary_serves_its_share_then_all_traffic_once_the_live_gate_promotes_it() -> None:
    t0 = datetime.now(UTC) - timedelta(seconds=200)
    machine, retrain = _machine(t0, canary=True)
    stats = TrafficStats()
    machine.put(alert(t0 + timedelta(seconds=25)), t0 + timedelta(seconds=30))
    assert not machine.step(stats, now=t0 + timedelta(seconds=21))
    assert not machine.step(stats, now=t0 + timedelta(seconds=32))
    assert machine.view.phase == "gate passed: promoting"

    machine.on_prediction(0.0, {"model_version": "2", "served_as": "canary"})
    as_canary = machine._first_served[("2", "canary")]
    assert not machine.step(stats, now=as_canary)
    assert machine.view.phase == "the canary serves its share: waiting for the live gate"
    assert machine.timeline.first("canary").at == as_canary  # type: ignore[union-attr]
    followed = len(retrain.followed)

    # Promoted by the live gate: the event is the promotion, not the canary's first answer.
    promoted_at = as_canary + timedelta(seconds=40)
    machine.put(update("2"), promoted_at)
    assert not machine.step(stats, now=promoted_at)
    assert machine.timeline.first("promoted").at == promoted_at  # type: ignore[union-attr]
    assert len(retrain.followed) == followed + 1, "followed until the live gate's verdict is read"
    retrain.verdict = {"passed": True, "reason": "canary 2 is not worse"}
    machine.on_prediction(0.0, {"model_version": "2", "served_as": "champion"})
    assert not machine.step(stats, now=promoted_at + timedelta(seconds=1))
    assert len(retrain.followed) == followed + 1
    served = machine.timeline.first("served")
    assert served is not None and served.at == machine._first_served[("2", "champion")]

    parts = machine.timeline.breakdown().parts
    assert list(parts)[-3:] == ["canary reload", "canary phase", "gateway reload"]
    assert parts["canary phase"] == pytest.approx(40.0)
