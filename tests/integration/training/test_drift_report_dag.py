"""drift_report_<use case> with `airflow dags test`; its alert starts a retrain through the real triggerer."""

from __future__ import annotations

from datetime import timedelta

from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.events import AlertEvent
from closeloop.s3 import s3_client
from closeloop.stack.manager import LocalStack
from closeloop.stack.services.airflow import AirflowService
from tests.integration.kafka_reading import end_offsets, read_to_end
from tests.integration.training.conftest import DagsTest
from tests.integration.training.lake_rows import write_labeled
from tests.waiting import NotYet, eventually
from training.usecases import TARGET, get_use_case
from training.usecases.digits.drift import drift_frame

DIGITS = get_use_case("digits")


def test_drift_over_the_threshold_alerts_and_the_alert_starts_a_retrain(
    settings: Settings, stack: LocalStack, dags_test: DagsTest, lake_prefix: str, clean_champion: str
) -> None:
    rows = DIGITS.base_data().test.sample(300, random_state=3)
    drifted = drift_frame(rows, "thickness", 1.0, seed=3)
    write_labeled(
        settings, DIGITS, drifted, rows[TARGET].tolist(), prefix=lake_prefix, spacing=timedelta(seconds=1)
    )
    start = end_offsets(settings.kafka_bootstrap, settings.topics.alerts)

    dags_test(
        "drift_report_digits",
        {"window_days": 1, "min_rows": 100, "drift_share_threshold": 0.3},
        lake_prefix=lake_prefix,
    )

    alerts = [
        e
        for e in read_to_end(settings.kafka_bootstrap, settings.topics.alerts, start)
        if isinstance(e, AlertEvent) and e.model_name == DIGITS.model_name
    ]
    (alert,) = alerts
    assert (alert.kind, alert.source, alert.metric) == ("drift", "airflow", "drift_share")
    assert alert.value > 0.3 and alert.threshold == 0.3
    assert alert.model_version == clean_champion

    # The report is in the reports bucket and on an MLflow run.
    client = MlflowClient(settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(DIGITS.model_name)
    (run,) = client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`closeloop.kind` = 'drift_report' "
        f"and tags.`closeloop.champion` = '{clean_champion}'",
    )
    assert run.data.metrics["drift_share"] == alert.value
    assert run.data.metrics["rows_current"] == 300
    bucket, _, key = run.data.tags["closeloop.report"].removeprefix("s3://").partition("/")
    html = s3_client(settings).get_object(bucket, f"{key}/report.html").read()
    assert b"<html" in html[:2000].lower()
    assert {a.path for a in client.list_artifacts(run.info.run_id, "drift_report")} == {
        "drift_report/report.html",
        "drift_report/report.json",
    }

    # The triggerer's alert watcher turns the alert into a retrain run that says why it ran.
    airflow = stack.services[AirflowService.name]
    assert isinstance(airflow, AirflowService)
    api = airflow.api()

    @eventually(timeout=180, interval=3)
    def triggered_run() -> str:
        for run in api.runs("retrain_digits", run_type="asset_triggered", limit=10):
            try:
                why = api.xcom("retrain_digits", run["dag_run_id"], "why")
            except Exception as exc:  # the why task has not run yet
                raise NotYet(f"{run['dag_run_id']}: {exc}") from exc
            if alert.alert_id in why["alert_ids"]:
                return run["dag_run_id"]
        raise NotYet("no asset-triggered retrain_digits run names the alert yet")

    run_id = triggered_run()
    finished = api.wait("retrain_digits", run_id, timeout_s=400)
    assert finished["state"] == "success", api.task_instances("retrain_digits", run_id)
    why = api.xcom("retrain_digits", run_id, "why")
    assert api.run("retrain_digits", run_id)["note"] == f"why: {why['summary']}"
    assert why["trigger"] == "alert"
    assert why["alert_kinds"] == ["drift"]
    assert why["summary"].startswith(f"drift alert {alert.alert_id}: drift_share=")
