"""Fixtures for the gateway's tests: a registered champion, the app wired to the real stack."""

from __future__ import annotations

import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from closeloop.config import Settings
from closeloop.gateway.app import create_app
from closeloop.gateway.settings import GatewaySettings, get_gateway_settings
from closeloop.stack.manager import LocalStack
from tests.integration.registry_models import digits_frame, register_digits
from tests.waiting import NotYet, eventually

ROWS = [{k: float(v) for k, v in r.items()} for r in digits_frame()[0].iloc[:50].to_dict("records")]


def digits_bodies(i: int) -> dict:
    """Single digits and batches of eight, in turn."""
    return {"inputs": ROWS[i % len(ROWS)]} if i % 3 else {"instances": ROWS[:8]}


@pytest.fixture(scope="module")
def digits_model(stack: LocalStack, settings: Settings) -> Iterator[tuple[str, str]]:
    """(name, version) of a digits classifier that is its model's champion."""
    name = f"test-digits-{uuid.uuid4().hex[:8]}"
    version = register_digits(settings.mlflow_tracking_uri, name)
    yield name, version
    MlflowClient(settings.mlflow_tracking_uri).delete_registered_model(name)


def gateway_settings(settings: Settings, state: Path, **overrides: object) -> GatewaySettings:
    """The stack's settings with a private state directory (spool, model cache)."""
    values = settings.model_dump(exclude={"state_dir"}) | {"state_dir": state} | overrides
    return GatewaySettings(_env_file=None, **values)  # type: ignore[call-arg]


def gateway_app(config: GatewaySettings) -> FastAPI:
    app = create_app()
    app.dependency_overrides[get_gateway_settings] = lambda: config
    return app


def wait_for_model(get: Callable[[str], httpx.Response], name: str, version: str | None = None) -> None:
    @eventually(timeout=60, interval=0.5)
    def loaded() -> None:
        served = {m["name"]: m["version"] for m in get("/v1/models").json()}
        if name not in served or (version is not None and served[name] != version):
            raise NotYet(f"serving {served}, waiting for {name} {version or ''}")

    loaded()


@pytest.fixture
def client_for(tmp_path: Path, settings: Settings) -> Iterator[Callable[..., TestClient]]:
    """Build an in-process gateway: ``client_for(models=[name], api_key=…)``."""
    clients: list[TestClient] = []

    def build(**overrides: object) -> TestClient:
        config = gateway_settings(settings, tmp_path / f"gateway-{len(clients)}", **overrides)
        client = TestClient(gateway_app(config))
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def poller(url: str, timeout: float = 10) -> httpx.Client:
    """A client for polls with idle gaps between them: a new connection per request.

    uvicorn closes a connection idle for 5 s; a pooled one reused as it closes
    fails with "Server disconnected without sending a response" (a fresh-clone
    CI run saw it after a 6 s broker restart between two polls).
    """
    return httpx.Client(base_url=url, timeout=timeout, limits=httpx.Limits(max_keepalive_connections=0))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under a real uvicorn server in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()

    @eventually(timeout=30, interval=0.1)
    def started() -> None:
        if not server.started:
            raise NotYet("uvicorn starting")

    started()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


class Load:
    """Clients that predict in a loop and count every answer by version, and every failure.

    ``body``: the request body of the i-th request (digits by default).
    """

    def __init__(
        self, url: str, model: str, clients: int = 4, body: Callable[[int], dict] = digits_bodies
    ) -> None:
        self.url, self.model, self.body = url, model, body
        self.versions: Counter[str] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(clients)]

    def _run(self, seed: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            i = seed
            while not self._stop.is_set():
                i += 1
                try:
                    response = http.post(f"/v1/models/{self.model}/predict", json=self.body(i))
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.failures.append(repr(exc))
                    continue
                with self._lock:
                    if response.status_code == 200:
                        self.versions[response.json()["model_version"]] += 1
                    else:
                        self.failures.append(f"{response.status_code} {response.text[:200]}")

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=35)

    def wait_for_version(self, version: str, answers: int = 20) -> None:
        """Until ``version`` has given ``answers`` more answers."""
        start = self.versions[version]

        @eventually(timeout=60, interval=0.2)
        def served() -> None:
            if self.versions[version] < start + answers:
                raise NotYet(f"answers by version: {dict(self.versions)}; failures: {self.failures[:3]}")

        served()
