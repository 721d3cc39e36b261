"""The feedback job survives a crash: `kill -9` of the Flink cluster mid-stream, then a restart.

The restarted job resumes from its latest retained checkpoint. Metrics and
alerts are written at least once with stable keys, so a window may appear
again; its latest value must equal the uninterrupted answer. The lake is
written exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from closeloop.config import Settings, Topics
from closeloop.stack.manager import LocalStack
from closeloop.stack.process import ProcessRecord
from tests.faults import Stopwatch
from tests.integration.streaming.checks import (
    assert_counted_once,
    first_half_checkpointed,
    kill_service,
    send_second_half,
)


def test_a_killed_cluster_resumes_the_job_from_its_checkpoint(
    settings: Settings,
    stack: LocalStack,
    topics: Topics,
    send: Callable,
    run_job: Callable[..., ProcessRecord],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_name = f"{topics.predictions.rsplit('.', 1)[0]}-recovered-job"
    s, job, _ = first_half_checkpointed(settings, topics, send, run_job, tmp_path, job_name)
    # The JobManager, the TaskManager and its Python workers: the job dies with them.
    kill_service(stack, "flink")
    send_second_half(send, topics, s)
    try:
        stack.up(["flink"])
        recovery = Stopwatch()
        second = run_job(**job, job_name=job_name)
        assert "--fromSavepoint" in second.command, "the restarted job did not resume from a checkpoint"

        assert_counted_once(settings, topics, job, s, fault="Flink cluster kill -9", recovery=recovery)
    finally:
        # The stack's own feedback job died with the cluster: it resumes too,
        # with the stack's settings rather than this test's.
        monkeypatch.undo()
        stack.up()
