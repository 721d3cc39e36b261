"""Fixtures for the gateway's tests: a registered champion, the app wired to the real stack."""

from __future__ import annotations

import socket
import threading
import uuid
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
from tests.integration.registry_models import register_digits
from tests.waiting import NotYet, eventually


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
