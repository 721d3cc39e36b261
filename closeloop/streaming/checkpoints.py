"""Finding the checkpoint a restarted job resumes from.

Flink writes a job's checkpoints to ``<dir>/<job id>/chk-<n>/``; a checkpoint
is complete once its ``_metadata`` file exists. The feedback job keeps them
under a folder named after the job, so that a new submission of the same job,
with a new job id, finds the latest of its predecessors.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

__all__ = ["job_checkpoints_dir", "latest_checkpoint", "local_path"]


def job_checkpoints_dir(base: str, job_name: str) -> str:
    return f"{base.rstrip('/')}/{job_name}"


def local_path(uri: str) -> Path | None:
    """The local folder of a file:// URI or plain path; None for a remote file system (s3://…)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    return None


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest complete checkpoint under ``directory`` (any job id), or None."""
    complete = [m.parent for m in directory.glob("*/chk-*/_metadata") if m.is_file()]
    return max(complete, key=lambda c: c.joinpath("_metadata").stat().st_mtime, default=None)
