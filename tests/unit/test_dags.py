"""DAG integrity: every DAG file imports, every use case has its DAGs, schedules and params are as meant."""

from __future__ import annotations

import itertools

import pytest
from airflow.dag_processing.dagbag import DagBag

from closeloop.config import PROJECT_ROOT
from training.usecases import use_case_names


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_every_dag_file_imports(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}


def test_each_use_case_gets_a_retrain_and_a_drift_report_dag(dagbag: DagBag) -> None:
    expected = {f"{kind}_{name}" for name in use_case_names() for kind in ("retrain", "drift_report")}
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
    }
    assert dag.params["force"] is False


@pytest.mark.parametrize("name", use_case_names())
def test_retrain_tasks_run_in_order(dagbag: DagBag, name: str) -> None:
    dag = dagbag.dags[f"retrain_{name}"]
    order = ["why", "wait_for_labels", "build_dataset", "train", "gate", "publish_update"]
    assert set(dag.task_ids) == set(order)
    for upstream, downstream in itertools.pairwise(order):
        assert upstream in dag.get_task(downstream).get_flat_relative_ids(upstream=True), (
            f"{upstream} must run before {downstream}"
        )
    assert type(dag.get_task("wait_for_labels")).__name__ == "WaitForLabeledDataSensor"


@pytest.mark.parametrize("name", use_case_names())
def test_drift_report_runs_nightly_and_publishes_its_alert(dagbag: DagBag, name: str) -> None:
    dag = dagbag.dags[f"drift_report_{name}"]
    assert dag.timetable.expression == "30 1 * * *"
    assert set(dag.task_ids) == {"report", "publish_alert"}
    assert "report" in dag.get_task("publish_alert").upstream_task_ids
    assert {"window_days", "drift_share_threshold", "min_rows"} == set(dag.params.keys())
