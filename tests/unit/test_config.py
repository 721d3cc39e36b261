"""The one configuration: defaults, environment, the file, derived endpoints, refused secrets,
and the local stack's settings apart from what deployed code reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from closeloop.config import PROJECT_ROOT, Settings
from closeloop.stack.settings import StackSettings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CLOSELOOP_* variable of the developer's shell leaks into these tests."""
    import os

    for name in list(os.environ):
        if name.startswith("CLOSELOOP_"):
            monkeypatch.delenv(name)


def make(**kwargs: object) -> Settings:
    return Settings(_env_file=None, **kwargs)  # type: ignore[call-arg]


def make_stack(**kwargs: object) -> StackSettings:
    return StackSettings(_env_file=None, **kwargs)  # type: ignore[call-arg]


def test_defaults_match_the_architecture() -> None:
    s = make_stack()
    assert s.environment == "development"
    assert (s.kafka_port, s.minio_port, s.mlflow_port, s.airflow_port) == (9092, 9000, 5000, 8080)
    assert (s.gateway_port, s.prometheus_port, s.flink_rest_port) == (8000, 9090, 8081)
    assert s.home == PROJECT_ROOT / ".local"
    assert s.state == PROJECT_ROOT / ".local" / "state"


def test_endpoints_derive_from_host_and_ports() -> None:
    s = make_stack(host="10.1.2.3", kafka_port=19092, minio_port=19000, mlflow_port=15000)
    assert s.kafka_bootstrap == "10.1.2.3:19092"
    assert s.s3_endpoint == "http://10.1.2.3:19000"
    assert s.mlflow_tracking_uri == "http://10.1.2.3:15000"


def test_deployed_settings_have_none_of_the_stacks_own() -> None:
    stack_only = set(StackSettings.model_fields) - set(Settings.model_fields)
    assert {"home", "host", "kafka_port", "gateway_port", "kafka_heap", "startup_timeout_s"} <= stack_only
    assert not stack_only & set(Settings.model_fields)
    assert not hasattr(make(), "kafka_port")
    # Its endpoints and state directory, unset, are still the local stack's.
    s = make()
    assert (s.kafka_bootstrap, s.s3_endpoint, s.mlflow_tracking_uri) == (
        "127.0.0.1:9092",
        "http://127.0.0.1:9000",
        "http://127.0.0.1:5000",
    )
    assert s.state == PROJECT_ROOT / ".local" / "state"


def test_deployed_endpoints_follow_the_stacks_host_and_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOSELOOP_HOST", "10.1.2.3")
    monkeypatch.setenv("CLOSELOOP_MINIO_PORT", "19000")
    s = make(kafka_bootstrap="kafka-1:9092")
    assert s.kafka_bootstrap == "kafka-1:9092"
    assert s.s3_endpoint == "http://10.1.2.3:19000"
    assert s.mlflow_tracking_uri == "http://10.1.2.3:5000"


def test_explicit_endpoints_win_over_derived() -> None:
    s = make(kafka_bootstrap="kafka-1:9092,kafka-2:9092", s3_endpoint="https://s3.example")
    assert s.kafka_bootstrap == "kafka-1:9092,kafka-2:9092"
    assert s.s3_endpoint == "https://s3.example"


def test_environment_variables_override_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLOSELOOP_KAFKA_PORT", "29092")
    monkeypatch.setenv("CLOSELOOP_HOME", str(tmp_path))
    s = make_stack()
    assert s.kafka_port == 29092
    assert s.kafka_bootstrap == "127.0.0.1:29092"
    assert s.state == tmp_path / "state"
    assert (make().kafka_bootstrap, make().state) == ("127.0.0.1:29092", tmp_path / "state")


def test_env_file_is_read_and_environment_beats_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("CLOSELOOP_MINIO_PORT=19000\nCLOSELOOP_MLFLOW_PORT=15000\nUNRELATED=1\n")
    monkeypatch.setenv("CLOSELOOP_MLFLOW_PORT", "25000")
    s = StackSettings(_env_file=env_file)  # type: ignore[call-arg]
    assert s.minio_port == 19000
    assert s.mlflow_port == 25000
    deployed = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert (deployed.s3_endpoint, deployed.mlflow_tracking_uri) == (s.s3_endpoint, s.mlflow_tracking_uri)


def test_topics_follow_the_prefix() -> None:
    assert make().topics.all() == [
        "closeloop.predictions",
        "closeloop.feedback",
        "closeloop.metrics",
        "closeloop.alerts",
        "closeloop.dlq",
        "closeloop.model-updates",
        "closeloop.raw",
        "closeloop.requests",
        "closeloop.results",
    ]
    assert make(topic_prefix="staging").topics.alerts == "staging.alerts"


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="CLOSELOOP_S3_SECRET_KEY is the development default"):
        make(environment="production")
    assert make(environment="production", s3_secret_key="a-real-secret").environment == "production"


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 8 characters"):
        make(s3_secret_key="short")


def test_secret_is_not_printed() -> None:
    assert "closeloop-dev-secret" not in repr(make())


def test_bad_values_name_the_field() -> None:
    with pytest.raises(ValidationError, match="kafka_port"):
        make_stack(kafka_port="not-a-port")


def test_every_settings_class_loads_the_one_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from closeloop.gateway.settings import GatewaySettings
    from closeloop.streaming.settings import FeedbackJobSettings

    env_file = tmp_path / "closeloop.env"
    env_file.write_text("CLOSELOOP_KAFKA_PORT=19092\nCLOSELOOP_MAX_BATCH=7\n")
    monkeypatch.setenv("CLOSELOOP_ENV_FILE", str(env_file))
    gateway, job, stack = GatewaySettings.load(), FeedbackJobSettings.load(), StackSettings.load()
    assert isinstance(gateway, GatewaySettings) and isinstance(job, FeedbackJobSettings)
    assert stack.kafka_port == 19092
    assert (
        gateway.kafka_bootstrap == job.kafka_bootstrap == Settings.load().kafka_bootstrap == "127.0.0.1:19092"
    )
    assert gateway.max_batch == 7


def test_load_takes_values_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOSELOOP_ENV_FILE", "/nonexistent/.env")
    monkeypatch.setenv("CLOSELOOP_TOPIC_PREFIX", "from-env")
    assert Settings.load(topic_prefix="given").topic_prefix == "given"
    assert Settings.load().topic_prefix == "from-env"
