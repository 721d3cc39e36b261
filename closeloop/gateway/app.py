"""The gateway: serve each model's champion from MLflow, log every prediction to Kafka, take feedback.

    uvicorn closeloop.gateway.app:create_app --factory --port 8000

Configuration is GatewaySettings (CLOSELOOP_* variables or .env); tests
override the ``get_gateway_settings`` dependency.
"""

from __future__ import annotations

import gc
import hmac
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from confluent_kafka import Message
from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError
from starlette.types import Scope

from closeloop import __version__
from closeloop.errors import CloseloopError
from closeloop.events import Event, FeedbackEvent, InvalidEventError, PredictionEvent
from closeloop.events.serde import field_errors
from closeloop.gateway.alertmanager import AlertmanagerPayload, RecentIds, translate
from closeloop.gateway.api_models import (
    BatchPrediction,
    FeedbackAccepted,
    FeedbackIn,
    ModelInfo,
    Prediction,
    PredictRequest,
    SinglePrediction,
)
from closeloop.gateway.champions import (
    ChampionPool,
    InputError,
    LoadedModel,
    ModelUnavailableError,
    UnknownModelError,
)
from closeloop.gateway.limits import BodyLimit
from closeloop.gateway.metrics import GatewayMetrics
from closeloop.gateway.publisher import (
    EventPublisher,
    EventTooLargeError,
    PublishTimeoutError,
    SpoolFullError,
)
from closeloop.gateway.reloader import ChampionWatcher
from closeloop.gateway.settings import GatewaySettings, get_gateway_settings
from closeloop.gateway.spool import DiskSpool
from closeloop.kafka.dead_letters import dead_letter

__all__ = ["create_app"]

M = TypeVar("M", bound=BaseModel)

_log = logging.getLogger("closeloop.gateway")


@dataclass
class _Gateway:
    """Everything a request needs, built when the app starts."""

    settings: GatewaySettings
    metrics: GatewayMetrics
    pool: ChampionPool
    publisher: EventPublisher
    watcher: ChampionWatcher
    #: Alert ids this process published from Alertmanager's webhook.
    published_alerts: RecentIds

    @classmethod
    def build(cls, settings: GatewaySettings, metrics: GatewayMetrics) -> _Gateway:
        # MLflow retries a failed call for minutes by default: the gateway would say nothing of a
        # registry that is down until then. Its own environment still wins.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(settings.registry_timeout_s))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        pool = ChampionPool(
            tracking_uri=settings.mlflow_tracking_uri,
            alias=settings.champion_alias,
            registry=metrics.registry,
            cache=settings.model_cache,
            scores=settings.scores,
        )
        publisher = EventPublisher(
            bootstrap=settings.kafka_bootstrap,
            spool=DiskSpool(settings.spool, max_bytes=settings.spool_max_bytes),
            registry=metrics.registry,
            dead_letter_topic=settings.topics.dlq,
            max_event_bytes=settings.max_event_bytes,
            delivery_timeout_ms=settings.delivery_timeout_ms,
        )

        def on_invalid(message: Message, error: InvalidEventError) -> None:
            letter = dead_letter(message, error, topic=settings.topics.model_updates, rejected_by="gateway")
            try:
                publisher.send_and_wait(settings.topics.dlq, [letter])
            except CloseloopError as exc:
                _log.error("a dead letter for %s was not published: %s", settings.topics.model_updates, exc)

        watcher = ChampionWatcher(
            pool,
            bootstrap=settings.kafka_bootstrap,
            topic=settings.topics.model_updates,
            poll_interval_s=settings.reload_poll_s,
            on_invalid=on_invalid,
        )
        return cls(settings, metrics, pool, publisher, watcher, RecentIds())

    def start(self) -> None:
        self.publisher.start()
        names = list(self.settings.models)
        if not names:
            try:
                names = self.pool.discover()
            except Exception as exc:  # MLflow down at start: models load on first request
                _log.error("cannot list models in MLflow at %s: %s", self.settings.mlflow_tracking_uri, exc)
        for name in names:
            self.pool.load_in_background(name)
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()
        self.publisher.close()


