"""The Models view's FastAPI app, mounted on Airflow's API server under /closeloop by the plugin.

    GET  /closeloop/models                      the page (HTML); the UI embeds it as "Models"
    GET  /closeloop/api/overview                its data (JSON)
    GET  /closeloop/models/{model}              one model's page: its timeline, retrains, drifted features
    GET  /closeloop/api/models/{model}          its data (JSON), which the page draws
    GET  /closeloop/api/models/{model}/retrain  the retrain DAG's params, for the form
    POST /closeloop/api/models/{model}/retrain  trigger retrain_<use case> with the form's params
    POST /closeloop/api/models/{model}/rollback the previous champion back (closeloop rollback)
    GET  /closeloop/models/{model}/drift-report the newest drift report in MinIO

Airflow does not guard a plugin's app, so every route here asks for
Airflow's logged-in user (its JWT cookie or a bearer token): a page request
without one is sent to the login page, an API request gets 401. The actions
also ask Airflow's auth manager whether the user may run (retrain) or edit
(roll back) the model's retrain DAG: 403 if not. A retrain is triggered
through Airflow's REST API with the user's own token, so Airflow records who
started it; a rollback records the user on the version in MLflow.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Body, Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import Field

from closeloop.config import Settings
from closeloop_airflow.models_view.overview import (
    FeatureShift,
    ModelDetail,
    Overview,
    build_model_detail,
    build_overview,
    read_all,
    read_from,
)
from closeloop_airflow.models_view.render import number, script_json, sparklines

__all__ = ["ModelsViewSettings", "create_app"]

_log = logging.getLogger(__name__)
_TEMPLATES = Path(__file__).parent / "templates"


class ModelsViewSettings(Settings):
    """Where the Models view reads live metrics, and how far back it looks."""

    prometheus_url: str = Field(
        default="http://127.0.0.1:9090", description="Prometheus, which scrapes the metrics exporter."
    )
    models_view_hours: float = Field(
        default=6.0, gt=0, description="The Models view's sparklines, alerts and runs cover this many hours."
    )


@cache
def _use_cases() -> dict[str, tuple[str, str]]:
    """Registered model -> (its retrain DAG, its primary metric), from the use-case registry."""
    from training.usecases.registry import USE_CASES, use_case_class

    found = {}
    for name in USE_CASES:
        info = use_case_class(name)
        found[info.model_name] = (f"retrain_{name}", info.primary_metric)
    return found


# Auth ----------------------------------------------------------------------------------
def _token(request: Request) -> str | None:
    """The caller's Airflow JWT: a bearer token, else the UI's session cookie."""
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN

    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:]
    return request.cookies.get(COOKIE_NAME_JWT_TOKEN)


async def _user(request: Request) -> Any:
    """Airflow's logged-in user, as its own API finds it; 401 without one."""
    from airflow.api_fastapi.core_api.security import resolve_user_from_token

    return await resolve_user_from_token(_token(request))


User = Annotated[Any, Depends(_user)]


def _authorize(user: Any, dag_id: str, *, method: str, runs: bool) -> None:
    """403 unless Airflow's auth manager lets ``user`` do ``method`` on the DAG (or its runs)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    allowed = get_auth_manager().is_authorized_dag(
        method=method,  # type: ignore[arg-type]
        access_entity=DagAccessEntity.RUN if runs else None,
        details=DagDetails(id=dag_id),
        user=user,
    )
    if not allowed:
        what = "trigger runs of" if runs else "edit"
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{user.get_name()} may not {what} {dag_id}")


def _dag_of(model: str) -> str:
    try:
        return _use_cases()[model][0]
    except KeyError:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no use case registers a model named {model!r}"
        ) from None


def _of_dag(retrain_dag: str | None, dag_id: str) -> bool:
    """Whether ``dag_id`` (retrain_<use case>, drift_report_<use case>, …) is the use case's."""
    if retrain_dag is None:
        return False
    return dag_id == retrain_dag or dag_id.endswith("_" + retrain_dag.removeprefix("retrain_"))


def _airflow_url() -> str:
    from airflow.configuration import conf

    return conf.get("api", "base_url", fallback="http://127.0.0.1:8080").rstrip("/")


