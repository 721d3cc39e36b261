"""Airflow's own REST API, through a connection: for tasks that write on their DAG run (its note)."""

from __future__ import annotations

from airflow.sdk import BaseHook

from closeloop.airflow_api import AirflowApi

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
