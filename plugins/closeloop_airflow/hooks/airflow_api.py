"""Airflow's REST API, through a connection: for tasks that write on their DAG run or read earlier runs."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from closeloop.airflow_api import AirflowApi, AirflowApiError

__all__ = ["AirflowApiHook"]


class AirflowApiHook(BaseHook):
    """A logged-in client of Airflow's public API.

    The connection (``airflow_api`` by default) holds the API server's base URL
    as its host, and a user allowed to edit DAG runs as login and password.
    """

    conn_name_attr = "airflow_api_conn_id"
    default_conn_name = "airflow_api"
    conn_type = "http"
    hook_name = "Airflow REST API"

    def __init__(self, airflow_api_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.airflow_api_conn_id = airflow_api_conn_id

    def get_conn(self) -> AirflowApi:
        conn = self.get_connection(self.airflow_api_conn_id)
        if not conn.host or not conn.login:
            raise ValueError(
                f"connection {self.airflow_api_conn_id!r} needs the API's URL as host and a login"
            )
        return AirflowApi(conn.host, conn.login, conn.password or "")

    def set_note(self, dag_id: str, run_id: str, note: str) -> None:
        self.get_conn().set_note(dag_id, run_id, note)

    def finished_runs(self, dag_id: str, *, exclude: str, limit: int = 20) -> list[dict[str, Any]]:
        """The newest finished runs but ``exclude``, each with the XCom of its ``why`` task (or None)."""
        api = self.get_conn()
        runs = []
        for run in api.runs(dag_id, limit=limit):
            if run["dag_run_id"] == exclude or run["state"] not in ("success", "failed"):
                continue
            try:
                why = api.xcom(dag_id, run["dag_run_id"], "why")
            except AirflowApiError:  # skipped, or from before it recorded anything
                why = None
            runs.append(run | {"why": why})
        return runs
