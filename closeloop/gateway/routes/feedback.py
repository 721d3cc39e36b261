"""POST /v1/feedback: ground truth or corrections for served predictions, to Kafka."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from closeloop.events import FeedbackEvent
from closeloop.events.serde import field_errors
from closeloop.gateway.api_models import FeedbackAccepted, FeedbackIn
from closeloop.gateway.http import ApiKey, check_api_key, deliver, json_response, too_large, unprocessable
from closeloop.gateway.service import gateway_of

__all__ = ["router"]

router = APIRouter()
ENDPOINT = "/v1/feedback"


@router.post(
    ENDPOINT,
    status_code=202,
    response_model=FeedbackAccepted,
    responses={401: {}, 413: {}, 422: {}},
    summary="Ground truth or corrections for served predictions, one or a batch",
)
async def feedback(
    body: FeedbackIn | list[FeedbackIn], request: Request, x_api_key: ApiKey = None
) -> Response:
    started = time.perf_counter()
    gateway = gateway_of(request)
    metrics = gateway.metrics
    check_api_key(gateway.settings, x_api_key)
    items = body if isinstance(body, list) else [body]
    if len(items) > gateway.settings.max_batch:
        metrics.failed(ENDPOINT, "too_large")
        raise too_large("feedback batch", gateway.settings.max_batch, len(items))
    events = []
    for index, item in enumerate(items):
        served = gateway.pool.get(item.model_name) if item.model_name else None
        fields = item.model_dump(exclude_none=True)
        try:
            events.append(FeedbackEvent(**fields, task=served.task.name if served else None))
        except ValidationError as exc:
            metrics.failed(ENDPOINT, "invalid_feedback", item.model_name or "")
            prefix = ("body", index) if isinstance(body, list) else ("body",)
            return unprocessable(
                [
                    {"type": "invalid_feedback", "loc": [*prefix, e.field], "msg": e.reason}
                    for e in field_errors(exc)
                ]
            )

    def locate(index: int, path: list[str]) -> list[str | int]:
        return ["body", index, *path] if isinstance(body, list) else ["body", *path]

    refused = await deliver(gateway, gateway.settings.topics.feedback, events, locate, (ENDPOINT, "", ""))
    if refused is not None:
        metrics.answered(ENDPOINT, refused.status_code)
        return refused
    metrics.answered(ENDPOINT, 202, started=started)
    return json_response(
        FeedbackAccepted(accepted=len(events), feedback_ids=[e.feedback_id for e in events]), 202
    )
