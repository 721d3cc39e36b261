"""Submit the feedback job to the compose Flink cluster once, with `flink run --detached -py`.

The compose counterpart of the local stack's feedback-job service
(closeloop/stack/services/feedback_job.py): the same command and settings,
and, like it, a no-op when the cluster already runs a job of that name, so
`docker compose up` may run it again. ``FLINK_FROM_SAVEPOINT`` (a retained
checkpoint's ``…/chk-<n>`` folder or a savepoint) starts the job from that
state, claimed, as `closeloop up` does with the latest local checkpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from closeloop.flink_config import FlinkClusterSettings
from closeloop.streaming.settings import load_job_settings

__all__ = ["main", "submit_command"]

JOB_FILE = Path(__file__).resolve().parents[2] / "flink" / "feedback_job.py"
_ACTIVE = {"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "RECONCILING"}


def submit_command(resume_from: str | None = None) -> list[str]:
    """The `flink run` the local stack's FlinkService.submit_command builds, for this image's paths."""
    command = ["flink", "run", "--detached"]
    if resume_from:
        command += ["--fromSavepoint", resume_from, "--claimMode", "claim"]
    return [*command, "-py", str(JOB_FILE)]


def _running(rest_url: str, job_name: str) -> str | None:
    with urllib.request.urlopen(f"{rest_url}/jobs/overview", timeout=10) as response:
        jobs = json.load(response)["jobs"]
    return next((j["jid"] for j in jobs if j["name"] == job_name and j["state"] in _ACTIVE), None)


def main() -> int:
    settings = load_job_settings()
    rest_port = FlinkClusterSettings.load().flink_rest_port
    rest_url = os.environ.get("FLINK_REST_URL", f"http://flink-jobmanager:{rest_port}")
    if job_id := _running(rest_url, settings.job_name):
        print(f"{settings.job_name} already runs as job {job_id}; nothing to submit")
        return 0
    command = submit_command(os.environ.get("FLINK_FROM_SAVEPOINT") or None)
    print("submitting:", " ".join(command), flush=True)
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
