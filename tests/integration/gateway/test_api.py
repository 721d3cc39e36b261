"""The gateway against the real stack.

Predictions are served and logged to Kafka, feedback is taken, and errors name the field.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.events import FeedbackEvent, PredictionEvent
from tests.integration.gateway.conftest import wait_for_model
from tests.integration.kafka_reading import end_offsets, read_events
from tests.integration.registry_models import digits_frame, register_halving, register_text_lengths
from tests.waiting import NotYet, eventually

X, Y = digits_frame()


@pytest.fixture
def client(client_for: Callable[..., TestClient], digits_model: tuple[str, str]) -> TestClient:
    name, version = digits_model
    client = client_for(models=[name], max_batch=8)
    wait_for_model(client.get, name, version)
    return client


def row(i: int) -> dict[str, float]:
    return {k: float(v) for k, v in X.iloc[i].items()}


def test_a_single_prediction_is_served_and_logged(
    client: TestClient, digits_model: tuple[str, str], settings: Settings
) -> None:
    name, version = digits_model
    since = end_offsets(settings.kafka_bootstrap, settings.topics.predictions)
    response = client.post(f"/v1/models/{name}/predict", json={"inputs": row(1500)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == name
    assert body["model_version"] == version
    assert isinstance(body["output"], int) and 0 <= body["output"] <= 9
    assert body["latency_ms"] > 0

    ((key, event),) = read_events(settings.kafka_bootstrap, settings.topics.predictions, since, expected=1)
    assert isinstance(event, PredictionEvent)
    assert key == event.prediction_id == body["prediction_id"]
    assert (event.model_name, event.model_version, event.task) == (name, version, "classification")
    assert event.output == body["output"]
    assert event.inputs == row(1500)
    assert event.error is None


def test_a_batch_gets_one_id_and_one_event_per_instance(
    client: TestClient, digits_model: tuple[str, str], settings: Settings
) -> None:
    name, version = digits_model
    since = end_offsets(settings.kafka_bootstrap, settings.topics.predictions)
    response = client.post(
        f"/v1/models/{name}/predict", json={"instances": [row(i) for i in range(1500, 1505)]}
    )
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len({p["prediction_id"] for p in predictions}) == 5
    # A trained digits model gets most of these right.
    assert sum(p["output"] == Y.iloc[1500 + i] for i, p in enumerate(predictions)) >= 4

    events = read_events(settings.kafka_bootstrap, settings.topics.predictions, since, expected=5)
    assert {key for key, _ in events} == {p["prediction_id"] for p in predictions}
    assert all(e.model_version == version for _, e in events)


def test_feedback_is_published_keyed_by_prediction(
    client: TestClient, digits_model: tuple[str, str], settings: Settings
) -> None:
    name, _ = digits_model
    since = end_offsets(settings.kafka_bootstrap, settings.topics.feedback)
    one = client.post("/v1/feedback", json={"prediction_id": "p-1", "ground_truth": 3, "model_name": name})
    assert one.status_code == 202, one.text
    batch = client.post(
        "/v1/feedback", json=[{"prediction_id": "p-2", "ground_truth": 4, "source": "labeler"}]
    )
    assert batch.status_code == 202
    assert batch.json()["accepted"] == 1

    events = dict(read_events(settings.kafka_bootstrap, settings.topics.feedback, since, expected=2))
    assert set(events) == {"p-1", "p-2"}
    first = events["p-1"]
    assert isinstance(first, FeedbackEvent)
    assert (first.ground_truth, first.task, first.model_name) == (3, "classification", name)
    assert events["p-2"].source == "labeler"  # type: ignore[attr-defined]
    assert first.feedback_id == one.json()["feedback_ids"][0]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"inputs": {k: v for k, v in row(0).items() if k != "pixel_3"}}, "body.inputs.pixel_3"),
        ({"inputs": row(0) | {"pixel_5": "bright"}}, "body.inputs.pixel_5"),
        ({"inputs": row(0) | {"colour": 1.0}}, "body.inputs.colour"),
        (
            {"instances": [row(0), {k: v for k, v in row(1).items() if k != "pixel_9"}]},
            "body.instances.1.pixel_9",
        ),
        ({"inputs": row(0), "instances": [row(1)]}, "body"),
        ({"instances": "many"}, "body.instances"),
        ({}, "body"),
    ],
)
def test_a_bad_request_gets_a_422_naming_the_field(
    client: TestClient, digits_model: tuple[str, str], payload: dict, field: str
) -> None:
    response = client.post(f"/v1/models/{digits_model[0]}/predict", json=payload)
    assert response.status_code == 422, response.text
    assert response.json()["message"].startswith(f"{field}:")


def test_feedback_of_the_wrong_shape_is_refused(client: TestClient, digits_model: tuple[str, str]) -> None:
    name, _ = digits_model
    response = client.post(
        "/v1/feedback", json=[{"prediction_id": "p", "ground_truth": [1, 2], "model_name": name}]
    )
    assert response.status_code == 422
    assert response.json()["message"].startswith("body.0.ground_truth:")
    missing = client.post("/v1/feedback", json={"ground_truth": 1})
    assert missing.status_code == 422
    assert "prediction_id" in missing.json()["message"]


def test_unknown_model_is_a_404_and_a_big_batch_a_413(
    client: TestClient, digits_model: tuple[str, str]
) -> None:
    unknown = client.post("/v1/models/no-such-model/predict", json={"inputs": row(0)})
    assert unknown.status_code == 404
    assert "no-such-model" in unknown.json()["detail"]
    big = client.post(f"/v1/models/{digits_model[0]}/predict", json={"instances": [row(i) for i in range(9)]})
    assert big.status_code == 413
    assert "at most 8" in big.json()["detail"]
    assert (
        client.post(
            "/v1/feedback", json=[{"prediction_id": f"p{i}", "ground_truth": 1} for i in range(9)]
        ).status_code
        == 413
    )


def test_models_health_readiness_metrics_and_docs(client: TestClient, digits_model: tuple[str, str]) -> None:
    name, version = digits_model
    (model,) = [m for m in client.get("/v1/models").json() if m["name"] == name]
    assert (model["version"], model["task"], model["features"]) == (version, "classification", 64)
    assert model["loaded_at"]

    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["models"] == {name: version}

    client.post(f"/v1/models/{name}/predict", json={"inputs": row(7)})
    client.post(f"/v1/models/{name}/predict", json={"inputs": {}})
    metrics = client.get("/metrics").text
    labels = f'endpoint="/v1/models/{{name}}/predict",model="{name}",status="200",version="{version}"'
    assert f"closeloop_gateway_requests_total{{{labels}}}" in metrics
    bucket = f'endpoint="/v1/models/{{name}}/predict",le="0.005",model="{name}",version="{version}"'
    assert f"closeloop_gateway_request_seconds_bucket{{{bucket}}}" in metrics
    assert 'kind="invalid_input"' in metrics
    # The process's own resources, for the memory-growth rule.
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"):
        assert f"\n{name} " in metrics, name
    assert "python_gc_collections_total" in metrics

    @eventually(timeout=20, interval=0.2)
    def acknowledged() -> None:
        # Counted when Kafka acknowledges the event, a moment after the response.
        published = 'closeloop_gateway_events_total{outcome="published",topic="closeloop.predictions"}'
        if published not in client.get("/metrics").text:
            raise NotYet("no acknowledged prediction event yet")

    acknowledged()

    spec = client.get("/openapi.json").json()
    assert {"/v1/models/{name}/predict", "/v1/feedback", "/v1/models", "/healthz", "/readyz"} <= set(
        spec["paths"]
    )
    assert client.get("/docs").status_code == 200


def test_a_pyfunc_model_is_served_and_its_failures_are_logged(
    client_for: Callable[..., TestClient], settings: Settings, unique_name: str
) -> None:
    name = f"{unique_name}-halving"
    version = register_halving(settings.mlflow_tracking_uri, name)
    try:
        client = client_for(models=[name])
        wait_for_model(client.get, name, version)
        served = client.post(f"/v1/models/{name}/predict", json={"instances": [{"x": 3.0}, {"x": 8.0}]})
        assert served.status_code == 200, served.text
        assert [p["output"] for p in served.json()["predictions"]] == [1.5, 4.0]

        # Checked against the signature, as on the scikit-learn path: 422 naming the field, not 500.
        for instances, loc, reason in (
            ([{"x": 1.0}, {"y": 1.0}], ["body", "instances", 1, "x"], "missing input"),
            ([{"x": "three"}], ["body", "instances", 0, "x"], "must be a double"),
            ([{"x": 1.0, "y": 2.0}], ["body", "instances", 0, "y"], "not an input of this model"),
        ):
            refused = client.post(f"/v1/models/{name}/predict", json={"instances": instances})
            assert refused.status_code == 422, refused.text
            (error,) = refused.json()["detail"]
            assert error["loc"] == loc and reason in error["msg"], error

        since = end_offsets(settings.kafka_bootstrap, settings.topics.predictions)
        failed = client.post(f"/v1/models/{name}/predict", json={"instances": [{"x": 1.0}, {"x": -1.0}]})
        assert failed.status_code == 500
        assert f"model {name} version {version} failed" in failed.json()["detail"]
        events = [
            e
            for _, e in read_events(settings.kafka_bootstrap, settings.topics.predictions, since, expected=2)
        ]
        assert len(events) == 2
        for event in events:
            assert isinstance(event, PredictionEvent)
            assert event.output is None
            assert event.error is not None and "x must not be negative" in event.error
        assert 'kind="model_error"' in client.get("/metrics").text
    finally:
        MlflowClient(settings.mlflow_tracking_uri).delete_registered_model(name)


def test_a_raw_input_model_sends_its_monitoring_features_with_each_prediction(
    client_for: Callable[..., TestClient], settings: Settings, unique_name: str
) -> None:
    name = f"{unique_name}-lengths"
    version = register_text_lengths(settings.mlflow_tracking_uri, name)
    try:
        client = client_for(models=[name])
        wait_for_model(client.get, name, version)
        since = end_offsets(settings.kafka_bootstrap, settings.topics.predictions)
        texts = ["Hello big World", "abc"]
        served = client.post(f"/v1/models/{name}/predict", json={"instances": [{"text": t} for t in texts]})
        assert served.status_code == 200, served.text
        assert [p["output"] for p in served.json()["predictions"]] == [15.0, 3.0]
        # Predictions are keyed by their id, so the two may sit on different partitions
        # and arrive in either order: match them by input.
        events = {
            e.inputs["text"]: e
            for _, e in read_events(settings.kafka_bootstrap, settings.topics.predictions, since, expected=2)
            if isinstance(e, PredictionEvent)
        }
        assert {text: e.features for text, e in events.items()} == {
            "Hello big World": {"words": 3.0, "upper": 2.0},
            "abc": {"words": 1.0, "upper": 0.0},
        }
        assert events["abc"].monitored() == {"words": 1.0, "upper": 0.0}

        # The model says which input is at fault: a 422 naming it, no error events.
        since = end_offsets(settings.kafka_bootstrap, settings.topics.predictions)
        refused = client.post(
            f"/v1/models/{name}/predict", json={"instances": [{"text": "ok"}, {"text": ""}]}
        )
        assert refused.status_code == 422, refused.text
        (error,) = refused.json()["detail"]
        assert error["loc"] == ["body", "instances", 1, "text"] and error["msg"] == "must not be empty"
        single = client.post(f"/v1/models/{name}/predict", json={"inputs": {"text": ""}})
        assert single.status_code == 422 and single.json()["detail"][0]["loc"] == ["body", "inputs", "text"]
        assert end_offsets(settings.kafka_bootstrap, settings.topics.predictions) == since
    finally:
        MlflowClient(settings.mlflow_tracking_uri).delete_registered_model(name)
