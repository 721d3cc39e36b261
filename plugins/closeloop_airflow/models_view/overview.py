"""The models page's rows, assembled from what each source returned: pure, so tested without services."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, Generic, TypeVar

__all__ = [
    "Alert",
    "Champion",
    "FeatureShift",
    "LiveWindow",
    "Mark",
    "ModelDetail",
    "ModelRow",
    "Overview",
    "Read",
    "RetrainRun",
    "bin_labels",
    "build_model_detail",
    "build_overview",
    "read_all",
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


def read_all(*reads: tuple[str, Callable[[], Any]]) -> list[Read[Any]]:
    """``read_from`` each (source, read) at once, in threads: a page waits for its slowest source,
    not for the sum of them."""
    with ThreadPoolExecutor(max_workers=len(reads), thread_name_prefix="models-view") as pool:
        return list(pool.map(lambda pair: read_from(*pair), reads))


@dataclass(frozen=True)
class Champion:
    """A registered model's champion, as the registry has it."""

    model_name: str
    version: str
    task: str | None
    #: When the champion version was registered.
    registered: datetime | None
    previous: str | None = None
    #: The version serving a share of the traffic as the canary, while the live gate judges it.
    canary: str | None = None
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
    #: Every feature's PSI, and the window's length.
    drift: Mapping[str, float] = field(default_factory=dict)
    seconds: float | None = None


@dataclass(frozen=True)
class Alert:
    """An alert on closeloop.alerts: from the Flink job, Prometheus (through the gateway) or a report."""

    alert_id: str
    model_name: str
    model_version: str
    kind: str
    metric: str
    value: float
    threshold: float
    #: The end of the window that broke the rule.
    time: datetime
    source: str
    message: str = ""


@dataclass(frozen=True)
class RetrainRun:
    """A run of a retrain DAG, with the version it trained and the gate's decision on it, if any."""

    dag_id: str
    run_id: str
    state: str
    run_type: str
    start: datetime | None
    end: datetime | None
    #: Why it ran: the run's note, which its first task writes.
    reason: str | None
    triggered_by: str | None
    #: The version it registered (its closeloop.trained_by tag names the run), and that version's gate.
    version: str | None = None
    gate: Mapping[str, str] = field(default_factory=dict)

    @property
    def gate_passed(self) -> bool | None:
        passed = self.gate.get("passed")
        return None if passed is None else passed == "true"


@dataclass(frozen=True)
class ModelRow:
    model_name: str
    task: str | None
    champion: str
    previous: str | None
    canary: str | None
    since: datetime | None
    metric: str | None
    #: The champion's newest window, if the metrics have one.
    live: LiveWindow | None
    #: The primary metric over time, per version: (time, value) points for the sparkline.
    history: Mapping[str, Sequence[tuple[datetime, float]]]
    reason: str | None
    gate_passed: bool | None
    #: The use case's retrain DAG, if one is deployed for this model.
    dag_id: str | None = None
    #: Newest first.
    alerts: Sequence[Alert] = ()
    runs: Sequence[RetrainRun] = ()

    @property
    def quality(self) -> float | None:
        """The champion's primary metric in its newest window."""
        if self.live is None or self.metric is None:
            return None
        return self.live.quality.get(self.metric)

    @property
    def quality_before(self) -> float | None:
        """The champion's primary metric in the window before its newest, from the history."""
        points = self.history.get(self.champion, ())
        if self.live is not None:
            points = [p for p in points if p[0] < self.live.end]
        return points[-1][1] if points else None


@dataclass(frozen=True)
class Overview:
    rows: list[ModelRow]
    #: "source: why", for each source that could not be read: the page shows these.
    unreachable: list[str]


