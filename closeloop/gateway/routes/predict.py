"""POST /v1/models/{name}/predict: the champion's answer, one input or a batch, each logged to Kafka."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from closeloop.errors import CloseloopError
from closeloop.events import PredictionEvent
from closeloop.gateway.api_models import BatchPrediction, Prediction, PredictRequest, SinglePrediction
from closeloop.gateway.champions import (
    InputError,
    LoadedModel,
    ModelUnavailableError,
    Predicted,
    UnknownModelError,
)
from closeloop.gateway.http import (
    ApiKey,
    check_api_key,
    deliver,
    json_response,
    parse_body,
    too_large,
    unprocessable,
)
from closeloop.gateway.service import Gateway, gateway_of
from closeloop.raw_inputs import RawInputError

__all__ = ["router"]

_log = logging.getLogger("closeloop.gateway")

router = APIRouter()
ENDPOINT = "/v1/models/{name}/predict"
#: A client's own id: its requests all go to the same version while a canary serves a share.
CLIENT_ID_HEADER = "x-client-id"


@router.post(
    ENDPOINT,
    response_model=SinglePrediction | BatchPrediction,
    responses={401: {}, 404: {}, 413: {}, 422: {}, 503: {}},
    summary="Predict with the model's champion, one input or a batch",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
        }
    },
)
async def predict(name: str, request: Request, x_api_key: ApiKey = None) -> Response:
    started = time.perf_counter()
    gateway = gateway_of(request)
    metrics = gateway.metrics
    check_api_key(gateway.settings, x_api_key)
    body = await parse_body(request, PredictRequest)
    single = body.inputs is not None
    instances = [body.inputs] if single else body.instances
    assert instances is not None
    if len(instances) > gateway.settings.max_batch:
        metrics.failed(ENDPOINT, "too_large", name)
        raise too_large("batch", gateway.settings.max_batch, len(instances))
    model = gateway.pool.get(name)
    if model is None:
        try:
            model = await run_in_threadpool(gateway.pool.ensure, name)
        except UnknownModelError as exc:
            metrics.failed(ENDPOINT, "unknown_model", name)
            raise HTTPException(404, str(exc)) from exc
        except ModelUnavailableError as exc:
            metrics.failed(ENDPOINT, "unavailable", name)
            raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from exc

    # The request's first prediction id, or the client's own id, decides champion or canary.
    first_id = _new_id()
    champion = model
    model = gateway.canaries.pick(model, request.headers.get(CLIENT_ID_HEADER) or first_id)
    served_as = "champion" if model is champion else "canary"
    where = "inputs" if single else "instances"
    model_started = time.perf_counter()
    try:
        predicted = model.predict(instances, where)
    except InputError as exc:
        metrics.failed(ENDPOINT, "invalid_input", name, model.version, status=422)
        loc = ["body", *(int(p) if p.isdigit() else p for p in exc.field.split("."))]
        return unprocessable([{"type": "invalid_input", "loc": loc, "msg": exc.reason}])
    except Exception as exc:
        latency_ms = (time.perf_counter() - model_started) * 1000
        await _publish_failures(gateway, model, instances, exc, latency_ms)
        metrics.failed(ENDPOINT, "model_error", name, model.version, status=500)
        _log.exception("model %s version %s failed", name, model.version)
        raise HTTPException(
            500, f"model {name} version {model.version} failed: {type(exc).__name__}"
        ) from exc
    model_seconds = time.perf_counter() - model_started
    latency_ms = model_seconds * 1000

    events = _served_events(model, instances, latency_ms, predicted, first_id)
    store = gateway.raw_store
    if any(store.too_large(value) for instance in instances for value in instance.values()):
        try:
            events, stored = await run_in_threadpool(gateway.raw_store.offload, events)
        except RawInputError as exc:
            metrics.failed(ENDPOINT, "raw_store_unavailable", name, model.version)
            _log.error("%s", exc)
            raise HTTPException(
                503, f"the store for large raw inputs is unavailable: {exc}", headers={"Retry-After": "5"}
            ) from exc
        metrics.raw_inputs_stored.labels(name).inc(stored)

    def locate(index: int, path: list[str]) -> list[str | int]:
        if not path or path[0] != "inputs":
            return path  # the model's output is what is too large
        return ["body", "inputs", *path[1:]] if single else ["body", "instances", index, *path[1:]]

    refused = await deliver(
        gateway, gateway.settings.topics.predictions, events, locate, (ENDPOINT, name, model.version)
    )
    if refused is not None:
        metrics.answered(ENDPOINT, refused.status_code, name, model.version)
        return refused

    metrics.model_latency.labels(name, model.version).observe(model_seconds)
    metrics.predictions.labels(name, model.version).inc(len(events))
    metrics.answered(ENDPOINT, 200, name, model.version, started=started)
    if single:
        event = events[0]
        return json_response(
            SinglePrediction(
                prediction_id=event.prediction_id,
                model_name=name,
                model_version=model.version,
                served_as=served_as,
                output=event.output,
                scores=event.scores,
                latency_ms=latency_ms,
            )
        )
    return json_response(
        BatchPrediction(
            model_name=name,
            model_version=model.version,
            served_as=served_as,
            latency_ms=latency_ms,
            # The events' fields, validated already: not again, per prediction.
            predictions=[
                Prediction.model_construct(prediction_id=e.prediction_id, output=e.output, scores=e.scores)
                for e in events
            ],
        )
    )


async def _publish_failures(
    gateway: Gateway, model: LoadedModel, instances: list[dict[str, Any]], exc: Exception, latency_ms: float
) -> None:
    """One PredictionEvent per input the model failed on: the error rate counts them."""
    reason = f"{type(exc).__name__}: {exc}"[:500]
    events = [
        _prediction_event(model, instance, latency_ms, output=None, error=reason) for instance in instances
    ]
    try:
        await gateway.publisher.send(gateway.settings.topics.predictions, events)
    except CloseloopError as error:  # the request fails anyway; say why its events are missing
        _log.error("the error events of model %s were not published: %s", model.name, error)


def _served_events(
    model: LoadedModel,
    instances: list[dict[str, Any]],
    latency_ms: float,
    predicted: Predicted,
    first_id: str,
) -> list[PredictionEvent]:
    """One event per input of a served request, all at one time; the first, ``first_id``, checked in full."""
    none = [None] * len(predicted.outputs)
    per_input = zip(
        instances, predicted.outputs, predicted.scores or none, predicted.features or none, strict=True
    )
    instance, output, score, features = next(per_input)
    first = _prediction_event(
        model, instance, latency_ms, prediction_id=first_id, output=output, scores=score, features=features
    )
    return [first, *(first.sibling(_new_id(), i, o, s, f) for i, o, s, f in per_input)]


def _new_id() -> str:
    # 128 random bits as 32 hex digits, like uuid4().hex at a fifth of its cost.
    return os.urandom(16).hex()


def _prediction_event(
    model: LoadedModel, instance: dict[str, Any], latency_ms: float, **outcome: Any
) -> PredictionEvent:
    """The event for one input: ``output`` (and ``scores``) if served, ``error`` if not."""
    outcome.setdefault("prediction_id", _new_id())
    return PredictionEvent(
        model_name=model.name,
        model_version=model.version,
        task=model.task.name,
        inputs=instance,
        latency_ms=latency_ms,
        **outcome,
    )
