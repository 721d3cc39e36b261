"""MLflow's tracking server and model registry, through a connection: for the DAGs' tasks.

The tracking URI lives in the connection, not in closeloop's settings: a
task carries the connection id, and the worker resolves it from its own
secrets backend (``AIRFLOW_CONN_CLOSELOOP_MLFLOW`` locally).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from airflow.sdk import BaseHook

if TYPE_CHECKING:  # mlflow is imported where it is used: the DAG files stay light
    from mlflow import MlflowClient

__all__ = ["MlflowHook"]


class MlflowHook(BaseHook):
    """The tracking URI of closeloop's MLflow server, and a client of it.

    The connection (``closeloop_mlflow`` by default, of type ``http``) is read
    as the HTTP provider reads its own: the server's URL as host
    (``http://mlflow:5000``), or host, port and schema (``mlflow``, 5000,
    ``http``: the scheme, default ``http``). In URI form that is
    ``AIRFLOW_CONN_CLOSELOOP_MLFLOW=http://mlflow:5000`` (``https://…`` for TLS).
    Login and password are not used: closeloop's MLflow runs without auth.
    """

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = "closeloop_mlflow"
    conn_type = "http"
    hook_name = "closeloop MLflow"

    def __init__(self, mlflow_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.mlflow_conn_id = mlflow_conn_id

    @property
    def tracking_uri(self) -> str:
        """The server's URL, ``scheme://host[:port][/path]``, without a trailing slash."""
        conn = self.get_connection(self.mlflow_conn_id)
        host = (conn.host or "").rstrip("/")
        if not host:
            raise ValueError(
                f"connection {self.mlflow_conn_id!r} needs the MLflow server as host "
                "(http://host:port, or host with port and schema)"
            )
        if "://" in host:
            uri = host
        else:
            # A connection given as an https:// URI has the type "https" and no schema.
            scheme = conn.schema or ("https" if conn.conn_type == "https" else "http")
            uri = f"{scheme}://{host}"
        if conn.port and urlsplit(uri).port is None:
            parts = urlsplit(uri)
            uri = parts._replace(netloc=f"{parts.netloc}:{conn.port}").geturl()
        return uri

    def get_conn(self) -> MlflowClient:
        """A client of the tracking server and its model registry."""
        from mlflow import MlflowClient

        uri = self.tracking_uri
        return MlflowClient(tracking_uri=uri, registry_uri=uri)
