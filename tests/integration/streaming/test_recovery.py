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
from confluent_kafka import Consumer, TopicPartition

from closeloop.config import Settings, Topics
from closeloop.events import AlertEvent, MetricsEvent
from closeloop.lake import read_labeled
from closeloop.stack.manager import LocalStack
from closeloop.stack.process import ProcessRecord, alive, port_owner
from tests.integration.streaming import scenario
from tests.integration.streaming.checks import (
    assert_window_matches,
    collect,
    expected_alert_ids,
    job_for_scenario,
    window_key,
)
from tests.waiting import NotYet, eventually


def committed(settings: Settings, group: str, topic: str) -> int:
    """The offset ``group`` has committed on ``topic`` (one partition); the job commits on checkpoints."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group})
    try:
        (partition,) = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        return max(partition.offset, 0)
    finally:
        consumer.close()


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
    expected = scenario.expected_metrics(s)
    job = {**job_for_scenario(settings, topics, tmp_path), "checkpoint_interval_s": 1}
    half_p, half_f = len(s.prediction_messages) // 2, len(s.feedback_messages) // 2
    send(topics.predictions, s.prediction_messages[:half_p])
    send(topics.feedback, s.feedback_messages[:half_f])
    job_name = f"{topics.predictions.rsplit('.', 1)[0]}-recovered-job"
    run_job(**job, job_name=job_name)

    # Mid-stream: a checkpoint holds the first half (the sources commit their
    # offsets when a checkpoint completes), and the first windows are out:
    # they close with the watermark, not a label delay (60 s) later.
    @eventually(timeout=240, interval=1)
    def first_half_checkpointed() -> list[MetricsEvent]:
        done = (
            committed(settings, f"{job_name}-predictions", topics.predictions),
            committed(settings, f"{job_name}-feedback", topics.feedback),
        )
        if done[0] < half_p or done[1] < half_f:
            raise NotYet(f"offsets {done} of {(half_p, half_f)} checkpointed")
        if not (
            published := [e for e in collect(settings, topics.metrics, 1) if isinstance(e, MetricsEvent)]
        ):
            raise NotYet("no window published yet")
        return published

    before_the_crash = first_half_checkpointed()
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

        @eventually(timeout=300, interval=2)
        def all_windows() -> list[MetricsEvent]:
            events = [e for e in collect(settings, topics.metrics, 1000) if isinstance(e, MetricsEvent)]
            if missing := set(expected) - {window_key(e) for e in events}:
                raise NotYet(f"{len(missing)} of {len(expected)} windows missing")
            return events

        # At least once: the last value of each window is the one that counts.
        latest = {window_key(e): e for e in all_windows() if e.model_name != scenario.FLUSH}
        assert set(latest) == set(expected)
        for key, event in latest.items():
            assert_window_matches(event, expected[key])

        wanted_alerts = expected_alert_ids(job["alert_rules"], list(latest.values()))

        @eventually(timeout=60, interval=2)
        def alerts() -> set[str]:
            found = {e.alert_id for e in collect(settings, topics.alerts, 50) if isinstance(e, AlertEvent)}
            if len(found) < len(wanted_alerts):
                raise NotYet(f"{len(found)} of {len(wanted_alerts)} alerts")
            return found

        assert alerts() == set(wanted_alerts)

        wanted = scenario.lake_examples(s)

        @eventually(timeout=60, interval=2)
        def in_the_lake() -> list[str]:
            rows = read_labeled(settings, prefix=str(job["lake_prefix"])).to_pylist()
            ids = [r["prediction_id"] for r in rows if r["model_name"] != scenario.FLUSH]
            if len(set(ids)) < len(wanted):
                raise NotYet(f"{len(set(ids))} of {len(wanted)} labeled examples committed")
            return ids

        assert sorted(in_the_lake()) == sorted(wanted), "the lake must hold each labeled example once"
    finally:
        # The stack's own feedback job died with the cluster: it resumes too,
        # with the stack's settings rather than this test's.
        monkeypatch.undo()
        stack.up()
