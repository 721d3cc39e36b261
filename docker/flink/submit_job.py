"""Submit one of closeloop's Flink jobs to the compose cluster once, with `flink run --detached -py`.

    python docker/flink/submit_job.py feedback      # flink/feedback_job.py (the default)
    python docker/flink/submit_job.py preprocess    # flink/preprocess_job.py

The compose counterpart of the local stack's job services
(closeloop/stack/services/feedback_job.py, preprocess_job.py): the same
command and settings, and, like them, a no-op when the cluster already runs a
job of that name, so `docker compose up` may run it again.
``FLINK_FROM_SAVEPOINT`` (a retained checkpoint's ``…/chk-<n>`` folder or a
savepoint) starts the feedback job from that state, claimed, as `closeloop up`
does with the latest local checkpoint; the preprocessing job keeps no state
but its consumer group's offsets.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from closeloop.flink_config import FlinkClusterSettings
from closeloop.preprocessing.settings import PreprocessJobSettings
from closeloop.streaming.settings import load_job_settings

__all__ = ["JOBS", "main", "submit_command"]

FLINK_DIR = Path(__file__).resolve().parents[2] / "flink"
#: The job's argument -> its script.
JOBS = {"feedback": FLINK_DIR / "feedback_job.py", "preprocess": FLINK_DIR / "preprocess_job.py"}
_ACTIVE = {"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "RECONCILING"}


def submit_command(resume_from: str | None = None, job: str = "feedback") -> list[str]:
    """The `flink run` the local stack's FlinkService.submit_command builds, for this image's paths."""
    command = ["flink", "run", "--detached"]
    if resume_from:
        command += ["--fromSavepoint", resume_from, "--claimMode", "claim"]
    return [*command, "-py", str(JOBS[job])]


def _running(rest_url: str, job_name: str) -> str | None:
    with urllib.request.urlopen(f"{rest_url}/jobs/overview", timeout=10) as response:
        jobs = json.load(response)["jobs"]
    return next((j["jid"] for j in jobs if j["name"] == job_name and j["state"] in _ACTIVE), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("job", nargs="?", choices=sorted(JOBS), default="feedback")
    job = parser.parse_args(argv).job
    if job == "feedback":
        job_name = load_job_settings().job_name
        resume_from = os.environ.get("FLINK_FROM_SAVEPOINT") or None
    else:
        job_name, resume_from = PreprocessJobSettings.load().preprocess_job_name, None
    rest_port = FlinkClusterSettings.load().flink_rest_port
    rest_url = os.environ.get("FLINK_REST_URL", f"http://flink-jobmanager:{rest_port}")
    if job_id := _running(rest_url, job_name):
        print(f"{job_name} already runs as job {job_id}; nothing to submit")
        return 0
    command = submit_command(resume_from, job)
    print("submitting:", " ".join(command), flush=True)
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
