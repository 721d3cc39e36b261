"""The Flink cluster's config.yaml: docker/flink/config.yaml filled in from closeloop's settings.

One renderer for the local stack (closeloop/stack/services/flink.py) and the
container image (docker/flink/render_config.py): the same template, the same
values from the same ``CLOSELOOP_*`` settings, written over the Flink
distribution's own defaults, which belong to the Flink version.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

import yaml
from pydantic import Field

from closeloop.config import PROJECT_ROOT, Settings

__all__ = ["TEMPLATE", "FlinkClusterSettings", "merge", "nested", "render_config"]

TEMPLATE = PROJECT_ROOT / "docker" / "flink" / "config.yaml"


class FlinkClusterSettings(Settings):
    """The shared settings plus a Flink cluster's ports and sizes: the local stack's cluster and the
    image's (docker/flink/render_config.py) are configured from the same ``CLOSELOOP_FLINK_*``."""

    flink_rest_port: int = 8081
    flink_rpc_port: int = 6123
    flink_metrics_ports: str = Field(
        default="9249-9250", description="Prometheus reporter port range: JobManager, TaskManager."
    )
    flink_jobmanager_memory: str = "1024m"
    # The stack runs two jobs at one subtask per partition (2 + 2 slots): room is left for a third
    # (a test's, a bench's) at parallelism 2, with each slot's managed memory (RocksDB's) as
    # large as 4 slots of 4096m had.
    flink_taskmanager_memory: str = "6144m"
    flink_task_slots: int = 6


def merge(base: dict, overlay: dict) -> dict:
    """``base`` with ``overlay`` written over it, nested mappings merged key by key."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def nested(flat: dict) -> dict:
    """``{"a.b.c": v}`` as ``{"a": {"b": {"c": v}}}``: Flink reads both, but one key must not be both."""
    result: dict = {}
    for key, value in flat.items():
        *parents, leaf = str(key).split(".")
        node = result
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return result


def render_config(
    settings: FlinkClusterSettings,
    *,
    host: str,
    python: str | Path,
    checkpoint_dir: str,
    savepoint_dir: str,
    template: Path = TEMPLATE,
) -> dict:
    """closeloop's part of the config: ports, memory, slots, the Python, checkpoints and S3."""
    return yaml.safe_load(
        Template(template.read_text()).substitute(
            host=host,
            rpc_port=settings.flink_rpc_port,
            rest_port=settings.flink_rest_port,
            jobmanager_memory=settings.flink_jobmanager_memory,
            taskmanager_memory=settings.flink_taskmanager_memory,
            task_slots=settings.flink_task_slots,
            metrics_ports=settings.flink_metrics_ports,
            python=python,
            checkpoint_dir=checkpoint_dir,
            savepoint_dir=savepoint_dir,
            s3_endpoint=settings.s3_endpoint,
            s3_access_key=settings.s3_access_key,
            s3_secret_key=settings.s3_secret_key.get_secret_value(),
        )
    )
