"""Write the container's Flink configuration: docker/flink/config.yaml filled in from closeloop's settings.

The same template `closeloop up` renders for the local cluster
(closeloop/stack/services/flink.py), with the same values from the same
``CLOSELOOP_*`` settings, over the distribution's own defaults. Two things
differ in a container and come from the environment:

- ``FLINK_HOST``: the address this process is reached at (default: the
  container's own IP, which is what a TaskManager must advertise);
- ``FLINK_PROPERTIES``: ``key: value`` lines written over the result, Flink's
  docker-image convention (``jobmanager.rpc.address: flink-jobmanager``).

Run by docker/flink/entrypoint.sh at every start; the output is a function of
the environment only, so a restart with other settings takes them.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from string import Template

import yaml

from closeloop.private_files import write_private
from closeloop.streaming.settings import load_job_settings

__all__ = ["main", "merge", "render"]

FLINK_CONF = Path(os.environ.get("FLINK_HOME", "/opt/flink")) / "conf"
TEMPLATE = Path(__file__).resolve().parent / "config.yaml"


def merge(base: dict, overlay: dict) -> dict:
    """``base`` with ``overlay`` written over it, nested mappings merged key by key."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _nested(flat: dict) -> dict:
    """``{"a.b.c": v}`` as ``{"a": {"b": {"c": v}}}``: Flink reads both, but one key must not be both."""
    nested: dict = {}
    for key, value in flat.items():
        *parents, leaf = str(key).split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def render(host: str, properties: str = "") -> dict:
    s = load_job_settings()
    checkpoints = s.checkpoints_dir or f"file://{s.state}/flink/checkpoints"
    ours = yaml.safe_load(
        Template(TEMPLATE.read_text()).substitute(
            host=host,
            rpc_port=s.flink_rpc_port,
            rest_port=s.flink_rest_port,
            jobmanager_memory=s.flink_jobmanager_memory,
            taskmanager_memory=s.flink_taskmanager_memory,
            task_slots=s.flink_task_slots,
            metrics_ports=s.flink_metrics_ports,
            python=sys.executable,
            checkpoint_dir=checkpoints,
            savepoint_dir=checkpoints.rstrip("/").rsplit("/", 1)[0] + "/savepoints",
            s3_endpoint=s.s3_endpoint,
            s3_access_key=s.s3_access_key,
            s3_secret_key=s.s3_secret_key.get_secret_value(),
        )
    )
    overrides = _nested(yaml.safe_load(properties) or {}) if properties.strip() else {}
    return merge(ours, overrides)


def main() -> None:
    host = os.environ.get("FLINK_HOST") or socket.gethostbyname(socket.gethostname())
    defaults_file = FLINK_CONF / "config.default.yaml"
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
    config = merge(_nested_defaults(defaults), render(host, os.environ.get("FLINK_PROPERTIES", "")))
    write_private(FLINK_CONF / "config.yaml", yaml.safe_dump(config))  # it holds the S3 secret
    print(f"render_config: {FLINK_CONF / 'config.yaml'} written for {host}", file=sys.stderr)


def _nested_defaults(defaults: dict) -> dict:
    # The distribution's file mixes nested keys with dotted ones (the base image
    # rewrites some); nest them all so ours replace them instead of sitting beside them.
    flat = {k: v for k, v in defaults.items() if "." in str(k)}
    rest = {k: v for k, v in defaults.items() if "." not in str(k)}
    return merge(rest, _nested(flat))


if __name__ == "__main__":
    main()
