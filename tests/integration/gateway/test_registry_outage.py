"""MLflow stopped during a champion reload: the old version serves, /readyz says why, the new one follows.

The new champion's artifact cannot load at first (its weights are missing),
so the gateway cannot have taken it before the registry goes away; while
MLflow is stopped its weights appear. The gateway must go on serving the old
version to clients under load without one failed request, say that the
registry cannot be reached, and take the new version once MLflow is back.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import httpx
from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.stack.manager import LocalStack
from tests.faults import FaultRecord, Stopwatch, report
from tests.integration.gateway.conftest import gateway_app, gateway_settings, serve, wait_for_model
from tests.integration.registry_models import register_halving
from tests.waiting import NotYet, eventually


class Clients:
    """Two clients predicting in a loop, counting answers by version and keeping every failure."""

    def __init__(self, url: str, model: str) -> None:
        self.url, self.model = url, model
        self.versions: Counter[str] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(2)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self._stop.is_set():
                try:
                    answer = http.post(f"/v1/models/{self.model}/predict", json={"inputs": {"x": 4.0}})
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if answer.status_code == 200:
                    self.versions[answer.json()["model_version"]] += 1
                else:
                    self.failures.append(f"{answer.status_code} {answer.text[:200]}")

    def __enter__(self) -> Clients:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=35)


def reported(http: httpx.Client, needle: str, timeout: float) -> dict:
    """/readyz once one of its problems says ``needle``."""

    @eventually(timeout=timeout, interval=0.5)
    def ready() -> dict:
        body = http.get("/readyz").json()
        if not any(needle in problem for problem in body["problems"]):
            raise NotYet(f"no problem says {needle!r}: {body}")
        return body

    return ready()


def served(clients: Clients, version: str, answers: int) -> None:
    """Wait until ``version`` has given ``answers`` more answers."""
    start = clients.versions[version]

    @eventually(timeout=30, interval=0.2)
    def answered() -> None:
        if clients.versions[version] < start + answers:
            raise NotYet(f"answers: {dict(clients.versions)}; failures: {clients.failures[:3]}")

    answered()


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
        with serve(gateway_app(config)) as url, httpx.Client(base_url=url, timeout=30) as http:
            wait_for_model(http.get, name, first)
            with Clients(url, name) as clients:
                client.set_registered_model_alias(name, "champion", second)

                reported(http, f"cannot load version {second}", timeout=60)
                stack.down(["mlflow"])
                try:
                    weights.touch()  # loadable now, but the registry is away
                    ready = reported(http, "cannot reach the registry", timeout=90)
                    assert ready["status"] == "degraded" and ready["models"] == {name: first}
                    assert failing_metric(http.get("/metrics").text, name) == 1.0
                    served(clients, first, answers=20)
                finally:
                    stack.up(["mlflow"])
                recovery = Stopwatch()
                wait_for_model(http.get, name, second)
                recovered_in = recovery.seconds()
                served(clients, second, answers=20)
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
