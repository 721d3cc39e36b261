"""Alertmanager's webhook payload, and the AlertEvents it becomes.

Prometheus' rules (docker/prometheus/rules/models.yml) label each alert about a
model with ``model_name``, ``model_version`` and ``kind``, and annotate it with
``metric``, ``value`` and ``threshold``. A firing alert with those becomes an
AlertEvent from source "prometheus" on closeloop.alerts, the topic the
retrain DAGs listen on, so both alert paths reach the same trigger.

Its ``alert_id`` comes from Alertmanager's fingerprint and the time the alert
started firing: Alertmanager sends a firing alert again on every group change
and repeat, and each time it is the same AlertEvent.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from closeloop.events import AlertEvent, DeadLetterEvent, InvalidEventError
from closeloop.events.serde import FieldError, field_errors

__all__ = [
    "AlertmanagerAlert",
    "AlertmanagerPayload",
    "RecentIds",
    "Translation",
    "translate",
]

#: A window length for alerts whose rule does not say (annotation ``window_seconds``).
DEFAULT_WINDOW_S = 60.0


class AlertmanagerAlert(BaseModel):
    """One alert of the payload (Alertmanager's webhook format, version 4)."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime  # Alertmanager's field names
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str


class AlertmanagerPayload(BaseModel):
    """What Alertmanager POSTs to a webhook receiver."""

    model_config = ConfigDict(extra="ignore")

    version: str = "4"
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""
    alerts: list[AlertmanagerAlert] = Field(min_length=1)


@dataclass
class Translation:
    """What a payload became: events to publish, letters for the DLQ, and alerts left alone with why."""

    events: list[AlertEvent] = field(default_factory=list)
    dead_letters: list[DeadLetterEvent] = field(default_factory=list)
    ignored: list[dict[str, str]] = field(default_factory=list)


def alert_id(alert: AlertmanagerAlert) -> str:
    """Stable for one firing of one alert: its fingerprint and when it started."""
    seed = f"{alert.fingerprint}|{alert.startsAt.isoformat()}"
    return "prom-" + hashlib.sha256(seed.encode()).hexdigest()[:32]


def translate(payload: AlertmanagerPayload, *, topic: str) -> Translation:
    """The AlertEvents of the payload's firing alerts about a model.

    Alerts about the stack (no ``model_name`` label) and resolved alerts are
    ignored. An alert about a model that still cannot make an AlertEvent (a
    rule without ``kind``, a ``value`` that is no number) is a dead letter
    naming the field: its rule needs fixing, and the alert is kept.
    """
    result = Translation()
    for alert in payload.alerts:
        name = alert.labels.get("alertname", "")
        if alert.status != "firing":
            result.ignored.append({"alertname": name, "reason": "resolved"})
            continue
        if "model_name" not in alert.labels:
            result.ignored.append({"alertname": name, "reason": "not about a model (no model_name label)"})
            continue
        try:
            result.events.append(_event(alert))
        except InvalidEventError as exc:
            result.dead_letters.append(
                DeadLetterEvent.wrap(
                    json.dumps(alert.model_dump(mode="json"), sort_keys=True).encode(),
                    reason=str(exc.errors[0]),
                    field=exc.field,
                    source_topic=topic,
                    key=alert.fingerprint,
                    rejected_by="gateway",
                )
            )
    return result


def _event(alert: AlertmanagerAlert) -> AlertEvent:
    """The alert as an AlertEvent; InvalidEventError naming the field if it cannot be one."""
    labels, notes = alert.labels, alert.annotations
    window_s = _number(notes, "window_seconds", DEFAULT_WINDOW_S)
    fields: dict[str, Any] = {
        "alert_id": alert_id(alert),
        "ts": alert.startsAt,
        "model_name": labels.get("model_name"),
        "model_version": labels.get("model_version"),
        "kind": labels.get("kind"),
        "rule": labels.get("alertname"),
        "metric": notes.get("metric") or labels.get("metric") or labels.get("alertname"),
        "value": _number(notes, "value"),
        "threshold": _number(notes, "threshold"),
        "window": {
            "start": alert.startsAt - timedelta(seconds=window_s),
            "end": alert.startsAt,
            "kind": labels.get("window", "tumbling"),
        },
        "source": "prometheus",
        "message": notes.get("summary", ""),
    }
    try:
        return AlertEvent(**fields)
    except ValidationError as exc:
        raise InvalidEventError(field_errors(exc)) from exc


def _number(annotations: dict[str, str], key: str, default: float | None = None) -> float:
    text = annotations.get(key)
    if text is None:
        if default is None:
            reason = "missing; the rule must annotate its alerts with it"
            raise InvalidEventError([FieldError(f"annotations.{key}", reason)])
        return default
    try:
        return float(text)
    except ValueError:
        raise InvalidEventError([FieldError(f"annotations.{key}", f"{text!r} is not a number")]) from None


class RecentIds:
    """The alert ids published lately, so Alertmanager's repeats are not published again."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._ids

    def add(self, alert_id: str) -> None:
        self._ids[alert_id] = None
        self._ids.move_to_end(alert_id)
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)
