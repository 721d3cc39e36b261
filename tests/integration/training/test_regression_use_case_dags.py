"""The plug-in boundary holds: the regression use case's DAGs run end to end too, with `airflow dags test`."""

from __future__ import annotations

import json

from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.s3 import s3_client
from tests.integration.training.conftest import DagsTest
from tests.integration.training.lake_rows import write_labeled
from training.usecases import TARGET, get_use_case

DIABETES = get_use_case("diabetes")


def test_retrain_and_drift_report_of_the_regression_use_case(
    settings: Settings, dags_test: DagsTest, lake_prefix: str
) -> None:
    client = MlflowClient(settings.mlflow_tracking_uri)
    rows = DIABETES.base_data().train.sample(200, random_state=5)
    shifted = rows.assign(bmi=rows["bmi"] + 0.05, bp=rows["bp"] + 0.05)  # heavier patients, higher pressure
    write_labeled(settings, DIABETES, shifted, rows[TARGET].tolist(), prefix=lake_prefix)
    before = {v.version for v in client.search_model_versions(f"name='{DIABETES.model_name}'")}
    # More recent rows than the lake holds: the new version is profiled on its training data, mostly
    # the base data, which the report then holds the shifted feedback against. (With its default, the
    # profile describes the shifted feedback the version was retrained on, and nothing drifts.)
    env = {"CLOSELOOP_PROFILE_MIN_RECENT_ROWS": "1000"}

    dags_test("retrain_diabetes", {"window_days": 1}, env, lake_prefix=lake_prefix)

    (version,) = {v.version for v in client.search_model_versions(f"name='{DIABETES.model_name}'")} - before
    registered = client.get_model_version(DIABETES.model_name, version)
    assert registered.tags["closeloop.task"] == "regression"
    assert registered.tags["closeloop.gate.metric"] == "mae"
    metrics = client.get_run(registered.run_id).data.metrics
    assert {"test_mae", "test_rmse", "holdout_mae", "holdout_rmse"} <= metrics.keys()
    assert client.get_run(registered.run_id).data.params["rows_holdout"] == "60"

    # A threshold of 1.0 cannot be exceeded: a report, and no alert to start another retrain.
    dags_test(
        "drift_report_diabetes",
        {"window_days": 1, "min_rows": 100, "drift_share_threshold": 1.0},
        env,
        lake_prefix=lake_prefix,
    )

    experiment = client.get_experiment_by_name(DIABETES.model_name)
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`closeloop.kind` = 'drift_report'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    (run,) = runs
    assert run.data.metrics["rows_current"] == 200
    bucket, _, key = run.data.tags["closeloop.report"].removeprefix("s3://").partition("/")
    report = json.loads(s3_client(settings).get_object(bucket, f"{key}/report.json").read())
    # bmi and bp moved, the other eight features did not.
    assert sorted(report["drifted_columns"]) == ["bmi", "bp"]
    assert run.data.metrics["drift_share"] == report["drift_share"] == 2 / len(DIABETES.features())
