"""The live gate: does a canary do as well as the champion on live traffic?

The streaming job publishes each window's metrics per model version. Once
both versions have at least ``min_labeled`` labeled examples over the same
windows (the span both served in), the canary passes if its primary metric
is not worse than the champion's by more than ``margin``, by a one-sided
test at ``confidence`` rather than a raw comparison of two noisy numbers:

    H0: canary - champion <= -margin   (in the metric's good direction)

rejected when Welch's t of the difference of the two versions' means over
their windows exceeds the quantile of ``confidence``. A version's mean is
its windows' metric weighted by their labeled examples; its standard error
is the batch-means one, from how much its windows differ (each window a
batch of the version's traffic), so it holds for any metric, not only for
proportions. Optionally, the canary's p99 latency and error rate must not
be worse than the champion's by more than their own margins.

After a promotion, ``watch`` asks the opposite question of the new champion,
against the windows its predecessor served just before it: is it worse by
more than ``margin``, at ``confidence``? Only then is it rolled back, so that
noise on a version already serving everyone does not undo the promotion.
The watch asks again at each new window, and every look is a chance of a
false alarm: each of the K looks its length allows is tested at (1 -
confidence) / K (Bonferroni), so over the whole watch a champion as good as
its predecessor is rolled back with a chance of at most 1 - confidence. The
canary's gate looks once: it decides as soon as the evidence is enough.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

from closeloop.events import MetricsEvent

__all__ = ["LiveRule", "LiveVerdict", "VersionLive", "judge", "watch"]


class LiveRule(BaseModel):
    """What the canary must show, and on how much evidence."""

    model_config = ConfigDict(frozen=True)

    metric: str
    higher_is_better: bool
    margin: float = Field(default=0.02, ge=0.0, description="How much worse the canary may be.")
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0, description="Of the one-sided test.")
    min_labeled: int = Field(default=200, ge=1, description="Labeled examples each version needs.")
    min_windows: int = Field(default=3, ge=2, description="Shared windows each version needs.")
    #: The canary's mean p99 may be at most this many times the champion's (None: not judged).
    latency_ratio: float | None = Field(default=None, gt=0.0)
    #: The canary's error rate may exceed the champion's by at most this much (None: not judged).
    error_rate_margin: float | None = Field(default=None, ge=0.0)


class VersionLive(BaseModel):
    """One version's live numbers over the shared windows."""

    model_config = ConfigDict(frozen=True)

    version: str
    windows: int
    labeled: int
    predictions: int
    quality: float | None
    #: Standard error of ``quality`` (batch means); None with fewer than two windows.
    stderr: float | None
    p99_ms: float | None
    error_rate: float | None


class LiveVerdict(BaseModel):
    """``passed`` is None until there is enough evidence; then the decision and why."""

    model_config = ConfigDict(frozen=True)

    passed: bool | None
    reason: str
    canary: VersionLive
    champion: VersionLive
    start: datetime | None
    end: datetime | None
    #: The test statistic and the quantile it had to exceed.
    t: float | None = None
    critical: float | None = None

    @property
    def decided(self) -> bool:
        return self.passed is not None


def judge(events: Iterable[MetricsEvent], *, canary: str, champion: str, rule: LiveRule) -> LiveVerdict:
    """The verdict on the tumbling windows in ``events`` (others are ignored) that both versions have."""
    windows: dict[str, dict[tuple[datetime, datetime], MetricsEvent]] = {canary: {}, champion: {}}
    for event in events:
        if event.window.kind == "tumbling" and event.model_version in windows:
            # A replayed window replaces the earlier copy: the job's windows are deterministic.
            windows[event.model_version][(event.window.start, event.window.end)] = event
    both = windows[canary].keys() & windows[champion].keys()
    length = _judged_length(both, both)
    shared = sorted(w for w in both if w[1] - w[0] == length)
    ours = _live(canary, [windows[canary][w] for w in shared], rule.metric)
    theirs = _live(champion, [windows[champion][w] for w in shared], rule.metric)
    start, end = (shared[0][0], shared[-1][1]) if shared else (None, None)

    def verdict(passed: bool | None, reason: str, **extra: float) -> LiveVerdict:
        return LiveVerdict(
            passed=passed, reason=reason, canary=ours, champion=theirs, start=start, end=end, **extra
        )

    short = [f"{v.version} has {v.labeled} of {rule.min_labeled} labeled examples" for v in (ours, theirs)]
    if min(ours.labeled, theirs.labeled) < rule.min_labeled or len(shared) < rule.min_windows:
        return verdict(
            None, f"waiting: {len(shared)} shared windows (of {rule.min_windows}); " + "; ".join(short)
        )
    if ours.quality is None or theirs.quality is None or ours.stderr is None or theirs.stderr is None:
        return verdict(None, f"waiting: no {rule.metric} in the shared windows yet")

    t, critical = _welch(ours, theirs, rule)
    numbers = _numbers(ours, theirs, rule) + f" over {len(shared)} shared windows"
    if t <= critical:
        return verdict(
            False,
            f"canary {canary} is worse than champion {champion} by more than {rule.margin:g} "
            f"(not ruled out at {rule.confidence:.0%}): {numbers}",
            t=t,
            critical=critical,
        )
    guard = _guards(ours, theirs, rule)
    if guard is not None:
        return verdict(False, f"canary {canary}: {guard}; {numbers}", t=t, critical=critical)
    return verdict(
        True,
        f"canary {canary} is not worse than champion {champion} by more than {rule.margin:g} "
        f"at {rule.confidence:.0%}: {numbers}",
        t=t,
        critical=critical,
    )


