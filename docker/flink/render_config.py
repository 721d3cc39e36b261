"""Write the container's Flink configuration: docker/flink/config.yaml filled in from closeloop's settings.

The same renderer `closeloop up` uses for the local cluster
(closeloop/flink_config.py): the same template, the same values from the same
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

import yaml

from closeloop.flink_config import TEMPLATE, FlinkClusterSettings, merge, nested, render_config
from closeloop.private_files import write_private
from closeloop.streaming.settings import load_job_settings

__all__ = ["TEMPLATE", "main", "merge", "render"]

FLINK_CONF = Path(os.environ.get("FLINK_HOME", "/opt/flink")) / "conf"


def render(host: str, properties: str = "") -> dict:
    job = load_job_settings()  # the job's checkpoints are the cluster's default folder
    checkpoints = job.checkpoints_dir or f"file://{job.state}/flink/checkpoints"
    ours = render_config(
        FlinkClusterSettings.load(),
        host=host,
        python=sys.executable,
        checkpoint_dir=checkpoints,
        savepoint_dir=checkpoints.rstrip("/").rsplit("/", 1)[0] + "/savepoints",
    )
    overrides = nested(yaml.safe_load(properties) or {}) if properties.strip() else {}
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
    return merge(rest, nested(flat))


if __name__ == "__main__":
    main()
