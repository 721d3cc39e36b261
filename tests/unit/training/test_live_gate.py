"""The live gate: a canary judged against the champion on the windows both served in."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from closeloop.events import MetricsEvent
from tests.metrics_windows import metrics_window
from training.live_gate import LiveRule, judge, watch

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
RULE = LiveRule(metric="accuracy", higher_is_better=True, margin=0.02, min_labeled=100, min_windows=3)


def _window(
    version: str,
    i: int,
    value: float,
    labeled: int = 50,
    *,
    errors: int = 0,
    p99: float = 5.0,
    metric: str = "accuracy",
) -> MetricsEvent:
    start = T0 + timedelta(minutes=i)
    return metrics_window("digits", version, start, {metric: value}, labeled=labeled, errors=errors, p99=p99)


def _both(canary: list[float], champion: list[float], **extra: object) -> list[MetricsEvent]:
    return [_window("5", i, a, **extra) for i, a in enumerate(canary)] + [  # type: ignore[arg-type]
        _window("4", i, a, **extra)  # type: ignore[arg-type]
        for i, a in enumerate(champion)
    ]


def test_it_waits_for_enough_labeled_examples_and_windows_of_both_versions() -> None:
    verdict = judge(_both([0.9, 0.9], [0.9, 0.9]), canary="5", champion="4", rule=RULE)
    assert verdict.passed is None and not verdict.decided
    assert "2 shared windows (of 3)" in verdict.reason and "5 has 100 of 100" in verdict.reason


def test_only_windows_both_versions_served_in_count() -> None:
    # The canary alone in minutes 0-1 (a bad start), the champion alone in minute 9.
    events = [_window("5", i, 0.2 if i < 2 else 0.95) for i in range(6)]
    events += [_window("4", i, 0.9) for i in (2, 3, 4, 5, 9)]
    verdict = judge(events, canary="5", champion="4", rule=RULE)
    assert (verdict.start, verdict.end) == (T0 + timedelta(minutes=2), T0 + timedelta(minutes=6))
    assert verdict.canary.windows == verdict.champion.windows == 4
    assert verdict.canary.quality == pytest.approx(0.95) and verdict.passed is True


def test_a_clearly_better_canary_passes_and_a_clearly_worse_one_fails() -> None:
    better = judge(
        _both([0.95, 0.96, 0.94, 0.95], [0.90, 0.91, 0.89, 0.90]), canary="5", champion="4", rule=RULE
    )
    assert better.passed is True and "not worse than champion 4 by more than 0.02" in better.reason
    worse = judge(
        _both([0.60, 0.62, 0.58, 0.61], [0.90, 0.91, 0.89, 0.90]), canary="5", champion="4", rule=RULE
    )
    assert worse.passed is False and "worse than champion 4 by more than 0.02" in worse.reason


def test_a_small_drop_passes_when_the_windows_agree_and_fails_when_they_are_noisy() -> None:
    steady = judge(
        _both([0.895, 0.895, 0.895, 0.895], [0.9, 0.9, 0.9, 0.9]), canary="5", champion="4", rule=RULE
    )
    assert steady.passed is True
    noisy = judge(_both([0.70, 1.0, 0.80, 1.0], [0.9, 0.9, 0.9, 0.9]), canary="5", champion="4", rule=RULE)
    # The same mean drop of 0.025 - 0.005 is within noise that cannot rule out a larger one.
    assert noisy.passed is False and "not ruled out at 95%" in noisy.reason


def test_the_statistic_is_welchs_on_batch_means() -> None:
    canary, champion = [0.80, 0.90, 0.85], [0.90, 0.92, 0.88]
    verdict = judge(_both(canary, champion), canary="5", champion="4", rule=RULE)
    # Equal weights: the batch-means standard error is the windows' standard deviation over sqrt(k).
    se_c = math.sqrt(sum((a - 0.85) ** 2 for a in canary) / 2 / 3)
    se_h = math.sqrt(sum((a - 0.90) ** 2 for a in champion) / 2 / 3)
    assert verdict.canary.stderr == pytest.approx(se_c)
    assert verdict.t == pytest.approx((0.85 - 0.90 + 0.02) / math.hypot(se_c, se_h))
    assert verdict.passed is False and verdict.critical is not None and verdict.critical > 1.6


def test_for_an_error_metric_lower_is_better() -> None:
    rule = LiveRule(metric="cer", higher_is_better=False, margin=0.01, min_labeled=100)
    lower = judge(
        _both([0.05, 0.06, 0.05], [0.20, 0.21, 0.19], metric="cer"), canary="5", champion="4", rule=rule
    )
    assert lower.passed is True
    higher = judge(
        _both([0.20, 0.21, 0.19], [0.05, 0.06, 0.05], metric="cer"), canary="5", champion="4", rule=rule
    )
    assert higher.passed is False


def test_latency_and_error_rate_guard_when_asked() -> None:
    events = [_window("5", i, 0.95, p99=30.0, errors=6) for i in range(3)]
    events += [_window("4", i, 0.90, p99=10.0, errors=1) for i in range(3)]
    assert judge(events, canary="5", champion="4", rule=RULE).passed is True
    slow = judge(events, canary="5", champion="4", rule=RULE.model_copy(update={"latency_ratio": 2.0}))
    assert (
        slow.passed is False and "p99 latency 30 ms is more than 2 times the champion's 10 ms" in slow.reason
    )
    failing = judge(
        events, canary="5", champion="4", rule=RULE.model_copy(update={"error_rate_margin": 0.02})
    )
    assert failing.passed is False and "error rate 0.06 exceeds the champion's 0.01" in failing.reason


def test_a_replayed_window_counts_once() -> None:
    events = _both([0.95, 0.95, 0.95], [0.9, 0.9, 0.9])
    verdict = judge(events + events[:3], canary="5", champion="4", rule=RULE)
    assert verdict.canary.labeled == 150 and verdict.canary.windows == 3


# The watch after a promotion: version 5 promoted at minute 10, version 4 before it.
PROMOTED = T0 + timedelta(minutes=10)


def _promoted(before: list[float], after: list[float]) -> list[MetricsEvent]:
    return [_window("4", 10 - len(before) + i, a) for i, a in enumerate(before)] + [
        _window("5", 10 + i, a) for i, a in enumerate(after)
    ]


def _watch(events: list[MetricsEvent], *, final: bool = False):
    return watch(events, champion="5", previous="4", promoted_at=PROMOTED, rule=RULE, final=final)


def test_a_new_champion_clearly_worse_than_its_predecessor_is_rolled_back() -> None:
    verdict = _watch(_promoted([0.90, 0.91, 0.89], [0.60, 0.62, 0.58]))
    assert verdict.passed is False and "champion 5 is worse than 4 was by more than 0.02" in verdict.reason
    assert (verdict.canary.version, verdict.champion.version) == ("5", "4")
    assert (verdict.start, verdict.end) == (T0 + timedelta(minutes=7), T0 + timedelta(minutes=13))


def test_a_new_champion_as_good_is_watched_to_the_end_and_kept() -> None:
    events = _promoted([0.90, 0.91, 0.89], [0.90, 0.92, 0.90])
    going = _watch(events)
    assert going.passed is None and going.reason.startswith("watching: so far accuracy")
    done = _watch(events, final=True)
    assert done.passed is True and done.reason.startswith("kept 5: not shown worse than 4")


def test_a_noisy_drop_is_not_enough_to_roll_back() -> None:
    # Worse on average, but not beyond the margin at 95 %: a champion is kept unless shown worse.
    assert _watch(_promoted([0.90, 0.90, 0.90], [0.70, 1.0, 0.80, 1.0]), final=True).passed is True


def test_each_look_of_a_long_watch_is_held_to_its_share_of_the_confidence() -> None:
    # Worse by a little more than the margin: shown at 95 % on one look, not on each of eight.
    events = _promoted([0.90, 0.91, 0.89], [0.85, 0.87, 0.84, 0.86])
    once = watch(events, champion="5", previous="4", promoted_at=PROMOTED, rule=RULE, watch_seconds=None)
    assert once.passed is False and "(at 95%)" in once.reason
    # Ten one-minute windows: a look at the third and at each after it.
    kwargs = {"champion": "5", "previous": "4", "promoted_at": PROMOTED, "rule": RULE, "watch_seconds": 600}
    assert watch(events, **kwargs).passed is None  # type: ignore[arg-type]
    assert watch(events, final=True, **kwargs).passed is True  # type: ignore[arg-type]
    # A clear drop is still shown at once.
    clear = watch(_promoted([0.90, 0.91, 0.89], [0.60, 0.62, 0.58]), **kwargs)  # type: ignore[arg-type]
    assert clear.passed is False and "(at 95% over 8 looks)" in clear.reason


def test_the_watch_waits_for_evidence_and_keeps_the_champion_without_it() -> None:
    events = _promoted([0.90, 0.91, 0.89], [0.10])
    assert _watch(events).passed is None
    done = _watch(events, final=True)
    assert done.passed is True and "too little live evidence" in done.reason
    assert "5 has 50 of 100 labeled examples in 1 windows (of 3)" in done.reason


def test_only_the_predecessors_windows_before_and_the_champions_after_count() -> None:
    # Version 4 still finishing a window after the promotion; 5 as a canary before it.
    events = _promoted([0.90, 0.91, 0.89], [0.90, 0.90, 0.91])
    events += [_window("4", 11, 0.2), _window("5", 5, 0.1)]
    verdict = _watch(events, final=True)
    assert (verdict.canary.windows, verdict.champion.windows) == (3, 3) and verdict.passed is True


def test_windows_of_one_length_are_judged_when_two_jobs_publish_them() -> None:
    # The demo's job (here one-minute windows) beside the stack's (ten minutes, the same examples).
    def long(version: str, start: datetime, accuracy: float) -> MetricsEvent:
        return metrics_window(
            "digits", version, start, {"accuracy": accuracy}, labeled=200, predictions=400, seconds=600
        )

    events = _both([0.95, 0.95, 0.95, 0.95], [0.90, 0.90, 0.90, 0.90])
    verdict = judge([*events, long("5", T0, 0.1), long("4", T0, 0.9)], canary="5", champion="4", rule=RULE)
    assert verdict.canary.windows == 4 and verdict.canary.labeled == 200 and verdict.passed is True
    watched = _watch([*_promoted([0.9, 0.91, 0.89], [0.9, 0.92, 0.9]), long("5", PROMOTED, 0.1)], final=True)
    assert watched.canary.windows == 3 and watched.passed is True
