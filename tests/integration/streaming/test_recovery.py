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
from tests.integration.streaming import scenario
from tests.integration.streaming.checks import assert_counted_once, checkpointed, job_for_scenario
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
    s = scenario.build()
    job = {**job_for_scenario(settings, topics, tmp_path), "checkpoint_interval_s": 1}
    half_p, half_f = len(s.prediction_messages) // 2, len(s.feedback_messages) // 2
    send(topics.predictions, s.prediction_messages[:half_p])
    send(topics.feedback, s.feedback_messages[:half_f])
    job_name = f"{topics.predictions.rsplit('.', 1)[0]}-recovered-job"
    run_job(**job, job_name=job_name)

    before_the_crash = checkpointed(settings, topics, job_name, (half_p, half_f))
    first_half = {key for key, _ in s.prediction_messages[:half_p]}
    sent_until = max(p.ts for p in s.predictions if p.prediction_id in first_half)
    assert all(e.window.end <= sent_until for e in before_the_crash)
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
    send(topics.predictions, s.prediction_messages[half_p:])
    send(topics.feedback, s.feedback_messages[half_f:])
    try:
        stack.up(["flink"])
        second = run_job(**job, job_name=job_name)
        assert "--fromSavepoint" in second.command, "the restarted job did not resume from a checkpoint"

        assert_counted_once(settings, topics, job, s)
    finally:
        # The stack's own feedback job died with the cluster: it resumes too,
        # with the stack's settings rather than this test's.
        monkeypatch.undo()
        stack.up()
