"""What happened in a demo run, in order, and the headline it adds up to: the time to recovery.

Pure bookkeeping, no I/O: the runner feeds it metrics windows and the loop's
milestones as they happen; the display, the plot and the JSON summary read it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from closeloop.events import MetricsEvent

__all__ = ["OPTIONAL", "STEPS", "Breakdown", "Mark", "Timeline", "WindowPoint", "judge_recovery"]

#: The loop's milestones in the order they must happen, and the part of the
#: time to recovery that ends at each: drift starts, an alert fires, the retrain
#: run starts, its dataset is built, the challenger is trained, the gate passes
#: it, the alias moves (the model-update event), the gateway serves it.
STEPS: tuple[tuple[str, str], ...] = (
    ("drift", ""),
    ("alert", "detection"),
    ("dag_start", "alert to DAG start"),
    ("dataset", "dataset"),
    ("trained", "training"),
    ("gated", "gate"),
    ("canary", "canary reload"),
    ("promoted", "promotion"),
    ("served", "gateway reload"),
)
#: Milestones of one rollout only: a canary's (`closeloop demo --canary`). Absent, they are skipped,
#: and with a canary the time to its promotion is the canary phase, not the promotion.
OPTIONAL = frozenset({"canary"})


@dataclass(frozen=True)
class Mark:
    step: str
    at: datetime
    detail: str = ""


@dataclass(frozen=True)
class WindowPoint:
    """One tumbling window of live metrics, as the streaming job published it."""

    start: datetime
    end: datetime
    version: str
    predictions: int
    labeled: int
    quality: float | None
    max_psi: float | None

    @classmethod
    def of(cls, event: MetricsEvent, quality_metric: str) -> WindowPoint:
        features = [d.psi for name, d in event.drift.items() if name != "__output__"]
        return cls(
            start=event.window.start,
            end=event.window.end,
            version=event.model_version,
            predictions=event.predictions,
            labeled=event.labeled,
            quality=event.quality.get(quality_metric),
            max_psi=max(features) if features else None,
        )


@dataclass(frozen=True)
class Breakdown:
    """The time to recovery, part by part; ``missing`` names the first milestone that never came."""

    total_s: float | None
    parts: dict[str, float]
    missing: str | None

    def to_json(self) -> dict[str, Any]:
        return {"time_to_recovery_s": self.total_s, "parts_s": self.parts, "missing_step": self.missing}


@dataclass
class Timeline:
    started: datetime
    quality_metric: str
    marks: list[Mark] = field(default_factory=list)
    windows: list[WindowPoint] = field(default_factory=list)

    def mark(self, step: str, at: datetime, detail: str = "") -> bool:
        """Record a milestone once (the first time counts); True if it was new."""
        if self.first(step) is not None:
            return False
        self.marks.append(Mark(step, at, detail))
        self.marks.sort(key=lambda m: m.at)
        return True

    def note(self, step: str, at: datetime, detail: str) -> None:
        """Record something worth showing that is not a milestone (a second alert, a rejected gate)."""
        self.marks.append(Mark(step, at, detail))
        self.marks.sort(key=lambda m: m.at)

    def first(self, step: str) -> Mark | None:
        return next((m for m in self.marks if m.step == step), None)

    def add_window(self, event: MetricsEvent) -> WindowPoint | None:
        """Keep a tumbling window (a replayed one replaces its first copy); sliding ones are skipped."""
        if event.window.kind != "tumbling":
            return None
        point = WindowPoint.of(event, self.quality_metric)
        self.windows = [w for w in self.windows if (w.end, w.version) != (point.end, point.version)]
        self.windows.append(point)
        self.windows.sort(key=lambda w: (w.end, w.version))
        return point

    def seconds(self, at: datetime) -> float:
        return (at - self.started).total_seconds()

    def breakdown(self) -> Breakdown:
        parts: dict[str, float] = {}
        previous = self.first(STEPS[0][0])
        if previous is None:
            return Breakdown(None, parts, STEPS[0][0])
        for step, part in STEPS[1:]:
            mark = self.first(step)
            if mark is None and step in OPTIONAL:
                continue
            if mark is None:
                return Breakdown(None, parts, step)
            if step == "promoted" and self.first("canary") is not None:
                part = "canary phase"
            parts[part] = round((mark.at - previous.at).total_seconds(), 3)
            previous = mark
        drift = self.first(STEPS[0][0])
        assert drift is not None
        return Breakdown(round((previous.at - drift.at).total_seconds(), 3), parts, None)

    def to_json(self) -> dict[str, Any]:
        def stamp(value: datetime) -> str:
            return value.isoformat()

        return {
            "started": stamp(self.started),
            "quality_metric": self.quality_metric,
            "marks": [
                {"step": m.step, "at": stamp(m.at), "t_s": round(self.seconds(m.at), 3), "detail": m.detail}
                for m in self.marks
            ],
            "windows": [
                {
                    **asdict(w),
                    "start": stamp(w.start),
                    "end": stamp(w.end),
                    "t_s": round(self.seconds(w.end), 3),
                }
                for w in self.windows
            ],
            **self.breakdown().to_json(),
        }


def judge_recovery(
    windows: list[WindowPoint], version: str, *, since: datetime, min_labeled: int, needed: int
) -> float | None:
    """Live quality of ``version`` over its first ``needed`` windows after ``since`` with enough labels.

    Pooled over those windows (weighted by their labeled examples), or None
    while fewer have closed.
    """
    judged = [
        w
        for w in windows
        if w.version == version and w.start >= since and w.labeled >= min_labeled and w.quality is not None
    ][:needed]
    if len(judged) < needed:
        return None
    labeled = sum(w.labeled for w in judged)
    return sum(w.quality * w.labeled for w in judged if w.quality is not None) / labeled
