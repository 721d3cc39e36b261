"""Run the feedback job on the local Flink cluster against a test's own topics."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from closeloop.config import Settings, Topics
from closeloop.kafka.admin import ensure_topics
from closeloop.stack.manager import LocalStack
from closeloop.stack.process import ProcessRecord
from closeloop.stack.services.feedback_job import FeedbackJobService
from closeloop.streaming.checkpoints import job_checkpoints_dir, local_path

Message = tuple[str, bytes]


@pytest.fixture
def job_stack_settings(settings: Settings) -> Settings:
    """The settings the job is submitted with and its topics reached by: the shared stack's.

    A test that must stop the broker under the job overrides this fixture with
    settings whose ``kafka_bootstrap`` is a broker of its own.
    """
    return settings


@pytest.fixture
def topics(job_stack_settings: Settings) -> Topics:
    """A fresh set of the job's topics, one partition each, so event order is the send order."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    names = Topics(prefix)
    ensure_topics(job_stack_settings.kafka_bootstrap, names.all(), partitions=1)
    return names


@pytest.fixture
def send(job_stack_settings: Settings) -> Callable[[str, list[Message]], None]:
    producer = Producer({"bootstrap.servers": job_stack_settings.kafka_bootstrap, "linger.ms": 20})

    def send(topic: str, messages: list[Message]) -> None:
        for key, value in messages:
            producer.produce(topic, key=key, value=value)
        assert producer.flush(30) == 0

    return send


@pytest.fixture
def run_job(
    stack: LocalStack, job_stack_settings: Settings, topics: Topics, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., ProcessRecord]]:
    """Submit the feedback job on ``topics`` with job settings given as keywords; cancel it after."""
    submitted: list[tuple[FeedbackJobService, ProcessRecord]] = []
    checkpoints: set[Path] = set()

    def run(**job_settings: object) -> ProcessRecord:
        prefix = topics.predictions.rsplit(".", 1)[0]
        env = {"topic_prefix": prefix, "job_name": f"{prefix}-job", **job_settings}
        for name, value in env.items():
            monkeypatch.setenv(f"CLOSELOOP_{name.upper()}", str(value))
        # On the shared cluster and its checkpoint folder; Kafka, MinIO and MLflow as the settings say.
        service = FeedbackJobService(job_stack_settings, stack.layout)
        if folder := local_path(job_checkpoints_dir(service.checkpoints_dir, service.job_name)):
            checkpoints.add(folder)
        record = service.start()
        submitted.append((service, record))
        return record

    yield run
    for service, record in submitted:
        service.terminate(record, report=print)
    for folder in checkpoints:
        # The test's topics are gone with the test: so is the point of its checkpoints.
        shutil.rmtree(folder, ignore_errors=True)
