"""POST /v1/alerts/alertmanager: Alertmanager's webhook; firing alerts about a model become AlertEvents."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from closeloop.gateway.alertmanager import AlertmanagerPayload, translate
from closeloop.gateway.http import ApiKey, Authorization, check_api_key, deliver
from closeloop.gateway.service import gateway_of

__all__ = ["router"]

_log = logging.getLogger("closeloop.gateway")

router = APIRouter()
ENDPOINT = "/v1/alerts/alertmanager"


@router.post(
    ENDPOINT,
    responses={401: {}, 422: {}},
    summary="Alertmanager's webhook: firing alerts about a model become AlertEvents on closeloop.alerts",
)
async def alertmanager_webhook(
    body: AlertmanagerPayload,
    request: Request,
    x_api_key: ApiKey = None,
    authorization: Authorization = None,
) -> Response:
    gateway = gateway_of(request)
    bearer = authorization[7:] if authorization and authorization.startswith("Bearer ") else None
    check_api_key(gateway.settings, x_api_key or bearer)
    topics = gateway.settings.topics
    result = translate(body, topic=topics.alerts)
    fresh, repeated = [], []
    for event in result.events:
        (repeated if event.alert_id in gateway.published_alerts else fresh).append(event)

    def locate(index: int, path: list[str]) -> list[str | int]:
        return ["body", "alerts", *path]

    refused = await deliver(gateway, topics.alerts, fresh, locate, (ENDPOINT, "", ""))
    if refused is not None:
        return refused
    for event in fresh:
        gateway.published_alerts.add(event.alert_id)
        _log.info("alert %s from Prometheus: %s", event.alert_id, event.message or event.rule)
    if result.dead_letters:
        refused = await deliver(gateway, topics.dlq, result.dead_letters, locate, (ENDPOINT, "", ""))
        if refused is not None:
            return refused
        for letter in result.dead_letters:
            _log.warning("Alertmanager alert to the dead-letter topic: %s", letter.reason)
    gateway.metrics.answered(ENDPOINT, 200)
    return JSONResponse(
        {
            "published": [e.alert_id for e in fresh],
            "already_published": [e.alert_id for e in repeated],
            "dead_letters": [letter.reason for letter in result.dead_letters],
            "ignored": result.ignored,
        }
    )