def watch(
    events: Iterable[MetricsEvent],
    *,
    champion: str,
    previous: str,
    promoted_at: datetime,
    rule: LiveRule,
    final: bool = False,
    watch_seconds: float | None = None,
) -> LiveVerdict:
    """The verdict on a new ``champion``'s tumbling windows since ``promoted_at`` against
    ``previous``'s windows before it (the events given: the caller chooses how far back).

    ``passed`` is False once the champion is worse than its predecessor by more
    than the margin at the rule's confidence (roll back), True at the end of
    the watch (``final``) otherwise, and None before that. In the verdict,
    ``canary`` is the new champion and ``champion`` its predecessor.
    ``watch_seconds``, the watch's length, sets how many looks the confidence
    is shared by (None: one).
    """
    after: dict[tuple[datetime, datetime], MetricsEvent] = {}
    before: dict[tuple[datetime, datetime], MetricsEvent] = {}
    for event in events:
        if event.window.kind != "tumbling":
            continue
        span = (event.window.start, event.window.end)
        if event.model_version == champion and event.window.start >= promoted_at:
            after[span] = event
        elif event.model_version == previous and event.window.end <= promoted_at:
            before[span] = event
    length = _judged_length(after, before)
    after = {w: after[w] for w in after if w[1] - w[0] == length}
    before = {w: before[w] for w in before if w[1] - w[0] == length}
    ours = _live(champion, [after[w] for w in sorted(after)], rule.metric)
    theirs = _live(previous, [before[w] for w in sorted(before)], rule.metric)
    start = min(before)[0] if before else None
    end = max(after)[1] if after else None

    def verdict(passed: bool | None, reason: str, **extra: float) -> LiveVerdict:
        return LiveVerdict(
            passed=passed, reason=reason, canary=ours, champion=theirs, start=start, end=end, **extra
        )

    enough = (
        ours.labeled >= rule.min_labeled
        and ours.windows >= rule.min_windows
        and ours.stderr is not None
        and theirs.stderr is not None
    )
    if not enough:
        missing = (
            f"{champion} has {ours.labeled} of {rule.min_labeled} labeled examples in {ours.windows} "
            f"windows (of {rule.min_windows}) since its promotion; {previous} has {theirs.labeled} "
            f"in {theirs.windows} windows before it"
        )
        if final:
            return verdict(True, f"kept {champion}: too little live evidence to judge it ({missing})")
        return verdict(None, f"watching: {missing}")
    looks = _planned_looks(watch_seconds, length, rule.min_windows)
    t, critical = _welch(ours, theirs, rule, confidence=1 - (1 - rule.confidence) / looks)
    numbers = _numbers(ours, theirs, rule) + f" over {ours.windows} and {theirs.windows} windows"
    at = f"at {rule.confidence:.0%}" + (f" over {looks} looks" if looks > 1 else "")
    if t < -critical:
        return verdict(
            False,
            f"champion {champion} is worse than {previous} was by more than {rule.margin:g} "
            f"({at}): {numbers}",
            t=t,
            critical=critical,
        )
    if final:
        return verdict(
            True,
            f"kept {champion}: not shown worse than {previous} by more than {rule.margin:g}: {numbers}",
            t=t,
            critical=critical,
        )
    return verdict(None, f"watching: so far {numbers}", t=t, critical=critical)


