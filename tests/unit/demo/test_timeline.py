"""The demo's bookkeeping: milestones, windows, time to recovery by part, the recovery verdict, the plot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from closeloop.demo.options import DemoOptions
from closeloop.demo.plot import save_plot
from closeloop.demo.timeline import OPTIONAL, STEPS, Timeline, WindowPoint, judge_recovery
from closeloop.events import FeatureDrift, MetricsEvent, Window

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def metrics(end_s: int, *, version: str = "1", accuracy: float = 0.9, kind: str = "tumbling") -> MetricsEvent:
    return MetricsEvent(
        model_name="closeloop-digits",
        model_version=version,
        task="classification",
        window=Window(start=at(end_s - 5), end=at(end_s), kind=kind),
        predictions=100,
        feedback=80,
        labeled=80,
        errors=0,
        label_coverage=0.8,
        error_rate=0.0,
        quality={"accuracy": accuracy},
        drift={
            "pixel_1": FeatureDrift(psi=0.2, js=0.1),
            "pixel_2": FeatureDrift(psi=3.5, js=0.6),
            "__output__": FeatureDrift(psi=9.0, js=0.7),
        },
    )


def full_timeline() -> Timeline:
    timeline = Timeline(T0, "accuracy")
    # Out of order on purpose: milestones arrive from Kafka and Airflow as they are found.
    for step, seconds in [
        ("alert", 62.0),
        ("drift", 45.0),
        ("dag_start", 64.5),
        ("dataset", 75.0),
        ("trained", 93.0),
        ("gated", 104.0),
        ("promoted", 106.0),
        ("served", 106.4),
    ]:
        timeline.mark(step, at(seconds))
    return timeline


def test_time_to_recovery_is_drift_to_serving_and_its_parts_add_up() -> None:
    breakdown = full_timeline().breakdown()
    assert breakdown.missing is None
    assert breakdown.total_s == pytest.approx(61.4)
    assert breakdown.parts == {
        "detection": 17.0,
        "alert to DAG start": 2.5,
        "dataset": 10.5,
        "training": 18.0,
        "gate": 11.0,
        "promotion": 2.0,
        "gateway reload": 0.4,
    }
    assert list(breakdown.parts) == [part for step, part in STEPS[1:] if step not in OPTIONAL]
    assert sum(breakdown.parts.values()) == pytest.approx(breakdown.total_s)


def test_a_missing_milestone_is_named_and_stops_the_sum() -> None:
    timeline = Timeline(T0, "accuracy")
    assert timeline.breakdown().missing == "drift"
    timeline.mark("drift", at(45))
    timeline.mark("alert", at(60))
    breakdown = timeline.breakdown()
    assert breakdown.missing == "dag_start"
    assert breakdown.total_s is None
    assert breakdown.parts == {"detection": 15.0}


def test_the_first_mark_of_a_step_counts() -> None:
    timeline = Timeline(T0, "accuracy")
    assert timeline.mark("alert", at(60), "first")
    assert not timeline.mark("alert", at(70), "second")
    timeline.note("alert", at(70), "second")
    first = timeline.first("alert")
    assert first is not None and first.detail == "first"
    assert [m.detail for m in timeline.marks] == ["first", "second"]


def test_windows_keep_tumbling_ones_once_in_time_order() -> None:
    timeline = Timeline(T0, "accuracy")
    assert timeline.add_window(metrics(10, kind="sliding")) is None
    timeline.add_window(metrics(10, accuracy=0.5))
    timeline.add_window(metrics(5))
    point = timeline.add_window(metrics(10, accuracy=0.6))  # a replay of the same window replaces it
    assert point is not None and point.max_psi == 3.5  # the output's drift is not an input's
    assert [(timeline.seconds(w.end), w.quality) for w in timeline.windows] == [(5.0, 0.9), (10.0, 0.6)]


def window(start_s: float, version: str, quality: float, labeled: int) -> WindowPoint:
    return WindowPoint(at(start_s), at(start_s + 5), version, 100, labeled, quality, 1.0)


def test_recovery_pools_the_new_versions_first_windows_after_it_serves() -> None:
    windows = [
        window(95, "2", 0.10, 50),  # before it served: not judged
        window(100, "1", 0.30, 50),  # the old version: not judged
        window(100, "2", 0.95, 3),  # too few labels
        window(105, "2", 0.90, 60),
        window(110, "2", 0.80, 20),
        window(115, "2", 0.10, 80),  # beyond the windows needed
    ]
    assert judge_recovery(windows, "2", since=at(100), min_labeled=10, needed=2) == pytest.approx(
        (0.9 * 60 + 0.8 * 20) / 80
    )
    assert judge_recovery(windows[:4], "2", since=at(100), min_labeled=10, needed=2) is None


def test_options_refuse_a_drift_before_two_windows_and_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="two windows"):
        DemoOptions(window_s=10, drift_start_s=15)
    with pytest.raises(ValueError, match="for digits; known kinds: thickness"):
        DemoOptions(drift_kind="blur")
    with pytest.raises(ValueError, match="unknown use case 'mnist'"):
        DemoOptions(use_case="mnist")
    with pytest.raises(ValueError, match="diabetes use case has no demo"):
        DemoOptions(use_case="diabetes")


def test_options_take_the_use_case_s_drift_and_threshold_unless_given() -> None:
    digits, ocr = DemoOptions(), DemoOptions(use_case="ocr")
    assert (digits.drift_kind, digits.threshold) == ("thickness", 0.85)
    assert (ocr.drift_kind, ocr.threshold) == ("blur", 0.1)
    assert DemoOptions(use_case="ocr", drift_kind="font", recovery_threshold=0.05).threshold == 0.05
    # Accuracy recovers upwards, the character error rate downwards.
    assert digits.recovered(0.9) and not digits.recovered(0.5)
    assert ocr.recovered(0.02) and not ocr.recovered(0.5)


def test_plot_and_summary_carry_the_run(tmp_path: Path) -> None:
    timeline = full_timeline()
    for end in range(5, 120, 5):
        version = "2" if end > 106 else "1"
        accuracy = 0.97 if end <= 45 or version == "2" else 0.35
        timeline.add_window(metrics(end, version=version, accuracy=accuracy))
    path = save_plot(timeline, tmp_path / "demo.png", threshold=0.85)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
    summary = timeline.to_json()
    assert summary["time_to_recovery_s"] == pytest.approx(61.4)
    assert [m["step"] for m in summary["marks"]][:2] == ["drift", "alert"]
    assert summary["marks"][0]["t_s"] == 45.0
    assert len(summary["windows"]) == 23