#: The X-API-Key header of the write endpoints.
ApiKey = Annotated[str | None, Header(description="Required when the gateway has an API key.")]
#: Alertmanager sends credentials as an Authorization header, not as X-API-Key.
Authorization = Annotated[str | None, Header(description="`Bearer <API key>`, instead of X-API-Key.")]


def _check_api_key(settings: GatewaySettings, x_api_key: str | None) -> None:
    """Open without a configured key (local development); otherwise the X-API-Key header must match.

    A plain call rather than a FastAPI dependency: dependencies cost more per
    request than the model does.
    """
    if settings.api_key is None:
        return
    expected = settings.api_key.get_secret_value().encode()
    if x_api_key is None or not hmac.compare_digest(x_api_key.encode(), expected):
        # Never echo what was sent: it may be a real key for something else.
        raise HTTPException(401, "missing or wrong X-API-Key header", headers={"WWW-Authenticate": "ApiKey"})


def _unprocessable(errors: list[dict[str, Any]]) -> JSONResponse:
    first = errors[0]
    message = ".".join(str(p) for p in first["loc"]) + ": " + first["msg"]
    return JSONResponse({"detail": errors, "message": message}, status_code=422)


def _too_large(what: str, limit: int, size: int) -> HTTPException:
    return HTTPException(413, f"a {what} holds at most {limit} items; this one has {size}")


#: Where a too-large event's largest part came from in the request: (event index, path in the event).
Locator = Callable[[int, list[str]], list[str | int]]


def _largest_path(value: Any) -> list[str]:
    """The path to the largest leaf of a JSON object: what to name in a 413."""
    path = []
    while isinstance(value, dict) and value:
        sizes = {k: len(json.dumps(v, default=str)) for k, v in value.items()}
        key = max(sizes, key=sizes.__getitem__)
        path.append(key)
        value = value[key]
    return path


async def _deliver(
    gateway: _Gateway, topic: str, events: Sequence[Event], locate: Locator, labels: tuple[str, str, str]
) -> Response | None:
    """Publish and wait until every event is durable; an error response if that cannot be."""
    try:
        await gateway.publisher.send(topic, events)
        return None
    except EventTooLargeError as exc:
        gateway.metrics.errors.labels(*labels, "too_large").inc()
        loc = locate(exc.index, _largest_path(events[exc.index].model_dump(mode="json")))
        msg = (
            f"the event would be {exc.size:,} bytes; one event holds at most {exc.limit:,} "
            "(CLOSELOOP_MAX_EVENT_BYTES; Kafka's own limit is about 1 MB)"
        )
        message = ".".join(str(p) for p in loc) + ": " + msg
        return JSONResponse(
            {"detail": [{"type": "too_large", "loc": loc, "msg": msg}], "message": message}, 413
        )
    except (SpoolFullError, PublishTimeoutError) as exc:
        gateway.metrics.errors.labels(*labels, "unavailable").inc()
        _log.error("refused a request to %s: %s", topic, exc)
        message = "Kafka is unreachable and the gateway cannot keep more events; retry later"
        return JSONResponse({"detail": str(exc), "message": message}, 503, headers={"Retry-After": "5"})


async def _body(request: Request, model: type[M]) -> M:
    """The JSON body parsed and validated in one pass of pydantic's parser.

    Less than half the time of FastAPI's json.loads-then-validate, which was
    a sixth of a 32-prediction request. Errors read as FastAPI's own.
    """
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from exc


def _json(model: Any, status_code: int = 200) -> Response:
    # Serialize with pydantic directly: FastAPI's own path validates the model again.
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


