"""A PyFlink SQL job submitted to the session cluster with `flink run -py`, through the Kafka connector."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import psutil
from confluent_kafka import Consumer, Producer

from closeloop.config import Settings
from closeloop.kafka.admin import ensure_topics
from closeloop.stack.manager import LocalStack
from closeloop.stack.process import ProcessRecord
from closeloop.stack.services.flink import FlinkService
from tests.waiting import NotYet, eventually

JOB = Path(__file__).parent / "flink_jobs" / "kafka_passthrough.py"


def test_sql_job_reads_one_topic_and_writes_another(
    stack: LocalStack, settings: Settings, unique_name: str
) -> None:
    flink = stack.services["flink"]
    assert isinstance(flink, FlinkService)
    source, sink = f"{unique_name}-in", f"{unique_name}-out"
    ensure_topics(settings.kafka_bootstrap, [source, sink], partitions=2)

    readings = [{"id": f"r{i}", "amount": float(i - 5)} for i in range(40)]
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    for reading in readings:
        producer.produce(source, key=reading["id"], value=json.dumps(reading))
    assert producer.flush(30) == 0

    # Attached mode: `flink run` returns when the bounded job has finished.
    result = subprocess.run(
        flink.submit_command(
            JOB, "--bootstrap", settings.kafka_bootstrap, "--source", source, "--sink", sink
        ),
        env=flink.environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": unique_name,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([sink])
    out: dict[str, dict] = {}
    expected = {
        r["id"]: {"id": r["id"], "amount": r["amount"] * 2, "label": r["id"].upper()}
        for r in readings
        if r["amount"] >= 0
    }
    try:
        for _ in range(120):
            if len(out) >= len(expected):
                break
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                event = json.loads(message.value())
                out[event["id"]] = event
    finally:
        consumer.close()
    assert out == expected

    # The job ran on the session cluster, not in a local mini-cluster.
    jobs = httpx.get(f"{flink.url}/jobs/overview", timeout=5).json()["jobs"]
    assert any(job["state"] == "FINISHED" for job in jobs), jobs


def test_up_restarts_a_cluster_whose_taskmanager_died(stack: LocalStack) -> None:
    before = ProcessRecord.load(stack.layout.run, "flink")
    assert before is not None and len(before.pids) == 2
    taskmanager = before.pids[1]  # start-cluster.sh: the JobManager, then the TaskManager

    # The stack's feedback job runs its window function in Python workers the TaskManager starts.
    @eventually(timeout=120, interval=1)
    def python_workers() -> list[psutil.Process]:
        if found := psutil.Process(taskmanager).children(recursive=True):
            return found
        raise NotYet("the TaskManager has started no Python worker yet")

    workers = python_workers()
    psutil.Process(taskmanager).kill()
    psutil.Process(taskmanager).wait(timeout=30)

    messages: list[str] = []
    stack.up(["flink"], report=lambda service, message: messages.append(f"{service}: {message}"))
    after = ProcessRecord.load(stack.layout.run, "flink")
    assert after is not None and set(after.pids).isdisjoint(before.pids)
    assert f"flink: part of it died (pid {taskmanager}): restarting it" in messages
    # Its workers outlived it, adopted by init: `up` stopped them rather than leave them running.
    assert not [w.pid for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    assert FlinkService(stack.settings, stack.layout).probe().ok
    stack.up()  # the stack's own feedback job went down with the cluster: it resumes
