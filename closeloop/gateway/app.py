"""The gateway: serve each model's champion from MLflow, log every prediction to Kafka, take feedback.

    uvicorn closeloop.gateway.app:create_app --factory --port 8000

Configuration is GatewaySettings (CLOSELOOP_* variables or .env); tests
override the ``get_gateway_settings`` dependency. The routes live in
``closeloop.gateway.routes``, what they share in ``service`` and ``http``.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import Scope

from closeloop import __version__
from closeloop.gateway.http import unprocessable
from closeloop.gateway.limits import BodyLimit
from closeloop.gateway.metrics import GatewayMetrics
from closeloop.gateway.routes import alerts, feedback, health, predict
from closeloop.gateway.service import Gateway
from closeloop.gateway.settings import get_gateway_settings

__all__ = ["create_app"]

_log = logging.getLogger("closeloop.gateway")


def create_app() -> FastAPI:
    metrics = GatewayMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = app.dependency_overrides.get(get_gateway_settings, get_gateway_settings)()
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        gateway = Gateway.build(settings, metrics)
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
        metrics.failed(endpoint, "invalid_request", request.path_params.get("name", ""))
        errors = [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in exc.errors()]
        return unprocessable(errors)

    for routes in (predict, feedback, alerts, health):
        app.include_router(routes.router)
    return app
