"""The feedback job rides out a broker crash: `kill -9` of Kafka mid-stream, then a restart.

The job keeps running on the shared Flink cluster while the broker under it
(a private one, so the shared stack's Kafka stays up) dies and comes back. No
one resubmits it: the same Flink job either never fails or restarts by its
own restart strategy from its latest checkpoint. Its windows then equal an
uninterrupted run's, every alert fires, and the lake holds each labeled
example once.
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
    jobs_named,
    kill_broker,
    root_exception,
    running_by_itself,
    send_second_half,
)
from tests.waiting import NotYet


@pytest.fixture
def job_stack_settings(settings: Settings, private_stack: LocalStack) -> Settings:
    """The shared stack's settings with a private broker's address: the one broker this test kills.

    Only Kafka moves: the job runs on the shared Flink cluster, which keeps its
    checkpoints in its own folder and reaches the lake in the shared MinIO.
    """
    private_stack.up(["kafka"])
    return settings.model_copy(update={"kafka_bootstrap": private_stack.settings.kafka_bootstrap})


def test_a_killed_broker_comes_back_and_the_job_resumes_by_itself(
    settings: Settings,
    job_stack_settings: Settings,
    private_stack: LocalStack,
    topics: Topics,
    send: Callable,
    run_job: Callable[..., ProcessRecord],
    tmp_path: Path,
) -> None:
    job_name = f"{topics.predictions.rsplit('.', 1)[0]}-broker-crash-job"
    s, job, record = first_half_checkpointed(
        settings, topics, send, run_job, tmp_path, job_name, kafka=job_stack_settings
    )
    job_id = record.job_id
    assert job_id is not None
    kill_broker(private_stack)
    # The same state directory: the broker recovers its logs and the job's committed offsets.
    private_stack.up(["kafka"])
    recovery = Stopwatch()
    send_second_half(send, topics, s)
    running_by_itself(settings, job_name, job_id)

    try:
        assert_counted_once(
            job_stack_settings, topics, job, s, fault="job's Kafka broker kill -9", recovery=recovery
        )
    except NotYet as exc:
        jobs = jobs_named(settings, job_name)
        raise AssertionError(f"{exc}; jobs {jobs}; last failure: {root_exception(settings, job_id)}") from exc
    assert jobs_named(settings, job_name) == {job_id: "RUNNING"}, "one submission, running throughout"
