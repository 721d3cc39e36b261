"""The feedback job rides out a MinIO outage: the lake and the checkpoints' part of it fail, then return.

MinIO is stopped while the job writes the lake (its file sink uploads part
files at every checkpoint), so checkpoints fail and the job restarts by its
own restart strategy. Once MinIO is back, the same job (never resubmitted)
runs, its windows equal an uninterrupted run's, every alert fires, and the
lake holds each labeled example once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from closeloop.config import Settings, Topics
from closeloop.stack.manager import LocalStack
from closeloop.stack.process import ProcessRecord
from tests.faults import Stopwatch
from tests.integration.streaming.checks import (
    assert_counted_once,
    failures,
    first_half_checkpointed,
    flink_rest,
    jobs_named,
    root_exception,
    running_by_itself,
    send_second_half,
)
from tests.waiting import NotYet, eventually


def outage_seen(settings: Settings, job_id: str, failed_before: int) -> str | None:
    """How the outage shows in the job, if it does yet: a failed or stalled checkpoint, or a restart.

    The lake's file system retries for a while before it gives up, so a
    checkpoint first stalls (they take well under a second here).
    """
    checkpoints = flink_rest(settings, f"/jobs/{job_id}/checkpoints")
    if (failed := int(checkpoints["counts"]["failed"])) > failed_before:
        return f"{failed - failed_before} checkpoints failed"
    now_ms = time.time() * 1000
    for entry in checkpoints.get("history") or []:
        if entry["status"] == "IN_PROGRESS" and now_ms - entry["trigger_timestamp"] > 10_000:
            return f"checkpoint {entry['id']} stalled"
    if failures(settings, job_id):
        return "the job failed and restarted"
    return None


def failed_checkpoints(settings: Settings, job_id: str) -> int:
    return int(flink_rest(settings, f"/jobs/{job_id}/checkpoints")["counts"]["failed"])


def test_minio_stopped_under_the_job_loses_nothing_and_counts_nothing_twice(
    settings: Settings,
    stack: LocalStack,
    topics: Topics,
    send: Callable,
    run_job: Callable[..., ProcessRecord],
    tmp_path: Path,
) -> None:
    job_name = f"{topics.predictions.rsplit('.', 1)[0]}-minio-outage-job"
    s, job, record = first_half_checkpointed(settings, topics, send, run_job, tmp_path, job_name)
    job_id = record.job_id
    assert job_id is not None
    before = failed_checkpoints(settings, job_id)
    stack.down(["minio"])
    try:
        send_second_half(send, topics, s)

        # The outage must reach the job: the lake's part files are uploaded at each checkpoint.
        @eventually(timeout=120, interval=1)
        def hit() -> str:
            if (seen := outage_seen(settings, job_id, before)) is None:
                raise NotYet("every checkpoint completes")
            return seen

        print("MinIO down:", hit())
    finally:
        stack.up(["minio"])
    recovery = Stopwatch()
    running_by_itself(settings, job_name, job_id)
    try:
        assert_counted_once(settings, topics, job, s, fault="MinIO stopped under the job", recovery=recovery)
    except NotYet as exc:
        jobs = jobs_named(settings, job_name)
        raise AssertionError(f"{exc}; jobs {jobs}; last failure: {root_exception(settings, job_id)}") from exc
    assert jobs_named(settings, job_name) == {job_id: "RUNNING"}, "one submission, running throughout"
