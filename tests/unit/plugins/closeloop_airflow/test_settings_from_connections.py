"""A DAG task's settings: where S3 and MLflow are from the connections, the rest from the configuration."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from closeloop_airflow.hooks.connection_settings import settings_from_connections

from closeloop.stack.layout import Layout
from closeloop.stack.services.airflow import AirflowService
from closeloop.stack.settings import StackSettings

LAKE = {
    "conn_type": "aws",
    "login": "lake-key",
    "password": "lake-secret-key",
    "extra": {
        "endpoint_url": "https://s3.example:9443",
        "bucket": "conn-lake",
        "prefix": "labeled",
        "reports_bucket": "conn-reports",
        "artifacts_bucket": "conn-artifacts",
    },
}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A configuration that differs from every connection below: none of it may win over them."""
    for key in [k for k in os.environ if k.startswith(("CLOSELOOP_", "AIRFLOW_CONN_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CLOSELOOP_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.setenv("CLOSELOOP_S3_ENDPOINT", "http://env-s3:9000")
    monkeypatch.setenv("CLOSELOOP_S3_ACCESS_KEY", "env-key")
    monkeypatch.setenv("CLOSELOOP_S3_SECRET_KEY", "env-secret-key")
    monkeypatch.setenv("CLOSELOOP_MLFLOW_TRACKING_URI", "http://env-mlflow:5000")
    monkeypatch.setenv("CLOSELOOP_LAKE_BUCKET", "env-lake")
    monkeypatch.setenv("CLOSELOOP_REPORTS_BUCKET", "env-reports")
    monkeypatch.setenv("CLOSELOOP_GATE_MARGIN", "0.25")
    monkeypatch.setenv("CLOSELOOP_TOPIC_PREFIX", "staging")
    return monkeypatch


def test_services_come_from_the_connections_and_the_policy_from_the_configuration(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("AIRFLOW_CONN_TEST_LAKE", json.dumps(LAKE))
    environment.setenv("AIRFLOW_CONN_TEST_MLFLOW", "http://mlflow.example:5000")
    settings = settings_from_connections(lake_conn_id="test_lake", mlflow_conn_id="test_mlflow")
    assert settings.s3_endpoint == "https://s3.example:9443"
    assert (settings.s3_access_key, settings.s3_secret_key.get_secret_value()) == (
        "lake-key",
        "lake-secret-key",
    )
    assert (settings.lake_bucket, settings.lake_prefix) == ("conn-lake", "labeled")
    assert settings.buckets == ["conn-lake", "conn-reports", "conn-artifacts"]
    assert settings.mlflow_tracking_uri == "http://mlflow.example:5000"
    assert settings.gate_margin == 0.25
    assert settings.topics.alerts == "staging.alerts"


def test_buckets_the_lake_connection_does_not_name_are_the_configurations(
    environment: pytest.MonkeyPatch,
) -> None:
    extra = {"endpoint_url": "http://s3:9000", "bucket": "conn-lake"}
    environment.setenv("AIRFLOW_CONN_TEST_LAKE", json.dumps(LAKE | {"extra": extra}))
    settings = settings_from_connections(lake_conn_id="test_lake", mlflow_conn_id=None)
    # The same default prefix as the labeled-data sensor, which reads the same connection.
    assert (settings.lake_bucket, settings.lake_prefix) == ("conn-lake", "feedback")
    assert settings.buckets == ["conn-lake", "env-reports", "closeloop-artifacts"]
    assert settings.mlflow_tracking_uri == "http://env-mlflow:5000"


def test_the_stacks_connections_give_the_stacks_settings(
    environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The local stack's AIRFLOW_CONN_* variables, read back through the hooks, point where it runs."""
    stack = StackSettings(  # type: ignore[call-arg]
        _env_file=None,
        s3_endpoint="http://127.0.0.1:19000",
        s3_access_key="stack-key",
        s3_secret_key="stack-secret-key",
        mlflow_tracking_uri="http://127.0.0.1:15000",
        lake_bucket="stack-lake",
        reports_bucket="stack-reports",
        lake_prefix="stack-feedback",
    )
    layout = Layout(home=tmp_path / "home", state=tmp_path / "state")
    airflow = AirflowService(stack, layout)
    for key, value in airflow.connections().items():
        environment.setenv(key, value)
    settings = settings_from_connections()
    assert settings.s3_endpoint == "http://127.0.0.1:19000"
    assert (settings.s3_access_key, settings.s3_secret_key) == (stack.s3_access_key, stack.s3_secret_key)
    assert settings.mlflow_tracking_uri == "http://127.0.0.1:15000"
    assert settings.buckets == stack.buckets == ["stack-lake", "stack-reports", "closeloop-artifacts"]
    assert settings.lake_prefix == "stack-feedback"


@pytest.mark.parametrize(
    ("lake", "complaint"),
    [
        (LAKE | {"extra": {"bucket": "b"}}, "'test_lake' needs the store's URL"),
        (LAKE | {"extra": {"endpoint_url": "http://s3:9000"}}, "'test_lake' names no bucket"),
    ],
)
def test_an_incomplete_connection_is_named(
    environment: pytest.MonkeyPatch, lake: dict, complaint: str
) -> None:
    environment.setenv("AIRFLOW_CONN_TEST_LAKE", json.dumps(lake))
    with pytest.raises(ValueError, match=complaint):
        settings_from_connections(lake_conn_id="test_lake", mlflow_conn_id=None)


def test_a_missing_connection_fails_the_task(environment: pytest.MonkeyPatch) -> None:
    with pytest.raises(Exception, match="absent_mlflow"):
        settings_from_connections(lake_conn_id=None, mlflow_conn_id="absent_mlflow")
