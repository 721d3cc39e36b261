"""The job runs one subtask per input partition, and a silent partition does not stall its windows.

Unset, the job's parallelism is its input topics' partition count. Here every
event goes to partition 0 of two, so one source subtask reads nothing: once it
has been silent for the idle timeout it stops holding the watermark back, and
the windows close as they would on one partition.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from confluent_kafka import Producer

from closeloop.config import Settings, Topics
from closeloop.events import FeedbackEvent, MetricsEvent, encode
from closeloop.kafka.admin import ensure_topics
from tests.integration.streaming import scenario
from tests.integration.streaming.checks import SETTINGS, collect, flink_rest
from tests.waiting import NotYet, eventually

PAIRS = 12
PARTITIONS = 2


@pytest.fixture
def topics(job_stack_settings: Settings) -> Topics:
    """Fresh topics: the two inputs with two partitions, the outputs with one (read from partition 0)."""
    names = Topics(f"test-{uuid.uuid4().hex[:8]}")
    inputs = [names.predictions, names.feedback]
    bootstrap = job_stack_settings.kafka_bootstrap
    ensure_topics(bootstrap, inputs, partitions=PARTITIONS)
    ensure_topics(bootstrap, [n for n in names.all() if n not in inputs], partitions=1)
    return names


def _send_to_partition_0(settings: Settings, topics: Topics) -> None:
    """PAIRS pairs a second apart (outputs alternate 0 and 1, the truth is 0), then the flush."""
    predictions, feedback = [], []
    for i in range(PAIRS):
        at = scenario.T0 + timedelta(seconds=i)
        p = scenario.clf_prediction(f"p{i}", i % 2, at)
        f = FeedbackEvent(prediction_id=p.prediction_id, ground_truth=0, ts=at + timedelta(seconds=1))
        predictions.append((p.prediction_id, encode(p)))
        feedback.append((p.prediction_id, encode(f)))
    flush_p, flush_f = scenario._flush(timedelta(seconds=600), scenario.FLUSH)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 20})
    sends = {topics.predictions: [*predictions, flush_p], topics.feedback: [*feedback, flush_f]}
    for topic, messages in sends.items():
        for key, value in messages:
            producer.produce(topic, key=key, value=value, partition=0)
    assert producer.flush(30) == 0


def _tumbling(settings: Settings, topics: Topics) -> list[MetricsEvent]:
    @eventually(timeout=240, interval=2)
    def closed() -> list[MetricsEvent]:
        found = [
            e
            for e in collect(settings, topics.metrics, 20)
            if isinstance(e, MetricsEvent) and e.model_name == "clf" and e.window.kind == "tumbling"
        ]
        if sum(e.labeled for e in found) < PAIRS:
            raise NotYet(f"{len(found)} tumbling windows, {sum(e.labeled for e in found)} labeled")
        return found

    return closed()


def _assert_every_pair_counted_once(windows: list[MetricsEvent]) -> None:
    assert sum(e.predictions for e in windows) == PAIRS
    assert sum(e.labeled for e in windows) == PAIRS
    assert sum(e.quality["accuracy"] * e.labeled for e in windows) == pytest.approx(PAIRS / 2)


def _vertex_parallelism(settings: Settings, job_id: str) -> set[int]:
    # The lake's partition committer runs alone by design.
    vertices = flink_rest(settings, f"/jobs/{job_id}")["vertices"]
    return {v["parallelism"] for v in vertices if "PartitionCommitter" not in v["name"]}


def test_one_subtask_per_partition_and_a_silent_one_does_not_stall_the_windows(
    settings: Settings, topics: Topics, run_job: Callable
) -> None:
    _send_to_partition_0(settings, topics)
    prefix = topics.predictions.rsplit(".", 1)[0]
    # No job_parallelism: the partitions decide.
    record = run_job(**{**SETTINGS, "idle_timeout_s": 2}, lake_prefix=f"{prefix}/feedback")

    assert _vertex_parallelism(settings, record.job_id) == {PARTITIONS}
    _assert_every_pair_counted_once(_tumbling(settings, topics))
