"""The demo's summary file and closing report: the keys the integration test and readers rely on."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from closeloop.demo.options import DemoFailed, DemoOptions
from closeloop.demo.report import DemoResult, print_report, save_summary
from closeloop.demo.simulator import TrafficStats
from closeloop.demo.stability import Stability
from closeloop.demo.timeline import OPTIONAL, STEPS, Timeline

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _closed_timeline() -> Timeline:
    timeline = Timeline(T0, "accuracy")
    for seconds, step in enumerate(step for step, _ in STEPS if step not in OPTIONAL):
        timeline.mark(step, T0 + timedelta(seconds=20 + 10 * seconds), step)
    timeline.mark("recovered", T0 + timedelta(seconds=120))
    return timeline


def test_the_summary_keeps_its_keys(tmp_path: Path) -> None:
    timeline = _closed_timeline()
    options = DemoOptions(output_dir=tmp_path, settle_s=60)
    stats = TrafficStats(predictions=10, feedback=8, served_versions=Counter({"1": 6, "2": 4}))
    plot, summary = save_summary(
        timeline,
        options,
        tmp_path,
        failure=None,
        first_champion="1",
        new_champion="2",
        stats=stats,
        stability=Stability(T0, 60, "2", "1"),
    )
    assert plot == tmp_path / "demo-20261204T120000.png" and plot.exists()
    payload = json.loads(summary.read_text())
    assert list(payload) == [
        *timeline.to_json(),
        "closed",
        "failure",
        "first_champion",
        "new_champion",
        "traffic",
        "stability",
        "options",
    ]
    assert payload["closed"] and payload["failure"] is None
    assert payload["time_to_recovery_s"] == 70.0 and list(payload["parts_s"]) == [
        p for step, p in STEPS[1:] if step not in OPTIONAL
    ]
    assert payload["traffic"] == {
        "predictions": 10,
        "feedback": 8,
        "failures": {},
        "served_versions": {"1": 6, "2": 4},
    }
    assert payload["stability"]["stable"] and payload["options"]["output_dir"] == str(tmp_path)


def test_a_failure_is_in_the_summary_and_the_report(tmp_path: Path) -> None:
    failure = DemoFailed("alert", "no alert after the drift")
    timeline = Timeline(T0, "accuracy")
    plot, summary = save_summary(
        timeline,
        DemoOptions(),
        tmp_path,
        failure=failure,
        first_champion="1",
        new_champion=None,
        stats=None,
        stability=None,
    )
    payload = json.loads(summary.read_text())
    assert payload["failure"] == {"step": "alert", "why": "no alert after the drift"}
    assert payload["traffic"] is None and payload["stability"] is None
    console = Console(record=True, width=120)
    print_report(
        console,
        DemoResult(timeline, plot, summary, failure, None),
        DemoOptions(),
        first_champion="1",
        new_champion=None,
    )
    assert "the loop did not close at step alert: no alert after the drift" in console.export_text()


def test_the_report_says_the_loop_closed_and_how_fast(tmp_path: Path) -> None:
    console = Console(record=True, width=120)
    result = DemoResult(_closed_timeline(), tmp_path / "p.png", tmp_path / "s.json", None, TrafficStats())
    print_report(console, result, DemoOptions(), first_champion="1", new_champion="2")
    text = console.export_text()
    assert f"plot:    {tmp_path / 'p.png'}\nsummary: {tmp_path / 's.json'}" in text
    assert (
        "the loop closed: version 2 replaced 1 and live accuracy recovered (≥ 0.85), 70.0 s after the drift"
        in text
    )