def build_overview(
    champions: Read[list[Champion]],
    live: Read[list[LiveWindow]],
    history: Read[Mapping[tuple[str, str], Sequence[tuple[datetime, float]]]],
    alerts: Read[list[Alert]] | None = None,
    runs: Read[list[RetrainRun]] | None = None,
    *,
    dag_ids: Mapping[str, str] | None = None,
    metrics: Mapping[str, str] | None = None,
    per_model: int = 5,
) -> Overview:
    """One row per model with a champion, by name; live numbers where the metrics have them.

    ``history`` maps (model, version) to the primary metric's points;
    ``metrics`` gives a model's primary metric where its champion's gate
    does not name one; ``dag_ids`` maps a model to its retrain DAG, whose runs (newest
    ``per_model``) the row lists, beside its newest alerts. A source that
    failed leaves its part of each row empty.
    """
    alerts = alerts or Read("kafka", value=[])
    runs = runs or Read("airflow", value=[])
    reads = (champions, live, history, alerts, runs)
    unreachable = [f"{r.source}: {r.error}" for r in reads if r.error is not None]
    windows = {(w.model_name, w.model_version): w for w in live.value or []}
    points = history.value or {}
    dag_ids = dag_ids or {}
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
                canary=champion.canary,
                since=champion.registered,
                metric=champion.metric or (metrics or {}).get(champion.model_name),
                live=windows.get((champion.model_name, champion.version)),
                history=dict(sorted(versions.items(), key=lambda kv: kv[1][0][0])),
                reason=champion.reason,
                gate_passed=None if passed is None else passed == "true",
                dag_id=dag_ids.get(champion.model_name),
                alerts=sorted(
                    (a for a in alerts.value or [] if a.model_name == champion.model_name),
                    key=lambda a: a.time,
                    reverse=True,
                )[:per_model],
                runs=sorted(
                    (r for r in runs.value or [] if r.dag_id == dag_ids.get(champion.model_name)),
                    key=lambda r: r.start or datetime.min.replace(tzinfo=UTC),
                    reverse=True,
                )[:per_model],
            )
        )
    return Overview(rows=rows, unreachable=unreachable)


@dataclass(frozen=True)
class Mark:
    """Something to mark on a model's timeline: a promotion, a rollback or an alert."""

    time: datetime
    kind: str
    label: str


@dataclass(frozen=True)
class FeatureShift:
    """One feature's reference distribution beside the newest window's, bin by bin."""

    feature: str
    psi: float
    bins: Sequence[str]
    reference: Sequence[float]
    #: The window's shares, from its labeled examples in the lake; None when it has none.
    window: Sequence[float] | None
    window_rows: int = 0


@dataclass(frozen=True)
class ModelDetail:
    model_name: str
    champion: Champion | None
    metric: str | None
    dag_id: str | None
    #: Per version: the primary metric and the largest PSI over the features, window by window.
    quality: Mapping[str, Sequence[tuple[datetime, float]]]
    drift: Mapping[str, Sequence[tuple[datetime, float]]]
    marks: Sequence[Mark]
    alerts: Sequence[Alert]
    runs: Sequence[RetrainRun]
    shifts: Sequence[FeatureShift]
    unreachable: list[str]


def bin_labels(kind: str, cuts: Sequence[float], categories: Sequence[str]) -> list[str]:
    """A reference profile's bins, named for a chart: "< 0.2", "0.2 to 0.5", "≥ 0.5"; or the categories."""
    if kind != "numeric":
        return [*categories, "other"]
    if not cuts:
        return ["all"]
    edges = [f"{c:.3g}" for c in cuts]
    inner = [f"{a} to {b}" for a, b in pairwise(edges)]
    return [f"< {edges[0]}", *inner, f"≥ {edges[-1]}"]


def build_model_detail(
    model_name: str,
    champion: Read[Champion | None],
    quality: Read[Mapping[str, Sequence[tuple[datetime, float]]]],
    drift: Read[Mapping[str, Sequence[tuple[datetime, float]]]],
    updates: Read[list[Mark]],
    alerts: Read[list[Alert]],
    runs: Read[list[RetrainRun]],
    shifts: Read[list[FeatureShift]],
    *,
    metric: str | None = None,
    dag_id: str | None = None,
) -> ModelDetail:
    """A model's page: its timeline (quality and drift per version, promotions and alerts marked),
    its retrains newest first, and its most drifted features; a source that failed is named."""
    reads = (champion, quality, drift, updates, alerts, runs, shifts)
    unreachable = list(dict.fromkeys(f"{r.source}: {r.error}" for r in reads if r.error is not None))
    mine = sorted((a for a in alerts.value or [] if a.model_name == model_name), key=lambda a: a.time)
    marks = [
        *(updates.value or []),
        *(
            Mark(a.time, "alert", f"{a.kind} alert: {a.metric} {a.value:.3g} vs {a.threshold:.3g}")
            for a in mine
        ),
    ]
    chosen = champion.value
    return ModelDetail(
        model_name=model_name,
        champion=chosen,
        metric=(chosen.metric if chosen is not None else None) or metric,
        dag_id=dag_id,
        quality=dict(quality.value or {}),
        drift=dict(drift.value or {}),
        marks=sorted(marks, key=lambda m: m.time),
        alerts=mine[::-1],
        runs=sorted(
            (r for r in runs.value or [] if r.dag_id == dag_id),
            key=lambda r: r.start or datetime.min.replace(tzinfo=UTC),
            reverse=True,
        ),
        shifts=sorted(shifts.value or [], key=lambda s: s.psi, reverse=True),
        unreachable=unreachable,
    )
