"""The feedback job survives a crash: `kill -9` of the Flink cluster mid-stream, then a restart.

The restarted job resumes from its latest retained checkpoint. Metrics and
alerts are written at least once with stable keys, so a window may appear
again; its latest value must equal the uninterrupted answer. The lake is
written exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from closeloop.config import Settings, Topics
from closeloop.stack.manager import LocalStack
from closeloop.stack.process import ProcessRecord, alive, port_owner
from tests.faults import Stopwatch
from tests.integration.streaming.checks import (
    assert_counted_once,
    first_half_checkpointed,
    send_second_half,
)
from tests.waiting import NotYet, eventually


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
    flink = ProcessRecord.load(stack.layout.run, "flink")
    assert flink is not None and flink.pids
    # The JobManager, the TaskManager and its Python workers: the job dies with them.
    daemons = [psutil.Process(pid) for pid in flink.pids]
    for proc in [*daemons, *(child for d in daemons for child in d.children(recursive=True))]:
        proc.kill()

    @eventually(timeout=30, interval=0.5)
    def dead() -> None:
        if pids := alive(flink):
            raise NotYet(f"Flink processes {pids} still alive")
        if owner := port_owner(settings.host, settings.flink_rest_port):
            raise NotYet(f"port {settings.flink_rest_port} still held by {owner}")

    dead()
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
