"""A retrain that waits for new labels: the sensor defers to the real triggerer, which resumes it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.lake import count_labeled
from closeloop.s3 import s3_client
from closeloop.stack.manager import LocalStack
from closeloop.stack.services.airflow import AirflowService
from tests.integration.training.lake_rows import write_labeled
from tests.waiting import NotYet, eventually
from training.promotion import champion
from training.usecases import TARGET, get_use_case

DIABETES = get_use_case("diabetes")
DAG_ID = "retrain_diabetes"


@pytest.fixture
def written_keys(settings: Settings) -> Iterator[list[str]]:
    """Lake objects the test writes under the real prefix; removed afterwards."""
    keys: list[str] = []
    yield keys
    for key in keys:
        s3_client(settings).remove_object(settings.lake_bucket, key)


def test_retrain_waits_in_the_triggerer_until_enough_new_labels_arrive(
    settings: Settings, stack: LocalStack, written_keys: list[str]
) -> None:
    airflow = stack.services[AirflowService.name]
    assert isinstance(airflow, AirflowService)
    api = airflow.api()
    # New labels are those since the champion was trained (all of them if there is none yet).
    _, since = champion(MlflowClient(settings.mlflow_tracking_uri), DIABETES.model_name)
    present = count_labeled(settings, model_name=DIABETES.model_name, since=since)
    run_id = api.trigger(DAG_ID, conf={"min_new_labels": present + 50}, note="test: wait for labels")

    @eventually(timeout=180, interval=2)
    def deferred() -> None:
        state = api.task_instances(DAG_ID, run_id)["wait_for_labels"]["state"]
        if state != "deferred":
            raise NotYet(f"wait_for_labels is {state}")

    deferred()
    rows = DIABETES.base_data().test.head(50)
    written_keys.append(
        write_labeled(settings, DIABETES, rows, rows[TARGET].tolist(), prefix=settings.lake_prefix)
    )

    finished = api.wait(DAG_ID, run_id, timeout_s=400)
    tasks = api.task_instances(DAG_ID, run_id)
    assert finished["state"] == "success", {t: v["state"] for t, v in tasks.items()}
    waited = api.xcom(DAG_ID, run_id, "wait_for_labels")
    assert waited["status"] == "ready"
    assert waited["count"] >= present + 50
