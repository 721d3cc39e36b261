"""closeloop's one configuration: environment variables, then one file, then defaults.

Every setting is read from ``CLOSELOOP_<NAME>`` (``CLOSELOOP_KAFKA_PORT=19092``),
else from the file named by ``CLOSELOOP_ENV_FILE`` (default: ``.env`` at the
project root, the same file docker-compose reads), else the default below.
Endpoints that are not set explicitly are derived from ``host`` and the ports,
which is what the local stack needs; a distributed deployment sets them.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PROJECT_ROOT", "Settings", "Topics", "env_file", "get_settings"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Development-only credentials: refused when CLOSELOOP_ENVIRONMENT is not "development".
_DEV_S3_SECRET = "closeloop-dev-secret"


class Topics:
    """The Kafka topics of the architecture, named under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.predictions = f"{prefix}.predictions"
        self.feedback = f"{prefix}.feedback"
        self.metrics = f"{prefix}.metrics"
        self.alerts = f"{prefix}.alerts"
        self.dlq = f"{prefix}.dlq"
        self.model_updates = f"{prefix}.model-updates"

    def all(self) -> list[str]:
        return list(vars(self).values())


class Settings(BaseSettings):
    """Configuration shared by the local stack, the gateway, the Flink job and the DAGs."""

    model_config = SettingsConfigDict(
        env_prefix="CLOSELOOP_",
        env_file=PROJECT_ROOT / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    environment: Literal["development", "production"] = "development"

    # Where things live. `home` holds downloads, virtualenvs and (by default) the state.
    home: Path = PROJECT_ROOT / ".local"
    state_dir: Path | None = Field(
        default=None, description="Every service's data, logs and pid files; default home/state."
    )
    host: str = Field(default="127.0.0.1", description="Address the local services bind to.")

    # Ports of the local stack.
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_metrics_port: int = 9404
    minio_port: int = 9000
    minio_console_port: int = 9001
    mlflow_port: int = 5000
    airflow_port: int = 8080
    airflow_statsd_port: int = 9125
    airflow_metrics_port: int = 9102
    flink_rest_port: int = 8081
    flink_rpc_port: int = 6123
    flink_metrics_ports: str = Field(
        default="9249-9250", description="Prometheus reporter port range: JobManager, TaskManager."
    )
    prometheus_port: int = 9090
    # 9093, Alertmanager's usual port, is Kafka's controller port here.
    alertmanager_port: int = 9095
    gateway_port: int = 8000
    metrics_exporter_port: int = Field(
        default=9105, description="The live model metrics of closeloop.metrics, as Prometheus gauges."
    )

    # Kafka.
    kafka_bootstrap: str = Field(default="", description="Default: host:kafka_port.")
    kafka_partitions: int = Field(default=3, ge=1)
    topic_prefix: str = "closeloop"

    # S3 (MinIO locally).
    s3_endpoint: str = Field(default="", description="Default: http://host:minio_port.")
    s3_access_key: str = "closeloop"
    s3_secret_key: SecretStr = SecretStr(_DEV_S3_SECRET)
    lake_bucket: str = "closeloop-lake"
    reports_bucket: str = "closeloop-reports"
    artifacts_bucket: str = "closeloop-artifacts"
    lake_prefix: str = Field(
        default="feedback", description="Labeled examples live at lake_bucket/lake_prefix/model_name=…/dt=…/."
    )
    profiles_prefix: str = Field(
        default="profiles",
        description="Reference profiles live at lake_bucket/profiles_prefix/model/version.json.",
    )

    # MLflow.
    mlflow_tracking_uri: str = Field(default="", description="Default: http://host:mlflow_port.")

    # Retraining (defaults of the retrain DAGs' params).
    gate_margin: float = Field(
        default=0.0, ge=0.0, description="How much better on the recent holdout a challenger must be."
    )
    gate_tolerance: float = Field(
        default=0.02, ge=0.0, description="How much worse on the base test set a challenger may be."
    )
    retrain_window_days: float = Field(default=30.0, gt=0, description="Feedback from this far back is used.")
    holdout_fraction: float = Field(
        default=0.3, ge=0.0, lt=1.0, description="Newest feedback share held out."
    )
    retrain_task_retries: int = Field(
        default=2,
        ge=0,
        description="How often Airflow retries a retrain task that failed or was lost with a crashed "
        "worker or scheduler; training is idempotent per run, so a retry registers no second version.",
    )
    alert_retrain_min_labels: int = Field(
        default=500,
        ge=0,
        description="An alert-triggered retrain first waits for this many labeled examples newer than "
        "the alert's window: the newest feedback is held out for the gate, so without them the "
        "challenger would never train on the data that set the alert off.",
    )
    profile_min_recent_rows: int = Field(
        default=200,
        ge=1,
        description="A retrained version's reference profile describes the newest feedback (the gate's "
        "holdout: what it now serves) once there are this many rows of it; else its training data.",
    )
    drift_report_detailed_columns: int = Field(
        default=16,
        ge=0,
        description="Evidently's full DataDriftPreset (a plot per column) up to this many features; "
        "above it only the drifted-columns count, which is ~5x faster at 64 features.",
    )
    drift_share_threshold: float = Field(
        default=0.5, gt=0.0, le=1.0, description="Share of drifted features over which a drift report alerts."
    )

    # Resource caps of the local stack, sized for a 2-core machine.
    kafka_heap: str = "512m"
    flink_jobmanager_memory: str = "1024m"
    flink_taskmanager_memory: str = "4096m"
    flink_task_slots: int = 4
    airflow_parallelism: int = 4
    gateway_workers: int = Field(default=1, ge=1, description="uvicorn worker processes of the gateway.")
    startup_timeout_s: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _derive_and_check(self) -> Settings:
        # frozen=True: derived defaults are written once, here, through object.__setattr__.
        derived = {
            "state_dir": self.state_dir or self.home / "state",
            "kafka_bootstrap": self.kafka_bootstrap or f"{self.host}:{self.kafka_port}",
            "s3_endpoint": self.s3_endpoint or f"http://{self.host}:{self.minio_port}",
            "mlflow_tracking_uri": self.mlflow_tracking_uri or f"http://{self.host}:{self.mlflow_port}",
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)
        if self.environment != "development" and (self.s3_secret_key.get_secret_value() == _DEV_S3_SECRET):
            raise ValueError(
                "CLOSELOOP_S3_SECRET_KEY is the development default; set a real secret "
                f"when CLOSELOOP_ENVIRONMENT={self.environment}"
            )
        if len(self.s3_secret_key.get_secret_value()) < 8:
            raise ValueError("CLOSELOOP_S3_SECRET_KEY must be at least 8 characters (MinIO's rule)")
        return self

    @property
    def state(self) -> Path:
        """The state directory, always set once validated."""
        assert self.state_dir is not None
        return self.state_dir

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    @property
    def buckets(self) -> list[str]:
        return [self.lake_bucket, self.reports_bucket, self.artifacts_bucket]

    @classmethod
    def load(cls) -> Self:
        """These settings (or a subclass's) from the environment over the one configuration file."""
        return cls(_env_file=env_file())  # type: ignore[call-arg]


def env_file() -> Path:
    """The one configuration file: ``CLOSELOOP_ENV_FILE``, default .env at the project root."""
    return Path(os.environ.get("CLOSELOOP_ENV_FILE", str(PROJECT_ROOT / ".env")))


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests build their own ``Settings`` instead."""
    return Settings.load()
