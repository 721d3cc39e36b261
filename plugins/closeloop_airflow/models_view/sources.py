"""What the models page reads, from the services that hold it: MLflow's registry and Prometheus.

No second store: versions, aliases and the gate's decision are MLflow's
(the retrain's tags on each version); the live numbers are the metrics
exporter's gauges of closeloop.metrics, which Prometheus scrapes and keeps
as history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from closeloop_airflow.models_view.overview import Alert, Champion, LiveWindow, RetrainRun

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from closeloop.airflow_api import AirflowApi

__all__ = ["Prometheus", "read_alerts", "read_champions", "read_retrain_runs"]

#: The gate's decision, as training.gate tags each version it judged.
GATE_PREFIX = "closeloop.gate."


def read_champions(client: MlflowClient) -> list[Champion]:
    """Every registered model with a champion alias, with its previous champion and the champion's tags."""
    # Here, not at the top: Airflow imports every plugin file in each of its processes.
    from closeloop.gateway.champions import TASK_TAG
    from training.promotion import CHAMPION, PREVIOUS
    from training.train import REASON_TAG

    champions, token = [], None
    while True:
        page = client.search_registered_models(max_results=100, page_token=token)
        for model in page:
            version = model.aliases.get(CHAMPION)
            if version is None:
                continue
            info = client.get_model_version(model.name, version)
            tags = info.tags
            champions.append(
                Champion(
                    model_name=model.name,
                    version=str(version),
                    task=tags.get(TASK_TAG) or model.tags.get(TASK_TAG),
                    registered=datetime.fromtimestamp(info.creation_timestamp / 1000, UTC),
                    previous=model.aliases.get(PREVIOUS),
                    reason=tags.get(REASON_TAG),
                    gate={
                        k.removeprefix(GATE_PREFIX): v for k, v in tags.items() if k.startswith(GATE_PREFIX)
                    },
                )
            )
        token = page.token
        if not token:
            return champions


def read_alerts(bootstrap: str, topic: str, since: datetime, *, limit: int = 1000) -> list[Alert]:
    """The alerts on ``topic`` since ``since``, oldest first: every source publishes its alerts there."""
    from closeloop.events import AlertEvent
    from closeloop.kafka.consume import read_since

    alerts = []
    for event in read_since(bootstrap, topic, since, expected=AlertEvent, limit=limit):
        assert isinstance(event, AlertEvent)
        alerts.append(
            Alert(
                alert_id=event.alert_id,
                model_name=event.model_name,
                model_version=event.model_version,
                kind=event.kind,
                metric=event.metric,
                value=event.value,
                threshold=event.threshold,
                time=event.window.end,
                source=event.source,
                message=event.message,
            )
        )
    return alerts


def read_retrain_runs(
    api: AirflowApi, client: MlflowClient, dag_models: Mapping[str, str], *, limit: int = 10
) -> list[RetrainRun]:
    """The newest runs of each retrain DAG (``dag_models``: DAG id -> its model), each with the version
    it registered and that version's gate decision (MLflow's tags on it)."""
    from training.train import TRAINED_BY_TAG

    runs = []
    for dag_id, model in sorted(dag_models.items()):
        trained = {}
        for version in client.search_model_versions(f"name='{model}'", max_results=200):
            by = version.tags.get(TRAINED_BY_TAG)
            if by:
                trained[by] = version
        for run in api.runs(dag_id, limit=limit):
            version = trained.get(f"{dag_id}/{run['dag_run_id']}")
            tags = version.tags if version is not None else {}
            runs.append(
                RetrainRun(
                    dag_id=dag_id,
                    run_id=run["dag_run_id"],
                    state=run["state"],
                    run_type=run["run_type"],
                    start=_time(run.get("start_date")),
                    end=_time(run.get("end_date")),
                    reason=run.get("note"),
                    triggered_by=run.get("triggering_user_name"),
                    version=None if version is None else str(version.version),
                    gate={
                        k.removeprefix(GATE_PREFIX): v for k, v in tags.items() if k.startswith(GATE_PREFIX)
                    },
                )
            )
    return runs


def _time(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text.replace("Z", "+00:00"))


class Prometheus:
    """The closeloop_model_* series of the metrics exporter, through Prometheus' HTTP API."""

    def __init__(
        self, url: str, *, timeout_s: float = 5.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s, transport=transport)

    def _query(self, path: str, **params: Any) -> list[dict[str, Any]]:
        response = self._http.get(f"/api/v1/{path}", params=params)
        response.raise_for_status()
        body = response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus: {body.get('error', body)}")
        return body["data"]["result"]

    def _by_version(self, query: str) -> dict[tuple[str, str], list[tuple[dict[str, str], float]]]:
        found: dict[tuple[str, str], list[tuple[dict[str, str], float]]] = {}
        for series in self._query("query", query=query):
            labels = series["metric"]
            key = (labels["model_name"], labels["model_version"])
            found.setdefault(key, []).append((labels, float(series["value"][1])))
        return found

    def live(self) -> list[LiveWindow]:
        """The newest tumbling window of every version the exporter still shows."""
        tumbling = '{window="tumbling"}'
        ends = self._by_version(f"closeloop_model_window_end_timestamp_seconds{tumbling}")
        quality = self._by_version(f"closeloop_model_quality{tumbling}")
        coverage = self._by_version(f"closeloop_model_label_coverage{tumbling}")
        errors = self._by_version(f"closeloop_model_error_rate{tumbling}")
        p99 = self._by_version('closeloop_model_latency_ms{window="tumbling",quantile="0.99"}')
        drift = self._by_version(f"closeloop_model_drift_psi{tumbling}")
        windows = []
        for key, [(_, end)] in sorted(ends.items()):
            worst = max(drift.get(key, []), key=lambda d: d[1], default=None)
            windows.append(
                LiveWindow(
                    model_name=key[0],
                    model_version=key[1],
                    end=datetime.fromtimestamp(end, UTC),
                    quality={labels["metric"]: value for labels, value in quality.get(key, [])},
                    label_coverage=_one(coverage.get(key)),
                    error_rate=_one(errors.get(key)),
                    p99_ms=_one(p99.get(key)),
                    max_drift=None if worst is None else worst[1],
                    max_drift_feature=None if worst is None else worst[0].get("feature"),
                )
            )
        return windows

    def history(
        self, metrics: Mapping[str, str], *, hours: float = 6.0, points: int = 60
    ) -> dict[tuple[str, str], Sequence[tuple[datetime, float]]]:
        """Each model's primary metric (``metrics``: model -> metric) per version, over the last hours."""
        end = datetime.now(UTC).timestamp()
        start, step = end - hours * 3600, max(1.0, hours * 3600 / points)
        found: dict[tuple[str, str], Sequence[tuple[datetime, float]]] = {}
        for model, metric in sorted(metrics.items()):
            query = f'closeloop_model_quality{{window="tumbling",model_name="{model}",metric="{metric}"}}'
            for series in self._query("query_range", query=query, start=start, end=end, step=step):
                labels = series["metric"]
                found[(labels["model_name"], labels["model_version"])] = [
                    (datetime.fromtimestamp(float(t), UTC), float(v)) for t, v in series["values"]
                ]
        return found


def _one(samples: list[tuple[dict[str, str], float]] | None) -> float | None:
    return samples[0][1] if samples else None
