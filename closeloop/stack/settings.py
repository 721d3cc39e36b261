"""The local stack's own settings: what `closeloop up` needs to start every service on this machine.

Ports, bind address, memory caps, where downloads and state go: none of it is
needed by deployed code, which reads ``Settings`` (closeloop.config). The
stack hands its services what they need of it explicitly (endpoints in
``CLOSELOOP_*`` variables, ports on command lines and in config files).
Read like every closeloop setting: ``CLOSELOOP_<NAME>``, then the one file,
then the defaults below.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from closeloop.config import PROJECT_ROOT
from closeloop.flink_config import FlinkClusterSettings

__all__ = ["StackSettings", "get_stack_settings"]


class StackSettings(FlinkClusterSettings):
    """The shared settings, the Flink cluster's, and the local stack's ports, caps and directories.

    Endpoints and the state directory not set explicitly are derived here, from
    ``host``, the ports and ``home``: every other settings class takes them from
    this derivation too (closeloop.config._LocalStackDefaults).
    """

    # Where things live. `home` holds downloads, virtualenvs and (by default) the state.
    home: Path = PROJECT_ROOT / ".local"
    host: str = Field(default="127.0.0.1", description="Address the local services bind to.")

    # Ports of the local stack (the Flink cluster's are FlinkClusterSettings').
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_metrics_port: int = 9404
    minio_port: int = 9000
    minio_console_port: int = 9001
    mlflow_port: int = 5000
    airflow_port: int = 8080
    airflow_statsd_port: int = 9125
    airflow_metrics_port: int = 9102
    prometheus_port: int = 9090
    # 9093, Alertmanager's usual port, is Kafka's controller port here.
    alertmanager_port: int = 9095
    gateway_port: int = 8000
    metrics_exporter_port: int = Field(
        default=9105, description="The live model metrics of closeloop.metrics, as Prometheus gauges."
    )
    inference_port: int = Field(default=9106, description="Stream inference's /metrics.")

    # What the stack creates.
    kafka_partitions: int = Field(
        default=2,
        ge=1,
        description="Partitions of the topics the stack creates; the feedback job runs one subtask per "
        "partition.",
    )

    # Resource caps of the local stack, sized for a 2-core machine.
    kafka_heap: str = "512m"
    airflow_parallelism: int = 4
    gateway_workers: int = Field(default=1, ge=1, description="uvicorn worker processes of the gateway.")
    startup_timeout_s: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _derive(self) -> Self:
        # frozen=True: derived defaults are written once, here, through object.__setattr__.
        derived = {
            "state_dir": self.state_dir or self.home / "state",
            "kafka_bootstrap": self.kafka_bootstrap or f"{self.host}:{self.kafka_port}",
            "s3_endpoint": self.s3_endpoint or f"http://{self.host}:{self.minio_port}",
            "mlflow_tracking_uri": self.mlflow_tracking_uri or f"http://{self.host}:{self.mlflow_port}",
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)
        return self


@lru_cache
def get_stack_settings() -> StackSettings:
    """The process-wide stack settings, read once (the CLI's). Tests build their own instead."""
    return StackSettings.load()
