"""The gateway's Alertmanager webhook on the running stack: firing alerts about a model become one
AlertEvent each on Kafka, repeats are not published twice, a broken alert goes to the DLQ, and a
body that is not Alertmanager's gets a 422 naming the field."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from closeloop.config import Settings
from closeloop.events import AlertEvent, DeadLetterEvent, Event
from closeloop.stack.manager import LocalStack
from tests.integration.kafka_reading import end_offsets, read_to_end
from tests.waiting import NotYet, eventually

PATH = "/v1/alerts/alertmanager"


def webhook_body(model_name: str, **labels: str) -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "closeloop-gateway",
        "groupKey": "{}:{}",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "CloseloopErrorRateHigh",
                    "model_name": model_name,
                    "model_version": "2",
                    "kind": "error_rate",
                    "window": "tumbling",
                    **labels,
                },
                "annotations": {
                    "metric": "error_rate",
                    "value": "0.2",
                    "threshold": "0.05",
                    "summary": "errors",
                },
                "startsAt": datetime.now(UTC).isoformat(),
                "fingerprint": uuid.uuid4().hex[:16],
            },
            {
                "status": "firing",
                "labels": {"alertname": "CloseloopServiceDown", "job": "mlflow"},
                "startsAt": datetime.now(UTC).isoformat(),
                "fingerprint": uuid.uuid4().hex[:16],
            },
        ],
    }


def published(settings: Settings, topic: str, since: dict[int, int], keep: Callable[[Event], bool]) -> list:
    """The events on ``topic`` after ``since`` that ``keep`` picks, once there is one."""

    @eventually(timeout=30, interval=0.5)
    def some() -> list[Event]:
        if not (found := [e for e in read_to_end(settings.kafka_bootstrap, topic, since) if keep(e)]):
            raise NotYet(f"nothing of ours on {topic} yet")
        return found

    return some()


def test_a_firing_alert_is_published_once(stack: LocalStack, settings: Settings) -> None:
    gateway = stack.services["gateway"]
    model_name = f"webhook-{uuid.uuid4().hex[:8]}"
    since = end_offsets(settings.kafka_bootstrap, settings.topics.alerts)
    body = webhook_body(model_name)

    first = httpx.post(f"{gateway.url}{PATH}", json=body, timeout=10)
    assert first.status_code == 200, first.text
    (alert_id,) = first.json()["published"]
    assert first.json()["ignored"] == [
        {"alertname": "CloseloopServiceDown", "reason": "not about a model (no model_name label)"}
    ]
    repeat = httpx.post(f"{gateway.url}{PATH}", json=body, timeout=10)
    assert repeat.json() | {"ignored": []} == {
        "published": [],
        "already_published": [alert_id],
        "dead_letters": [],
        "ignored": [],
    }

    def about_the_model(e: Event) -> bool:
        return isinstance(e, AlertEvent) and e.model_name == model_name

    published(settings, settings.topics.alerts, since, about_the_model)
    time.sleep(2)  # anything published twice would be there by now
    ours = published(settings, settings.topics.alerts, since, about_the_model)
    assert [e.alert_id for e in ours] == [alert_id]
    assert (ours[0].kind, ours[0].value, ours[0].source) == ("error_rate", 0.2, "prometheus")


def test_a_broken_alert_goes_to_the_dead_letter_topic(stack: LocalStack, settings: Settings) -> None:
    gateway = stack.services["gateway"]
    model_name = f"webhook-{uuid.uuid4().hex[:8]}"
    since = end_offsets(settings.kafka_bootstrap, settings.topics.dlq)
    response = httpx.post(f"{gateway.url}{PATH}", json=webhook_body(model_name, kind="bad-mood"), timeout=10)
    assert response.status_code == 200
    assert response.json()["published"] == [] and len(response.json()["dead_letters"]) == 1

    (letter,) = published(
        settings,
        settings.topics.dlq,
        since,
        lambda e: isinstance(e, DeadLetterEvent) and model_name in (e.original or ""),
    )
    assert letter.field == "kind" and letter.rejected_by == "gateway"
    assert letter.source_topic == settings.topics.alerts
    assert json.loads(base64.b64decode(letter.original_base64))["labels"]["kind"] == "bad-mood"


def test_a_body_that_is_not_alertmanagers_gets_a_422_naming_the_field(stack: LocalStack) -> None:
    gateway = stack.services["gateway"]
    response = httpx.post(f"{gateway.url}{PATH}", json={"status": "firing", "alerts": [{}]}, timeout=10)
    assert response.status_code == 422
    assert response.json()["message"].startswith("body.alerts.0.")
    assert httpx.get(f"{gateway.url}/healthz", timeout=5).status_code == 200
