"""Alertmanager's webhook payload into AlertEvents: what the rules in docker/prometheus/rules/ send."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from closeloop.events import AlertEvent, decode, encode
from closeloop.gateway.alertmanager import AlertmanagerPayload, RecentIds, alert_id, translate

STARTED = datetime(2026, 11, 30, 12, 0, 5, tzinfo=UTC)
# The labels and annotations CloseloopAccuracyLow gives (tests/unit/monitoring/test_prometheus_rules.py).
ACCURACY_LOW = {
    "labels": {
        "alertname": "CloseloopAccuracyLow",
        "model_name": "digits",
        "model_version": "3",
        "task": "classification",
        "window": "tumbling",
        "metric": "accuracy",
        "severity": "warning",
        "kind": "quality",
    },
    "annotations": {
        "summary": "digits v3: live accuracy 0.600 < 0.85",
        "metric": "quality.accuracy",
        "value": "0.6",
        "threshold": "0.85",
    },
}


def alert(status: str = "firing", fingerprint: str = "a1b2c3", **changes: Any) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {**ACCURACY_LOW["labels"], **changes.get("labels", {})},
        "annotations": {**ACCURACY_LOW["annotations"], **changes.get("annotations", {})},
        "startsAt": STARTED.isoformat(),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint,
    }


def payload(*alerts: dict[str, Any]) -> AlertmanagerPayload:
    return AlertmanagerPayload.model_validate(
        {
            "version": "4",
            "status": "firing",
            "receiver": "closeloop-gateway",
            "groupKey": "{}",
            "alerts": alerts,
        }
    )


def test_a_firing_model_alert_becomes_an_alert_event() -> None:
    result = translate(payload(alert()), topic="closeloop.alerts")
    assert not result.dead_letters and not result.ignored
    (event,) = result.events
    assert event.model_name == "digits" and event.model_version == "3"
    assert (event.kind, event.rule, event.metric) == ("quality", "CloseloopAccuracyLow", "quality.accuracy")
    assert (event.value, event.threshold) == (0.6, 0.85)
    assert event.source == "prometheus"
    assert event.window.end == STARTED and event.window.start == STARTED - timedelta(seconds=60)
    assert event.message == "digits v3: live accuracy 0.600 < 0.85"
    assert decode(encode(event), AlertEvent) == event  # a valid event on the wire


def test_the_id_is_stable_per_firing_and_differs_between_firings() -> None:
    first = translate(payload(alert()), topic="t").events[0]
    repeat = translate(payload(alert()), topic="t").events[0]
    assert first.alert_id == repeat.alert_id
    again = alert()
    again["startsAt"] = (STARTED + timedelta(hours=1)).isoformat()
    assert translate(payload(again), topic="t").events[0].alert_id != first.alert_id
    other = translate(payload(alert(fingerprint="ffff")), topic="t").events[0]
    assert other.alert_id != first.alert_id


def test_stack_alerts_and_resolved_alerts_are_ignored_with_the_reason() -> None:
    stack = {
        "status": "firing",
        "labels": {"alertname": "CloseloopServiceDown", "job": "kafka"},
        "startsAt": STARTED.isoformat(),
        "fingerprint": "ff01",
    }
    result = translate(payload(stack, alert(status="resolved")), topic="closeloop.alerts")
    assert result.events == [] and result.dead_letters == []
    assert [i["reason"] for i in result.ignored] == ["not about a model (no model_name label)", "resolved"]


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"labels": {"kind": "vibes"}}, "kind", "Input should be"),
        ({"annotations": {"value": "high"}}, "annotations.value", "'high' is not a number"),
        ({"labels": {"model_version": ""}}, "model_version", ""),
    ],
)
def test_a_model_alert_that_cannot_be_an_event_is_a_dead_letter(
    changes: dict[str, Any], field: str, reason: str
) -> None:
    broken = alert(**changes)
    result = translate(payload(broken, alert(fingerprint="good")), topic="closeloop.alerts")
    assert len(result.events) == 1, "the good alert beside it still goes through"
    (letter,) = result.dead_letters
    assert letter.field == field and reason in letter.reason
    assert letter.source_topic == "closeloop.alerts" and letter.rejected_by == "gateway"
    original = json.loads(base64.b64decode(letter.original_base64))
    assert original["labels"] == broken["labels"] and original["fingerprint"] == broken["fingerprint"]


def test_a_payload_without_alerts_is_refused() -> None:
    with pytest.raises(ValidationError):
        payload()
    with pytest.raises(ValidationError):
        AlertmanagerPayload.model_validate({"status": "firing", "alerts": [{"labels": {}}]})


def test_recent_ids_remember_a_bounded_number() -> None:
    recent = RecentIds(size=2)
    for name in ("a", "b", "c"):
        recent.add(name)
    assert "a" not in recent and "b" in recent and "c" in recent


def test_alert_id_is_a_valid_identifier() -> None:
    model = payload(alert()).alerts[0]
    assert alert_id(model).startswith("prom-") and len(alert_id(model)) == 37
