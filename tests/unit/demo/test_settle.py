"""The `--settle` phase: what it records of the events after recovery, and its verdict, with fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest

from closeloop.demo.options import DemoFailed, DemoOptions
from closeloop.demo.settle import SettlePhase, record_after_recovery
from closeloop.demo.simulator import TrafficStats
from closeloop.demo.stability import Stability
from closeloop.demo.timeline import Timeline
from tests.unit.demo.synthetic import alert, loop_machine, metrics, update

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _record(stability: Stability, *events: object) -> None:
    for event in events:
        record_after_recovery(stability, event, window_s=5, quality_metric="accuracy")  # type: ignore[arg-type]


def test_alerts_by_source() -> None:
    stability = Stability(T0, 60, champion="2", replaced="1")
    _record(
        stability,
        alert(T0, version="2"),
        alert(T0, version="1", seconds=60, kind="drift", rule="psi_high"),
        alert(T0, version="2", seconds=60, source="prometheus", kind="latency", rule="p99"),
    )
    assert stability.alerts == [
        ("demo job", "accuracy_low", "2", "quality"),
        ("flink", "psi_high", "1", "drift"),
        ("Prometheus", "p99", "2", "latency"),
    ]


def test_promotions_of_versions_other_than_the_two_champions() -> None:
    stability = Stability(T0, 60, champion="2", replaced="1")
    _record(stability, update("2"), update("1", previous="2"), update("3", previous="2"))
    assert stability.promotions == ["3"]


def test_windows_of_the_new_champion_on_the_stack_job() -> None:
    stability = Stability(T0, 60, champion="2", replaced="1")
    _record(
        stability,
        metrics(T0, version="2", seconds=60, accuracy=0.8),
        metrics(T0, version="2", seconds=60, accuracy=0.9),  # a replay replaces the first copy
        metrics(T0, version="2", seconds=5),  # the demo job's
        metrics(T0, version="1", seconds=60),  # the replaced champion's
        metrics(T0, version="2", seconds=60, kind="sliding"),
    )
    assert [(w.version, w.quality) for w in stability.windows] == [("2", 0.9)]


class _Setup:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def cancel_demo_job(self) -> None:
        self.calls.append("cancel")

    def start_stack_job(self) -> None:
        self.calls.append("start")


class _Runs:
    def __init__(self, *answers: object) -> None:
        self.challenger = "2"
        self._answers = list(answers)

    def follow(self, alert_at: datetime) -> None:
        raise AssertionError("the settle phase does not follow the loop's run")

    def runs_since(self, alert_at: datetime) -> dict[str, str]:
        answer = self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]


def _phase(runs: _Runs, *events: tuple[object, datetime]) -> tuple[SettlePhase, _Setup, list[str]]:
    options = DemoOptions(settle_s=0.01)
    timeline = Timeline(T0, "accuracy")
    for seconds, step in enumerate(("drift", "alert", "recovered")):
        timeline.mark(step, T0 + timedelta(seconds=seconds * 10))
    loop = loop_machine(timeline, options, runs)
    for event, at in events:
        loop.put(event, at)  # type: ignore[arg-type]
    said: list[str] = []
    setup = _Setup()
    return SettlePhase(loop, setup, runs, said.append), setup, said  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("closeloop.demo.settle._TURN_S", 0.01)
    monkeypatch.setattr("closeloop.demo.settle._DECIDE_POLL_S", 0.01)


def test_a_quiet_settle_is_stable() -> None:
    runs = _Runs(httpx.ConnectTimeout("busy"), {"r1": "undecided"}, {"r1": "answered"})
    phase, setup, said = _phase(
        runs,
        (alert(T0, version="1", seconds=60), T0 + timedelta(seconds=5)),  # before recovery: not counted
        (alert(T0, version="1", seconds=60), T0 + timedelta(seconds=25)),
    )
    stability = phase.run(SimpleNamespace(stats=TrafficStats()))  # type: ignore[arg-type]
    assert setup.calls == ["cancel", "start"]
    assert phase.stability is stability and stability.stable
    assert (stability.champion, stability.replaced) == ("2", "1")
    assert stability.alerts == [("flink", "accuracy_low", "1", "quality")]
    assert stability.runs == {"r1": "answered"}  # asked again through a busy API and an undecided run
    assert said[-1] == stability.summary()
    assert phase.loop.timeline.marks[-1].step == "stable"


def test_an_alert_about_the_new_champion_is_unstable() -> None:
    phase, _, _ = _phase(
        _Runs({"r1": "retrained"}), (alert(T0, version="2", seconds=60), T0 + timedelta(seconds=25))
    )
    with pytest.raises(DemoFailed) as failed:
        phase.run(SimpleNamespace(stats=TrafficStats()))  # type: ignore[arg-type]
    assert failed.value.step == "stable"
    assert phase.stability is not None and not phase.stability.stable  # kept for the summary
    assert phase.loop.timeline.marks[-1].step == "unstable"