# Data ----------------------------------------------------------------------------------
def read_overview(settings: ModelsViewSettings, token: str | None) -> Overview:
    """The champions first (they name the metrics), then every other source at once; one that is
    away is named on the page, not raised."""
    from mlflow import MlflowClient

    from closeloop.airflow_api import AirflowApi
    from closeloop_airflow.models_view.sources import (
        Prometheus,
        read_alerts,
        read_champions,
        read_retrain_runs,
    )

    cases = _use_cases()
    client = MlflowClient(settings.mlflow_tracking_uri)
    prometheus = Prometheus(settings.prometheus_url)
    since = datetime.now(UTC) - timedelta(hours=settings.models_view_hours)
    champions = read_from("mlflow", lambda: read_champions(client))
    metrics = {c.model_name: c.metric or cases.get(c.model_name, ("", ""))[1] for c in champions.value or []}
    dag_ids = {model: dag for model, (dag, _) in cases.items()}
    live, history, alerts, runs = read_all(
        ("prometheus", prometheus.live),
        ("prometheus", lambda: prometheus.history(metrics, hours=settings.models_view_hours)),
        ("kafka", lambda: read_alerts(settings.kafka_bootstrap, settings.topics.alerts, since)),
        (
            "airflow",
            lambda: read_retrain_runs(
                AirflowApi.as_user(_airflow_url(), token or ""),
                client,
                {dag: model for model, dag in dag_ids.items() if model in metrics},
            ),
        ),
    )
    return build_overview(champions, live, history, alerts, runs, dag_ids=dag_ids, metrics=metrics)


def read_model_detail(settings: ModelsViewSettings, token: str | None, model: str) -> ModelDetail:
    """One model's page, its sources read like the overview's."""
    from mlflow import MlflowClient

    from closeloop.airflow_api import AirflowApi
    from closeloop_airflow.models_view.sources import (
        Prometheus,
        read_alerts,
        read_champions,
        read_promotions,
        read_retrain_runs,
        read_shifts,
    )

    dag_id, primary = _use_cases()[model]
    client = MlflowClient(settings.mlflow_tracking_uri)
    prometheus = Prometheus(settings.prometheus_url)
    hours = settings.models_view_hours
    since = datetime.now(UTC) - timedelta(hours=hours)
    champion = read_from(
        "mlflow", lambda: next((c for c in read_champions(client) if c.model_name == model), None)
    )
    metric = (champion.value.metric if champion.value else None) or primary

    def versions(points: Mapping[tuple[str, str], Sequence[tuple[datetime, float]]]) -> dict[str, Any]:
        return {
            v: p
            for (m, v), p in sorted(points.items(), key=lambda kv: kv[1][0][0] if kv[1] else since)
            if m == model
        }

    def shifts() -> list[FeatureShift]:
        if champion.value is None:
            return []
        window = next(
            (
                w
                for w in prometheus.live()
                if (w.model_name, w.model_version) == (model, champion.value.version)
            ),
            None,
        )
        return [] if window is None else read_shifts(settings, champion.value, window)

    reads = read_all(
        ("prometheus", lambda: versions(prometheus.history({model: metric}, hours=hours, points=1440))),
        ("prometheus", lambda: versions(prometheus.drift_history(model, hours=hours))),
        (
            "kafka",
            lambda: read_promotions(settings.kafka_bootstrap, settings.topics.model_updates, since, model),
        ),
        ("kafka", lambda: read_alerts(settings.kafka_bootstrap, settings.topics.alerts, since)),
        (
            "airflow",
            lambda: read_retrain_runs(
                AirflowApi.as_user(_airflow_url(), token or ""), client, {dag_id: model}, limit=25
            ),
        ),
        ("lake", shifts),
    )
    return build_model_detail(model, champion, *reads, metric=metric, dag_id=dag_id)


