"""The models page's rows, assembled from what each source returned: pure, so tested without services."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

__all__ = [
    "Champion",
    "LiveWindow",
    "ModelRow",
    "Overview",
    "Read",
    "build_overview",
    "read_from",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Read(Generic[T]):
    """What one source gave: its value, or why it could not be read (the page names it)."""

    source: str
    value: T | None = None
    error: str | None = None


def read_from(source: str, read: Callable[[], T]) -> Read[T]:
    """Call ``read``; a failure of any kind becomes the source's error rather than the page's."""
    try:
        return Read(source, value=read())
    except Exception as exc:  # a source that is away, refuses, or answers nonsense: said, not raised
        return Read(source, error=f"{type(exc).__name__}: {exc}"[:300])


@dataclass(frozen=True)
class Champion:
    """A registered model's champion, as the registry has it."""

    model_name: str
    version: str
    task: str | None
    #: When the champion version was registered.
    registered: datetime | None
    previous: str | None = None
    #: The version's retrain reason and the gate's decision (its closeloop.* tags).
    reason: str | None = None
    gate: Mapping[str, str] = field(default_factory=dict)

    @property
    def metric(self) -> str | None:
        """The primary metric its gate judged it by."""
        return self.gate.get("metric")


@dataclass(frozen=True)
class LiveWindow:
    """The newest tumbling window of one model version, as the metrics exporter's gauges show it."""

    model_name: str
    model_version: str
    end: datetime
    quality: Mapping[str, float]
    label_coverage: float | None
    error_rate: float | None
    p99_ms: float | None
    #: The largest PSI over the version's features, and the feature.
    max_drift: float | None = None
    max_drift_feature: str | None = None


@dataclass(frozen=True)
class ModelRow:
    model_name: str
    task: str | None
    champion: str
    previous: str | None
    since: datetime | None
    metric: str | None
    #: The champion's newest window, if the metrics have one.
    live: LiveWindow | None
    #: The primary metric over time, per version: (time, value) points for the sparkline.
    history: Mapping[str, Sequence[tuple[datetime, float]]]
    reason: str | None
    gate_passed: bool | None

    @property
    def quality(self) -> float | None:
        """The champion's primary metric in its newest window."""
        if self.live is None or self.metric is None:
            return None
        return self.live.quality.get(self.metric)


@dataclass(frozen=True)
class Overview:
    rows: list[ModelRow]
    #: "source: why", for each source that could not be read: the page shows these.
    unreachable: list[str]


def build_overview(
    champions: Read[list[Champion]],
    live: Read[list[LiveWindow]],
    history: Read[Mapping[tuple[str, str], Sequence[tuple[datetime, float]]]],
) -> Overview:
    """One row per model with a champion, by name; live numbers where the metrics have them.

    ``history`` maps (model, version) to the primary metric's points; a
    source that failed leaves its part of each row empty.
    """
    unreachable = [f"{r.source}: {r.error}" for r in (champions, live, history) if r.error is not None]
    windows = {(w.model_name, w.model_version): w for w in live.value or []}
    points = history.value or {}
    rows = []
    for champion in sorted(champions.value or [], key=lambda c: c.model_name):
        versions = {v: p for (m, v), p in points.items() if m == champion.model_name and p}
        passed = champion.gate.get("passed")
        rows.append(
            ModelRow(
                model_name=champion.model_name,
                task=champion.task,
                champion=champion.version,
                previous=champion.previous,
                since=champion.registered,
                metric=champion.metric,
                live=windows.get((champion.model_name, champion.version)),
                history=dict(sorted(versions.items(), key=lambda kv: kv[1][0][0])),
                reason=champion.reason,
                gate_passed=None if passed is None else passed == "true",
            )
        )
    return Overview(rows=rows, unreachable=unreachable)
