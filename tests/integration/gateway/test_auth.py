"""Write endpoints with and without a configured API key; the key never reaches a log."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.integration.gateway.conftest import wait_for_model
from tests.integration.registry_models import digits_frame

KEY = "s3cr3t-key-do-not-log-7f2a9c"
ROW = {k: float(v) for k, v in digits_frame()[0].iloc[0].items()}


def test_with_a_key_write_endpoints_require_it(
    client_for: Callable[..., TestClient], digits_model: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    name, version = digits_model
    client = client_for(models=[name], api_key=KEY)
    wait_for_model(client.get, name, version)
    predict, feedback = f"/v1/models/{name}/predict", "/v1/feedback"
    label = {"prediction_id": "p", "ground_truth": 1}

    for path, body in ((predict, {"inputs": ROW}), (feedback, label)):
        missing = client.post(path, json=body)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "ApiKey"
        wrong = client.post(path, json=body, headers={"X-API-Key": KEY[:-1]})
        assert wrong.status_code == 401
        assert KEY[:-1] not in wrong.text
        right = client.post(path, json=body, headers={"X-API-Key": KEY})
        assert right.status_code in (200, 202), right.text

    # Reads stay open: monitoring and discovery need no key.
    assert client.get("/v1/models").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert KEY not in client.get("/metrics").text
    assert KEY not in client.get("/openapi.json").text
    assert KEY not in caplog.text
    assert KEY[:-1] not in caplog.text


def test_without_a_key_the_gateway_is_open(
    client_for: Callable[..., TestClient], digits_model: tuple[str, str]
) -> None:
    name, version = digits_model
    client = client_for(models=[name])
    wait_for_model(client.get, name, version)
    assert client.post(f"/v1/models/{name}/predict", json={"inputs": ROW}).status_code == 200
    assert client.post("/v1/feedback", json={"prediction_id": "p", "ground_truth": 1}).status_code == 202
    # A key sent anyway is ignored rather than refused.
    assert (
        client.post(
            "/v1/feedback", json={"prediction_id": "p", "ground_truth": 1}, headers={"X-API-Key": "x"}
        ).status_code
        == 202
    )
