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

from closeloop_airflow.models_view.overview import (
    Alert,
    Champion,
    FeatureShift,
    LiveWindow,
    Mark,
    RetrainRun,
    bin_labels,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from closeloop.airflow_api import AirflowApi
    from closeloop.config import Settings

__all__ = [
    "Prometheus",
    "read_alerts",
    "read_champions",
    "read_promotions",
    "read_retrain_runs",
    "read_shifts",
]

#: The gate's decision, as training.gate tags each version it judged.
GATE_PREFIX = "closeloop.gate."


def read_champions(client: MlflowClient) -> list[Champion]:
    """Every registered model with a champion alias, with its previous champion, its canary and the
    champion's tags."""
    # Here, not at the top: Airflow imports every plugin file in each of its processes.
    from closeloop.gateway.champions import TASK_TAG
    from training.promotion import CANARY, CHAMPION, PREVIOUS
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
                    canary=model.aliases.get(CANARY),
                    reason=tags.get(REASON_TAG),
                    gate=_gate(tags),
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


def read_promotions(bootstrap: str, topic: str, since: datetime, model_name: str) -> list[Mark]:
    """Each time ``model_name``'s champion moved since ``since``: its model-update events."""
    from closeloop.events import ModelUpdateEvent
    from closeloop.kafka.consume import read_since

    marks = []
    for event in read_since(bootstrap, topic, since, expected=ModelUpdateEvent):
        assert isinstance(event, ModelUpdateEvent)
        if event.model_name != model_name or event.alias != "champion":
            continue  # a canary's event moves no champion
        kind = "rollback" if (event.reason or "").startswith("rollback") else "promotion"
        was = f" (was v{event.previous_version})" if event.previous_version else ""
        marks.append(Mark(event.ts, kind, f"v{event.version} champion{was}: {event.reason or kind}"))
    return marks


def read_shifts(
    settings: Settings, champion: Champion, window: LiveWindow, *, top: int = 3
) -> list[FeatureShift]:
    """The ``top`` most drifted features of the champion's newest window: the reference profile's
    bins beside the shares of the window's labeled examples in the lake.

    The lake holds inputs of labeled predictions only: the window's shares are those of its
    labeled sample, which is what the page says.
    """
    import json

    from closeloop.lake import Lake
    from closeloop.monitoring.profiles import load_profile
    from closeloop.s3 import s3_client

    profile = load_profile(
        s3_client(settings),
        settings.lake_bucket,
        settings.profiles_prefix,
        champion.model_name,
        champion.version,
    )
    if profile is None:
        return []
    psi = window.drift
    worst = [f for f, _ in sorted(psi.items(), key=lambda kv: kv[1], reverse=True) if f in profile.features][
        :top
    ]
    start = window.end.timestamp() - (window.seconds or 60.0)
    table = Lake.from_settings(settings).read(
        model_name=champion.model_name, since=datetime.fromtimestamp(start, UTC)
    )
    rows: list[dict[str, Any]] = []
    if table.num_rows:
        for version, at, inputs in zip(
            table["model_version"].to_pylist(),
            table["prediction_ts"].to_pylist(),
            table["inputs"].to_pylist(),
            strict=True,
        ):
            # The lake's times are UTC without a zone.
            if version != champion.version or at is None:
                continue
            if start <= at.replace(tzinfo=UTC).timestamp() < window.end.timestamp():
                rows.append(json.loads(inputs) if inputs else {})
    shifts = []
    for feature in worst:
        bins = profile.features[feature]
        values = [row[feature] for row in rows if isinstance(row.get(feature), int | float)]
        counts = bins.counts(values) if values else None
        shifts.append(
            FeatureShift(
                feature=feature,
                psi=psi[feature],
                bins=bin_labels(bins.kind, bins.cuts, bins.categories),
                reference=list(bins.proportions),
                window=None if counts is None else list(counts / counts.sum()),
                window_rows=len(values),
            )
        )
    return shifts


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
                    gate=_gate(tags),
                )
            )
    return runs


def _gate(tags: Mapping[str, str]) -> dict[str, str]:
    """The gate's decision among a version's tags, without their prefix."""
    return {k.removeprefix(GATE_PREFIX): v for k, v in tags.items() if k.startswith(GATE_PREFIX)}


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
        seconds = self._by_version(f"closeloop_model_window_seconds{tumbling}")
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
                    drift={labels["feature"]: value for labels, value in drift.get(key, [])},
                    seconds=_one(seconds.get(key)),
                )
            )
        return windows

    def history(
        self, metrics: Mapping[str, str], *, hours: float = 6.0, points: int = 360
    ) -> dict[tuple[str, str], Sequence[tuple[datetime, float]]]:
        """Each model's primary metric (``metrics``: model -> metric) per version, over the last hours."""
        found: dict[tuple[str, str], Sequence[tuple[datetime, float]]] = {}
        for model, metric in sorted(metrics.items()):
            query = f'closeloop_model_quality{{window="tumbling",model_name="{model}",metric="{metric}"}}'
            found.update(self._range(_fresh(query, model), hours, points))
        return found

    def drift_history(
        self, model: str, *, hours: float = 6.0, points: int = 1440
    ) -> dict[tuple[str, str], Sequence[tuple[datetime, float]]]:
        """The largest PSI over ``model``'s features, per version, over the last hours."""
        psi = f'closeloop_model_drift_psi{{window="tumbling",model_name="{model}"}}'
        query = f"max by (model_name, model_version) ({_fresh(psi, model)})"
        return self._range(query, hours, points)

    def _range(
        self, query: str, hours: float, points: int
    ) -> dict[tuple[str, str], Sequence[tuple[datetime, float]]]:
        end = datetime.now(UTC).timestamp()
        # No finer than Prometheus' scrape interval (15 s): finer steps only repeat samples.
        start, step = end - hours * 3600, max(15.0, hours * 3600 / points)
        found: dict[tuple[str, str], Sequence[tuple[datetime, float]]] = {}
        for series in self._query("query_range", query=query, start=start, end=end, step=step):
            labels = series["metric"]
            found[(labels["model_name"], labels["model_version"])] = [
                (datetime.fromtimestamp(float(t), UTC), float(v)) for t, v in series["values"]
            ]
        return found


def _fresh(query: str, model: str) -> str:
    """``query``'s samples only while their window is new: the exporter shows a version's newest
    window until it is stale (15 min), and a version replaced by another would go on as a flat line."""
    labels = f'window="tumbling",model_name="{model}"'
    age = f"(time() - closeloop_model_window_end_timestamp_seconds{{{labels}}})"
    fresh = f"{age} < (3 * closeloop_model_window_seconds{{{labels}}} + 30)"
    return f"({query}) and on (model_name, model_version) ({fresh})"


def _one(samples: list[tuple[dict[str, str], float]] | None) -> float | None:
    return samples[0][1] if samples else None
