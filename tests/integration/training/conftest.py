"""Running the repo's DAGs the way their authors would: `airflow dags test`, against the real services."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pandas as pd
import pytest
from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.s3 import s3_client
from closeloop.stack.manager import LocalStack
from closeloop.stack.services.airflow import AirflowService
from training.dataset import build_dataset
from training.promotion import CHAMPION
from training.train import train_and_register
from training.usecases import get_use_case

DagsTest = Callable[..., subprocess.CompletedProcess[str]]
_STUCK_REPORT = "Recovery retry of terminal-state API call failed"


@pytest.fixture
def dags_test(stack: LocalStack) -> DagsTest:
    """`airflow dags test DAG_ID -c CONF` with the stack's Airflow configuration; extra env on top.

    The tasks run in that process, so closeloop settings in ``env`` (a private
    lake prefix, say) reach them.
    """
    airflow = stack.services[AirflowService.name]
    assert isinstance(airflow, AirflowService)

    def run(
        dag_id: str, conf: dict | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        command = [
            str(stack.layout.venv / "bin" / "airflow"),
            "dags",
            "test",
            dag_id,
            "-c",
            json.dumps(conf or {}),
        ]
        # The stack's scheduler would also queue the tasks `dags test` marks scheduled
        # (its run is an ordinary manual run of an unpaused DAG), and a task run twice,
        # once without ``env``, fails the run; paused, the DAG is left to `dags test`.
        api = airflow.api()
        api.set_paused(dag_id, True)
        try:
            for _attempt in range(2):
                result = subprocess.run(
                    command,
                    env={**airflow.environment(), **(env or {})},
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )
                # `dags test` reports task states to an in-process execution API on the
                # SQLite database the running scheduler also writes; now and then that
                # report fails and Airflow marks the run failed with the task succeeded.
                # Only that infrastructure failure is tried again, once.
                if result.returncode == 0 or _STUCK_REPORT not in result.stdout + result.stderr:
                    break
                print(f"[dags test] {dag_id}: Airflow lost a task state report; running it again")
        finally:
            api.set_paused(dag_id, False)
        assert result.returncode == 0, (
            f"{' '.join(command)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
        return result

    return run


@pytest.fixture
def clean_champion(settings: Settings) -> str:
    """A champion trained on the base data alone, as the first retrain would make it."""
    client = MlflowClient(settings.mlflow_tracking_uri)
    digits = get_use_case("digits")
    trained = train_and_register(
        digits,
        build_dataset(digits, pd.DataFrame()),
        None,
        tracking_uri=settings.mlflow_tracking_uri,
        s3=s3_client(settings),
        profiles_bucket=settings.lake_bucket,
        profiles_prefix=settings.profiles_prefix,
        reason="test: clean champion",
    )
    client.set_registered_model_alias(digits.model_name, CHAMPION, trained.version)
    return trained.version
