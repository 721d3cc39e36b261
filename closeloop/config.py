"""closeloop's one configuration: environment variables, then one file, then defaults.

Every setting is read from ``CLOSELOOP_<NAME>`` (``CLOSELOOP_TOPIC_PREFIX=staging``),
else from the file named by ``CLOSELOOP_ENV_FILE`` (default: ``.env`` at the
project root, the same file docker-compose reads), else the default below.
``Settings`` holds what deployed code needs; each deployable adds its own in
a subclass (the gateway's, the Flink job's, the exporter's), and so does the
local stack (closeloop.stack.settings). Endpoints that are not set explicitly
are the local stack's, derived from ``CLOSELOOP_HOST`` and its ports; a
deployment sets them.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BeforeValidator, Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = [
    "LOCAL_STACK_DEFAULTS",
    "PROJECT_ROOT",
    "UNSET_IF_EMPTY",
    "Settings",
    "Topics",
    "env_file",
    "get_settings",
]

#: For an optional setting: compose passes `${CLOSELOOP_<NAME>:-}`, empty when the user set nothing.
UNSET_IF_EMPTY = BeforeValidator(lambda value: None if value == "" else value)

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
        # Raw inputs from streaming applications (recordings, images), before preprocessing.
        self.raw = f"{prefix}.raw"
        # Stream inference: model-ready inputs in, answers out for the applications.
        self.requests = f"{prefix}.requests"
        self.results = f"{prefix}.results"

    def all(self) -> list[str]:
        return list(vars(self).values())


class Settings(BaseSettings):
    """What the gateway, the exporter, the Flink job and the DAGs share: where Kafka, S3 and MLflow are,
    topics, buckets, and the retraining defaults.

    Running the local stack takes more (ports, memory caps, where downloads
    go): closeloop.stack.settings.StackSettings, a subclass, which deployed
    code never needs.
    """

    model_config = SettingsConfigDict(
        env_prefix="CLOSELOOP_",
        env_file=PROJECT_ROOT / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    environment: Literal["development", "production"] = "development"

    # Where things are. Unset, each is the local stack's (see _LocalStackDefaults).
    state_dir: Path | None = Field(
        default=None,
        description="This process's data (the gateway's spool, say); default: the local stack's, "
        "CLOSELOOP_HOME/state.",
    )
    kafka_bootstrap: str = Field(default="", description="Default: the local stack's, host:kafka_port.")
    s3_endpoint: str = Field(default="", description="Default: the local stack's, http://host:minio_port.")
    mlflow_tracking_uri: str = Field(
        default="", description="Default: the local stack's, http://host:mlflow_port."
    )

    # Kafka.
    topic_prefix: str = "closeloop"

    # S3 (MinIO locally).
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
    raw_prefix: str = Field(
        default="raw",
        description="Large raw inputs live at lake_bucket/raw_prefix/model/date/prediction_id/input.",
    )

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
        description="An alert-triggered retrain first waits for this many labeled examples since the "
        "first window that broke the alert's rule: the newest feedback is held out for the gate, so "
        "without them the challenger would never train on the data that set the alert off.",
    )
    labels_poll_s: float = Field(
        default=2.0,
        gt=0,
        description="How often a retrain waiting for labeled examples counts them in the lake: often "
        "enough not to delay an alert's retrain; a count reads one column of the days it needs.",
    )
    profile_min_recent_rows: int = Field(
        default=200,
        ge=1,
        description="A retrained version's reference profile describes the newest feedback (the gate's "
        "holdout: what it now serves) once there are this many rows of it; else its training data.",
    )
    # The rollout of a challenger the offline gate passed (retrain DAG params' defaults).
    retrain_rollout: Literal["auto", "canary", "direct"] = Field(
        default="auto",
        description="How a challenger that passed the gate reaches the traffic: auto is direct (then "
        "watched) after a quality alert, a canary judged on live feedback otherwise.",
    )
    live_margin: float = Field(
        default=0.02,
        ge=0.0,
        description="How much worse on live traffic (the primary metric) a canary may be than the champion, "
        "and a new champion than its predecessor before the watch rolls it back.",
    )
    live_confidence: float = Field(
        default=0.95, gt=0.5, lt=1.0, description="Confidence of the live gate's one-sided test."
    )
    live_min_labeled: int = Field(
        default=200, ge=1, description="Labeled examples of each version the live gate waits for."
    )
    live_min_windows: int = Field(
        default=3, ge=2, description="Tumbling windows both versions must share before the live gate decides."
    )
    canary_minutes: float = Field(
        default=120.0,
        gt=0,
        description="How long a canary may wait for enough live labels; then it is dropped, the run failed.",
    )
    promotion_watch_minutes: float = Field(
        default=30.0,
        ge=0,
        description="How long a champion promoted directly is watched against its predecessor (0: not).",
    )
    live_poll_s: float = Field(
        default=15.0, gt=0, description="How often the live sensors read the metrics topic."
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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        env = getattr(dotenv_settings, "env_file", None)
        local = _LocalStackDefaults(settings_cls, env_file=env)
        return init_settings, env_settings, dotenv_settings, file_secret_settings, local

    @model_validator(mode="after")
    def _check_secret(self) -> Self:
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
    def load(cls, **values: Any) -> Self:
        """These settings (or a subclass's) from the environment over the one configuration file.

        ``values`` win over both: for settings derived from other settings (a
        job's from the stack's that submits it).
        """
        return cls(_env_file=env_file(), **values)  # type: ignore[call-arg]


#: Where the services are: set by a deployment; unset, the local stack's addresses.
LOCAL_STACK_DEFAULTS = ("state_dir", "kafka_bootstrap", "s3_endpoint", "mlflow_tracking_uri")


class _LocalStackDefaults(PydanticBaseSettingsSource):
    """The lowest source: the endpoints and state directory no other source set, as the local stack
    derives them from CLOSELOOP_HOST, the ports and CLOSELOOP_HOME (read from the same environment
    and file), so that a program run beside `closeloop up` finds its services without being told."""

    def __init__(self, settings_cls: type[BaseSettings], *, env_file: Any) -> None:
        super().__init__(settings_cls)
        self._env_file = env_file

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ answers for all fields at once

    def __call__(self) -> dict[str, Any]:
        missing = [name for name in LOCAL_STACK_DEFAULTS if not self.current_state.get(name)]
        if not missing:
            return {}
        from closeloop.stack.settings import StackSettings  # only the stack's settings know its ports

        if issubclass(self.settings_cls, StackSettings):
            return {}  # it derives them from its own fields
        # The values already found for the shared fields (the dotenv source also passes on the
        # file's other CLOSELOOP_* names, which must not beat the environment here).
        given = {k: v for k, v in self.current_state.items() if k in Settings.model_fields}
        stack = StackSettings(_env_file=self._env_file, **given)  # type: ignore[call-arg]
        return {name: getattr(stack, name) for name in missing}


def env_file() -> Path:
    """The one configuration file: ``CLOSELOOP_ENV_FILE``, default .env at the project root."""
    return Path(os.environ.get("CLOSELOOP_ENV_FILE", str(PROJECT_ROOT / ".env")))


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests build their own ``Settings`` instead."""
    return Settings.load()
