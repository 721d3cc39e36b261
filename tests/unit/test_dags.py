"""DAG integrity: every DAG file imports, every use case has its DAGs, schedules and params are as meant."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import pytest
from airflow.dag_processing.dagbag import DagBag

from closeloop.config import PROJECT_ROOT, get_settings
from training.usecases import use_case_names


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


@pytest.mark.parametrize("dag_file", ["retrain.py", "drift_report.py", "batch_predict.py"])
def test_parsing_a_dag_file_does_not_import_the_models_libraries(dag_file: str) -> None:
    """Every task start parses its DAG file: scikit-learn and scipy (about a second) wait for the task."""
    script = (
        f"import runpy, sys; runpy.run_path({str(PROJECT_ROOT / 'dags' / dag_file)!r}); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'mlflow'}))"
    )
    env = {**os.environ, "PYTHONPATH": f"{PROJECT_ROOT}:{PROJECT_ROOT / 'plugins'}"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_every_dag_file_imports(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}


def test_each_use_case_gets_a_retrain_a_drift_report_and_a_batch_predict_dag(dagbag: DagBag) -> None:
    kinds = ("retrain", "drift_report", "batch_predict")
    expected = {f"{kind}_{name}" for name in use_case_names() for kind in kinds}
    assert expected <= set(dagbag.dag_ids)
    assert len(use_case_names()) >= 2


@pytest.mark.parametrize("name", use_case_names())
def test_retrain_runs_nightly_or_on_its_models_alerts(dagbag: DagBag, name: str) -> None:
    from airflow.sdk import AssetOrTimeSchedule

    from training.usecases.registry import use_case_class

    dag = dagbag.dags[f"retrain_{name}"]
    assert dag.max_active_runs == 1
    assert not dag.catchup
    timetable = dag.timetable
    assert isinstance(timetable, AssetOrTimeSchedule) or type(timetable).__name__ == "AssetOrTimeSchedule"
    assert timetable.timetable.expression == "0 2 * * *"
    asset = timetable.asset_condition
    model_name = use_case_class(name).model_name
    assert asset.name == f"alerts_{model_name}"
    (watcher,) = asset.watchers
    path, kwargs = watcher.trigger.serialize()
    assert path.endswith("AwaitAlertTrigger")
    assert kwargs["model_name"] == model_name
    assert kwargs["kafka_config_id"] == "kafka_alerts"
    assert set(dag.params.keys()) == {
        "force",
        "margin",
        "tolerance",
        "window_days",
        "holdout_fraction",
        "min_new_labels",
        "rollout",
        "canary_share",
        "live_margin",
        "live_confidence",
        "live_min_labeled",
        "live_min_windows",
        "live_latency_ratio",
        "live_error_rate_margin",
        "canary_minutes",
        "watch_minutes",
    }
    assert dag.params["force"] is False
    assert dag.params["rollout"] == get_settings().retrain_rollout


@pytest.mark.parametrize("name", use_case_names())
def test_retrain_tasks_run_in_order(dagbag: DagBag, name: str) -> None:
    dag = dagbag.dags[f"retrain_{name}"]
    order = ["why", "wait_for_labels", "build_dataset", "train", "gate", "publish_update"]
    canary = ["gate", "rollout", "live_canary", "end_canary", "publish_canary_update"]
    watch = ["publish_update", "watch", "end_watch", "publish_rollback"]
    assert set(dag.task_ids) == set(order + canary + watch)
    for path in (order, canary, watch, ["rollout", "watch"]):
        for upstream, downstream in itertools.pairwise(path):
            assert upstream in dag.get_task(downstream).get_flat_relative_ids(upstream=True), (
                f"{upstream} must run before {downstream}"
            )
    assert type(dag.get_task("wait_for_labels")).__name__ == "WaitForLabeledDataSensor"
    assert type(dag.get_task("live_canary")).__name__ == "LiveMetricsSensor"
    assert type(dag.get_task("watch")).__name__ == "PromotionWatchSensor"
    # The rollout branch picks one path; the other's tasks are skipped.
    assert dag.get_task("rollout").downstream_task_ids == {"live_canary", "watch"}


@pytest.mark.parametrize("name", use_case_names())
def test_drift_report_runs_nightly_and_publishes_its_alert(dagbag: DagBag, name: str) -> None:
    dag = dagbag.dags[f"drift_report_{name}"]
    assert dag.timetable.expression == "30 1 * * *"
    assert set(dag.task_ids) == {"report", "publish_alert"}
    assert "report" in dag.get_task("publish_alert").upstream_task_ids
    assert {"window_days", "drift_share_threshold", "min_rows"} == set(dag.params.keys())


@pytest.mark.parametrize("name", use_case_names())
def test_retrain_and_drift_report_reach_the_services_through_the_default_connections(
    dagbag: DagBag, name: str
) -> None:
    retrain = dagbag.dags[f"retrain_{name}"]
    assert retrain.get_task("wait_for_labels").lake_conn_id == "closeloop_lake"
    assert retrain.get_task("publish_update").kafka_config_id == "kafka_default"
    drift_report = dagbag.dags[f"drift_report_{name}"]
    assert drift_report.get_task("publish_alert").kafka_config_id == "kafka_default"


@pytest.mark.parametrize("name", use_case_names())
def test_batch_predict_runs_by_hand_on_a_folder_with_an_alias(dagbag: DagBag, name: str) -> None:
    dag = dagbag.dags[f"batch_predict_{name}"]
    assert type(dag.timetable).__name__ == "NullTimetable"  # by hand only
    assert set(dag.task_ids) == {"predict"}
    assert dag.params["alias"] == "champion"
    assert dag.params["folder"].startswith("s3://") and dag.params["folder"].rstrip("/").endswith(name)


def test_platform_check_takes_each_connection_as_a_param(dagbag: DagBag) -> None:
    params = dagbag.dags["platform_check"].params
    assert {k: params[k] for k in params} == {
        "kafka_config_id": "kafka_default",
        "lake_conn_id": "closeloop_lake",
        "mlflow_conn_id": "closeloop_mlflow",
    }


def test_retrain_and_drift_report_tasks_hand_training_the_connections_settings(
    dagbag: DagBag, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a task passes into training/ points where the connections say, not the worker's CLOSELOOP_*."""
    import training.drift_report_step
    import training.pipeline

    monkeypatch.setenv("CLOSELOOP_S3_ENDPOINT", "http://worker-env:9000")
    monkeypatch.setenv("CLOSELOOP_MLFLOW_TRACKING_URI", "http://worker-env:5000")
    lake = {"endpoint_url": "http://s3.conn:9000", "bucket": "conn-lake", "artifacts_bucket": "conn-arts"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_CLOSELOOP_LAKE",
        json.dumps({"conn_type": "aws", "login": "k", "password": "conn-secret", "extra": lake}),
    )
    monkeypatch.setenv("AIRFLOW_CONN_CLOSELOOP_MLFLOW", "http://mlflow.conn:5000")
    given, holdout_since = [], []

    def build_snapshot(settings: object, *args: object, **kwargs: object) -> None:
        given.append(settings)
        holdout_since.append(kwargs["holdout_since"])

    monkeypatch.setattr(training.pipeline, "build_snapshot", build_snapshot)
    monkeypatch.setattr(
        training.drift_report_step, "run_drift_report", lambda settings, *a, **k: given.append(settings)
    )
    name = use_case_names()[0]
    params = {"window_days": 1, "holdout_fraction": 0.3, "drift_share_threshold": 0.5, "min_rows": 1}
    context = {"params": params, "dag_run": type("DagRun", (), {"run_after": None})()}
    # The run's reason (the why task's XCom) says since when the data changed: the holdout's start.
    why = {"changed_since": "2026-11-22T10:00:00Z"}
    for dag_id, task_id, args in (
        (f"retrain_{name}", "build_dataset", [why]),
        (f"drift_report_{name}", "report", []),
    ):
        callable_ = dagbag.dags[dag_id].get_task(task_id).python_callable
        monkeypatch.setitem(callable_.__globals__, "get_current_context", lambda: context)
        callable_(*args)
    assert holdout_since == ["2026-11-22T10:00:00Z"]
    assert [(s.s3_endpoint, s.mlflow_tracking_uri, s.lake_bucket, s.artifacts_bucket) for s in given] == [
        ("http://s3.conn:9000", "http://mlflow.conn:5000", "conn-lake", "conn-arts")
    ] * 2
