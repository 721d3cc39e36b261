"""Moving the champion alias under load: the new version swaps in and no request fails."""

from __future__ import annotations

from pathlib import Path

import httpx
from confluent_kafka import Producer
from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.events import DeadLetterEvent, ModelUpdateEvent, encode
from tests.integration.gateway.conftest import (
    Load,
    gateway_app,
    gateway_settings,
    poller,
    serve,
    wait_for_model,
)
from tests.integration.kafka_reading import end_offsets, read_events
from tests.integration.registry_models import digits_frame, register_digits, register_halving
from tests.waiting import NotYet, eventually


def test_alias_moves_under_load_without_a_failed_request(
    settings: Settings, digits_model: tuple[str, str], tmp_path: Path, unique_name: str
) -> None:
    name = f"{unique_name}-reload"
    client = MlflowClient(settings.mlflow_tracking_uri)
    first = register_digits(settings.mlflow_tracking_uri, name, rows=600)
    # Polling far slower than the test: the first swap must come from the event.
    config = gateway_settings(settings, tmp_path, models=[name], reload_poll_s=3600)
    try:
        with serve(gateway_app(config)) as url:
            wait_for_model(lambda path: httpx.get(url + path), name, first)
            with Load(url, name) as load:
                load.wait_for_version(first)

                second = register_digits(settings.mlflow_tracking_uri, name, rows=1200)
                producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
                update = ModelUpdateEvent(model_name=name, version=second, previous_version=first)
                producer.produce(settings.topics.model_updates, key=update.key(), value=encode(update))
                assert producer.flush(10) == 0
                load.wait_for_version(second)
            assert load.failures == []
            assert load.versions[first] > 0 and load.versions[second] > 0
    finally:
        client.delete_registered_model(name)


def test_polling_catches_an_alias_moved_without_an_event(
    settings: Settings, digits_model: tuple[str, str], tmp_path: Path, unique_name: str
) -> None:
    name = f"{unique_name}-poll"
    client = MlflowClient(settings.mlflow_tracking_uri)
    first = register_digits(settings.mlflow_tracking_uri, name, rows=600)
    second = register_digits(settings.mlflow_tracking_uri, name, rows=1200, alias=None)
    config = gateway_settings(settings, tmp_path, models=[name], reload_poll_s=1)
    try:
        with serve(gateway_app(config)) as url:
            wait_for_model(lambda path: httpx.get(url + path), name, first)
            with Load(url, name, clients=2) as load:
                load.wait_for_version(first)
                client.set_registered_model_alias(name, "champion", second)  # no event
                load.wait_for_version(second)
            assert load.failures == []
    finally:
        client.delete_registered_model(name)


def test_a_malformed_model_update_goes_to_the_dead_letter_topic(
    settings: Settings, digits_model: tuple[str, str], tmp_path: Path
) -> None:
    name, version = digits_model
    config = gateway_settings(settings, tmp_path, models=[name], reload_poll_s=3600)
    with serve(gateway_app(config)) as url, poller(url, timeout=10) as http:
        wait_for_model(http.get, name, version)
        # The listener reads from the end of the topic and joins a moment after the
        # start, so the malformed update is sent again until it shows up.
        since = end_offsets(settings.kafka_bootstrap, settings.topics.dlq)
        garbage = b'{"schema": "closeloop.model-update.v1", "model_name": "' + name.encode() + b'"}'

        @eventually(timeout=60, interval=2)
        def dead_lettered() -> DeadLetterEvent:
            producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
            producer.produce(settings.topics.model_updates, key=name, value=garbage)
            producer.flush(10)
            for _, event in read_events(
                settings.kafka_bootstrap, settings.topics.dlq, since, expected=1, timeout=2
            ):
                if isinstance(event, DeadLetterEvent) and event.original == garbage.decode():
                    return event
            raise NotYet("no dead letter yet")

        letter = dead_lettered()
        assert letter.rejected_by == "gateway"
        assert letter.source_topic == settings.topics.model_updates
        assert letter.field == "version"
        assert "version" in letter.reason
        # The gateway still serves.
        row = {k: float(v) for k, v in digits_frame()[0].iloc[3].items()}
        assert http.post(f"/v1/models/{name}/predict", json={"inputs": row}).status_code == 200


def test_a_champion_that_cannot_load_leaves_the_old_one_serving_says_why_and_loads_once_it_can(
    settings: Settings, tmp_path: Path, unique_name: str
) -> None:
    name = f"{unique_name}-unloadable"
    client = MlflowClient(settings.mlflow_tracking_uri)
    first = register_halving(settings.mlflow_tracking_uri, name)
    gate = tmp_path / "weights-ready"
    second = register_halving(settings.mlflow_tracking_uri, name, gate=gate, alias=False)
    config = gateway_settings(settings, tmp_path / "gateway", models=[name], reload_poll_s=1)
    try:
        with serve(gateway_app(config)) as url, poller(url, timeout=10) as http:
            wait_for_model(http.get, name, first)
            client.set_registered_model_alias(name, "champion", second)

            @eventually(timeout=60, interval=0.5)
            def reported() -> dict:
                ready = http.get("/readyz").json()
                if not any(f"cannot load version {second}" in p for p in ready["problems"]):
                    raise NotYet(str(ready))
                return ready

            ready = reported()
            (problem,) = [p for p in ready["problems"] if name in p]
            assert "weights unreadable" in problem and f"serving version {first}" in problem
            assert ready["status"] == "degraded" and ready["models"][name] == first
            assert f'closeloop_gateway_model_load_failing{{model="{name}"}} 1.0' in http.get("/metrics").text
            answer = http.post(f"/v1/models/{name}/predict", json={"inputs": {"x": 4.0}})
            assert answer.status_code == 200 and answer.json()["model_version"] == first
            assert answer.json()["output"] == 2.0

            gate.touch()  # the artifact can be loaded now: the next poll takes it
            wait_for_model(http.get, name, second)
            answer = http.post(f"/v1/models/{name}/predict", json={"inputs": {"x": 4.0}})
            assert (answer.json()["model_version"], answer.json()["output"]) == (second, 12.0)
            assert http.get("/readyz").json()["problems"] == []
            assert f'closeloop_gateway_model_load_failing{{model="{name}"}} 0.0' in http.get("/metrics").text
    finally:
        client.delete_registered_model(name)
