"""Running the repo's DAGs the way their authors would: `airflow dags test`, against the real services."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest
from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.stack.manager import LocalStack
from closeloop.stack.services.airflow import AirflowService
from training.promotion import CHAMPION
from training.train import train_on_base_data
from training.usecases import get_use_case

DagsTest = Callable[..., subprocess.CompletedProcess[str]]
LAKE_CONNECTION = "AIRFLOW_CONN_CLOSELOOP_LAKE"


def _airflow(
    stack: LocalStack, args: list[str], env: dict[str, str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`airflow ARGS` from the stack's virtualenv; fails the test, with Airflow's output, if it fails
    (and ``check``)."""
    command = [str(stack.layout.venv / "bin" / "airflow"), *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert not check or result.returncode == 0, (
        f"{' '.join(command)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


@pytest.fixture(scope="session")
def dags_test_environment(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The stack's Airflow configuration with a metadata database of its own.

    `dags test` runs a DAG in its own process against the metadata database.
    On the stack's, the running scheduler sees an ordinary manual run of an
    unpaused DAG and queues the tasks `dags test` has just marked scheduled:
    a task then starts twice and the run fails. (Pausing the DAG instead stops
    its alert watcher, and alerts sent meanwhile are lost.) The tasks still use
    the stack's MLflow, MinIO and Kafka.
    """
    airflow = stack.services[AirflowService.name]
    assert isinstance(airflow, AirflowService)
    database = tmp_path_factory.mktemp("dags-test") / "airflow.db"
    env = {**airflow.environment(), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{database}"}
    _airflow(stack, ["db", "migrate"], env)
    return env


def _with_lake_prefix(environment: dict[str, str], prefix: str) -> dict[str, str]:
    """The lake connection of ``environment`` with its prefix replaced: the DAGs' tasks read the lake
    (and the sensor counts in it) where that connection says."""
    connection = json.loads(environment[LAKE_CONNECTION])
    connection["extra"] = {**connection["extra"], "prefix": prefix}
    return {LAKE_CONNECTION: json.dumps(connection)}


@pytest.fixture
def dags_test(stack: LocalStack, dags_test_environment: dict[str, str]) -> DagsTest:
    """`airflow dags test DAG_ID -c CONF` with the stack's Airflow configuration; extra env on top
    (``check`` False: a failed run does not fail the test, which reads the output).

    The tasks run in that process, so closeloop settings and connections in
    ``env`` reach them; ``lake_prefix`` puts the lake connection under a private prefix.
    """

    def run(
        dag_id: str,
        conf: dict | None = None,
        env: dict[str, str] | None = None,
        *,
        lake_prefix: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        args = ["dags", "test", dag_id, "-c", json.dumps(conf or {})]
        environment = {**dags_test_environment, **(env or {})}
        if lake_prefix is not None:
            environment |= _with_lake_prefix(environment, lake_prefix)
        return _airflow(stack, args, environment, check=check)

    return run


def register_clean_champion(settings: Settings, name: str) -> str:
    """A champion of use case ``name`` trained on its base data alone, as the first retrain would make it."""
    client = MlflowClient(settings.mlflow_tracking_uri)
    use_case = get_use_case(name)
    trained = train_on_base_data(use_case, settings, reason="test: clean champion")
    client.set_registered_model_alias(use_case.model_name, CHAMPION, trained.version)
    return trained.version
