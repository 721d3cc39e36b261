"""Alert rules: thresholds, minimum samples, streaks, cooldowns, versions, stable ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from closeloop.config import PROJECT_ROOT
from closeloop.events import FeatureDrift, LatencyQuantiles, MetricsEvent, Window
from closeloop.monitoring.alerts import AlertRule, RuleState, evaluate, load_rules

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ACCURACY = AlertRule(
    name="accuracy-drop",
    kind="quality",
    metric="quality.accuracy",
    comparison="<",
    threshold=0.8,
    min_samples=10,
    consecutive=2,
    cooldown_s=300,
)
FEEDBACK_VOLUME = AlertRule(
    name="feedback-volume",
    kind="feedback_volume",
    metric="labeled_since_update",
    comparison=">=",
    threshold=50,
    cooldown_s=3600,
)


def window(
    i: int,
    *,
    accuracy: float = 0.9,
    labeled: int = 20,
    version: str = "1",
    kind: str = "tumbling",
    **more: object,
) -> MetricsEvent:
    start = T0 + timedelta(minutes=i)
    return MetricsEvent(
        model_name="digits",
        model_version=version,
        task="classification",
        window=Window(start=start, end=start + timedelta(minutes=1), kind=kind),
        predictions=100,
        feedback=labeled,
        labeled=labeled,
        errors=0,
        label_coverage=labeled / 100,
        error_rate=0.0,
        quality={"accuracy": accuracy},
        ts=start + timedelta(minutes=1),
        **more,
    )


def run(rule: AlertRule, events: list[MetricsEvent]) -> list:
    state, alerts = RuleState(), []
    for event in events:
        state, alert = evaluate(rule, state, event)
        alerts.append(alert)
    return alerts


def test_fires_after_the_streak_and_names_everything() -> None:
    alerts = run(ACCURACY, [window(0, accuracy=0.7), window(1, accuracy=0.6), window(2, accuracy=0.95)])
    assert alerts[0] is None and alerts[2] is None
    alert = alerts[1]
    assert alert.alert_id == "digits-1-accuracy-drop-20261122T100200"
    assert (alert.kind, alert.rule, alert.metric, alert.value, alert.threshold) == (
        "quality",
        "accuracy-drop",
        "quality.accuracy",
        0.6,
        0.8,
    )
    assert alert.window.end == T0 + timedelta(minutes=2)
    # The condition holds since the first window of the streak began.
    assert alert.since == T0
    assert "for 2 window(s) in a row" in alert.message


def test_the_next_streak_starts_where_its_first_bad_window_does() -> None:
    bad = [window(i, accuracy=0.5) for i in range(2, 6)]
    alerts = run(ACCURACY, [window(0, accuracy=0.5), window(1, accuracy=0.9), *bad])
    # The first bad window's streak broke; then 2-3 fire, and 4-5 start a new streak (quiet: cooldown).
    assert alerts[3] is not None and alerts[3].since == T0 + timedelta(minutes=2)
    assert alerts[4:] == [None, None]


def test_a_good_window_breaks_the_streak() -> None:
    assert (
        run(ACCURACY, [window(0, accuracy=0.7), window(1, accuracy=0.9), window(2, accuracy=0.7)])
        == [None] * 3
    )


def test_too_few_samples_neither_judge_nor_break_the_streak() -> None:
    alerts = run(
        ACCURACY, [window(0, accuracy=0.7), window(1, accuracy=0.9, labeled=3), window(2, accuracy=0.7)]
    )
    assert alerts[:2] == [None, None] and alerts[2] is not None


def test_cooldown_keeps_it_quiet_then_it_fires_again() -> None:
    bad = [window(i, accuracy=0.5) for i in range(12)]
    fired = [i for i, alert in enumerate(run(ACCURACY, bad)) if alert]
    # Fires at 1, then needs a fresh streak of 2 after the 5-minute cooldown.
    assert fired == [1, 6, 11]


def test_a_new_version_starts_afresh() -> None:
    alerts = run(
        ACCURACY,
        [window(0, accuracy=0.5), window(1, accuracy=0.5, version="2"), window(2, accuracy=0.5, version="2")],
    )
    assert alerts[1] is None and alerts[2].model_version == "2"


def test_sliding_windows_and_other_models_are_ignored() -> None:
    only_other = ACCURACY.model_copy(update={"models": ["other"]})
    bad = [window(0, accuracy=0.1), window(1, accuracy=0.1)]
    assert run(only_other, bad) == [None, None]
    assert run(
        ACCURACY, [window(0, accuracy=0.1, kind="sliding"), window(1, accuracy=0.1, kind="sliding")]
    ) == [None, None]


def test_feedback_volume_counts_labels_since_the_version_changed() -> None:
    events = [
        window(0, labeled=20),
        window(1, labeled=20),
        window(2, labeled=20),
        window(3, labeled=40, version="2"),
        window(4, labeled=20, version="2"),
    ]
    alerts = run(FEEDBACK_VOLUME, events)
    assert [a is not None for a in alerts] == [False, False, True, False, True]
    assert alerts[2].value == 60 and alerts[4].value == 60


def test_drift_and_latency_metrics() -> None:
    drift = AlertRule(
        name="drift", kind="drift", metric="drift.max_psi", comparison=">", threshold=0.25, min_samples=50
    )
    drifted = window(0, drift={"x": FeatureDrift(psi=0.1, js=0.1), "y": FeatureDrift(psi=0.4, js=0.3)})
    assert run(drift, [drifted])[0].value == 0.4
    assert run(drift, [window(0)]) == [None]  # no drift measured: no judgement
    column = AlertRule(name="y-js", kind="drift", metric="drift.y.js", comparison=">", threshold=0.2)
    assert run(column, [drifted])[0].value == 0.3
    latency = AlertRule(name="slow", kind="latency", metric="latency_ms.p99", comparison=">", threshold=100)
    slow = window(0, latency_ms=LatencyQuantiles(p50=10, p95=90, p99=120))
    assert run(latency, [slow])[0].value == 120


def test_a_replay_gives_the_same_alerts() -> None:
    events = [window(i, accuracy=0.5 if i % 4 else 0.95) for i in range(20)]
    first = [a.alert_id for a in run(ACCURACY, events) if a]
    assert first and first == [a.alert_id for a in run(ACCURACY, events) if a]


def test_the_repository_rules_cover_every_kind() -> None:
    rules = load_rules(PROJECT_ROOT / "flink" / "alert_rules.yaml")
    assert {r.kind for r in rules} == {"quality", "drift", "latency", "error_rate", "feedback_volume"}


def test_bad_rule_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown metric"):
        AlertRule(name="x", kind="quality", metric="vibes", comparison="<", threshold=1)
    twice = tmp_path / "rules.yaml"
    twice.write_text(
        "rules:\n"
        "  - {name: a, kind: quality, metric: quality.accuracy, comparison: '<', threshold: 1}\n"
        "  - {name: a, kind: quality, metric: quality.accuracy, comparison: '<', threshold: 2}\n"
    )
    with pytest.raises(ValueError, match="repeated: \\['a'\\]"):
        load_rules(twice)


def test_a_replayed_window_counts_once() -> None:
    # After a restart from a checkpoint the job re-reads metrics it has judged.
    first, second = window(0, accuracy=0.7), window(1, accuracy=0.6)
    assert run(ACCURACY, [first, first]) == [None, None]
    alerts = run(ACCURACY, [first, second, first, second])
    assert [a is not None for a in alerts] == [False, True, False, False]
    assert run(FEEDBACK_VOLUME, [first, second, second, first]) == [
        None,
        None,
        None,
        None,
    ]  # 40 labels, not 80


def test_judges_only_its_own_window_length_when_told() -> None:
    # Another job's 5 s windows on the same topic neither fire nor break a one-minute streak.
    short = window(1, accuracy=0.1)
    short = short.model_copy(
        update={"window": Window(start=short.window.start, end=short.window.start + timedelta(seconds=5))}
    )
    state = RuleState()
    fired = []
    for event in (window(0, accuracy=0.7), short, short, window(1, accuracy=0.6)):
        state, alert = evaluate(ACCURACY, state, event, window_s=60)
        fired.append(alert)
    assert fired[:3] == [None, None, None]
    assert fired[3] is not None and fired[3].value == 0.6
    # Without the length, the short windows count: the streak fires on the first of them.
    assert (
        evaluate(ACCURACY, evaluate(ACCURACY, RuleState(), window(0, accuracy=0.7))[0], short)[1] is not None
    )
