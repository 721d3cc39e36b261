"""Judging the demo's stability phase: answered alerts and volume retrains are fine; a condition of the
new champion, or a retrain for one, is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from closeloop.demo.stability import Stability, run_outcome
from closeloop.demo.timeline import WindowPoint

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _stability() -> Stability:
    return Stability(T0, 300, champion="7", replaced="6")


def _window(minute: int, quality: float, labeled: int, psi: float) -> WindowPoint:
    start = T0 + timedelta(minutes=minute)
    return WindowPoint(start, start + timedelta(minutes=1), "7", labeled + 10, labeled, quality, psi)


@pytest.mark.parametrize(
    ("why", "kinds", "outcome"),
    [
        ("skipped", [], "answered"),
        ("success", ["drift"], "retrained"),
        ("success", ["feedback_volume"], "volume"),
        ("success", ["feedback_volume", "quality"], "retrained"),
        ("success", [], "retrained"),
        ("failed", ["feedback_volume"], "retrained"),
        ("running", [], "undecided"),
        ("queued", [], "undecided"),
        (None, [], "undecided"),
    ],
)
def test_a_runs_outcome_is_what_its_why_task_decided(why: str | None, kinds: list[str], outcome: str) -> None:
    tasks = {"why": {"state": why}, "train": {"state": None}}
    assert run_outcome(tasks, {"alert_kinds": kinds}) == outcome


def test_a_volume_run_that_also_carries_answered_alerts_about_the_old_version_is_volume() -> None:
    # Alerts queued while an earlier run ran are batched into the next one: Prometheus' quality
    # alert about the replaced version 6 rode along with the volume alert about version 7.
    reason = {
        "champion_version": "7",
        "alert_kinds": ["feedback_volume", "quality"],
        "alerts": [
            {"model_version": "7", "kind": "feedback_volume"},
            {"model_version": "6", "kind": "quality"},
        ],
    }
    tasks = {"why": {"state": "success"}}
    assert run_outcome(tasks, reason) == "volume"
    reason["alerts"].append({"model_version": "7", "kind": "drift"})
    assert run_outcome(tasks, reason) == "retrained"


def test_a_run_without_a_why_task_yet_is_undecided() -> None:
    assert run_outcome({}) == "undecided"


def test_alerts_about_the_replaced_champion_answered_leave_the_loop_stable() -> None:
    stability = _stability()
    stability.alerts = [("flink", "accuracy-drop", "6", "quality"), ("Prometheus", "drift", "6", "drift")]
    stability.runs = {"run-a": "answered", "run-b": "answered"}
    assert stability.stable and stability.retrains == [] and stability.condition_alerts == []
    assert "2 alert(s), 0 about the new champion; 0 retrain(s), 2 run(s) skipped" in stability.summary()


def test_a_feedback_volume_retrain_and_its_promotion_are_policy() -> None:
    stability = _stability()
    stability.alerts = [("flink", "feedback-volume", "7", "feedback_volume")]
    stability.runs = {"run-a": "volume"}
    stability.promotions = ["8"]
    assert stability.stable
    assert stability.volume_retrains == ["run-a"] and stability.retrains == []
    assert "1 for the feedback-volume policy, 1 promotion(s)" in stability.summary()


def test_an_alert_about_the_new_champion_makes_it_unstable_even_if_answered() -> None:
    stability = _stability()
    stability.alerts = [("flink", "input-drift", "7", "drift")]
    stability.runs = {"run-a": "answered"}
    assert not stability.stable
    assert "alerts about the new champion: input-drift on version 7 (flink)" in stability.why_not()


def test_a_run_still_queued_at_the_end_is_judged_by_its_alerts() -> None:
    stability = _stability()
    stability.alerts = [("flink", "feedback-volume", "7", "feedback_volume")]
    stability.runs = {"run-a": "volume", "run-b": "undecided"}
    assert stability.stable and stability.retrains == []


def test_a_run_that_retrained_for_a_condition_makes_it_unstable() -> None:
    stability = _stability()
    stability.runs = {"run-a": "answered", "run-b": "retrained"}
    stability.promotions = ["8"]
    assert not stability.stable and stability.retrains == ["run-b"]
    assert "1 more retrain run(s) (run-b); promotion(s) of version(s) 8" in stability.why_not()


def test_quality_is_weighted_by_labels_and_psi_is_the_largest() -> None:
    stability = _stability()
    stability.windows = [_window(0, 1.0, 30, 0.05), _window(1, 0.9, 10, 0.12), _window(2, 0.0, 0, 0.5)]
    assert stability.quality == pytest.approx((30 * 1.0 + 10 * 0.9) / 40)
    assert stability.max_psi == 0.5
    assert _stability().quality is None and _stability().max_psi is None


def test_its_json_names_the_retrains_and_the_verdict() -> None:
    stability = _stability()
    stability.runs = {"run-a": "retrained", "run-b": "volume"}
    data = stability.to_json()
    assert data["stable"] is False and data["retrains"] == ["run-a"] and data["volume_retrains"] == ["run-b"]
    assert data["runs"] == {"run-a": "retrained", "run-b": "volume"} and data["replaced"] == "6"
