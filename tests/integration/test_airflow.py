"""The repo's DAGs, seen and run through the real Airflow's REST API."""

from __future__ import annotations

import ast

import httpx
import pytest

from closeloop.config import PROJECT_ROOT
from closeloop.stack.manager import LocalStack
from closeloop.stack.services.airflow import AirflowService
from tests.waiting import NotYet, eventually
from training.usecases import use_case_names


def _repo_dag_ids() -> set[str]:
    """DAG ids declared in dags/ with a bare @dag (the decorated function names), and the
    retrain and drift-report DAGs each use case gets."""
    ids = {f"{kind}_{name}" for name in use_case_names() for kind in ("retrain", "drift_report")}
    for path in (PROJECT_ROOT / "dags").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Call)
                and getattr(d.func, "id", None) == "dag"
                and not any(k.arg == "dag_id" for k in d.keywords)
                for d in node.decorator_list
            ):
                ids.add(node.name)
    return ids


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> httpx.Client:
    airflow = stack.services["airflow"]
    assert isinstance(airflow, AirflowService)
    password = airflow.admin_password()
    assert password, f"no generated admin password in {airflow.password_file}"
    token = httpx.post(
        f"{airflow.url}/auth/token", json={"username": "admin", "password": password}, timeout=10
    )
    token.raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    # One API server worker serves the UI, this test and every task's execution API on 2 cores.
    return httpx.Client(base_url=f"{airflow.url}/api/v2", headers=headers, timeout=30)


def test_lists_the_repo_dags(api: httpx.Client) -> None:
    expected = _repo_dag_ids()
    assert "platform_check" in expected

    @eventually(timeout=120, interval=2)
    def listed() -> dict[str, dict]:
        response = api.get("/dags", params={"limit": 100})
        response.raise_for_status()
        dags = {d["dag_id"]: d for d in response.json()["dags"]}
        if not expected <= dags.keys():
            # A DAG file that failed to parse says why here, not only in the DAG processor's log.
            errors = api.get("/importErrors").json().get("import_errors", [])
            why = "; ".join(f"{e['filename']}: {e['stack_trace'][-300:]}" for e in errors)
            raise NotYet(
                f"listed {sorted(dags)}, waiting for {sorted(expected - dags.keys())}"
                + (f"; import errors: {why}" if why else "")
            )
        return dags

    dags = listed()
    assert dags["platform_check"]["fileloc"].startswith(str(PROJECT_ROOT / "dags"))
    assert not dags["platform_check"]["is_paused"]


def test_platform_check_dag_runs_green(api: httpx.Client) -> None:
    """A real run on the LocalExecutor: every task reaches Kafka, MinIO and MLflow."""
    run = api.post("/dags/platform_check/dagRuns", json={"logical_date": None})
    assert run.status_code == 200, run.text
    run_id = run.json()["dag_run_id"]

    @eventually(timeout=240, interval=2)
    def finished() -> str:
        try:
            state = api.get(f"/dags/platform_check/dagRuns/{run_id}").json()["state"]
        except httpx.TimeoutException as exc:  # a busy API server; ask again
            raise NotYet(f"no answer: {exc}") from exc
        if state in ("queued", "running"):
            raise NotYet(state)
        return state

    state = finished()
    tasks = api.get(f"/dags/platform_check/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    assert state == "success", {t["task_id"]: t["state"] for t in tasks}
    assert {t["task_id"] for t in tasks} == {"kafka_topics", "s3_buckets", "mlflow_registry"}
