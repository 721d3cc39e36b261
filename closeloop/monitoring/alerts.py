"""Alert rules over the live metrics: thresholds, minimum samples, consecutive windows, cooldowns.

Rules come from one YAML file (flink/alert_rules.yaml by default). Evaluation
is a pure function of a rule, the state it left behind for one model, and the
next tumbling-window metrics event of that model; the streaming job keeps the
state in Flink, the tests call it directly. Times are event times (window
ends), so a replay decides exactly as the first run did, and an alert's id is
stable: model, version, rule and window end.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from closeloop.events import AlertEvent, MetricsEvent
from closeloop.events.models import AlertKind

__all__ = ["AlertRule", "RuleState", "evaluate", "load_rules", "metric_value"]

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class AlertRule(BaseModel):
    """One rule. ``metric`` names a number of the metrics event:

    - ``quality.<name>`` (a task metric: accuracy, macro_f1, mae, rmse, cer, …);
    - ``drift.max_psi`` / ``drift.max_js`` (the largest over the inputs and
      predictions) or ``drift.<column>.psi`` / ``drift.<column>.js``;
    - ``latency_ms.p50|p95|p99``, ``error_rate``, ``label_coverage``;
    - ``labeled_since_update``: labeled examples since the model's version
      last changed (the feedback-volume rule).

    ``min_samples`` counts labeled examples for quality metrics, predictions
    for the rest; a window with fewer is not judged at all.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    kind: AlertKind
    metric: str
    comparison: Literal["<", "<=", ">", ">="]
    threshold: float
    min_samples: int = Field(default=1, ge=0)
    consecutive: int = Field(default=1, ge=1)
    cooldown_s: int = Field(default=600, ge=0)
    models: list[str] = Field(default_factory=list, description="Only these models; empty: all.")

    @model_validator(mode="after")
    def _known_metric(self) -> AlertRule:
        head = self.metric.split(".", 1)[0]
        if head not in {
            "quality",
            "drift",
            "latency_ms",
            "error_rate",
            "label_coverage",
            "labeled_since_update",
        }:
            raise ValueError(f"rule {self.name}: unknown metric {self.metric!r}")
        return self

    def applies_to(self, model_name: str) -> bool:
        return not self.models or model_name in self.models


class _RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[AlertRule]


def load_rules(path: Path) -> list[AlertRule]:
    """The rules of a YAML file with a top-level ``rules:`` list; names must be unique."""
    rules = _RuleFile.model_validate(yaml.safe_load(path.read_text())).rules
    names = [r.name for r in rules]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"{path}: rule names must be unique, repeated: {duplicates}")
    return rules


@dataclass(frozen=True)
class RuleState:
    """What one rule remembers about one model between windows."""

    version: str | None = None
    consecutive: int = 0
    #: The start of the first window of the current run of windows breaking the rule.
    streak_start: datetime | None = None
    last_fired: datetime | None = None
    labeled_since_update: int = 0
    #: The end of the last window judged: a replayed window (the job restarting
    #: from a checkpoint re-reads some metrics) must not count twice.
    last_window_end: datetime | None = None


def metric_value(event: MetricsEvent, metric: str, labeled_since_update: int) -> float | None:
    """The number ``metric`` names in ``event``, or None where the window has none."""
    head, _, rest = metric.partition(".")
    if head == "quality":
        return event.quality.get(rest)
    if head == "latency_ms":
        return getattr(event.latency_ms, rest) if event.latency_ms else None
    if head in ("error_rate", "label_coverage"):
        return getattr(event, head)
    if head == "labeled_since_update":
        return float(labeled_since_update)
    if not event.drift:
        return None
    if rest in ("max_psi", "max_js"):
        measure = rest.removeprefix("max_")
        return max(getattr(d, measure) for d in event.drift.values())
    column, _, measure = rest.rpartition(".")
    drift = event.drift.get(column)
    return getattr(drift, measure) if drift else None


def evaluate(
    rule: AlertRule, state: RuleState, event: MetricsEvent, *, window_s: int | None = None
) -> tuple[RuleState, AlertEvent | None]:
    """Judge one tumbling-window metrics event; returns the new state and the alert, if one fires.

    With ``window_s``, only windows of that length are judged: another job with
    other windows (the demo's) may publish to the same metrics topic, and its
    windows would break this job's streaks and fire its alerts twice.
    """
    if event.window.kind != "tumbling" or not rule.applies_to(event.model_name):
        return state, None
    if window_s is not None and event.window.end - event.window.start != timedelta(seconds=window_s):
        return state, None
    if state.version != event.model_version:
        # A new version (a retrain, a rollback) starts the rule afresh.
        state = RuleState(version=event.model_version)
    if state.last_window_end is not None and event.window.end <= state.last_window_end:
        return state, None
    state = replace(
        state,
        labeled_since_update=state.labeled_since_update + event.labeled,
        last_window_end=event.window.end,
    )

    samples = event.labeled if rule.kind == "quality" else event.predictions
    value = metric_value(event, rule.metric, state.labeled_since_update)
    if rule.kind == "feedback_volume":
        samples = state.labeled_since_update
    if value is None or math.isnan(value) or samples < rule.min_samples:
        return state, None  # no judgement: the streak neither grows nor breaks

    if not _COMPARE[rule.comparison](value, rule.threshold):
        return replace(state, consecutive=0), None
    state = replace(
        state,
        consecutive=state.consecutive + 1,
        streak_start=state.streak_start if state.consecutive else event.window.start,
    )
    end = event.window.end
    cooling = state.last_fired is not None and (end - state.last_fired).total_seconds() < rule.cooldown_s
    if state.consecutive < rule.consecutive or cooling:
        return state, None

    alert = AlertEvent(
        alert_id=f"{event.model_name}-{event.model_version}-{rule.name}-{end:%Y%m%dT%H%M%S}",
        model_name=event.model_name,
        model_version=event.model_version,
        kind=rule.kind,
        rule=rule.name,
        metric=rule.metric,
        value=value,
        threshold=rule.threshold,
        window=event.window,
        since=state.streak_start,
        source="flink",
        message=(
            f"{rule.metric} = {value:.4g} {rule.comparison} {rule.threshold:g} "
            f"for {state.consecutive} window(s) in a row ({samples} samples)"
        ),
        ts=end,
    )
    return replace(state, consecutive=0, last_fired=end), alert
