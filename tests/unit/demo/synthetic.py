"""Synthetic events for the demo's unit tests: windows, alerts and model updates of closeloop-digits."""

from __future__ import annotations

from datetime import datetime, timedelta

from closeloop.demo.display import LiveView
from closeloop.demo.loop import LoopMachine, RetrainSource
from closeloop.demo.options import DemoOptions
from closeloop.demo.timeline import Timeline
from closeloop.events import AlertEvent, FeatureDrift, MetricsEvent, ModelUpdateEvent, Window

__all__ = ["MODEL", "alert", "loop_machine", "metrics", "update"]

MODEL = "closeloop-digits"


def metrics(
    start: datetime,
    *,
    version: str = "1",
    accuracy: float = 0.9,
    labeled: int = 80,
    seconds: int = 5,
    kind: str = "tumbling",
) -> MetricsEvent:
    return MetricsEvent(
        model_name=MODEL,
        model_version=version,
        task="classification",
        window=Window(start=start, end=start + timedelta(seconds=seconds), kind=kind),
        predictions=100,
        feedback=labeled,
        labeled=labeled,
        errors=0,
        label_coverage=labeled / 100,
        error_rate=0.0,
        quality={"accuracy": accuracy},
        drift={"pixel_1": FeatureDrift(psi=0.4, js=0.1)},
    )


def alert(
    start: datetime,
    *,
    version: str = "1",
    seconds: int = 5,
    kind: str = "quality",
    source: str = "flink",
    rule: str = "accuracy_low",
) -> AlertEvent:
    return AlertEvent(
        alert_id=f"{rule}-{version}-{start.timestamp():.0f}",
        model_name=MODEL,
        model_version=version,
        kind=kind,
        rule=rule,
        metric="accuracy",
        value=0.5,
        threshold=0.8,
        window=Window(start=start, end=start + timedelta(seconds=seconds)),
        source=source,
    )


def update(version: str, previous: str = "1") -> ModelUpdateEvent:
    return ModelUpdateEvent(model_name=MODEL, version=version, previous_version=previous)


def loop_machine(timeline: Timeline, options: DemoOptions, retrain: RetrainSource) -> LoopMachine:
    """The demo's loop over ``timeline``, with version 1 as its first champion."""
    return LoopMachine(
        timeline,
        LiveView(timeline, options.recovered),
        options,
        champion="1",
        dag_id="retrain_digits",
        retrain=retrain,
    )
