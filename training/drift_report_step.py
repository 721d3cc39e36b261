"""The drift-report DAG's step: the champion's training data against the recent lake window, with Evidently.

Reference: what the champion's reference profile describes, the data it was
meant to serve (its dataset snapshot's newest feedback once there is enough of
it, else its training rows; the base training data if it has no snapshot),
with the champion's predictions on them: against its training rows alone, a
version retrained for a drift would report the same drift again.
Current: the labeled examples of the last days in the lake, with what was
served and what the truth was. The report (HTML and JSON) goes to the reports
bucket and to an MLflow run; a drift share over the threshold becomes an
alert on ``closeloop.alerts``, which can trigger a retrain. The report itself
is built by ``training.evidently_report``; ``dags/drift_report.py`` wires this step.
"""

from __future__ import annotations

import hashlib
import io
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.events import AlertEvent, Window
from closeloop.lake import read_labeled
from closeloop.raw_inputs import RawInputStore
from closeloop.s3 import read_object, s3_client
from training.dataset import feedback_frame, load_snapshot
from training.evidently_report import build_drift_report
from training.promotion import CHAMPION, alias_version
from training.train import DATASET_TAG, serving_frame
from training.usecases import TARGET, UseCase, get_use_case

__all__ = ["DRIFT_RULE", "PREDICTION", "drift_alert", "run_drift_report"]

_log = logging.getLogger(__name__)

PREDICTION = "prediction"
#: The rule name drift-report alerts carry.
DRIFT_RULE = "evidently_drift_share"
#: Reports live at reports_bucket/REPORTS_PREFIX/<model>/<window end>/.
REPORTS_PREFIX = "drift"


def newest_report(settings: Settings, model_name: str) -> bytes | None:
    """The HTML of ``model_name``'s newest drift report, or None if it has none yet."""
    s3 = s3_client(settings)
    keys = sorted(
        o.object_name
        for o in s3.list_objects(
            settings.reports_bucket, prefix=f"{REPORTS_PREFIX}/{model_name}/", recursive=True
        )
        if o.object_name and o.object_name.endswith("/report.html")
    )
    if not keys:
        return None
    return read_object(s3, settings.reports_bucket, keys[-1])


def drift_alert(
    model_name: str, model_version: str, drift_share: float, threshold: float, start: datetime, end: datetime
) -> AlertEvent:
    """The alert for a drift share over the threshold; the same window always gets the same id."""
    key = f"{model_name}|{model_version}|{DRIFT_RULE}|{start.isoformat()}|{end.isoformat()}"
    return AlertEvent(
        alert_id=hashlib.sha256(key.encode()).hexdigest()[:32],
        model_name=model_name,
        model_version=model_version,
        kind="drift",
        rule=DRIFT_RULE,
        metric="drift_share",
        value=drift_share,
        threshold=threshold,
        window=Window(start=start, end=end, kind="tumbling"),
        source="airflow",
        message=f"{drift_share:.0%} of the features drifted in the last {end - start} (Evidently)",
    )


def _reference(
    settings: Settings, use_case: UseCase, client: MlflowClient, version: str | None
) -> pd.DataFrame:
    """What the champion was profiled on (``serving_frame``), with its predictions on it."""
    if version is None:
        return use_case.with_monitoring(use_case.base_data().train)
    tags = client.get_model_version(use_case.model_name, version).tags
    if DATASET_TAG in tags:
        dataset = load_snapshot(s3_client(settings), tags[DATASET_TAG], splits=("train", "holdout"))
        frame, _ = serving_frame(dataset, settings.profile_min_recent_rows)
        frame = frame[[*use_case.features(), TARGET]]
    else:
        frame = use_case.base_data().train
    model = mlflow.pyfunc.load_model(f"models:/{use_case.model_name}/{version}")
    return use_case.with_monitoring(frame.assign(**{PREDICTION: use_case.predict(model, frame)}))


def _current(settings: Settings, use_case: UseCase, start: datetime, end: datetime) -> pd.DataFrame:
    rows = read_labeled(settings, model_name=use_case.model_name, since=start).to_pandas()
    frame, _ = feedback_frame(
        rows, use_case, start=start, end=end, fetch=RawInputStore.from_settings(settings).fetch
    )
    return use_case.with_monitoring(frame.rename(columns={"output": PREDICTION}))


def run_drift_report(
    settings: Settings,
    use_case_name: str,
    *,
    window_days: float,
    threshold: float,
    min_rows: int,
    end: datetime | None = None,
) -> dict[str, Any]:
    """Build, save and log the report; returns where it is, the drift share and the alert (or None)."""
    use_case = get_use_case(use_case_name)
    end = (end or datetime.now(UTC)).astimezone(UTC)
    start = end - timedelta(days=window_days)
    client = MlflowClient(settings.mlflow_tracking_uri)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    version = alias_version(client, use_case.model_name, CHAMPION)

    current = _current(settings, use_case, start, end)
    if len(current) < min_rows:
        message = (
            f"{len(current)} labeled examples of {use_case.model_name} since {start:%Y-%m-%d %H:%M}, "
            f"need {min_rows}"
        )
        _log.info("no report: %s", message)
        return {"status": "skipped", "message": message, "uri": None, "drift_share": None, "alert": None}
    reference = _reference(settings, use_case, client, version)
    if version is None:
        current = current.drop(columns=[PREDICTION])  # no champion: compare inputs only
    report = build_drift_report(
        reference,
        current,
        features=use_case.monitored(),
        task=use_case.task,
        target=TARGET,
        prediction=PREDICTION,
        drift_share_threshold=threshold,
        max_detailed_columns=settings.drift_report_detailed_columns,
    )

    key = f"{REPORTS_PREFIX}/{use_case.model_name}/{end:%Y%m%dT%H%M%SZ}"
    s3 = s3_client(settings)
    for name, data, content_type in (
        ("report.html", report.html.encode(), "text/html"),
        ("report.json", report.to_json().encode(), "application/json"),
    ):
        s3.put_object(
            settings.reports_bucket, f"{key}/{name}", io.BytesIO(data), len(data), content_type=content_type
        )
    uri = f"s3://{settings.reports_bucket}/{key}"

    mlflow.set_experiment(use_case.model_name)
    with mlflow.start_run(
        run_name=f"drift-report-{end:%Y%m%dT%H%M%SZ}",
        tags={"closeloop.kind": "drift_report", "closeloop.report": uri, "closeloop.champion": str(version)},
    ) as run:
        mlflow.log_metrics(
            {
                "drift_share": report.drift_share,
                "rows_reference": len(reference),
                "rows_current": len(current),
            }
        )
        mlflow.log_text(report.html, "drift_report/report.html")
        mlflow.log_text(report.to_json(), "drift_report/report.json")

    alert = None
    if report.drift_share > threshold:
        alert = drift_alert(use_case.model_name, version or "none", report.drift_share, threshold, start, end)
        _log.warning("drift share %.2f over %.2f: alert %s", report.drift_share, threshold, alert.alert_id)
    _log.info(
        "drift report %s: drift share %.2f (%d vs %d rows)",
        uri,
        report.drift_share,
        len(reference),
        len(current),
    )
    return {
        "status": "done",
        "message": f"drift share {report.drift_share:.2f}, threshold {threshold}",
        "uri": uri,
        "run_id": run.info.run_id,
        "drift_share": report.drift_share,
        "drifted_columns": list(report.drifted_columns),
        "alert": alert.model_dump(mode="json") if alert else None,
    }