Span = tuple[datetime, datetime]


def _judged_length(ours: Iterable[Span], theirs: Iterable[Span]) -> timedelta | None:
    """The window length to judge on: the shortest both sides have, else the shortest of either.
    Two jobs (the stack's and the demo's) may publish one version's windows in lengths of their
    own; mixed, the same examples would count twice."""
    a, b = {end - start for start, end in ours}, {end - start for start, end in theirs}
    return min(a & b or a | b, default=None)


def _planned_looks(watch_seconds: float | None, length: timedelta | None, min_windows: int) -> int:
    """How many times a watch of ``watch_seconds`` can judge new evidence: once the first
    ``min_windows`` windows of ``length`` are in, and again at each window after."""
    if watch_seconds is None or length is None or length <= timedelta(0):
        return 1
    return max(1, math.floor(watch_seconds / length.total_seconds()) - min_windows + 1)


def _welch(
    ours: VersionLive, theirs: VersionLive, rule: LiveRule, *, confidence: float | None = None
) -> tuple[float, float]:
    """Welch's t of ``ours`` being better than ``theirs`` plus the margin, and the one-sided quantile
    at ``confidence`` (the rule's if None)."""
    assert ours.quality is not None and theirs.quality is not None
    sign = 1.0 if rule.higher_is_better else -1.0
    shifted = sign * (ours.quality - theirs.quality) + rule.margin
    spread = math.hypot(ours.stderr or 0.0, theirs.stderr or 0.0)
    critical = float(stats.t.ppf(confidence or rule.confidence, _welch_df(ours, theirs)))
    if spread == 0.0:
        return (math.inf if shifted > 0 else -math.inf), critical
    return shifted / spread, critical


def _numbers(ours: VersionLive, theirs: VersionLive, rule: LiveRule) -> str:
    return (
        f"{rule.metric} {ours.quality:.4g} ± {ours.stderr:.2g} vs {theirs.quality:.4g} ± {theirs.stderr:.2g} "
        f"({ours.labeled} and {theirs.labeled} labeled)"
    )


def _live(version: str, windows: Sequence[MetricsEvent], metric: str) -> VersionLive:
    scored = [(w.labeled, w.quality[metric]) for w in windows if w.labeled > 0 and metric in w.quality]
    labeled = sum(n for n, _ in scored)
    predictions = sum(w.predictions for w in windows)
    quality = stderr = None
    if labeled:
        quality = sum(n * q for n, q in scored) / labeled
        if len(scored) >= 2:
            # Batch means, each window a batch weighted by its labeled examples (a ratio estimator).
            k = len(scored)
            spread = sum((n * (q - quality)) ** 2 for n, q in scored) / labeled**2
            stderr = math.sqrt(spread * k / (k - 1))
    p99 = [w.latency_ms.p99 for w in windows if w.latency_ms is not None]
    return VersionLive(
        version=version,
        windows=len(windows),
        labeled=labeled,
        predictions=predictions,
        quality=quality,
        stderr=stderr,
        p99_ms=sum(p99) / len(p99) if p99 else None,
        error_rate=sum(w.errors for w in windows) / predictions if predictions else None,
    )


def _welch_df(a: VersionLive, b: VersionLive) -> float:
    """Welch-Satterthwaite degrees of freedom, the windows being the samples."""
    va, vb = (a.stderr or 0.0) ** 2, (b.stderr or 0.0) ** 2
    ka, kb = max(a.windows - 1, 1), max(b.windows - 1, 1)
    if va + vb == 0.0:
        return float(ka + kb)
    return (va + vb) ** 2 / (va**2 / ka + vb**2 / kb)


def _guards(canary: VersionLive, champion: VersionLive, rule: LiveRule) -> str | None:
    """Why the canary's latency or error rate fails the rule, if it does."""
    ratio, margin = rule.latency_ratio, rule.error_rate_margin
    ours, theirs = canary.p99_ms, champion.p99_ms
    if ratio is not None and ours is not None and theirs is not None and ours > theirs * ratio:
        return f"p99 latency {ours:.3g} ms is more than {ratio:g} times the champion's {theirs:.3g} ms"
    ours, theirs = canary.error_rate, champion.error_rate
    if margin is not None and ours is not None and theirs is not None and ours > theirs + margin:
        return f"error rate {ours:.3g} exceeds the champion's {theirs:.3g} by more than {margin:g}"
    return None