def create_app() -> FastAPI:
    metrics = GatewayMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = app.dependency_overrides.get(get_gateway_settings, get_gateway_settings)()
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        gateway = _Gateway.build(settings, metrics)
        app.state.gateway = gateway
        gateway.start()
        # Everything imported so far (MLflow, pandas, scikit-learn: a million
        # objects) lives as long as the process; frozen, the garbage collector
        # stops rescanning it, which otherwise stalls a request now and then.
        gc.freeze()
        _log.info(
            "gateway up: Kafka %s, MLflow %s, API key %s",
            settings.kafka_bootstrap,
            settings.mlflow_tracking_uri,
            "required" if settings.api_key else "not required (development)",
        )
        try:
            yield
        finally:
            gateway.stop()

    app = FastAPI(
        title="closeloop gateway",
        version=__version__,
        lifespan=lifespan,
        description="Serves each model's champion from the MLflow registry, logs every prediction "
        "to Kafka and takes feedback. Write endpoints need the X-API-Key header when a key is set.",
    )

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def request_limit(scope: Scope) -> int:
        return scope["app"].state.gateway.settings.max_request_bytes

    app.add_middleware(BodyLimit, max_bytes=request_limit)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        endpoint = request.scope.get("route").path if request.scope.get("route") else request.url.path
        metrics.errors.labels(endpoint, request.path_params.get("name", ""), "", "invalid_request").inc()
        errors = [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in exc.errors()]
        return _unprocessable(errors)

    @app.post(
        "/v1/models/{name}/predict",
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
        gateway: _Gateway = request.app.state.gateway
        _check_api_key(gateway.settings, x_api_key)
        endpoint = "/v1/models/{name}/predict"
        body = await _body(request, PredictRequest)
        single = body.inputs is not None
        instances = [body.inputs] if single else body.instances
        assert instances is not None
        if len(instances) > gateway.settings.max_batch:
            metrics.errors.labels(endpoint, name, "", "too_large").inc()
            raise _too_large("batch", gateway.settings.max_batch, len(instances))
        model = gateway.pool.get(name)
        if model is None:
            try:
                model = await run_in_threadpool(gateway.pool.ensure, name)
            except UnknownModelError as exc:
                metrics.errors.labels(endpoint, name, "", "unknown_model").inc()
                raise HTTPException(404, str(exc)) from exc
            except ModelUnavailableError as exc:
                metrics.errors.labels(endpoint, name, "", "unavailable").inc()
                raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from exc

        where = "inputs" if single else "instances"
        model_started = time.perf_counter()
        try:
            outputs, scores = model.predict(instances, where)
        except InputError as exc:
            metrics.errors.labels(endpoint, name, model.version, "invalid_input").inc()
            metrics.requests.labels(endpoint, name, model.version, "422").inc()
            loc = ["body", *(int(p) if p.isdigit() else p for p in exc.field.split("."))]
            return _unprocessable([{"type": "invalid_input", "loc": loc, "msg": exc.reason}])
        except Exception as exc:
            latency_ms = (time.perf_counter() - model_started) * 1000
            await _publish_failures(gateway, model, instances, exc, latency_ms)
            metrics.errors.labels(endpoint, name, model.version, "model_error").inc()
            metrics.requests.labels(endpoint, name, model.version, "500").inc()
            _log.exception("model %s version %s failed", name, model.version)
            raise HTTPException(
                500, f"model {name} version {model.version} failed: {type(exc).__name__}"
            ) from exc
        model_seconds = time.perf_counter() - model_started
        latency_ms = model_seconds * 1000

        events = _served_events(model, instances, latency_ms, outputs, scores)

        def locate(index: int, path: list[str]) -> list[str | int]:
            if not path or path[0] != "inputs":
                return path  # the model's output is what is too large
            return ["body", "inputs", *path[1:]] if single else ["body", "instances", index, *path[1:]]

        refused = await _deliver(
            gateway, gateway.settings.topics.predictions, events, locate, (endpoint, name, model.version)
        )
        if refused is not None:
            metrics.requests.labels(endpoint, name, model.version, str(refused.status_code)).inc()
            return refused

        metrics.model_latency.labels(name, model.version).observe(model_seconds)
        metrics.predictions.labels(name, model.version).inc(len(events))
        metrics.requests.labels(endpoint, name, model.version, "200").inc()
        metrics.latency.labels(endpoint, name, model.version).observe(time.perf_counter() - started)
        if single:
            event = events[0]
            return _json(
                SinglePrediction(
                    prediction_id=event.prediction_id,
                    model_name=name,
                    model_version=model.version,
                    output=event.output,
                    scores=event.scores,
                    latency_ms=latency_ms,
                )
            )
        return _json(
            BatchPrediction(
                model_name=name,
                model_version=model.version,
                latency_ms=latency_ms,
                # The events' fields, validated already: not again, per prediction.
                predictions=[
                    Prediction.model_construct(
                        prediction_id=e.prediction_id, output=e.output, scores=e.scores
                    )
                    for e in events
                ],
            )
        )

    @app.post(
        "/v1/feedback",
        status_code=202,
        response_model=FeedbackAccepted,
        responses={401: {}, 413: {}, 422: {}},
        summary="Ground truth or corrections for served predictions, one or a batch",
    )
    async def feedback(
        body: FeedbackIn | list[FeedbackIn], request: Request, x_api_key: ApiKey = None
    ) -> Response:
        started = time.perf_counter()
        gateway: _Gateway = request.app.state.gateway
        _check_api_key(gateway.settings, x_api_key)
        endpoint = "/v1/feedback"
        items = body if isinstance(body, list) else [body]
        if len(items) > gateway.settings.max_batch:
            metrics.errors.labels(endpoint, "", "", "too_large").inc()
            raise _too_large("feedback batch", gateway.settings.max_batch, len(items))
        events = []
        for index, item in enumerate(items):
            served = gateway.pool.get(item.model_name) if item.model_name else None
            fields = item.model_dump(exclude_none=True)
            try:
                events.append(FeedbackEvent(**fields, task=served.task.name if served else None))
            except ValidationError as exc:
                metrics.errors.labels(endpoint, item.model_name or "", "", "invalid_feedback").inc()
                prefix = ("body", index) if isinstance(body, list) else ("body",)
                return _unprocessable(
                    [
                        {"type": "invalid_feedback", "loc": [*prefix, e.field], "msg": e.reason}
                        for e in field_errors(exc)
                    ]
                )

        def locate(index: int, path: list[str]) -> list[str | int]:
            return ["body", index, *path] if isinstance(body, list) else ["body", *path]

        refused = await _deliver(
            gateway, gateway.settings.topics.feedback, events, locate, (endpoint, "", "")
        )
        if refused is not None:
            metrics.requests.labels(endpoint, "", "", str(refused.status_code)).inc()
            return refused
        metrics.requests.labels(endpoint, "", "", "202").inc()
        metrics.latency.labels(endpoint, "", "").observe(time.perf_counter() - started)
        return _json(
            FeedbackAccepted(accepted=len(events), feedback_ids=[e.feedback_id for e in events]), 202
        )

    @app.post(
        "/v1/alerts/alertmanager",
        responses={401: {}, 422: {}},
        summary="Alertmanager's webhook: firing alerts about a model become AlertEvents on closeloop.alerts",
    )
    async def alertmanager_webhook(
        body: AlertmanagerPayload,
        request: Request,
        x_api_key: ApiKey = None,
        authorization: Authorization = None,
    ) -> Response:
        gateway: _Gateway = request.app.state.gateway
        bearer = authorization[7:] if authorization and authorization.startswith("Bearer ") else None
        _check_api_key(gateway.settings, x_api_key or bearer)
        topics = gateway.settings.topics
        result = translate(body, topic=topics.alerts)
        fresh, repeated = [], []
        for event in result.events:
            (repeated if event.alert_id in gateway.published_alerts else fresh).append(event)
        endpoint = "/v1/alerts/alertmanager"

        def locate(index: int, path: list[str]) -> list[str | int]:
            return ["body", "alerts", *path]

        refused = await _deliver(gateway, topics.alerts, fresh, locate, (endpoint, "", ""))
        if refused is not None:
            return refused
        for event in fresh:
            gateway.published_alerts.add(event.alert_id)
            _log.info("alert %s from Prometheus: %s", event.alert_id, event.message or event.rule)
        if result.dead_letters:
            refused = await _deliver(gateway, topics.dlq, result.dead_letters, locate, (endpoint, "", ""))
            if refused is not None:
                return refused
            for letter in result.dead_letters:
                _log.warning("Alertmanager alert to the dead-letter topic: %s", letter.reason)
        metrics.requests.labels(endpoint, "", "", "200").inc()
        return JSONResponse(
            {
                "published": [e.alert_id for e in fresh],
                "already_published": [e.alert_id for e in repeated],
                "dead_letters": [letter.reason for letter in result.dead_letters],
                "ignored": result.ignored,
            }
        )

    @app.get("/v1/models", response_model=list[ModelInfo], summary="The models served and their champions")
    async def models(request: Request) -> list[ModelInfo]:
        gateway: _Gateway = request.app.state.gateway
        return [
            ModelInfo(
                name=m.name,
                version=m.version,
                task=m.task.name,
                features=len(m.features),
                loaded_at=m.loaded_at,
            )
            for m in gateway.pool.models()
        ]

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Ready: a model is loaded; degraded: Kafka is away and events are spooled")
    async def readyz(request: Request) -> JSONResponse:
        gateway: _Gateway = request.app.state.gateway
        served = {m.name: m.version for m in gateway.pool.models()}
        reachable = await run_in_threadpool(gateway.publisher.kafka_reachable)
        spooled = gateway.publisher.spooled
        problems = []
        if not served:
            problems.append("no champion model loaded")
        for name, failure in sorted(gateway.pool.failures.items()):
            serving = f"serving version {served[name]}" if name in served else "not served"
            problems.append(f"model {name}: {failure} ({serving})")
        if not reachable:
            problems.append(f"Kafka at {gateway.settings.kafka_bootstrap} unreachable")
        if spooled:
            problems.append(f"{spooled} events spooled to disk, waiting for Kafka")
        if gateway.publisher.spool_is_full:
            problems.append("the spool is full: write requests get 503 until Kafka drains it")
        status = "ready" if not problems else ("not ready" if not served else "degraded")
        body = {"status": status, "models": served, "kafka": "reachable" if reachable else "unreachable"}
        body |= {"spooled": spooled, "problems": problems}
        return JSONResponse(body, status_code=503 if not served else 200)

    return app


async def _publish_failures(
    gateway: _Gateway, model: LoadedModel, instances: list[dict[str, Any]], exc: Exception, latency_ms: float
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
    outputs: list[Any],
    scores: list[dict[str, float]] | None,
) -> list[PredictionEvent]:
    """One event per input of a served request, all at one time; the first checked in full."""
    per_input = zip(instances, outputs, scores or [None] * len(outputs), strict=True)
    instance, output, score = next(per_input)
    first = _prediction_event(model, instance, latency_ms, output=output, scores=score)
    return [first, *(first.sibling(_new_id(), i, o, s) for i, o, s in per_input)]


def _new_id() -> str:
    # 128 random bits as 32 hex digits, like uuid4().hex at a fifth of its cost.
    return os.urandom(16).hex()


def _prediction_event(
    model: LoadedModel, instance: dict[str, Any], latency_ms: float, **outcome: Any
) -> PredictionEvent:
    """The event for one input: ``output`` (and ``scores``) if served, ``error`` if not."""
    return PredictionEvent(
        prediction_id=_new_id(),
        model_name=model.name,
        model_version=model.version,
        task=model.task.name,
        inputs=instance,
        latency_ms=latency_ms,
        **outcome,
    )