# App -----------------------------------------------------------------------------------
def create_app(settings: ModelsViewSettings | None = None) -> FastAPI:
    app = FastAPI(title="closeloop models", description=__doc__)
    templates = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape())
    templates.globals.update(number=number, sparklines=sparklines)
    templates.filters["script_json"] = script_json

    def current() -> ModelsViewSettings:
        return settings or ModelsViewSettings.load()

    def page(template: str, user: Any, **values: Any) -> HTMLResponse:
        html = templates.get_template(template).render(
            user=user.get_name(),
            airflow=_airflow_url(),
            mlflow=current().mlflow_tracking_uri.rstrip("/"),
            now=datetime.now(UTC),
            **values,
        )
        return HTMLResponse(html)

    @app.exception_handler(HTTPException)
    async def _to_login(request: Request, exc: HTTPException) -> Response:
        # A person opening the page unauthenticated is sent to log in and back; a script gets the status.
        if exc.status_code == 401 and "text/html" in request.headers.get("accept", ""):
            back = quote(str(request.url), safe="")
            return RedirectResponse(f"{_airflow_url()}/auth/login?next={back}", status.HTTP_303_SEE_OTHER)
        return Response(
            content=f'{{"detail": {_json(exc.detail)}}}',
            status_code=exc.status_code,
            media_type="application/json",
            headers=exc.headers,
        )

    @app.get("/models", response_class=HTMLResponse)
    def models_page(request: Request, user: User, dag_id: str | None = None) -> HTMLResponse:
        """Every model; with ``dag_id`` (the UI's DAG tab), the model of that DAG's use case only."""
        overview = read_overview(current(), _token(request))
        if dag_id is not None:
            overview = replace(overview, rows=[r for r in overview.rows if _of_dag(r.dag_id, dag_id)])
        return page("models.html", user, overview=overview)

    @app.get("/api/overview")
    def overview_json(request: Request, user: User) -> dict[str, Any]:
        overview = read_overview(current(), _token(request))
        return {"user": user.get_name(), **asdict(overview)}

    @app.get("/models/{model}", response_class=HTMLResponse)
    def model_page(model: str, request: Request, user: User) -> HTMLResponse:
        _dag_of(model)
        detail = read_model_detail(current(), _token(request), model)
        return page("model.html", user, detail=detail)

    @app.get("/api/models/{model}")
    def model_json(model: str, request: Request, user: User) -> dict[str, Any]:
        _dag_of(model)
        return {"user": user.get_name(), **asdict(read_model_detail(current(), _token(request), model))}

    @app.get("/api/models/{model}/retrain")
    def retrain_params(model: str, request: Request, user: User) -> dict[str, Any]:
        """The retrain DAG's params (name, default, description), as Airflow's trigger form has them."""
        from closeloop.airflow_api import AirflowApi, AirflowApiError

        dag_id = _dag_of(model)
        try:
            details = AirflowApi.as_user(_airflow_url(), _token(request) or "")._call(
                "GET", f"/dags/{dag_id}/details"
            )
        except AirflowApiError as exc:
            raise HTTPException(exc.status or status.HTTP_502_BAD_GATEWAY, str(exc)) from exc
        params = {
            name: {
                "default": spec.get("value"),
                "description": spec.get("description"),
                "type": (spec.get("schema") or {}).get("type"),
                "title": (spec.get("schema") or {}).get("title") or name,
                "enum": (spec.get("schema") or {}).get("enum"),
            }
            for name, spec in (details.get("params") or {}).items()
        }
        return {"dag_id": dag_id, "params": params}

    @app.post("/api/models/{model}/retrain", status_code=status.HTTP_201_CREATED)
    def retrain_now(
        model: str,
        request: Request,
        user: User,
        conf: Annotated[dict[str, Any] | None, Body(embed=True)] = None,
    ) -> dict[str, Any]:
        """Trigger retrain_<use case>; Airflow checks the params and records the user as the trigger."""
        from closeloop.airflow_api import AirflowApi, AirflowApiError

        dag_id = _dag_of(model)
        _authorize(user, dag_id, method="POST", runs=True)
        api = AirflowApi.as_user(_airflow_url(), _token(request) or "")
        note = f"retrain now, by {user.get_name()} from the Models page"
        try:
            run_id = api.trigger(dag_id, conf=conf or {}, note=note)
        except AirflowApiError as exc:
            # Airflow's 400 names the param that failed its schema; pass it on as it is.
            raise HTTPException(exc.status or status.HTTP_502_BAD_GATEWAY, str(exc)) from exc
        _log.info("%s triggered %s run %s from the Models page", user.get_name(), dag_id, run_id)
        return {"dag_id": dag_id, "run_id": run_id, "url": f"{_airflow_url()}/dags/{dag_id}/runs/{run_id}"}

    @app.post("/api/models/{model}/rollback")
    def roll_back(model: str, user: User) -> dict[str, Any]:
        """The `closeloop rollback` path: aliases back, a model-update event, the user on the version."""
        from mlflow import MlflowClient

        from closeloop.errors import CloseloopError
        from closeloop.kafka.publish import publish_events
        from training.promotion import model_update, rollback

        _authorize(user, _dag_of(model), method="PUT", runs=False)
        s = current()
        client = MlflowClient(s.mlflow_tracking_uri)
        try:
            move = rollback(client, model, by=user.get_name())
        except CloseloopError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        publish_events(s.kafka_bootstrap, s.topics.model_updates, [model_update(client, move)])
        return {"model": model, "champion": move.version, "previous": move.previous, "reason": move.reason}

    @app.get("/models/{model}/drift-report", response_class=HTMLResponse)
    def drift_report(model: str, user: User) -> HTMLResponse:
        """The model's newest Evidently drift report, from the reports bucket."""
        from training.drift_report_step import newest_report

        _dag_of(model)
        html = newest_report(current(), model)
        if html is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no drift report of {model} yet")
        return HTMLResponse(html)

    return app


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
