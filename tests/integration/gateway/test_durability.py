"""Events Kafka can never take block nothing: refused up front with 413, or dead-lettered on replay."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from closeloop.config import Settings
from closeloop.events import DeadLetterEvent, FeedbackEvent, encode
from closeloop.gateway.publisher import EventPublisher
from closeloop.gateway.spool import DiskSpool, SpooledRecord
from closeloop.kafka.admin import admin_client
from tests.integration.gateway.conftest import wait_for_model
from tests.integration.kafka_reading import end_offsets, read_to_end
from tests.integration.registry_models import digits_frame
from tests.waiting import NotYet, eventually

X, _ = digits_frame()


@pytest.fixture
def client(client_for: Callable[..., TestClient], digits_model: tuple[str, str]) -> TestClient:
    name, version = digits_model
    client = client_for(models=[name], max_request_bytes=64 * 1024)
    wait_for_model(client.get, name, version)
    return client


def test_feedback_too_large_for_kafka_gets_413_naming_the_field_and_blocks_nothing(
    client_for: Callable[..., TestClient], settings: Settings
) -> None:
    client = client_for()
    since = end_offsets(settings.kafka_bootstrap, settings.topics.feedback)
    huge = client.post("/v1/feedback", json={"prediction_id": "p-huge", "ground_truth": "x" * 2_000_000})
    assert huge.status_code == 413, huge.text
    assert huge.json()["detail"][0]["loc"] == ["body", "ground_truth"]
    assert "one event holds at most 900,000" in huge.json()["message"]
    in_batch = client.post(
        "/v1/feedback",
        json=[
            {"prediction_id": "p-ok", "ground_truth": 1},
            {"prediction_id": "p-big", "ground_truth": "y" * 950_000},
        ],
    )
    assert in_batch.status_code == 413
    assert in_batch.json()["detail"][0]["loc"] == ["body", 1, "ground_truth"]

    after = client.post("/v1/feedback", json={"prediction_id": "p-after", "ground_truth": 4})
    assert after.status_code == 202, after.text
    ready = client.get("/readyz").json()
    assert (ready["spooled"], ready["kafka"]) == (0, "reachable"), ready
    # 202 means on Kafka already: what the topic holds now is all there will be.
    found = [e for e in read_to_end(settings.kafka_bootstrap, settings.topics.feedback, since)]
    assert [e.prediction_id for e in found if isinstance(e, FeedbackEvent)] == ["p-after"]
    assert 'kind="too_large"' in client.get("/metrics").text


def test_every_endpoint_has_a_byte_limit_on_its_body(
    client: TestClient, digits_model: tuple[str, str]
) -> None:
    name, _ = digits_model
    padding = "z" * 70_000
    for path, body in (
        (f"/v1/models/{name}/predict", {"inputs": {"pixel_0": 1.0, "note": padding}}),
        ("/v1/feedback", {"prediction_id": "p-1", "ground_truth": padding}),
        ("/v1/alerts/alertmanager", {"alerts": [], "note": padding}),
    ):
        response = client.post(path, json=body)
        assert response.status_code == 413, (path, response.text)
        assert "at most 65,536 bytes (CLOSELOOP_MAX_REQUEST_BYTES)" in response.json()["message"]
    served = client.post(
        f"/v1/models/{name}/predict", json={"inputs": {k: float(v) for k, v in X.iloc[0].items()}}
    )
    assert served.status_code == 200, "the gateway keeps serving"


def test_a_spooled_event_kafka_refuses_for_good_is_dead_lettered_and_the_rest_replay(
    settings: Settings, stack: object, tmp_path: Path
) -> None:
    """The poison case of a broker-side limit: the spool replays past it, in order, and drains."""
    small = f"test-small-{uuid.uuid4().hex[:8]}"
    admin = admin_client(settings.kafka_bootstrap)
    admin.create_topics([NewTopic(small, 1, 1, config={"max.message.bytes": "2048"})])[small].result(30)
    feedback, dlq = settings.topics.feedback, settings.topics.dlq
    since = {t: end_offsets(settings.kafka_bootstrap, t) for t in (feedback, dlq)}

    spool = DiskSpool(tmp_path / "spool")
    # One prediction, an original and its correction: one key, so one partition of the
    # feedback topic, where the order they reach Kafka in is the order read back.
    prediction_id = f"p-{uuid.uuid4().hex}"
    first, last = (FeedbackEvent(prediction_id=prediction_id, ground_truth=i) for i in range(2))
    # Incompressible: the broker's limit applies to the compressed batch.
    poison = FeedbackEvent(prediction_id="p-poison", ground_truth=base64.b64encode(os.urandom(6000)).decode())
    spool.append(
        [
            SpooledRecord(feedback, first.key(), encode(first)),
            SpooledRecord(small, poison.key(), encode(poison)),
            SpooledRecord(feedback, last.key(), encode(last)),
        ]
    )
    spool.close()
    publisher = EventPublisher(
        bootstrap=settings.kafka_bootstrap,
        spool=DiskSpool(tmp_path / "spool"),
        registry=CollectorRegistry(),
        dead_letter_topic=dlq,
        replay_interval_s=0.2,
    )
    try:
        publisher.start()
        assert publisher.degraded, "a spool left behind replays first"

        @eventually(timeout=60, interval=0.2)
        def drained() -> None:
            if publisher.degraded or publisher.spooled:
                raise NotYet(f"{publisher.spooled} spooled")

        drained()
    finally:
        publisher.close(timeout=5)
        admin.delete_topics([small])
    replayed = read_to_end(settings.kafka_bootstrap, feedback, since[feedback])
    assert [e.feedback_id for e in replayed if isinstance(e, FeedbackEvent)] == [
        first.feedback_id,
        last.feedback_id,
    ]
    letters = [
        e
        for e in read_to_end(settings.kafka_bootstrap, dlq, since[dlq])
        if isinstance(e, DeadLetterEvent) and e.source_topic == small
    ]
    assert len(letters) == 1
    assert "Kafka refused the event for good" in letters[0].reason
    assert letters[0].message_key == "p-poison" and letters[0].rejected_by == "gateway"
