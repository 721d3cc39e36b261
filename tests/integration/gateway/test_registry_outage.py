"""MLflow stopped during a champion reload: the old version serves, /readyz says why, the new one follows.

The new champion's artifact cannot load at first (its weights are missing),
so the gateway cannot have taken it before the registry goes away; while
MLflow is stopped its weights appear. The gateway must go on serving the old
version to clients under load without one failed request, say that the
registry cannot be reached, and take the new version once MLflow is back.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.stack.manager import LocalStack
from tests.faults import FaultRecord, Stopwatch, report
from tests.integration.gateway.conftest import (
    Load,
    gateway_app,
    gateway_settings,
    poller,
    serve,
    wait_for_model,
)
from tests.integration.registry_models import register_halving
from tests.waiting import NotYet, eventually


def reported(http: httpx.Client, needle: str, timeout: float) -> dict:
    """/readyz once one of its problems says ``needle``."""

    @eventually(timeout=timeout, interval=0.5)
    def ready() -> dict:
        body = http.get("/readyz").json()
        if not any(needle in problem for problem in body["problems"]):
            raise NotYet(f"no problem says {needle!r}: {body}")
        return body

    return ready()


def failing_metric(text: str, name: str) -> float:
    prefix = f'closeloop_gateway_model_load_failing{{model="{name}"}} '
    (line,) = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(line.removeprefix(prefix))


def test_mlflow_stopped_during_a_reload_leaves_the_old_version_serving_and_the_new_one_follows(
    stack: LocalStack, settings: Settings, tmp_path: Path, unique_name: str
) -> None:
    name = f"{unique_name}-registry-outage"
    client = MlflowClient(settings.mlflow_tracking_uri)
    first = register_halving(settings.mlflow_tracking_uri, name)
    weights = tmp_path / "weights-ready"
    second = register_halving(settings.mlflow_tracking_uri, name, gate=weights, alias=False)
    config = gateway_settings(settings, tmp_path / "gateway", models=[name], reload_poll_s=1)
    try:
        with serve(gateway_app(config)) as url, poller(url, timeout=30) as http:
            wait_for_model(http.get, name, first)
            with Load(url, name, clients=2, body=lambda _: {"inputs": {"x": 4.0}}) as clients:
                client.set_registered_model_alias(name, "champion", second)

                reported(http, f"cannot load version {second}", timeout=60)
                stack.down(["mlflow"])
                try:
                    weights.touch()  # loadable now, but the registry is away
                    ready = reported(http, "cannot reach the registry", timeout=90)
                    assert ready["status"] == "degraded" and ready["models"] == {name: first}
                    assert failing_metric(http.get("/metrics").text, name) == 1.0
                    clients.wait_for_version(first)
                finally:
                    stack.up(["mlflow"])
                recovery = Stopwatch()
                wait_for_model(http.get, name, second)
                recovered_in = recovery.seconds()
                clients.wait_for_version(second)
            answered = sum(clients.versions.values())
            report(
                FaultRecord(
                    scenario="MLflow stopped during a champion reload",
                    unit="requests",
                    sent=answered + len(clients.failures),
                    acknowledged=answered,
                    found=answered,
                    lost=len(clients.failures),
                    recovery_s=recovered_in,
                )
            )
            assert clients.failures == [], clients.failures[:5]
            assert http.get("/readyz").json()["problems"] == []
            assert failing_metric(http.get("/metrics").text, name) == 0.0
            answer = http.post(f"/v1/models/{name}/predict", json={"inputs": {"x": 4.0}}).json()
            assert (answer["model_version"], answer["output"]) == (second, 12.0)
    finally:
        client.delete_registered_model(name)
