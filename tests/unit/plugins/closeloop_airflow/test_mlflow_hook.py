"""The MLflow hook reads the tracking URI from an http connection, in every form the HTTP provider takes."""

from __future__ import annotations

import pytest
from airflow.models import Connection
from closeloop_airflow.hooks.mlflow_tracking import MlflowHook


def _hook(monkeypatch: pytest.MonkeyPatch, connection: Connection) -> MlflowHook:
    monkeypatch.setattr(MlflowHook, "get_connection", classmethod(lambda cls, conn_id: connection))
    return MlflowHook(mlflow_conn_id=connection.conn_id)


@pytest.mark.parametrize(
    ("fields", "uri"),
    [
        ({"host": "mlflow", "port": 5000, "schema": "http"}, "http://mlflow:5000"),
        ({"host": "mlflow", "port": 5000}, "http://mlflow:5000"),
        ({"host": "mlflow.example", "port": 443, "schema": "https"}, "https://mlflow.example:443"),
        ({"host": "http://127.0.0.1:5000/"}, "http://127.0.0.1:5000"),
        ({"host": "http://mlflow", "port": 5000}, "http://mlflow:5000"),
        ({"host": "https://mlflow.example/tracking"}, "https://mlflow.example/tracking"),
    ],
)
def test_tracking_uri_from_host_port_and_schema(
    monkeypatch: pytest.MonkeyPatch, fields: dict, uri: str
) -> None:
    connection = Connection(conn_id="mlflow_under_test", conn_type="http", **fields)
    assert _hook(monkeypatch, connection).tracking_uri == uri


@pytest.mark.parametrize(
    ("environment", "uri"),
    [
        ("http://mlflow:5000", "http://mlflow:5000"),
        ("https://mlflow.example", "https://mlflow.example"),
        ('{"conn_type": "http", "host": "http://127.0.0.1:5000"}', "http://127.0.0.1:5000"),
    ],
)
def test_tracking_uri_from_an_environment_connection(
    monkeypatch: pytest.MonkeyPatch, environment: str, uri: str
) -> None:
    """As Airflow resolves AIRFLOW_CONN_<ID> without a metadata database: URI or JSON."""
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_UNDER_TEST", environment)
    assert MlflowHook(mlflow_conn_id="mlflow_under_test").tracking_uri == uri


def test_client_talks_to_the_connections_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_UNDER_TEST", "http://mlflow:5000")
    client = MlflowHook(mlflow_conn_id="mlflow_under_test").get_conn()
    assert client.tracking_uri == "http://mlflow:5000"
    assert client._registry_uri == "http://mlflow:5000"


def test_the_default_connection_id_is_the_stacks() -> None:
    assert MlflowHook().mlflow_conn_id == MlflowHook.default_conn_name == "closeloop_mlflow"


def test_a_connection_without_a_host_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="'c' needs the MLflow server"):
        _ = _hook(monkeypatch, Connection(conn_id="c", conn_type="http", port=5000)).tracking_uri
